"""An event-driven replica of the engine's floor, for comparing pacers on one call stream.

It plays what the real engine and ``dialer.testing.SimulatedPbx`` do, with the same
timings: a call rings (``bench/callstream.py`` says for how long and how it ends); a
person's answer is known after half the AMD time (1.2 s) and goes to the longest-free
agent, or waits up to 2 s for one and is then abandoned; a machine is hung up after AMD
(2.4 s); a no-answer ends at the 30 s ring timeout; the agent talks, wraps up for 15 s and
is free again. Settled contacts come back by the campaign's default retry rules
(``campaigns.spec``: no answer 60 min, busy 10, machine 120, abandoned 1 min ahead of
the queue, congestion not counted, 5 attempts), claimed in the store's order (priority,
then due time, then id). Fresh leads are loaded every hour.

A pacer is asked how many calls to place whenever something happened (Ringback's engine
is woken by every agent and call change) or at its own ticks (VICIdial's auto-dial loop).
The real engine takes 15-40 s per simulated hour; this takes well under one, which is
what lets the benchmark run three floor sizes, three seeds and six pacers in one go.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

from callstream import AMD_SECONDS, CallStream, Fate

from campaigns.model import Outcome
from campaigns.spec import DEFAULT_DELAYS, DEFAULT_UNCOUNTED

RING_TIMEOUT = 30.0
ABANDON_WAIT = 2.0
WRAPUP = 15.0
MAX_ATTEMPTS = 5
ABANDONED_PRIORITY = 10
FINAL = (Outcome.ANSWERED, Outcome.INVALID)


@dataclass(slots=True)
class Lead:
    id: int
    due: float
    priority: int = 0
    attempts: int = 0
    dials: int = 0
    last: Outcome | None = None


@dataclass(slots=True)
class Call:
    lead: Lead
    placed: float
    fate: Fate
    chance: float | None
    """The pacer's own estimate when placing it (None: campaign-wide)."""
    local_hour: int
    attempts_before: int
    last_before: Outcome | None
    answered_at: float | None = None
    talk_start: float | None = None
    done: bool = False


class Pacer(Protocol):
    name: str
    tick: float | None
    """Seconds between decisions made on a clock (None: decides on events)."""

    def start(self, sim: FloorSim) -> None: ...
    def place(self, sim: FloorSim) -> int: ...
    def recheck(self, sim: FloorSim) -> float | None: ...
    def chance(self, sim: FloorSim, lead: Lead) -> float | None: ...
    def settled(self, sim: FloorSim, call: Call, outcome: Outcome) -> None: ...
    def talked(self, seconds: float) -> None: ...
    def wrapped(self, seconds: float) -> None: ...


