"""How many calls to place now: the three dialing modes as arithmetic.

Predictive pacing sizes the calls ringing so that the expected number of answers that
would find no agent stays under the campaign's abandon-rate cap. Each ringing call is
answered with a probability that depends on how long it has rung: a call still ringing
after the usual answer window is most likely a no-answer waiting for its timeout. Answered
calls still waiting for an agent are answers already. An agent in wrap-up counts by when
they are due back (the measured wrap-ups longer than the time they have spent in theirs)
against when a call placed now would be answered, less the abandon wait; agents on a call
hang up at random (talk time roughly exponential) and still have a wrap-up to do. The
answer rate is taken one standard deviation high, which matters while few calls are
measured: a campaign answered more often than the prior would otherwise open with a
burst of abandons. The answers X are then a sum of Bernoulli trials plus Binomial(new
calls, p); with ``a`` agents available, the expected abandons are E[(X - a)+] = E[X] - a
+ E[(a - X)+], which needs the distribution of X only below ``a``. The pacer takes the
most new calls whose abandons per answered call stay under a target.

The target is a feedback loop on the real figure, for what the model leaves out (answers
from calls placed later compete for the same agents; agents freed just after the answer
window are not counted): an abandon budget, the set point times the calls answered by a
person less the calls abandoned, over the recent window and since the start, whichever is
smaller. Budget in hand raises the target, a deficit lowers it, so the measured rate
settles at the set point under the cap whatever the model's bias for the campaign.

Nothing tells the pacer whether a ringing call will be answered until it is, so it keeps
some agents idle against the spread of the answers, and that, not the arithmetic, bounds
the talk time (bench/bench_pacing.py). The answers due before a call placed now is
answered (5-19 s there) are a sum of Bernoulli trials, their variance about 3/4 of their
mean: with 20 agents, 25 % answered and a 15 s wrap-up, more than one agent's worth.
Measured on an event-driven replica of the benchmark calling these functions: free agents
average 2.15 (standard deviation 1.3), none free 11 % of the time. Every variant tried
there moved along one frontier, about 0.5 talk minutes per agent hour for each abandon
percent (47.0 at 2.0 %, 47.5 at 2.5 %, 47.9 at 3.4 %, 48.3 at 4.7 %, 49.1 at 7.5 %, 50.0 at
12.7 %): a marginal rule (calls added while the next one's own abandon chance, E[(X + 1
- a)+] - E[(X - a)+], stays under a target steered by the budget: on the benchmark
itself 47.2-47.5 at 2.7-2.8 % for seeds 1-3 and 41.1 at 5 agents, no better), a longer
horizon for agents on a call, the answer rate without its margin, decisions every
0.25 s, and, earlier, a time-resolved model (answers and returns on a time grid, the
abandons taken just before each return). Abandoning more only buys the frontier's slope:
50 minutes would cost some 12 % abandoned. The same pacer told in advance which calls
will be answered reaches 51.3 at 2.4 %: the gap is information no engine has. A larger
floor needs relatively fewer idle agents for the same spread: 50 talk minutes at 50
agents, 41.5 at 5.

When nothing happens, the pacer looks again as the oldest live ringing call leaves the
answer window (:func:`recheck_in`).
"""

from __future__ import annotations

import heapq
import itertools
import math
from bisect import bisect_right
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from campaigns.model import DialMode, Outcome

# Until enough calls were measured, assume a typical outbound answer rate.
_PRIOR_ANSWER_RATE = 0.3
_PRIOR_WEIGHT = 20
_PRIOR_ANSWER_WINDOW = 20.0
_WINDOW = 400
_SET_POINT = 0.9
"""Of the cap: the measured rate is steered here, leaving room for chance."""
_BUDGET_GAIN = 0.1
"""Target change per abandon in hand (or owed): e^0.1, about 10 %."""


