"""How many calls to place now: the three dialing modes as arithmetic.

Predictive pacing sizes the calls ringing so that the expected number of answers that
would find no agent stays under the campaign's abandon-rate cap. Each ringing call is
answered with a probability that depends on how long it has rung: a call still ringing
after the usual answer window is most likely a no-answer waiting for its timeout. The
answers X are then a sum of such Bernoulli trials plus Binomial(new calls, p); with ``a``
agents available, the expected abandons are E[(X - a)+] = E[X] - a + E[(a - X)+], which
needs the distribution of X only below ``a``. The pacer takes the most new calls whose
abandons per answered call stay under a target, which tightens as the measured rate
nears the cap.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from campaigns.model import DialMode

# Until enough calls were measured, assume a typical outbound answer rate.
_PRIOR_ANSWER_RATE = 0.3
_PRIOR_WEIGHT = 20
_PRIOR_ANSWER_WINDOW = 20.0
_AGGRESSION = 2.0
_WINDOW = 400


@dataclass(slots=True)
class CampaignStats:
    """What the pacer measures on a campaign's recent calls."""

    results: deque[bool] = field(default_factory=lambda: deque(maxlen=_WINDOW))
    """Per settled call: answered by a person?"""
    answer_delays: deque[float] = field(default_factory=lambda: deque(maxlen=_WINDOW))
    """Seconds from placing to answer, of calls answered by a person."""
    resolve_times: deque[float] = field(default_factory=lambda: deque(maxlen=_WINDOW))
    """Seconds from placing to the outcome, of calls nobody answered."""
    talk_times: deque[float] = field(default_factory=lambda: deque(maxlen=_WINDOW))
    wrapup_times: deque[float] = field(default_factory=lambda: deque(maxlen=_WINDOW))
    answered: int = 0
    abandoned: int = 0

    def record_call(self, human: bool, seconds: float | None = None) -> None:
        """A settled call: answered by a person after ``seconds``, or resolved after them."""
        self.results.append(human)
        if human:
            self.answered += 1
        if seconds is not None:
            (self.answer_delays if human else self.resolve_times).append(seconds)

    def record_abandon(self) -> None:
        self.abandoned += 1

    def record_talk(self, seconds: float) -> None:
        self.talk_times.append(seconds)

    def record_wrapup(self, seconds: float) -> None:
        self.wrapup_times.append(seconds)

    @property
    def answer_rate(self) -> float:
        hits = sum(self.results)
        return (hits + _PRIOR_ANSWER_RATE * _PRIOR_WEIGHT) / (len(self.results) + _PRIOR_WEIGHT)

    @property
    def abandon_rate(self) -> float:
        """Abandoned calls per call answered by a person (the regulators' measure)."""
        return self.abandoned / self.answered if self.answered else 0.0

    @property
    def mean_answer_delay(self) -> float:
        return _mean(self.answer_delays, 10.0)

    @property
    def mean_talk(self) -> float:
        return _mean(self.talk_times, 120.0)

    @property
    def mean_wrapup(self) -> float:
        return _mean(self.wrapup_times, 15.0)

    def answered_after(self, seconds: float) -> float:
        """Chance that a call answered by a person is answered after ``seconds``."""
        if seconds <= 0:
            return 1.0
        return _survival(self.answer_delays, seconds, _PRIOR_ANSWER_WINDOW)

    def answer_chance(self, rung: float, ring_timeout: float) -> float:
        """Chance that a call ringing for ``rung`` seconds is answered by a person."""
        p = self.answer_rate
        answered_later = _survival(self.answer_delays, rung, _PRIOR_ANSWER_WINDOW)
        unresolved = _survival(self.resolve_times, rung, ring_timeout)
        still = p * answered_later + (1 - p) * unresolved
        return p * answered_later / still if still > 0 else 0.0


def _mean(values: deque[float], default: float) -> float:
    return sum(values) / len(values) if values else default


def _survival(samples: deque[float], t: float, prior_end: float) -> float:
    """P(T > t) from the samples, blended with a uniform prior on [0, prior_end]."""
    prior = max(0.0, 1 - t / prior_end) if prior_end > 0 else 0.0
    later = sum(1 for x in samples if x > t)
    return (later + prior * _PRIOR_WEIGHT) / (len(samples) + _PRIOR_WEIGHT)