@dataclass(slots=True)
class Result:
    agents: int
    hours: float
    talk: float = 0.0
    idle: float = 0.0
    calls: int = 0
    answered: int = 0
    abandoned: int = 0
    answers: list[tuple[float, bool]] = field(default_factory=list)
    """(time, abandoned) of every call a person answered."""
    dry: float = 0.0
    """Seconds with free agents and nothing due to dial."""

    @property
    def talk_per_agent_hour(self) -> float:
        return self.talk / 60 / (self.agents * self.hours)

    @property
    def abandon_rate(self) -> float:
        return self.abandoned / self.answered if self.answered else 0.0

    @property
    def idle_share(self) -> float:
        return self.idle / (self.agents * self.hours * 3600)

    @property
    def calls_per_hour(self) -> float:
        return self.calls / self.hours

    def hourly(self) -> list[float]:
        """Abandon rate per clock hour of the day."""
        hours = int(self.hours + 0.999)
        n, a = [0] * hours, [0] * hours
        for t, dropped in self.answers:
            h = min(hours - 1, int(t // 3600))
            n[h] += 1
            a[h] += dropped
        return [a[h] / n[h] if n[h] else 0.0 for h in range(hours)]

    def worst_hour(self) -> float:
        """The highest abandon rate over any 60 minutes of the day (windows ending on an
        answer, from the first full hour on)."""
        worst, first, dropped = 0.0, 0, 0
        ans = self.answers
        for last, (t, d) in enumerate(ans):
            dropped += d
            while ans[first][0] <= t - 3600:
                dropped -= ans[first][1]
                first += 1
            if t >= 3600:
                worst = max(worst, dropped / (last - first + 1))
        return worst


class FloorSim:
    def __init__(
        self, stream: CallStream, pacer: Pacer, *, agents: int, hours: float, leads: int
    ) -> None:
        self.stream = stream
        self.pacer = pacer
        self.agents = agents
        self.end = hours * 3600
        self.now = 0.0
        self.free: deque[int] = deque(range(agents))
        self.on_call = 0
        self.wrapup: dict[int, float] = {}
        self.ringing: dict[int, Call] = {}
        """Calls placed and not yet answered nor resolved, by a serial number."""
        self.waiting: deque[Call] = deque()
        self._talking_calls: dict[int, Call] = {}
        self._events: list[tuple[float, int, str, object]] = []
        self._seq = itertools.count()
        self._serial = itertools.count()
        self._ready: list[tuple[int, float, int]] = []
        self._future: list[tuple[float, int]] = []
        self._leads: dict[int, Lead] = {}
        self._next_lead = 0
        self._per_hour = leads
        self.result = Result(agents, hours)
        self._idle_since = 0.0
        self._recheck_at: float | None = None

    # The list

    def _load(self, n: int, due: float) -> None:
        for _ in range(n):
            lead = Lead(self._next_lead, due)
            self._next_lead += 1
            self._leads[lead.id] = lead
            heapq.heappush(self._future, (due, lead.id))

    def _refresh(self) -> None:
        while self._future and self._future[0][0] <= self.now:
            due, lid = heapq.heappop(self._future)
            lead = self._leads[lid]
            heapq.heappush(self._ready, (-lead.priority, due, lid))

    def due(self, n: int) -> list[Lead]:
        """The next ``n`` contacts the store would hand out, without claiming them."""
        self._refresh()
        taken = [heapq.heappop(self._ready) for _ in range(min(n, len(self._ready)))]
        for entry in taken:
            heapq.heappush(self._ready, entry)
        return [self._leads[lid] for _, _, lid in taken]

    def _claim(self) -> Lead | None:
        self._refresh()
        if not self._ready:
            return None
        return self._leads[heapq.heappop(self._ready)[2]]

    # Events

    def _at(self, t: float, kind: str, what: object = None) -> None:
        heapq.heappush(self._events, (t, next(self._seq), kind, what))

    def _free_changed(self) -> None:
        self.result.idle += len(self.free) * (self.now - self._idle_since)
        self._idle_since = self.now

    def run(self) -> Result:
        first = max(self._per_hour, 1)
        self._load(first * 2, 0.0)
        hour = 1
        while hour * 3600 < self.end:
            self._load(first, hour * 3600.0)
            hour += 1
        self.pacer.start(self)
        if self.pacer.tick is not None:
            self._at(0.0, "tick")
        self._decide()
        while self._events:
            t = self._events[0][0]
            if t > self.end:
                break
            self.now = t
            while self._events and self._events[0][0] == t:
                _, _, kind, what = heapq.heappop(self._events)
                getattr(self, "_on_" + kind)(what)
            if self.pacer.tick is None:
                self._decide()
        self.now = self.end
        self._free_changed()
        for call in self._talking():
            assert call.talk_start is not None
            self.result.talk += self.end - call.talk_start
        return self.result

    def _talking(self) -> list[Call]:
        return list(self._talking_calls.values())

    def _decide(self) -> None:
        n = self.pacer.place(self)
        for _ in range(max(0, n)):
            lead = self._claim()
            if lead is None:
                if self.free:
                    self.result.dry += 1
                break
            self._place(lead)
        if self.pacer.tick is None:
            again = self.pacer.recheck(self)
            if again is not None:
                at = self.now + again
                if self._recheck_at is None or not self.now < self._recheck_at <= at:
                    self._recheck_at = at
                    self._at(at, "recheck")

    def _place(self, lead: Lead) -> None:
        contact = self.stream.contact(lead.id)
        hour = self.stream.local_hour(contact, self.now)
        fate = self.stream.fate(lead.id, lead.dials, self.now)
        call = Call(lead, self.now, fate, None, hour, lead.attempts, lead.last)
        call.chance = self.pacer.chance(self, lead)
        serial = next(self._serial)
        self.ringing[serial] = call
        self.result.calls += 1
        lead.dials += 1
        o = fate.outcome
        if o is Outcome.ANSWERED:
            self._at(self.now + fate.ring + AMD_SECONDS / 2, "answer", serial)
        elif o is Outcome.MACHINE:
            self._at(self.now + fate.ring + AMD_SECONDS, "resolve", serial)
        elif o is Outcome.NO_ANSWER:
            self._at(self.now + RING_TIMEOUT, "resolve", serial)
        else:
            self._at(self.now + fate.ring, "resolve", serial)

    def _on_tick(self, _: object) -> None:
        assert self.pacer.tick is not None
        self._decide()
        self._at(self.now + self.pacer.tick, "tick")

    def _on_recheck(self, _: object) -> None:
        pass  # the decision follows every event

    def _on_resolve(self, serial: object) -> None:
        call = self.ringing.pop(serial)  # type: ignore[call-overload]
        self._settle(call, call.fate.outcome)

    def _on_answer(self, serial: object) -> None:
        call = self.ringing.pop(serial)  # type: ignore[call-overload]
        call.answered_at = self.now
        if self.free:
            self._connect(call)
        else:
            self.waiting.append(call)
            self._at(self.now + ABANDON_WAIT, "give_up", call)

    def _on_give_up(self, what: object) -> None:
        call: Call = what  # type: ignore[assignment]
        if call.talk_start is None and not call.done:
            self.waiting.remove(call)
            self.result.answered += 1
            self.result.abandoned += 1
            self.result.answers.append((self.now, True))
            self._settle(call, Outcome.ABANDONED)

    def _connect(self, call: Call) -> None:
        self._free_changed()
        agent = self.free.popleft()
        self.on_call += 1
        call.talk_start = self.now
        self._talking_calls[id(call)] = call
        self.result.answered += 1
        self.result.answers.append((self.now, False))
        self._settle(call, Outcome.ANSWERED)
        self._at(self.now + call.fate.talk, "hangup", (agent, call))

    def _on_hangup(self, what: object) -> None:
        agent, call = what  # type: ignore[misc]
        del self._talking_calls[id(call)]
        self.on_call -= 1
        self.result.talk += self.now - call.talk_start
        self.pacer.talked(call.fate.talk)
        self.wrapup[agent] = self.now
        self._at(self.now + WRAPUP, "back", agent)

    def _on_back(self, agent: object) -> None:
        del self.wrapup[agent]  # type: ignore[arg-type]
        self.pacer.wrapped(WRAPUP)
        self._free_changed()
        self.free.append(agent)  # type: ignore[arg-type]
        while self.waiting and self.free:
            call = self.waiting.popleft()
            self._connect(call)

    def _settle(self, call: Call, outcome: Outcome) -> None:
        call.done = True
        lead = call.lead
        self.pacer.settled(self, call, outcome)
        counted = outcome not in DEFAULT_UNCOUNTED
        if counted:
            lead.attempts += 1
        lead.last = outcome
        if outcome in FINAL or lead.attempts >= MAX_ATTEMPTS or lead.dials >= 20:
            return
        lead.priority = ABANDONED_PRIORITY if outcome is Outcome.ABANDONED else 0
        lead.due = self.now + 60 * DEFAULT_DELAYS[outcome]
        heapq.heappush(self._future, (lead.due, lead.id))
