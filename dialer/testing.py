"""Running the real engine in virtual time: for tests and the pacing benchmark.

- :class:`VirtualTimeLoop`: an event loop whose clock jumps to the next timer whenever
  nothing is runnable and no store call is in flight, so hours pass in seconds and the
  result does not depend on the machine's speed.
- :class:`CountingStore`: wraps a store so the loop knows when a database call (a thread,
  for aiosqlite) is in flight and must not be jumped over.
- :class:`SimulatedPbx`: the AMI bridge as the engine sees it, with calls played out by a
  seeded random model (answer, machine, no answer, busy, congestion; ring and talk
  times). The TCP simulator in ``ami_bridge.simulator`` covers the wire; this covers time.
- :class:`SimulatedAgents`: agents who wrap up for a fixed time and become ready again.
- :data:`TEST_PG_URL`: the PostgreSQL database the tests and benchmarks use.
"""

from __future__ import annotations

import asyncio
import functools
import os
import random
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ami_bridge import AgentLeg, CallAnswered, CallEnded, CallEvent, CallOutcome
from ami_bridge.events import DialStatus
from campaigns.callbacks import Callback
from campaigns.model import Contact, Outcome
from campaigns.retry import Decision
from campaigns.spec import Campaign
from dialer.clock import Clock
from dialer.roster import Roster

# Each test or benchmark run works in a throw-away schema of this database.
TEST_PG_URL = os.environ.get(
    "RINGBACK_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop on virtual time (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self._virtual = 0.0
        self.in_flight = 0

    def time(self) -> float:
        return self._virtual

    def _run_once(self) -> None:
        ready: Any = getattr(self, "_ready")  # noqa: B009 - asyncio internals, on purpose
        scheduled: Any = getattr(self, "_scheduled")  # noqa: B009
        if not ready and not self.in_flight and scheduled:
            when = scheduled[0].when()
            if when > self._virtual:
                self._virtual = when
        super()._run_once()  # type: ignore[misc]


class CountingStore:
    """Every awaited call of the wrapped store counts as I/O in flight for the loop."""

    def __init__(self, store: Any, loop: VirtualTimeLoop) -> None:
        self._store = store
        self._loop = loop

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._store, name)
        if not asyncio.iscoroutinefunction(target):
            return target

        @functools.wraps(target)
        async def counted(*args: Any, **kwargs: Any) -> Any:
            self._loop.in_flight += 1
            try:
                return await target(*args, **kwargs)
            finally:
                self._loop.in_flight -= 1

        return counted


@dataclass(frozen=True, slots=True)
class CallModel:
    """What the simulated contacts do. Probabilities are per call placed."""

    human: float = 0.25
    machine: float = 0.10
    busy: float = 0.10
    congestion: float = 0.03
    invalid: float = 0.02
    # Whatever is left rings until the Originate timeout: no answer.
    answer_after: tuple[float, float] = (4.0, 18.0)
    busy_after: tuple[float, float] = (1.0, 4.0)
    amd_seconds: float = 2.4
    mean_talk: float = 120.0
    agent_answer_after: float = 2.0
    agent_answers: bool = True


@dataclass(slots=True)
class _SimCall:
    attempt_id: str
    kind: Outcome
    ring: float
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    hung_up: asyncio.Event = field(default_factory=asyncio.Event)
    agent_channel: str | None = None


