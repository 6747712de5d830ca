"""An event-driven replica of the engine's floor, for the forecast and the pacing benchmark.

It plays what the real engine (:mod:`dialer.engine`) and ``dialer.testing.SimulatedPbx``
do, with the same timings: a call rings (the :class:`Stream` says for how long and how it
ends); a person's answer is known after half the AMD time (1.2 s) and goes to the
longest-free agent, or waits up to the abandon wait (2 s) for one and is then abandoned;
a machine is hung up after AMD (2.4 s); a no-answer ends at the ring timeout; the agent
talks, wraps up and is free again. Settled contacts come back by the campaign's retry
rules as :func:`campaigns.retry.decide` has them (counted and uncounted outcomes, the
delays, the maximum attempts and dials, abandoned calls ahead of the queue), at the next
opening of their local calling hours, and are claimed in the store's order (priority,
then due time, then id); a contact due while its window is closed is put back until it
opens, as the engine's placer does. Calls are spaced by the campaign's calls per second.

A pacer is asked how many calls to place whenever something happened (Ringback's engine
is woken by every agent and call change, and when the next contact falls due) or at its
own ticks (VICIdial's auto-dial loop). The real engine takes 15-40 s per simulated hour;
this takes well under one.

Not modelled: trunk limits and trunks shared with other campaigns; callbacks (booked by
agents, delivered agent first); agents pausing, logging in late or leaving early (all
agents are ready for the whole run); preview dialing's reading time and agent-first
calls (preview is simulated as one call per free agent, as progressive); a PBX or AMI
outage; leases and crashes.
"""

from __future__ import annotations

import heapq
import itertools
import math
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol, cast
from zoneinfo import ZoneInfo

from campaigns.model import Outcome
from campaigns.spec import CallingHours, RetryRules

FINAL = (Outcome.ANSWERED, Outcome.INVALID)
_DEADLINE_EVERY = 64
"""Events between two looks at the clock for the deadline."""


@dataclass(slots=True)
class Lead:
    """A contact on the simulated list."""

    id: int
    due: float
    priority: int = 0
    attempts: int = 0
    dials: int = 0
    last: Outcome | None = None
    zone: int = 0
    """Index of the contact's time zone in the run's :class:`LocalTime`."""


@dataclass(frozen=True, slots=True)
class Fate:
    """What a call placed now does: its outcome, when it resolves, how long the talk."""

    outcome: Outcome
    ring: float
    """Seconds from the Originate to the answer (people, machines) or the outcome."""
    talk: float
    human_chance: float
    """The true chance a person answered this call (known to no pacer)."""
    wrapup: float | None = None
    """The agent's wrap-up after this call; None: the floor's."""


class Stream(Protocol):
    """Who is on the list and what each call does."""

    def fate(self, lead: Lead, seconds: float) -> Fate:
        """The next call to ``lead`` (its ``dials``-th, from 0), placed ``seconds`` into
        the run."""
        ...

    def local_hour(self, lead: Lead, seconds: float) -> int:
        """The hour on the contact's clock ``seconds`` into the run."""
        ...


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


