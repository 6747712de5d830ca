"""How many calls to place now: the three dialing modes as arithmetic.

Predictive pacing sizes the number of calls ringing so that the expected number of
answered calls that would find no agent stays under the campaign's abandon-rate cap.
With ``n`` calls ringing, each answered by a person with probability ``p``, and ``a``
agents free by the time they answer, the expected abandons are E[(X - a)+] with
X ~ Binomial(n, p); the pacer takes the largest ``n`` whose abandons per answered call
stay under the target. The target tightens when the measured rate nears the cap.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from campaigns.model import DialMode

# Until enough calls were measured, assume a typical outbound answer rate.
_PRIOR_ANSWER_RATE = 0.3
_PRIOR_WEIGHT = 20
_WINDOW = 400


@dataclass(slots=True)
class CampaignStats:
    """What the pacer measures on a campaign's recent calls."""

    results: deque[bool] = field(default_factory=lambda: deque(maxlen=_WINDOW))
    """Per settled call: answered by a person?"""
    answer_delays: deque[float] = field(default_factory=lambda: deque(maxlen=_WINDOW))
    talk_times: deque[float] = field(default_factory=lambda: deque(maxlen=_WINDOW))
    answered: int = 0
    abandoned: int = 0

    def record_call(self, human: bool, answer_delay: float | None = None) -> None:
        self.results.append(human)
        if human:
            self.answered += 1
            if answer_delay is not None:
                self.answer_delays.append(answer_delay)

    def record_abandon(self) -> None:
        self.abandoned += 1

    def record_talk(self, seconds: float) -> None:
        self.talk_times.append(seconds)

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


def _mean(values: deque[float], default: float) -> float:
    return sum(values) / len(values) if values else default


@dataclass(frozen=True, slots=True)
class Floor:
    """The campaign's agents and calls at this moment."""

    free: int
    on_call: int
    wrapup_ending: float
    """Agents in wrap-up expected back within the time a new call takes to be answered."""
    ringing: int


def calls_to_place(
    mode: DialMode, floor: Floor, stats: CampaignStats, abandon_cap: float, *, limit: int
) -> int:
    """New calls to place now, at most ``limit`` (concurrency and rate headroom)."""
    if limit <= 0 or mode is DialMode.PREVIEW:
        return 0
    if mode is DialMode.PROGRESSIVE:
        return max(0, min(limit, floor.free - floor.ringing))
    return min(limit, _predictive(floor, stats, abandon_cap))


def _predictive(floor: Floor, stats: CampaignStats, cap: float) -> int:
    p = stats.answer_rate
    horizon = stats.mean_answer_delay
    # Agents on a call hang up at random (talk time roughly exponential): the chance one
    # is done within the horizon is 1 - exp(-horizon / mean talk).
    finishing = floor.on_call * (1 - math.exp(-horizon / stats.mean_talk))
    agents = floor.free + floor.wrapup_ending + finishing
    if agents < 0.5:
        return 0
    target = _target(stats, cap)
    best = floor.ringing
    # Enough to cover every agent three times over is far past any useful answer rate.
    ceiling = floor.ringing + max(1, math.ceil(3 * agents / max(p, 0.05)))
    for n in range(floor.ringing + 1, ceiling + 1):
        if _abandon_ratio(n, p, agents) > target:
            break
        best = n
    # Never fewer than one call per whole free agent: that much is progressive dialing.
    best = max(best, floor.ringing + floor.free)
    return max(0, best - floor.ringing)


def _target(stats: CampaignStats, cap: float) -> float:
    """The abandon ratio to plan for: under the cap, tighter when the measure nears it."""
    if cap <= 0:
        return 0.0
    measured = stats.abandon_rate
    if stats.answered < 30:
        return cap * 0.5
    if measured >= cap:
        return cap * 0.25
    return cap * (0.9 - 0.6 * measured / cap)


def _abandon_ratio(n: int, p: float, agents: float) -> float:
    """E[(X - agents)+] / E[X] for X ~ Binomial(n, p)."""
    expected = n * p
    if expected <= 0:
        return 0.0
    excess = 0.0
    pmf = (1 - p) ** n
    for k in range(n + 1):
        if k > agents:
            excess += (k - agents) * pmf
        if k < n:
            pmf *= (n - k) / (k + 1) * p / (1 - p) if p < 1 else 0.0
    return excess / expected
