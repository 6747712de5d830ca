"""The correlation tracker: ties AMI events to dial attempts, one outcome per attempt.

Pure state machine, no I/O: the bridge feeds it typed events and a clock, and
forwards the :data:`CallEvent` values it returns.

What the dialer gets, per attempt:

* at most one :class:`CallAnswered` — a person is on the line (AMD said HUMAN or
  NOTSURE, or AMD is off): connect an agent now;
* exactly one :class:`CallOutcome` — the SPEC section 2 outcome. For a human it comes
  together with CallAnswered (whether an agent picked up in time, i.e. "abandoned", is
  the dialer's call, not Asterisk's);
* after the dialer sent an answered call to an agent (Redirect to the dialplan's Dial of
  the agent's phone), one :class:`AgentLeg`: whether the agent's phone answered;
* one :class:`CallEnded` after a CallAnswered, when every channel of the call is gone
  (talk time).

A contact who answers and hangs up before AMD decides (``AMD()`` returns HANGUP and no
UserEvent follows) heard silence and no agent: that attempt is settled ``abandoned``.

Correlation keys, because Asterisk gives no single one (see ami-traces/README, "things
likely to get wrong"): the Originate ActionID (OriginateResponse), the ChannelId /
OtherChannelId we chose (Uniqueid of both Local halves, and what OR carries on failure),
the attempt variable's VarSet, Linkedid for the other half, and AttemptId in the
DialerAMD UserEvent. Events may come in any order and twice; an attempt, once settled
and gone, is removed from every map, so late or repeated events fall on the floor.
"""

from __future__ import annotations

import enum
import heapq
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ami_bridge.call_events import AgentLeg, CallAnswered, CallEnded, CallEvent, CallOutcome
from ami_bridge.causes import DECISIVE_CAUSES, MAPPED_CAUSES, failure_outcome
from ami_bridge.events import (
    AmdStatus,
    AmiEvent,
    CoreShowChannel,
    DialBegin,
    DialEnd,
    DialerAgent,
    DialerAmd,
    DialStatus,
    Hangup,
    Newchannel,
    OriginateResponse,
    VarSet,
)
from campaigns.model import Outcome


class AttemptKind(enum.Enum):
    CONTACT = "contact"
    """Originate dials the contact; the answered call runs our dialplan (AMD first)."""
    AGENT_FIRST = "agent_first"
    """Originate rings the agent; the dialplan then Dial()s the contact."""


@dataclass(slots=True)
class _Attempt:
    attempt_id: str
    action_id: str
    kind: AttemptKind
    keys: tuple[str, ...]
    created: float
    ring_timeout: float
    seen: set[str] = field(default_factory=set)
    """Uniqueids of channels known to belong to the attempt."""
    contact_legs: set[str] = field(default_factory=set)
    hung: dict[str, tuple[int, str]] = field(default_factory=dict)
    reason: int | None = None
    dial_status: DialStatus | None = None
    answered_at: float | None = None
    amd: AmdStatus | None = None
    all_gone_at: float | None = None
    failed_at: float | None = None
    """When OriginateResponse (or an agent-first DialEnd) reported a failure."""
    settled: bool = False
    announced: bool = False
    """CallAnswered was emitted, so CallEnded is owed."""
    agent_leg: str | None = None
    """Uniqueid of the agent's channel the dialplan dialled after our Redirect."""
    agent_leg_done: bool = False
    """AgentLeg was emitted (from DialEnd, or the DialerAgent UserEvent)."""