class LocalTime:
    """The contacts' clocks over a run that starts at ``start``: local hours and the
    openings of the calling hours, per time zone, as seconds into the run.

    Worked out once per zone and hour of the run (daylight-saving changes included), so
    that the simulation looks them up instead of converting datetimes for every call.
    """

    def __init__(
        self, start: datetime, zones: Sequence[str], hours: CallingHours | None, seconds: float
    ) -> None:
        self.start = start.astimezone(UTC)
        self.zones = tuple(zones)
        self._horizon = max(0.0, seconds)
        steps = int(self._horizon // 3600) + 2
        self._minute: list[list[float]] = []
        self._open: list[list[tuple[float, float]]] = []
        for name in self.zones:
            zone = ZoneInfo(name)
            minutes = []
            for step in range(steps):
                local = (self.start + timedelta(hours=step)).astimezone(zone)
                minutes.append(local.hour * 60 + local.minute + local.second / 60)
            self._minute.append(minutes)
            self._open.append(self._windows(zone, hours))

    def _windows(self, zone: ZoneInfo, hours: CallingHours | None) -> list[tuple[float, float]]:
        if hours is None:
            return [(-math.inf, math.inf)]
        first = self.start.astimezone(zone).date() - timedelta(days=1)
        days = int(self._horizon // 86400) + 3
        windows = []
        for offset in range(days):
            day = first + timedelta(days=offset)
            if day.weekday() not in hours.weekdays:
                continue
            opens = datetime.combine(day, hours.start, tzinfo=zone).astimezone(UTC)
            closes = datetime.combine(day, hours.end, tzinfo=zone).astimezone(UTC)
            windows.append(
                ((opens - self.start).total_seconds(), (closes - self.start).total_seconds())
            )
        return windows

    def zone_index(self, name: str) -> int:
        return self.zones.index(name)

    def local_hour(self, zone: int, seconds: float) -> int:
        minutes = self._minute[zone]
        step = min(len(minutes) - 1, max(0, int(seconds // 3600)))
        return int((minutes[step] + (seconds - step * 3600) / 60) // 60) % 24

    def next_open(self, zone: int, seconds: float) -> float:
        """The first moment at or after ``seconds`` inside the zone's calling hours (past
        the run: infinity)."""
        for opens, closes in self._open[zone]:
            if seconds < closes:
                return max(seconds, opens)
        return math.inf

    def open_seconds(self, zone: int, start: float, end: float) -> float:
        """Seconds between ``start`` and ``end`` inside the zone's calling hours."""
        return sum(
            max(0.0, min(end, closes) - max(start, opens)) for opens, closes in self._open[zone]
        )


@dataclass(frozen=True, slots=True)
class FloorRules:
    """The campaign's settings and the floor's timings, as the simulation honours them."""

    retry: RetryRules = field(default_factory=RetryRules)
    ring_timeout: float = 30.0
    abandon_wait: float = 2.0
    """An answered call with no agent after this long is abandoned (the engine's 2 s)."""
    amd_seconds: float = 2.4
    wrapup: float = 15.0
    """The agents' wrap-up when the stream does not say."""
    calls_per_second: float | None = None
    clock: LocalTime | None = None
    """The contacts' clocks and calling hours; None: always open."""
    stop_when_exhausted: bool = False
    """End the run once every contact is settled for good and the last agent is free."""


@dataclass(slots=True)
class Result:
    agents: int
    hours: float
    """The run's length: the planned hours, or less when the list ran out."""
    talk: float = 0.0
    idle: float = 0.0
    calls: int = 0
    answered: int = 0
    abandoned: int = 0
    answers: list[tuple[float, bool]] = field(default_factory=list)
    """(time, abandoned) of every call a person answered."""
    dry: float = 0.0
    """Seconds with free agents and nothing due to dial."""
    exhausted_at: float | None = None
    """Seconds into the run when the last contact was settled for good."""

    @property
    def talk_per_agent_hour(self) -> float:
        return self.talk / 60 / (self.agents * self.hours) if self.hours else 0.0

    @property
    def abandon_rate(self) -> float:
        return self.abandoned / self.answered if self.answered else 0.0

    @property
    def idle_share(self) -> float:
        return self.idle / (self.agents * self.hours * 3600) if self.hours else 0.0

    @property
    def calls_per_hour(self) -> float:
        return self.calls / self.hours if self.hours else 0.0

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

    def rolling_hours(self, step: float = 300.0) -> list[float]:
        """Abandon rates of the 60-minute windows ending every ``step`` seconds from the
        first full hour on (windows with no answer left out); a run shorter than an hour
        is one window."""
        end = self.hours * 3600
        if end < 3600:
            return [self.abandon_rate] if self.answered else []
        rates = []
        ans = self.answers
        first = last = dropped = 0
        t = 3600.0
        while t <= end + 1e-9:
            while last < len(ans) and ans[last][0] <= t:
                dropped += ans[last][1]
                last += 1
            while first < last and ans[first][0] <= t - 3600:
                dropped -= ans[first][1]
                first += 1
            if last > first:
                rates.append(dropped / (last - first))
            t += step
        return rates


class FloorSim:
    def __init__(
        self,
        stream: Stream,
        pacer: Pacer,
        *,
        agents: int,
        hours: float,
        leads: Iterable[Lead],
        rules: FloorRules = FloorRules(),
        deadline: float | None = None,
    ) -> None:
        """``leads``: the list, each due at its ``due`` (seconds into the run);
        ``deadline``: a ``time.monotonic()`` past which :meth:`run` raises TimeoutError."""
        self.stream = stream
        self.pacer = pacer
        self.agents = agents
        self.rules = rules
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
        self._open_leads = 0
        self.result = Result(agents, hours)
        self._idle_since = 0.0
        self._recheck_at: float | None = None
        self._wake_at: float | None = None
        self._next_slot = 0.0
        self._spacing = 1 / rules.calls_per_second if rules.calls_per_second else 0.0
        self._deadline = deadline
        retry = rules.retry
        self._uncounted = retry.uncounted
        self._delays = {o: 60 * m for o, m in retry.delays_minutes.items()}
        for lead in leads:
            self._leads[lead.id] = lead
            self._open_leads += 1
            heapq.heappush(self._future, (lead.due, lead.id))

    # The list

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
        clock = self.rules.clock
        while self._ready:
            lead = self._leads[heapq.heappop(self._ready)[2]]
            if clock is None:
                return lead
            # Due, but it may be night where the contact lives: back until it opens.
            opens = clock.next_open(lead.zone, self.now)
            if opens == self.now:
                return lead
            lead.due = opens
            heapq.heappush(self._future, (opens, lead.id))
        return None

    # Events

    def _at(self, t: float, kind: str, what: object = None) -> None:
        heapq.heappush(self._events, (t, next(self._seq), kind, what))

    def _free_changed(self) -> None:
        self.result.idle += len(self.free) * (self.now - self._idle_since)
        self._idle_since = self.now

    def run(self) -> Result:
        self.pacer.start(self)
        if self.pacer.tick is not None:
            self._at(0.0, "tick")
        self._decide()
        handled = 0
        while self._events:
            t = self._events[0][0]
            if t > self.end:
                break
            self.now = t
            while self._events and self._events[0][0] == t:
                _, _, kind, what = heapq.heappop(self._events)
                getattr(self, "_on_" + kind)(what)
                handled += 1
            if self.pacer.tick is None:
                self._decide()
            if self._deadline is not None and handled >= _DEADLINE_EVERY:
                handled = 0
                if time.monotonic() > self._deadline:
                    raise TimeoutError("the simulation ran past its deadline")
        finished = (
            self.rules.stop_when_exhausted
            and self.result.exhausted_at is not None
            and not self._events
        )
        self.now = self.now if finished else self.end
        self.result.hours = self.now / 3600
        self._free_changed()
        for call in self._talking():
            assert call.talk_start is not None
            self.result.talk += self.now - call.talk_start
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
                self._wake_for_due()
                break
            self._place(lead)
        if self.pacer.tick is None:
            again = self.pacer.recheck(self)
            if again is not None:
                at = self.now + again
                if self._recheck_at is None or not self.now < self._recheck_at <= at:
                    self._recheck_at = at
                    self._at(at, "recheck")

    def _wake_for_due(self) -> None:
        """Nothing due now: look again when the next contact falls due (the engine sleeps
        until the store's next due time)."""
        if not self._future or self.pacer.tick is not None:
            return
        at = self._future[0][0]
        if at <= self.end and (self._wake_at is None or not self.now < self._wake_at <= at):
            self._wake_at = at
            self._at(at, "wake")

    def _place(self, lead: Lead) -> None:
        placed = self.now
        if self._spacing:
            placed = max(self.now, self._next_slot)
            self._next_slot = placed + self._spacing
        hour = self.stream.local_hour(lead, placed)
        fate = self.stream.fate(lead, placed)
        call = Call(lead, placed, fate, None, hour, lead.attempts, lead.last)
        call.chance = self.pacer.chance(self, lead)
        serial = next(self._serial)
        self.ringing[serial] = call
        self.result.calls += 1
        lead.dials += 1
        o = fate.outcome
        amd = self.rules.amd_seconds
        if o is Outcome.ANSWERED:
            self._at(placed + fate.ring + amd / 2, "answer", serial)
        elif o is Outcome.MACHINE:
            self._at(placed + fate.ring + amd, "resolve", serial)
        elif o is Outcome.NO_ANSWER:
            self._at(placed + self.rules.ring_timeout, "resolve", serial)
        else:
            self._at(placed + fate.ring, "resolve", serial)

    def _on_tick(self, _: object) -> None:
        assert self.pacer.tick is not None
        self._decide()
        self._at(self.now + self.pacer.tick, "tick")

    def _on_recheck(self, _: object) -> None:
        pass  # the decision follows every event

    def _on_wake(self, _: object) -> None:
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
            self._at(self.now + self.rules.abandon_wait, "give_up", call)

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
        agent, call = cast(tuple[int, Call], what)
        del self._talking_calls[id(call)]
        self.on_call -= 1
        assert call.talk_start is not None
        self.result.talk += self.now - call.talk_start
        self.pacer.talked(call.fate.talk)
        self.wrapup[agent] = self.now
        wrap = call.fate.wrapup if call.fate.wrapup is not None else self.rules.wrapup
        self._at(self.now + wrap, "back", (agent, wrap))

    def _on_back(self, what: object) -> None:
        agent, wrap = cast(tuple[int, float], what)
        del self.wrapup[agent]
        self.pacer.wrapped(wrap)
        self._free_changed()
        self.free.append(agent)
        while self.waiting and self.free:
            call = self.waiting.popleft()
            self._connect(call)

    def _settle(self, call: Call, outcome: Outcome) -> None:
        call.done = True
        lead = call.lead
        self.pacer.settled(self, call, outcome)
        retry = self.rules.retry
        if outcome not in self._uncounted:
            lead.attempts += 1
        lead.last = outcome
        if outcome in FINAL or lead.attempts >= retry.max_attempts or lead.dials >= retry.max_dials:
            self._open_leads -= 1
            if not self._open_leads:
                self.result.exhausted_at = self.now
            return
        lead.priority = retry.abandoned_priority if outcome is Outcome.ABANDONED else 0
        lead.due = self.now + self._delays[outcome]
        if self.rules.clock is not None:
            lead.due = self.rules.clock.next_open(lead.zone, lead.due)
        heapq.heappush(self._future, (lead.due, lead.id))