class Durations:
    """A window of recent durations, sorted on demand for survival look-ups."""

    def __init__(self) -> None:
        self.values: deque[float] = deque(maxlen=_WINDOW)
        self._sorted: list[float] | None = None
        self._suffix: list[float] | None = None

    def append(self, seconds: float) -> None:
        self.values.append(seconds)
        self._sorted = self._suffix = None

    def __len__(self) -> int:
        return len(self.values)

    def mean(self, default: float) -> float:
        return sum(self.values) / len(self.values) if self.values else default

    def _ordered(self) -> list[float]:
        if self._sorted is None:
            self._sorted = sorted(self.values)
        return self._sorted

    def longer(self, t: float) -> int:
        """How many samples exceed ``t``."""
        ordered = self._ordered()
        return len(ordered) - bisect_right(ordered, t)

    def survival(self, t: float, prior_end: float) -> float:
        """P(T > t) from the samples, blended with a uniform prior on [0, prior_end]."""
        prior = max(0.0, 1 - t / prior_end) if prior_end > 0 else 0.0
        return (self.longer(t) + prior * _PRIOR_WEIGHT) / (len(self.values) + _PRIOR_WEIGHT)

    def residual(self, spent: float) -> float | None:
        """E[T - spent | T > spent], or None when no sample is that long."""
        ordered = self._ordered()
        if self._suffix is None:
            suffix = [0.0] * (len(ordered) + 1)
            for i in range(len(ordered) - 1, -1, -1):
                suffix[i] = suffix[i + 1] + ordered[i]
            self._suffix = suffix
        first = bisect_right(ordered, spent)
        longer = len(ordered) - first
        return self._suffix[first] / longer - spent if longer else None