class CallTracker:
    """Attempt correlation and outcome settlement. Not thread-safe; one event loop."""

    def __init__(
        self,
        *,
        attempt_variable: str = "RINGBACK_ATTEMPT_ID",
        amd_enabled: bool = True,
        amd_timeout: float = 8.0,
        hangup_grace: float = 2.0,
        originate_grace: float = 30.0,
        max_call_seconds: float = 4 * 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._var = attempt_variable
        self._amd_enabled = amd_enabled
        self._amd_timeout = amd_timeout
        self._hangup_grace = hangup_grace
        self._originate_grace = originate_grace
        self._max_call = max_call_seconds
        self._clock = clock
        self._attempts: dict[str, _Attempt] = {}
        self._by_action: dict[str, _Attempt] = {}
        self._by_uid: dict[str, _Attempt] = {}
        self._deadlines: list[tuple[float, int, str]] = []
        self._seq = 0

    # ---- registration -------------------------------------------------------------

    def register(
        self,
        attempt_id: str,
        action_id: str,
        *,
        ring_timeout: float,
        channel_ids: Iterable[str] = (),
        kind: AttemptKind = AttemptKind.CONTACT,
    ) -> None:
        if attempt_id in self._attempts:
            raise ValueError(f"attempt {attempt_id} is already being dialed")
        a = _Attempt(attempt_id, action_id, kind, tuple(channel_ids), self._clock(), ring_timeout)
        self._attempts[attempt_id] = a
        self._by_action[action_id] = a
        for key in a.keys:
            self._by_uid[key] = a
        self._schedule(a)

    def __contains__(self, attempt_id: object) -> bool:
        return attempt_id in self._attempts

    def __len__(self) -> int:
        return len(self._attempts)

    @property
    def attempt_ids(self) -> frozenset[str]:
        return frozenset(self._attempts)

    def channel_keys(self, attempt_id: str) -> tuple[str, ...]:
        """Uniqueids (chosen or seen) of the attempt's channels, for a Hangup action."""
        a = self._attempts.get(attempt_id)
        if a is None:
            return ()
        return (*a.keys, *sorted(a.seen - set(a.keys)))

    def originate_rejected(self, attempt_id: str, message: str) -> list[CallEvent]:
        """Asterisk refused the Originate action itself (e.g. unknown context/exten)."""
        a = self._attempts.get(attempt_id)
        if a is None or a.settled:
            return []
        return self._settle(a, Outcome.FAILED_SYSTEM, detail=f"originate refused: {message}")

    # ---- events -------------------------------------------------------------------

    def handle(self, event: AmiEvent) -> list[CallEvent]:
        if isinstance(event, VarSet):
            if event.variable == self._var:
                a = self._attempts.get(event.value)
                if a is not None:
                    self._learn(a, event.uniqueid)
                return []
            if event.variable == "AMDSTATUS":
                a = self._by_uid.get(event.uniqueid)
                if a is not None:
                    return self._on_amd(a, AmdStatus.parse(event.value))
            return []
        if isinstance(event, Hangup):
            a = self._by_uid.get(event.uniqueid)
            return self._on_hangup(a, event) if a is not None else []
        if isinstance(event, OriginateResponse):
            a = self._by_action.get(event.action_id)
            return self._on_originate_response(a, event) if a is not None else []
        if isinstance(event, Newchannel):
            a = self._by_uid.get(event.uniqueid)
            if a is None:
                a = self._by_uid.get(event.linkedid)
                # Only the other Local half joins by Linkedid; channels created after the
                # answer (an agent leg bridged in by the dialplan) are not the contact's.
                if a is None or a.answered_at is not None:
                    return []
            self._learn(a, event.uniqueid)
            return []
        if isinstance(event, DialBegin):
            if event.uniqueid is not None:
                a = self._by_uid.get(event.uniqueid)
                if a is not None and a.kind is AttemptKind.AGENT_FIRST:
                    self._learn(a, event.dest_uniqueid)
                    a.contact_legs.add(event.dest_uniqueid)
                elif a is not None and a.announced:
                    # The answered contact's channel dials the agent (ringback,agent).
                    a.agent_leg = event.dest_uniqueid
            return []
        if isinstance(event, DialEnd):
            return self._on_dial_end(event)
        if isinstance(event, DialerAmd):
            a = self._attempts.get(event.attempt_id) or self._by_uid.get(event.uniqueid)
            return self._on_amd(a, event.status) if a is not None else []
        if isinstance(event, DialerAgent):
            a = self._attempts.get(event.attempt_id) or self._by_uid.get(event.uniqueid)
            if a is None or a.kind is not AttemptKind.CONTACT or not a.announced:
                return []
            return self._agent_leg(a, event.status)
        return []

    def _agent_leg(self, a: _Attempt, status: DialStatus) -> list[CallEvent]:
        """The Dial() of the agent's phone is over: DialEnd, or our UserEvent after it
        (the only word when the Dial failed before creating a channel)."""
        if a.agent_leg_done:
            return []
        a.agent_leg_done = True
        return [AgentLeg(a.attempt_id, status is DialStatus.ANSWER, status)]

    def _learn(self, a: _Attempt, uniqueid: str) -> None:
        if uniqueid and uniqueid not in a.seen:
            a.seen.add(uniqueid)
            if a.kind is AttemptKind.CONTACT:
                a.contact_legs.add(uniqueid)
            self._by_uid[uniqueid] = a
            a.all_gone_at = None

    def _on_originate_response(self, a: _Attempt, ev: OriginateResponse) -> list[CallEvent]:
        if a.reason is not None:
            return []
        a.reason = ev.reason
        if ev.uniqueid is not None and ev.uniqueid in self._by_uid:
            self._learn(a, ev.uniqueid)
        if ev.success:
            if a.kind is AttemptKind.AGENT_FIRST:
                return []  # the agent answered; the contact is dialed next
            return self._on_answer(a)
        if a.kind is AttemptKind.AGENT_FIRST:
            return self._settle(a, Outcome.FAILED_SYSTEM, detail="agent did not answer")
        return self._maybe_settle_failure(a)

    def _on_dial_end(self, ev: DialEnd) -> list[CallEvent]:
        if ev.uniqueid is None:
            # Originate's own dial: no caller channel, the ;1 half is the destination.
            a = self._by_uid.get(ev.dest_uniqueid)
            if a is None or a.kind is not AttemptKind.CONTACT:
                return []
        else:
            a = self._by_uid.get(ev.uniqueid)
            if a is None:
                return []
            if a.kind is AttemptKind.CONTACT:
                if a.agent_leg is None or ev.dest_uniqueid != a.agent_leg:
                    return []
                return self._agent_leg(a, ev.status)
        a.dial_status = ev.status
        if ev.status is DialStatus.ANSWER:
            return self._on_answer(a)
        return self._maybe_settle_failure(a)

    def _on_answer(self, a: _Attempt) -> list[CallEvent]:
        if a.answered_at is not None or a.settled:
            return []
        a.answered_at = self._clock()
        if not self._amd_enabled or a.kind is AttemptKind.AGENT_FIRST:
            return self._announce(a, None, "")
        self._schedule(a)
        return []

    def _on_amd(self, a: _Attempt, status: AmdStatus | None) -> list[CallEvent]:
        if a.settled or status is None:
            return []
        if a.answered_at is None:
            a.answered_at = self._clock()  # AMD ran, so it was answered: OR is late
        a.amd = status
        if status is AmdStatus.MACHINE:
            return self._settle(a, Outcome.MACHINE)
        if status is AmdStatus.HANGUP:
            return self._settle(a, Outcome.ABANDONED, detail="hung up during AMD")
        return self._announce(a, status, "")

    def _announce(self, a: _Attempt, amd: AmdStatus | None, detail: str) -> list[CallEvent]:
        uid = min(a.seen) if a.seen else None
        for key in a.keys:
            if key in a.seen:
                uid = key
                break
        a.announced = True
        out: list[CallEvent] = [CallAnswered(a.attempt_id, uid, amd)]
        out += self._settle(a, Outcome.ANSWERED, detail=detail)
        return out

    def _on_hangup(self, a: _Attempt, ev: Hangup) -> list[CallEvent]:
        self._learn(a, ev.uniqueid)
        a.hung[ev.uniqueid] = (ev.cause, ev.cause_txt)
        if len(a.hung) < len(a.seen):
            return []
        a.all_gone_at = self._clock()
        if a.settled:
            return self._end(a, lost=False)
        if a.answered_at is not None:
            # The contact hung up while AMD was still listening: they heard silence and
            # no agent, which is a dropped call (and counts against the abandon rate).
            return self._settle(a, Outcome.ABANDONED, detail="hung up during AMD")
        if a.reason is not None or self._cause(a)[0] in DECISIVE_CAUSES:
            return self._maybe_settle_failure(a)
        self._schedule(a)  # wait a little for the OriginateResponse
        return []

    def _maybe_settle_failure(self, a: _Attempt) -> list[CallEvent]:
        if a.settled:
            return []
        if a.failed_at is None:
            a.failed_at = self._clock()
        # Wait for every channel to hang up: the Hangup cause is the better evidence for
        # reason 0, and worth recording for the others. OR often comes first.
        if self._cause(a)[0] not in DECISIVE_CAUSES and (not a.seen or len(a.hung) < len(a.seen)):
            self._schedule(a)
            return []
        return self._settle_failure(a, "")

    def _settle_failure(self, a: _Attempt, detail: str) -> list[CallEvent]:
        cause, txt = self._cause(a)
        outcome = failure_outcome(cause, a.reason, a.dial_status)
        return self._settle(a, outcome, cause=cause, cause_txt=txt, detail=detail)

    def _cause(self, a: _Attempt) -> tuple[int | None, str]:
        """The most telling Hangup cause of the contact's legs.

        With Local channels busy/congestion put the real cause only on ;2 while ;1 says
        0 "Unknown", so a cause we can map beats 0 and 16.
        """
        best: tuple[int | None, str] = (None, "")
        for uid in a.contact_legs:
            cause, txt = a.hung.get(uid, (None, ""))
            if cause in MAPPED_CAUSES:
                if cause in DECISIVE_CAUSES:
                    return cause, txt
                best = (cause, txt)
            elif best[0] is None and cause is not None:
                best = (cause, txt)
        return best

    # ---- settlement and clean-up --------------------------------------------------

    def _settle(
        self,
        a: _Attempt,
        outcome: Outcome,
        *,
        cause: int | None = None,
        cause_txt: str = "",
        detail: str = "",
    ) -> list[CallEvent]:
        if a.settled:
            return []
        a.settled = True
        out: list[CallEvent] = [
            CallOutcome(
                a.attempt_id,
                outcome,
                reason=a.reason,
                cause=cause,
                cause_txt=cause_txt,
                dial_status=a.dial_status,
                amd=a.amd,
                detail=detail,
            )
        ]
        if not a.announced or (a.seen and len(a.hung) >= len(a.seen)):
            out += self._end(a, lost=False)
        else:
            self._schedule(a)
        return out

    def _end(self, a: _Attempt, *, lost: bool) -> list[CallEvent]:
        self._remove(a)
        if not a.announced:
            return []
        cause, txt = self._cause(a)
        if cause is None:
            cause, txt = next(iter(a.hung.values()), (None, ""))
        talk = self._clock() - (a.answered_at or a.created)
        return [CallEnded(a.attempt_id, max(talk, 0.0), cause, txt, lost=lost)]

    def _remove(self, a: _Attempt) -> None:
        if self._attempts.pop(a.attempt_id, None) is None:
            return
        self._by_action.pop(a.action_id, None)
        for uid in (*a.keys, *a.seen):
            if self._by_uid.get(uid) is a:
                del self._by_uid[uid]

    # ---- time ---------------------------------------------------------------------

    def _deadline(self, a: _Attempt) -> float:
        if a.settled:
            return (a.answered_at or a.created) + self._max_call
        if a.answered_at is not None:
            return a.answered_at + self._amd_timeout
        if a.failed_at is not None:
            return a.failed_at + self._hangup_grace
        if a.all_gone_at is not None:
            return a.all_gone_at + self._hangup_grace
        return a.created + a.ring_timeout + self._originate_grace

    def _schedule(self, a: _Attempt) -> None:
        self._seq += 1
        heapq.heappush(self._deadlines, (self._deadline(a), self._seq, a.attempt_id))

    def next_deadline(self) -> float | None:
        """Clock time of the next thing :meth:`expire` may do (may wake early)."""
        return self._deadlines[0][0] if self._deadlines else None

    def expire(self) -> list[CallEvent]:
        """Settle what waited too long: no AMD verdict, no events at all, no hangup."""
        now = self._clock()
        out: list[CallEvent] = []
        while self._deadlines and self._deadlines[0][0] <= now:
            _, _, attempt_id = heapq.heappop(self._deadlines)
            a = self._attempts.get(attempt_id)
            if a is None or self._deadline(a) > now:
                continue  # stale entry: settled, or a later deadline was scheduled
            if a.settled:
                out += self._end(a, lost=True)
            elif a.answered_at is not None:
                # AMD gave no verdict in time: a person is more likely than not.
                out += self._announce(a, AmdStatus.NOTSURE, "no AMD verdict in time")
            elif a.failed_at is not None or a.all_gone_at is not None:
                out += self._settle_failure(a, "")
            else:
                out += self._settle(a, Outcome.FAILED_SYSTEM, detail="no events from Asterisk")
        return out

    # ---- reconciliation -----------------------------------------------------------

    def reconcile(
        self, live: Iterable[CoreShowChannel], only: Iterable[str] | None = None
    ) -> list[CallEvent]:
        """After a reconnect: settle every attempt none of whose channels is still up.

        Events sent while we were disconnected are lost for good, so an attempt whose
        channels are gone is settled on what we know, and ``failed_system`` when we know
        nothing — never counted against the contact, never left dialing.
        """
        live_ids = {c.uniqueid for c in live}
        out: list[CallEvent] = []
        wanted = None if only is None else set(only)
        for a in list(self._attempts.values()):
            if wanted is not None and a.attempt_id not in wanted:
                continue  # registered after the channel snapshot was asked for
            if live_ids.intersection(a.keys) or live_ids.intersection(a.seen):
                for uid in a.seen - live_ids:
                    a.hung.setdefault(uid, (0, ""))
                continue
            for uid in a.seen:
                a.hung.setdefault(uid, (0, ""))
            if a.settled:
                out += self._end(a, lost=True)
                continue
            if a.amd in (AmdStatus.HUMAN, AmdStatus.NOTSURE):
                out += self._settle(a, Outcome.ANSWERED, detail="reconciled")
                out += self._end(a, lost=True)
            elif a.answered_at is not None:
                # Gone while AMD listened: no agent ever took it.
                out += self._settle(a, Outcome.ABANDONED, detail="reconciled: gone during AMD")
            elif a.reason is not None or self._cause(a)[0] in MAPPED_CAUSES:
                out += self._settle_failure(a, "reconciled")
            else:
                # Nothing seen and no channel up: the Originate most likely never reached
                # Asterisk. (Asterisk creates the channels within milliseconds of queuing
                # it, while a reconnect takes at least the backoff delay and a login.)
                out += self._settle(a, Outcome.FAILED_SYSTEM, detail="reconciled: channels gone")
        return out
