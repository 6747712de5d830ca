"""The dialer's floor tells since when each agent is in their state, and the campaigns they
take calls from: what the managers' floor view reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from campaigns.services import AgentStates
from campaigns.services.testing import RecordingEvents
from campaigns.users import Role, User
from dialer.agent_side import RosterFloor
from dialer.roster import Roster

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now_ = NOW

    def now(self) -> datetime:
        return self.now_


def test_floor_view_follows_the_roster() -> None:
    """State changes restart the time in state; a campaign filter keeps its agents."""
    clock = Clock()
    floor = RosterFloor(Roster(), clock, engine=lambda: None)  # type: ignore[arg-type,return-value]
    states = AgentStates(None, None, RecordingEvents(), floor)  # type: ignore[arg-type]
    ann, bo = User(1, "ann", Role.AGENT), User(2, "bo", Role.AGENT)
    boss = User(3, "boss", Role.MANAGER)
    floor.log_in(ann.id, "PJSIP/ann", [7])
    clock.now_ = NOW + timedelta(seconds=30)
    floor.ready(ann.id)
    assert floor.since(ann.id) == NOW + timedelta(seconds=30)
    assert floor.since(bo.id) is None
    view = states.floor_view(boss, [ann, bo, boss], campaign_id=7)
    assert [(a.user.username, a.state, a.campaigns) for a in view] == [("ann", "ready", (7,))]
    everyone = states.floor_view(boss, [ann, bo, boss])
    assert [(a.user.username, a.state, a.since) for a in everyone] == [
        ("ann", "ready", NOW + timedelta(seconds=30)),
        ("bo", "logged_out", None),
    ]
    assert states.floor_view(boss, [ann], campaign_id=8) == []