@dataclass(slots=True)
class CampaignStats:
    """What the pacer measures on a campaign's recent calls."""

    results: deque[bool] = field(default_factory=lambda: deque(maxlen=_WINDOW))
    """Per settled call: answered by a person?"""
    dropped: deque[bool] = field(default_factory=lambda: deque(maxlen=_WINDOW))
    """Per call answered by a person: abandoned?"""
    answer_delays: Durations = field(default_factory=Durations)
    """Seconds from placing to answer, of calls answered by a person."""
    resolve_times: Durations = field(default_factory=Durations)
    """Seconds from placing to the outcome, of calls nobody answered."""
    talk_times: Durations = field(default_factory=Durations)
    talk_ends: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=_WINDOW))
    """(ended at, seconds) of the talks in ``talk_times`` recorded with their end."""
    wrapup_times: Durations = field(default_factory=Durations)
    answered: int = 0
    """Calls answered by a person, abandoned ones included."""
    abandoned: int = 0
    _young: list[tuple[float, int, bool]] = field(default_factory=list)
    """Settled calls of cohorts not wholly settled yet: (placed at, order, human), a heap."""
    _order: Iterator[int] = field(default_factory=itertools.count)
    _ended_exposure: float | None = None
    """Time on call of ``talk_ends`` within the window they span, until the next end."""

    def record_call(
        self,
        human: bool,
        seconds: float | None = None,
        *,
        abandoned: bool = False,
        placed_at: float | None = None,
    ) -> None:
        """A settled call: answered by a person after ``seconds`` (and perhaps abandoned),
        or resolved after them.

        With ``placed_at`` (the loop's clock) it counts in the answer rate only once every
        call placed with it has settled (:meth:`mature`): answers settle in seconds and
        calls nobody answers only at the ring timeout, so the latest settlements are
        answers of recent calls and no-answers of older ones. Taken as they come, a burst
        of calls first shows a floor of answers, then a floor of no-answers: at 300
        agents the rate read 0.46 where 0.2 answer, then near nothing, and the pacer
        dialled for it (60 % of answered calls abandoned on the scale benchmark)."""
        if placed_at is None:
            self.results.append(human)
        else:
            heapq.heappush(self._young, (placed_at, next(self._order), human))
        if human:
            self.answered += 1
            self.abandoned += abandoned
            self.dropped.append(abandoned)
        if seconds is not None:
            (self.answer_delays if human else self.resolve_times).append(seconds)

    def mature(self, settled_before: float) -> None:
        """Calls placed before ``settled_before`` have all settled (it is past their ring
        timeout): their results count in the answer rate from now on."""
        young = self._young
        while young and young[0][0] <= settled_before:
            self.results.append(heapq.heappop(young)[2])

    def record_talk(self, seconds: float, ended_at: float | None = None) -> None:
        """A talk of ``seconds`` ended (at ``ended_at`` on the loop's clock, if given)."""
        self.talk_times.append(seconds)
        self._ended_exposure = None
        if ended_at is None:
            self.talk_ends.clear()
        else:
            self.talk_ends.append((ended_at, seconds))

    def record_wrapup(self, seconds: float) -> None:
        self.wrapup_times.append(seconds)

    @property
    def answer_rate(self) -> float:
        hits = sum(self.results)
        return (hits + _PRIOR_ANSWER_RATE * _PRIOR_WEIGHT) / (len(self.results) + _PRIOR_WEIGHT)

    @property
    def cautious_answer_rate(self) -> float:
        """The answer rate plus one standard deviation of its estimate: while few calls
        are measured, more answers than expected is the costly mistake."""
        p = self.answer_rate
        return min(1.0, p + math.sqrt(p * (1 - p) / (len(self.results) + _PRIOR_WEIGHT + 1)))

    @property
    def abandon_rate(self) -> float:
        """Abandoned calls per call answered by a person (the regulators' measure)."""
        return self.abandoned / self.answered if self.answered else 0.0

    def abandon_budget(self, rate: float) -> float:
        """Abandons still allowed at ``rate``: over the recent window, so that a quiet
        past cannot be saved up for a burst, and since the start, so that none is
        forgiven."""
        recent = rate * len(self.dropped) - sum(self.dropped)
        return min(recent, rate * self.answered - self.abandoned)

    @property
    def mean_answer_delay(self) -> float:
        return self.answer_delays.mean(10.0)

    @property
    def mean_talk(self) -> float:
        return self.talk_times.mean(120.0)

    def talk_estimate(self, talking: Sequence[float], now: float | None = None) -> float:
        """Mean talk time, counting the calls still going on (``talking``: seconds so far;
        ``now``: the loop's clock).

        The calls that ended are the short ones while the long ones still go on: the mean
        of the ended ones alone is too short, and a pacer that believes it dials for
        agents who are not coming back. Talk is taken as exponential, whose rate is the
        endings over the time on call: since the start while fewer than a window of calls
        ended (on the scale benchmark a 100-agent floor dropped 15 % of its answered calls
        in its first two minutes without it); then over the time the window's endings
        span, counting only the time on call within it. The mean of the window's ended
        calls alone stays short for minutes after a floor starts together: at 500 agents
        it read 22 s at 60 s and 34 s at 85 s (60 s true), and the pacer dropped 19-31 %
        of the answered calls between 60 and 90 s.
        """
        ended = len(self.talk_times)
        if ended == 0 or not talking:
            return self.mean_talk
        if ended < _WINDOW:
            exposure = sum(self.talk_times.values) + sum(talking)
            return max(self.mean_talk, exposure / ended)
        ends = self.talk_ends
        if now is None or len(ends) < ended:
            return self.mean_talk
        start = ends[0][0]
        if self._ended_exposure is None:
            # The same for every look until a call ends: summed once.
            self._ended_exposure = sum(min(seconds, end - start) for end, seconds in ends)
        span = now - start
        exposure = self._ended_exposure + sum(min(t, span) for t in talking)
        return exposure / ended if exposure > 0 else self.mean_talk

    @property
    def mean_wrapup(self) -> float:
        return self.wrapup_times.mean(15.0)

    @property
    def longest_answer_delay(self) -> float:
        delays = self.answer_delays.values
        return max(delays) if delays else _PRIOR_ANSWER_WINDOW

    def wrapup_left(self, spent: float) -> float:
        """Expected seconds until an agent ``spent`` seconds into wrap-up is back."""
        left = self.wrapup_times.residual(spent)
        # Longer than any wrap-up seen: no telling, so a whole mean wrap-up more.
        return self.mean_wrapup if left is None else left

    def answered_after(self, seconds: float) -> float:
        """Chance that a call answered by a person is answered after ``seconds``."""
        if seconds <= 0:
            return 1.0
        return self.answer_delays.survival(seconds, _PRIOR_ANSWER_WINDOW)

    def answer_chance(self, rung: float, ring_timeout: float, prior: float | None = None) -> float:
        """Chance that a call ringing for ``rung`` seconds is answered by a person, from
        its own chance when placed (``prior``) or else the campaign's rate."""
        p = self.cautious_answer_rate if prior is None else prior
        answered_later = self.answer_delays.survival(rung, _PRIOR_ANSWER_WINDOW)
        unresolved = self.resolve_times.survival(rung, ring_timeout)
        still = p * answered_later + (1 - p) * unresolved
        return p * answered_later / still if still > 0 else 0.0