class SimulatedPbx:
    """:class:`ami_bridge.AmiBridge` with calls from a :class:`CallModel`."""

    def __init__(
        self,
        model: CallModel | None = None,
        *,
        seed: int = 1,
        outcome_for: Callable[[str], Outcome | None] | None = None,
    ) -> None:
        self.model = model or CallModel()
        self._random = random.Random(seed)
        self._outcome_for = outcome_for
        self._events: asyncio.Queue[CallEvent] = asyncio.Queue()
        self.event_lag = 0.0
        """How far behind the engine reads itself (virtual time never is: tests set it)."""
        self._calls: dict[str, _SimCall] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.originates: list[tuple[str, str]] = []
        """(attempt id, phone) of every Originate, in order."""
        self.connected: dict[str, str] = {}
        """attempt id -> agent channel it was connected to."""
        self.hangups: list[str] = []
        self.talk_seconds = 0.0
        self._talking: dict[str, float] = {}
        self.double_dials: list[str] = []
        """Phones dialled while a call to them was still up: must stay empty."""
        self._up: dict[str, str] = {}

    def talk_until_now(self) -> float:
        """Talk time of ended calls plus the part so far of calls still in progress."""
        now = asyncio.get_running_loop().time()
        return self.talk_seconds + sum(now - start for start in self._talking.values())

    def live(self) -> frozenset[str]:
        return frozenset(self._calls)

    def _draw(self, phone: str) -> Outcome:
        if self._outcome_for is not None:
            chosen = self._outcome_for(phone)
            if chosen is not None:
                return chosen
        m, x = self.model, self._random.random()
        for outcome, p in (
            (Outcome.ANSWERED, m.human),
            (Outcome.MACHINE, m.machine),
            (Outcome.BUSY, m.busy),
            (Outcome.CONGESTION, m.congestion),
            (Outcome.INVALID, m.invalid),
        ):
            if x < p:
                return outcome
            x -= p
        return Outcome.NO_ANSWER

    def _spawn(self, call: _SimCall, agent_first: bool, timeout: float, phone: str) -> None:
        if phone in self._up.values():
            self.double_dials.append(phone)
        self._up[call.attempt_id] = phone
        self._calls[call.attempt_id] = call
        task = asyncio.get_running_loop().create_task(self._play(call, agent_first, timeout))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def originate(
        self,
        attempt_id: str,
        *,
        phone: str,
        channel_template: str,
        context: str,
        exten: str,
        caller_id: str,
        timeout_s: float,
        variables: Mapping[str, str] = {},
    ) -> None:
        self.originates.append((attempt_id, phone))
        kind = self._draw(phone)
        self._spawn(_SimCall(attempt_id, kind, self._ring(kind)), False, timeout_s, phone)

    async def originate_agent_first(
        self,
        attempt_id: str,
        *,
        agent_channel: str,
        phone: str,
        channel_template: str,
        caller_id: str,
        timeout_s: float,
        variables: Mapping[str, str] = {},
    ) -> None:
        self.originates.append((attempt_id, phone))
        kind = self._draw(phone)
        call = _SimCall(attempt_id, kind, self._ring(kind), agent_channel=agent_channel)
        self._spawn(call, True, timeout_s, phone)

    def _ring(self, kind: Outcome) -> float:
        m = self.model
        if kind in (Outcome.ANSWERED, Outcome.MACHINE):
            return self._random.uniform(*m.answer_after)
        if kind is Outcome.BUSY:
            return self._random.uniform(*m.busy_after)
        return self._random.uniform(0.2, 1.0)

    async def connect(self, attempt_id: str, *, agent_channel: str) -> None:
        call = self._calls.get(attempt_id)
        if call is not None:
            call.agent_channel = agent_channel
            self.connected[attempt_id] = agent_channel
            call.connected.set()

    async def hangup(self, attempt_id: str) -> None:
        self.hangups.append(attempt_id)
        self._up.pop(attempt_id, None)  # Asterisk tears the channels down at once
        call = self._calls.get(attempt_id)
        if call is not None:
            call.hung_up.set()

    async def live_attempt_ids(self) -> frozenset[str]:
        return self.live()

    available = True

    async def wait_available(self) -> None:
        pass

    async def call_events(self) -> AsyncIterator[CallEvent]:
        while True:
            yield await self._events.get()

    async def _play(self, call: _SimCall, agent_first: bool, ring_limit: float) -> None:
        m, emit, aid = self.model, self._events.put_nowait, call.attempt_id
        try:
            if agent_first:
                if not m.agent_answers:
                    await asyncio.sleep(ring_limit)
                    emit(CallOutcome(aid, Outcome.FAILED_SYSTEM, detail="agent did not answer"))
                    return
                await asyncio.sleep(m.agent_answer_after)
            if call.kind is Outcome.NO_ANSWER:
                await asyncio.sleep(ring_limit)
                emit(CallOutcome(aid, Outcome.NO_ANSWER, reason=3, cause=19))
                return
            if call.kind is not Outcome.ANSWERED and call.kind is not Outcome.MACHINE:
                await asyncio.sleep(call.ring)
                emit(CallOutcome(aid, call.kind))
                return
            if call.ring >= ring_limit:
                await asyncio.sleep(ring_limit)
                emit(CallOutcome(aid, Outcome.NO_ANSWER, reason=3, cause=19))
                return
            await asyncio.sleep(call.ring)
            if call.kind is Outcome.MACHINE:
                await asyncio.sleep(m.amd_seconds)
                emit(CallOutcome(aid, Outcome.MACHINE, reason=4))
                return
            await asyncio.sleep(0 if agent_first else m.amd_seconds / 2)
            emit(CallAnswered(aid, None, None))
            emit(CallOutcome(aid, Outcome.ANSWERED, reason=4))
            if not agent_first:
                hung = asyncio.ensure_future(call.hung_up.wait())
                joined = asyncio.ensure_future(call.connected.wait())
                await asyncio.wait({hung, joined}, return_when=asyncio.FIRST_COMPLETED)
                hung.cancel()
                joined.cancel()
                if call.hung_up.is_set():
                    emit(CallEnded(aid, 0.0, 16, "Normal Clearing"))
                    return
                # The dialplan's Dial() of the agent's phone.
                status = DialStatus.ANSWER if m.agent_answers else DialStatus.NOANSWER
                emit(AgentLeg(aid, m.agent_answers, status))
                if not m.agent_answers:
                    emit(CallEnded(aid, 0.0, 16, "Normal Clearing"))
                    return
            talk = self._random.expovariate(1 / m.mean_talk)
            loop = asyncio.get_running_loop()
            self._talking[aid] = loop.time()
            with_hangup = asyncio.ensure_future(call.hung_up.wait())
            await asyncio.wait({with_hangup}, timeout=talk)
            with_hangup.cancel()
            self.talk_seconds += loop.time() - self._talking.pop(aid)
            emit(CallEnded(aid, talk, 16, "Normal Clearing"))
        finally:
            self._calls.pop(aid, None)
            self._up.pop(aid, None)