@dataclass(frozen=True, slots=True)
class Floor:
    """The campaign's agents and calls at this moment."""

    free: int
    on_call: int
    wrapup_ending: float
    """Agents in wrap-up, each weighed by the chance a call placed now is answered after
    they are back (see :meth:`CampaignStats.answered_after`)."""
    ringing: tuple[float, ...]
    """How long each ringing call has rung, in seconds."""
    ring_timeout: float = 30.0


def calls_to_place(
    mode: DialMode, floor: Floor, stats: CampaignStats, abandon_cap: float, *, limit: int
) -> int:
    """New calls to place now, at most ``limit`` (concurrency and rate headroom)."""
    if limit <= 0 or mode is DialMode.PREVIEW:
        return 0
    if mode is DialMode.PROGRESSIVE:
        return max(0, min(limit, floor.free - len(floor.ringing)))
    return min(limit, _predictive(floor, stats, abandon_cap))


def _predictive(floor: Floor, stats: CampaignStats, cap: float) -> int:
    p = stats.answer_rate
    # Answers come over the next mean-answer-delay seconds, and an answered call waits up
    # to 2 s for an agent. An agent on a call hangs up at random (talk time roughly
    # exponential) and then wraps up: free within the horizon with chance
    # 1 - exp(-(horizon - wrap-up) / mean talk).
    horizon = stats.mean_answer_delay + 2.0
    finishing = 1 - math.exp(-max(0.0, horizon - stats.mean_wrapup) / stats.mean_talk)
    sure = floor.free + floor.wrapup_ending
    if sure + floor.on_call * finishing < 0.5:
        return 0
    # With Y = answers + agents still talking and capacity sure + on_call, the abandons
    # are E[(Y - capacity)+]: the agents' finishing is as random as the answers.
    answers = _Answers(sure + floor.on_call)
    for _ in range(floor.on_call):
        answers.add(1 - finishing, demand=False)
    for rung in floor.ringing:
        answers.add(stats.answer_chance(rung, floor.ring_timeout))
    target = _target(stats, cap)
    new = 0
    # Enough to cover every agent three times over is far past any useful answer rate.
    ceiling = max(1, math.ceil(3 * (sure + floor.on_call) / max(p, 0.05)))
    while new < ceiling:
        answers.add(p)
        if answers.abandon_ratio() > target:
            break
        new += 1
    # Never fewer calls ringing than free agents: that much is progressive dialing.
    return max(new, floor.free - len(floor.ringing), 0)


class _Answers:
    """A sum Y of Bernoulli trials, its distribution known below ``capacity`` only.

    Trials added with ``demand=False`` (agents still talking) take capacity but are not
    answered calls: they count in Y, not in the answers the ratio divides by.
    """

    def __init__(self, capacity: float) -> None:
        self.capacity = capacity
        self.size = math.ceil(capacity)
        self.pmf = [1.0] + [0.0] * self.size
        self.mean = 0.0
        self.answers = 0.0

    def add(self, q: float, *, demand: bool = True) -> None:
        self.mean += q
        if demand:
            self.answers += q
        pmf = self.pmf
        for k in range(self.size, 0, -1):
            pmf[k] = pmf[k] * (1 - q) + pmf[k - 1] * q
        pmf[0] *= 1 - q

    def excess(self) -> float:
        """E[(Y - capacity)+] = E[Y] - capacity + E[(capacity - Y)+]."""
        short = sum((self.capacity - k) * pk for k, pk in enumerate(self.pmf) if k < self.capacity)
        return max(0.0, self.mean - self.capacity + short)

    def abandon_ratio(self) -> float:
        """Expected abandons per expected answer."""
        return self.excess() / self.answers if self.answers > 0 else 0.0


def _target(stats: CampaignStats, cap: float) -> float:
    """The abandon ratio to plan for.

    The model leaves out agents freed just after the horizon, so it overstates abandons;
    while the measured rate is well under the cap the plan may go above it, and it
    tightens as the measure nears the cap (a feedback loop on the real figure).
    """
    if cap <= 0:
        return 0.0
    if stats.answered < 30:
        return cap * 0.5
    headroom = 1 - stats.abandon_rate / cap
    return cap * max(0.1, _AGGRESSION * headroom)