class AnswerModel:
    """Each contact's chance of a person answering the next call, learned online from the
    campaign's own attempts.

    A logistic regression on what a dialer knows before it dials: the attempts the contact
    has had (a number that did not answer three times is less likely to answer the
    fourth), the outcome of the last one (a machine or busy line says something about the
    household), and the hour on the contact's clock (people answer more in the evening).
    It starts at the prior rate for every call and learns by stochastic gradient steps
    (AdaGrad: features seen often take smaller steps), one per settled call.
    """

    def __init__(self, prior: float = _PRIOR_ANSWER_RATE, step: float = 0.3) -> None:
        self._weights: dict[str, float] = {"bias": math.log(prior / (1 - prior))}
        self._squares: dict[str, float] = {}
        self._step = step
        self.observed = 0

    @staticmethod
    def features(attempts: int, last: Outcome | None, local_hour: int) -> tuple[str, ...]:
        last_name = last.value if last is not None else "none"
        return (
            "bias",
            f"attempts={min(attempts, 5)}",
            f"last={last_name}",
            f"hour={local_hour}",
            f"attempts={min(attempts, 5)},last={last_name}",
        )

    def chance(self, attempts: int, last: Outcome | None, local_hour: int) -> float:
        """Chance that a person answers a call placed now to such a contact."""
        return self._chance(self.features(attempts, last, local_hour))

    def _chance(self, names: tuple[str, ...]) -> float:
        z = sum(self._weights.get(name, 0.0) for name in names)
        return 1 / (1 + math.exp(-max(-30.0, min(30.0, z))))

    def record(self, attempts: int, last: Outcome | None, local_hour: int, human: bool) -> None:
        """A settled call to a contact that had ``attempts`` before it and ``last`` as their
        outcome, placed at ``local_hour``: answered by a person or not."""
        names = self.features(attempts, last, local_hour)
        error = (1.0 if human else 0.0) - self._chance(names)
        for name in names:
            square = self._squares.get(name, 1.0) + error * error
            self._squares[name] = square
            self._weights[name] = self._weights.get(name, 0.0) + self._step * error / math.sqrt(
                square
            )
        self.observed += 1


@dataclass(frozen=True, slots=True)
class Floor:
    """The campaign's agents and calls at this moment."""

    free: int
    on_call: int
    wrapup: tuple[float, ...] = ()
    """How long each agent in wrap-up has been in it, in seconds."""
    talking: tuple[float, ...] = ()
    """How long each agent on a call has talked so far, in seconds (empty: unknown)."""
    ringing: tuple[float, ...] = ()
    """How long each ringing call has rung, in seconds."""
    waiting: int = 0
    """Calls answered by a person and not yet put through to an agent."""
    ring_timeout: float = 30.0
    abandon_wait: float = 2.0
    """How long an answered call may wait for an agent before it is abandoned."""
    at: float | None = None
    """The loop's clock at this look (None: unknown), for the talk time's window."""
    chances: tuple[float, ...] = ()
    """Each ringing call's own chance of a person answering, as judged when it was placed
    (:class:`AnswerModel`), in the order of ``ringing``; empty: the campaign's rate."""