class SimulatedAgents:
    """Engine events for a floor of simulated agents: wrap up, then ready again.

    Also counts what the benchmark reports. Pass ``roster`` and ``clock`` after building
    the engine with this as its ``events``.
    """

    def __init__(self, roster: Roster, clock: Clock, wrapup_seconds: float = 15.0) -> None:
        self.roster = roster
        self.clock = clock
        self.wrapup_seconds = wrapup_seconds
        self.outcomes: dict[Outcome, int] = {}
        self.connected: list[tuple[int, int, Callback | None]] = []
        """(agent, attempt, the callback delivered) per call put through to an agent."""
        self.talk_seconds = 0.0
        self.callbacks_due: list[Callback] = []
        self.phone_failures: list[tuple[int, int, str]] = []
        """(agent, attempt, reason) per call their phone did not take."""
        self._tasks: set[asyncio.Task[None]] = set()

    def call_connected(
        self,
        agent_id: int,
        attempt_id: int,
        contact: Contact,
        campaign: Campaign,
        callback: Callback | None,
    ) -> None:
        self.connected.append((agent_id, attempt_id, callback))

    def call_ended(self, agent_id: int, attempt_id: int, talk_seconds: float) -> None:
        self.talk_seconds += talk_seconds
        task = asyncio.get_running_loop().create_task(self._wrapup(agent_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _wrapup(self, agent_id: int) -> None:
        await asyncio.sleep(self.wrapup_seconds)
        if self.roster.get(agent_id) is not None:
            self.roster.ready(agent_id, self.clock.now())

    def attempt_settled(
        self, attempt_id: int, contact: Contact, outcome: Outcome, decision: Decision
    ) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    def callback_due(self, callback: Callback) -> None:
        self.callbacks_due.append(callback)

    def agent_phone_failed(self, agent_id: int, attempt_id: int, reason: str) -> None:
        self.phone_failures.append((agent_id, attempt_id, reason))
