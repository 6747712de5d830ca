"""The pacers of the benchmark, on the floor replica (``dialer/forecast/floorsim.py``).

- ``ringback``: ``dialer.pacing`` as the engine calls it today: one campaign-wide rate;
- ``ringback-learned``: the same pacer given each call's own chance from
  ``dialer.pacing.AnswerModel``, learned online from this campaign's attempts (attempts
  so far, last outcome, the contact's local hour), for the calls ringing and for the
  contacts next in the queue;
- ``bayes``: the same pacer given each call's chance computed from the contact's own
  earlier calls (their local hours and outcomes) by Bayes' rule with the call stream's
  own model (``callstream.Posterior``): the ceiling of any learning from attempt history;
- ``informed``: the same pacer told each call's true chance (the number's own
  propensity at the contact's local hour, which the call stream draws the fate from):
  more than any attempt history can tell;
- ``clairvoyant``: the same pacer told each call's fate (chance 1 or 0), ringing and
  next in the queue: the bound information can reach;
- ``vicidial``: VICIdial's adaptive dial level (``bench/vicidial.py``).
"""

from __future__ import annotations

from collections import deque

import vicidial
from callstream import START_UTC_HOUR, CallStream, Posterior

from campaigns.model import DialMode, Outcome
from dialer.forecast.floorsim import Call, FloorSim, Lead
from dialer.forecast.pacer import RingbackPacer
from dialer.pacing import AnswerModel

CAP = 0.03
MAX_CONCURRENT = 200
PEEK = 30
"""Contacts next in the queue whose chances the informed pacers look at."""


class Ringback(RingbackPacer):
    """The forecast's pacer (``dialer.forecast.pacer``), predictive at a 3 % cap, told the
    calls' own chances when ``info`` is learned or clairvoyant."""

    def __init__(self, info: str = "uniform", *, peek: int = PEEK) -> None:
        assert info in ("uniform", "learned", "bayes", "informed", "clairvoyant")
        super().__init__(DialMode.PREDICTIVE, CAP, max_concurrent=MAX_CONCURRENT)
        self.info = info
        self.peek = peek
        self.name = {"uniform": "ringback", "learned": "ringback-learned"}.get(info, info)
        self.model = AnswerModel()
        self.posterior: Posterior | None = None

    def ringing_chances(self, sim: FloorSim, calls: list[Call]) -> tuple[float, ...]:
        if self.info == "uniform":
            return ()
        return tuple(c.chance if c.chance is not None else 0.3 for c in calls)

    def next_chances(self, sim: FloorSim) -> list[float]:
        if self.info == "uniform" or not self.peek:
            return []
        return [self._chance(sim, lead) for lead in sim.due(self.peek)]

    def _chance(self, sim: FloorSim, lead: Lead) -> float:
        if self.info == "clairvoyant":
            fate = sim.stream.fate(lead, sim.now)
            return 1.0 if fate.outcome is Outcome.ANSWERED else 0.0
        if self.info == "informed":
            return sim.stream.fate(lead, sim.now).human_chance
        if self.info == "bayes":
            if self.posterior is None:
                assert isinstance(sim.stream, CallStream)
                self.posterior = Posterior(sim.stream)
            return self.posterior.chance(lead.id, sim.stream.local_hour(lead, sim.now))
        return self.model.chance(lead.attempts, lead.last, sim.stream.local_hour(lead, sim.now))

    def chance(self, sim: FloorSim, lead: Lead) -> float | None:
        return None if self.info == "uniform" else self._chance(sim, lead)

    def settled(self, sim: FloorSim, call: Call, outcome: Outcome) -> None:
        super().settled(sim, call, outcome)
        human = outcome in (Outcome.ANSWERED, Outcome.ABANDONED)
        self.model.record(call.attempts_before, call.last_before, call.local_hour, human)
        if self.posterior is not None:
            self.posterior.observe(call.lead.id, call.local_hour, outcome)


class Vicidial:
    tick: float | None = vicidial.DIAL_LOOP

    def __init__(self, settings: vicidial.Settings) -> None:
        self.settings = settings
        self.name = "vicidial " + settings.method.removeprefix("ADAPT_").lower()
        self.level = settings.start_level
        self.differential = vicidial.Differential()
        self.placed: deque[float] = deque()
        self.dropped: deque[float] = deque()
        self.calls_today = self.answers_today = self.drops_today = 0
        self.drops = vicidial.DropStats(0, 0, 0, 0, 0)
        self.next_adapt = vicidial.ADAPT_EVERY
        self.next_drops = 0.0

    def start(self, sim: FloorSim) -> None:
        pass

    def place(self, sim: FloorSim) -> int:
        now = sim.now
        self.differential.sample(len(sim.free), len(sim.waiting), sim.agents)
        if now >= self.next_drops:
            self._count_drops(now)
            self.next_drops = now + vicidial.DROPS_EVERY
        if now >= self.next_adapt:
            differential, agents = self.differential.value()
            seconds = START_UTC_HOUR * 3600 - 5 * 3600 + now  # the server keeps New York time
            hourmin = int(seconds // 3600) % 24 * 100 + int(seconds % 3600 // 60)
            self.level = vicidial.adapt_level(
                self.settings,
                self.level,
                differential=differential,
                agents_average=agents,
                drops=self.drops,
                hourmin=hourmin,
            )
            self.next_adapt = now + vicidial.ADAPT_EVERY
        make = vicidial.calls_to_make(
            self.settings,
            self.level,
            ready=len(sim.free),
            incall=sim.on_call,
            calls_up=len(sim.ringing) + len(sim.waiting) + sim.on_call,
            with_agents=sim.on_call,
        )
        make = min(make, MAX_CONCURRENT - len(sim.ringing) - len(sim.waiting) - sim.on_call)
        for _ in range(max(0, make)):
            self.placed.append(now)
        self.calls_today += max(0, make)
        return make

    def _count_drops(self, now: float) -> None:
        while self.placed and self.placed[0] <= now - 60:
            self.placed.popleft()
        while self.dropped and self.dropped[0] <= now - 60:
            self.dropped.popleft()
        self.drops = vicidial.DropStats(
            self.calls_today,
            self.answers_today,
            self.drops_today,
            len(self.placed),
            len(self.dropped),
        )

    def recheck(self, sim: FloorSim) -> float | None:
        return None

    def chance(self, sim: FloorSim, lead: Lead) -> float | None:
        return None

    def settled(self, sim: FloorSim, call: Call, outcome: Outcome) -> None:
        if outcome in (Outcome.ANSWERED, Outcome.ABANDONED):
            self.answers_today += 1
        if outcome is Outcome.ABANDONED:
            self.drops_today += 1
            self.dropped.append(sim.now)

    def talked(self, seconds: float) -> None:
        pass

    def wrapped(self, seconds: float) -> None:
        pass
