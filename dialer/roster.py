"""The roster: the agents logged in as the engine sees them, their campaigns, who is free.

The roster lives in the engine's process (each service dials through its own Asterisk,
so each has its own agents). The agent API changes it; the engine reads it and is woken
by every change.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime

import structlog

log = structlog.get_logger()


class AgentStatus(enum.StrEnum):
    FREE = "free"
    RESERVED = "reserved"
    """Picked for a call that is being connected to them."""
    ON_CALL = "on_call"
    WRAPUP = "wrapup"
    PAUSED = "paused"


@dataclass(frozen=True, slots=True)
class Seat:
    agent_id: int
    channel: str
    """How Asterisk rings the agent's phone, e.g. ``PJSIP/ann``."""
    campaigns: frozenset[int]
    status: AgentStatus
    since: datetime
    pause_reason: str = ""
    follows_running: bool = False
    """Logged in to "every running campaign": campaigns started later are added."""


class UnknownAgent(LookupError):
    """The agent is not logged in."""


class AgentBusy(RuntimeError):
    """The agent is on a call already."""


Listener = Callable[[Seat | None, Seat | None], None]


class Roster:
    """Logged-in agents and their status. Every change is announced to the listeners."""

    def __init__(self) -> None:
        self._seats: dict[int, Seat] = {}
        self._listeners: list[Listener] = []
        self._held: set[int] = set()

    def listen(self, listener: Listener) -> None:
        """Call ``listener(before, after)`` on every change (None: logged out / in)."""
        self._listeners.append(listener)

    def _set(self, before: Seat | None, after: Seat | None) -> None:
        agent_id = (after or before).agent_id  # type: ignore[union-attr]
        if after is None:
            self._seats.pop(agent_id, None)
        else:
            self._seats[agent_id] = after
        log.info(
            "agent_state",
            agent_id=agent_id,
            status=after.status.value if after else "logged_out",
            previous=before.status.value if before else "logged_out",
        )
        for listener in self._listeners:
            listener(before, after)

    def login(
        self,
        agent_id: int,
        channel: str,
        campaigns: Iterable[int],
        now: datetime,
        *,
        follows_running: bool = False,
    ) -> Seat:
        """Log in (or change campaigns); a new login starts paused until the agent is ready.

        ``follows_running``: ``campaigns`` are the running ones, and :meth:`running` keeps
        them so as campaigns start and stop.
        """
        before = self._seats.get(agent_id)
        chosen = frozenset(campaigns)
        if before is None:
            seat = Seat(agent_id, channel, chosen, AgentStatus.PAUSED, now, "login")
        else:
            seat = replace(before, channel=channel, campaigns=chosen)
        self._set(before, replace(seat, follows_running=follows_running))
        return self._seats[agent_id]

    def running(self, campaign_ids: Iterable[int]) -> None:
        """The running campaigns changed: agents who follow them are in exactly these."""
        running = frozenset(campaign_ids)
        for before in list(self._seats.values()):
            if before.follows_running and before.campaigns != running:
                self._set(before, replace(before, campaigns=running))

    def logout(self, agent_id: int) -> None:
        before = self._seats.get(agent_id)
        if before is not None:
            self._held.discard(agent_id)
            self._set(before, None)

    def get(self, agent_id: int) -> Seat | None:
        return self._seats.get(agent_id)

    def seats(self) -> list[Seat]:
        return list(self._seats.values())

    def _move(self, agent_id: int, status: AgentStatus, now: datetime, reason: str = "") -> Seat:
        before = self._seats.get(agent_id)
        if before is None:
            raise UnknownAgent(agent_id)
        after = replace(before, status=status, since=now, pause_reason=reason)
        self._set(before, after)
        return after

    def ready(self, agent_id: int, now: datetime) -> Seat:
        return self._move(agent_id, AgentStatus.FREE, now)

    def pause(self, agent_id: int, reason: str, now: datetime) -> Seat:
        return self._move(agent_id, AgentStatus.PAUSED, now, reason)

    def on_call(self, agent_id: int, now: datetime) -> Seat:
        return self._move(agent_id, AgentStatus.ON_CALL, now)

    def wrapup(self, agent_id: int, now: datetime) -> Seat:
        return self._move(agent_id, AgentStatus.WRAPUP, now)

    def hold(self, agent_ids: Iterable[int]) -> None:
        """Keep these agents for the callbacks reserved to them (no ordinary calls)."""
        self._held = set(agent_ids)

    def take_free(
        self, campaign_id: int, now: datetime, *, prefer: int | None = None, held_ok: bool = False
    ) -> Seat | None:
        """Reserve a free agent of the campaign: ``prefer`` if free, else the longest free."""
        if prefer is not None:
            seat = self._seats.get(prefer)
            if seat is not None and seat.status is AgentStatus.FREE:
                return self._move(prefer, AgentStatus.RESERVED, now)
        candidates = [
            s
            for s in self._seats.values()
            if s.status is AgentStatus.FREE
            and campaign_id in s.campaigns
            and (held_ok or s.agent_id not in self._held)
        ]
        if not candidates:
            return None
        chosen = min(candidates, key=lambda s: (s.since, s.agent_id))
        return self._move(chosen.agent_id, AgentStatus.RESERVED, now)

    def reserve(self, agent_id: int, now: datetime) -> Seat:
        """Reserve this agent for a call they start themselves (preview)."""
        seat = self._seats.get(agent_id)
        if seat is None:
            raise UnknownAgent(agent_id)
        if seat.status in (AgentStatus.ON_CALL, AgentStatus.RESERVED):
            raise AgentBusy(agent_id)
        return self._move(agent_id, AgentStatus.RESERVED, now)

    def release(self, agent_id: int, now: datetime) -> None:
        """A reserved agent whose call did not come: free again."""
        seat = self._seats.get(agent_id)
        if seat is not None and seat.status is AgentStatus.RESERVED:
            self._move(agent_id, AgentStatus.FREE, now)

    def count(self, campaign_id: int, *statuses: AgentStatus) -> int:
        return sum(
            1
            for s in self._seats.values()
            if campaign_id in s.campaigns
            and s.status in statuses
            and (AgentStatus.FREE not in statuses or s.agent_id not in self._held)
        )