def calls_to_place(
    mode: DialMode,
    floor: Floor,
    stats: CampaignStats,
    abandon_cap: float,
    *,
    limit: int,
    next_chances: Sequence[float] = (),
) -> int:
    """New calls to place now, at most ``limit`` (concurrency and rate headroom).

    ``next_chances``: the answer chances of the contacts next in the queue, in the order
    they would be dialled; past them (or without them) a new call has the campaign's rate.
    """
    if limit <= 0 or mode is DialMode.PREVIEW:
        return 0
    if mode is DialMode.PROGRESSIVE:
        return max(0, min(limit, floor.free - len(floor.ringing)))
    return min(limit, _predictive(floor, stats, abandon_cap, next_chances))


def recheck_in(mode: DialMode, floor: Floor, stats: CampaignStats) -> float | None:
    """Seconds until the same floor would be paced differently with no event in between:
    the oldest ringing call that may still be answered passes the answer window."""
    if mode is not DialMode.PREDICTIVE:
        return None
    window = stats.longest_answer_delay
    soonest = min((window - rung for rung in floor.ringing if rung < window), default=None)
    # A little past it, so that the call is past it when looked at again.
    return None if soonest is None else soonest + 0.01


def _predictive(
    floor: Floor, stats: CampaignStats, cap: float, next_chances: Sequence[float] = ()
) -> int:
    p = stats.cautious_answer_rate
    wait = floor.abandon_wait
    # Answers come over the next mean-answer-delay seconds, and an answered call waits
    # for an agent. An agent on a call hangs up at random (talk time roughly exponential)
    # and then wraps up: free within the horizon with chance
    # 1 - exp(-(horizon - wrap-up) / mean talk).
    horizon = stats.mean_answer_delay + wait
    mean_talk = stats.talk_estimate(floor.talking, floor.at)
    finishing = 1 - math.exp(-max(0.0, horizon - stats.mean_wrapup) / mean_talk)
    # An agent back from wrap-up in e seconds can take a call placed now if it is
    # answered after e - wait.
    # Past EXACT_UP_TO agents, times are taken to a tenth of a second, so that hundreds
    # of agents in wrap-up or thousands of ringing calls cost a few hundred look-ups.
    exact = floor.free + floor.on_call + len(floor.wrapup) <= EXACT_UP_TO
    returning = sum(
        n * stats.answered_after(stats.wrapup_left(s) - wait)
        for s, n in _grouped(floor.wrapup, exact).items()
    )
    sure = floor.free + returning
    if sure + floor.on_call * finishing < 0.5:
        return 0
    # With Y = answers + agents still talking and capacity sure + on_call, the abandons
    # are E[(Y - capacity)+]: the agents' finishing is as random as the answers.
    answers = _Answers(sure + floor.on_call)
    answers.add(1 - finishing, floor.on_call, demand=False)
    answers.add(1.0, floor.waiting)
    if floor.chances:
        for rung, chance in zip(floor.ringing, floor.chances, strict=True):
            answers.add(stats.answer_chance(rung, floor.ring_timeout, chance))
    else:
        # The campaign's rate is computed once, not once per ringing call.
        for rung, n in _grouped(floor.ringing, answers.exact).items():
            answers.add(stats.answer_chance(rung, floor.ring_timeout, p), n)
    target = _target(stats, cap)
    new = 0
    # Enough to cover every agent three times over is far past any useful answer rate.
    ceiling = max(1, math.ceil(3 * (sure + floor.on_call) / max(p, 0.05)))
    while new < ceiling:
        answers.add(next_chances[new] if new < len(next_chances) else p)
        if answers.abandon_ratio() > target:
            break
        new += 1
    # Never fewer calls ringing than free agents: that much is progressive dialing.
    return max(new, floor.free - len(floor.ringing), 0)


