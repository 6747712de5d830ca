"""Who gets a due callback (SPEC section 4), as a pure decision.

- for "me", owner logged in and free: the owner;
- owner logged in but busy: wait for the owner until the reservation runs out, then the
  first free agent of the campaign;
- owner logged off at the due time: the first free agent;
- for all agents: the first free agent.

With services sharing a database, an owner logged in to another service is that
service's to serve: this one leaves the callback to it until the reservation runs out.
"""

from __future__ import annotations

import enum
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from campaigns.callbacks import Callback
from dialer.roster import AgentStatus, Roster


class Route(enum.Enum):
    OWNER = "owner"
    """Deliver to the owner, who is free."""
    WAIT_FOR_OWNER = "wait_for_owner"
    """The owner is logged in but busy and the reservation still runs."""
    ANY_AGENT = "any_agent"
    """Deliver to the first free agent of the campaign (none may be free yet)."""
    ELSEWHERE = "elsewhere"
    """The owner is logged in to another service and the reservation still runs: that
    service delivers it."""


@dataclass(frozen=True, slots=True)
class Decision:
    route: Route
    until: datetime | None = None
    """For WAIT_FOR_OWNER and ELSEWHERE: when the reservation runs out."""


def route(
    callback: Callback, roster: Roster, now: datetime, elsewhere: Collection[int] = ()
) -> Decision:
    """``elsewhere``: agents logged in to other services sharing the database."""
    if callback.owner_id is None:
        return Decision(Route.ANY_AGENT)
    reserved_until = callback.reserved_until or callback.due_at
    owner = roster.get(callback.owner_id)
    if owner is None:
        if callback.owner_id in elsewhere and now < reserved_until:
            return Decision(Route.ELSEWHERE, reserved_until)
        return Decision(Route.ANY_AGENT)
    if owner.status is AgentStatus.FREE:
        return Decision(Route.OWNER)
    if now < reserved_until:
        return Decision(Route.WAIT_FOR_OWNER, reserved_until)
    return Decision(Route.ANY_AGENT)