# Up to this many agents the answers' distribution is computed exactly; beyond, it is
# the normal law of the same mean and variance.
EXACT_UP_TO = 100


def _grouped(seconds: tuple[float, ...], exact: bool) -> Counter[float]:
    """How many of ``seconds`` have each value: as they are, or to a tenth of a second."""
    if exact:
        return Counter(seconds)
    tenths = Counter([int(s * 10 + 0.5) for s in seconds])
    return Counter({tenth / 10: n for tenth, n in tenths.items()})


class _Answers:
    """A sum Y of Bernoulli trials, its distribution known below ``capacity`` only.

    Trials added with ``demand=False`` (agents still talking) take capacity but are not
    answered calls: they count in Y, not in the answers the ratio divides by.

    The exact distribution costs a pass over ``capacity`` per trial: a decision on a floor
    of a agents and c calls costs a x c steps, 250 x 900 took 38 ms of the event loop in
    ``bench/bench_scale.py``. Past :data:`EXACT_UP_TO` agents, Y is a sum of hundreds of
    trials and its normal approximation (Lyapunov), with the first Edgeworth term for
    the skew of calls that are seldom answered, costs one step per trial: within 1-2 % of
    the exact excess where the pacer decides (``tests/dialer/test_pacing.py``).
    """

    def __init__(self, capacity: float) -> None:
        self.capacity = capacity
        self.size = math.ceil(capacity)
        self.exact = self.size <= EXACT_UP_TO
        self.pmf = [1.0] + [0.0] * self.size if self.exact else []
        self.mean = 0.0
        self.variance = 0.0
        self.skew = 0.0
        """The third cumulant."""
        self.answers = 0.0

    def add(self, q: float, n: int = 1, *, demand: bool = True) -> None:
        """``n`` trials of chance ``q``."""
        self.mean += n * q
        self.variance += n * q * (1 - q)
        self.skew += n * q * (1 - q) * (1 - 2 * q)
        if demand:
            self.answers += n * q
        if not self.exact:
            return
        pmf = self.pmf
        for _ in range(n):
            for k in range(self.size, 0, -1):
                pmf[k] = pmf[k] * (1 - q) + pmf[k - 1] * q
            pmf[0] *= 1 - q

    def excess(self) -> float:
        """E[(Y - capacity)+] = E[Y] - capacity + E[(capacity - Y)+]."""
        if not self.exact:
            return _normal_excess(self.mean - self.capacity, self.variance, self.skew)
        short = sum((self.capacity - k) * pk for k, pk in enumerate(self.pmf) if k < self.capacity)
        return max(0.0, self.mean - self.capacity + short)

    def abandon_ratio(self) -> float:
        """Expected abandons per expected answer."""
        return self.excess() / self.answers if self.answers > 0 else 0.0


def _normal_excess(gap: float, variance: float, skew: float) -> float:
    """E[Z+] for Z of mean ``gap``, that ``variance`` and third cumulant ``skew``: the
    normal law's, plus the Edgeworth term of the skew."""
    if variance <= 0:
        return max(0.0, gap)
    sd = math.sqrt(variance)
    d = gap / sd
    density = math.exp(-d * d / 2) / math.sqrt(2 * math.pi)
    normal = gap * 0.5 * math.erfc(-d / math.sqrt(2)) + sd * density
    return max(0.0, normal - skew / (6 * variance) * d * density)


def _target(stats: CampaignStats, cap: float) -> float:
    """The abandon ratio to plan for: half the cap, scaled by the abandon budget.

    The model overstates some abandons and misses others; on the benchmark the measured
    rate comes out about twice the planned ratio, hence the half. The budget corrects
    whatever is left, per campaign.
    """
    if cap <= 0:
        return 0.0
    budget = stats.abandon_budget(_SET_POINT * cap)
    return cap * 0.5 * min(5.0, math.exp(_BUDGET_GAIN * budget))
