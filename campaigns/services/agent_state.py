"""Agent state: ready, paused with a reason, logged out; logging in to campaigns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from campaigns import wrapup as rules
from campaigns.errors import Code, Conflict, Invalid, NotFound
from campaigns.ports import AgentEvents, AgentFloor, Clock, InteractionStore, Store, UserStore
from campaigns.users import AgentState, Role, User, check_extension, require_manager


class AgentStateStore(InteractionStore, UserStore, Protocol):
    """What agent states read (missing registrations) and write (where agents are)."""


@dataclass(frozen=True, slots=True)
class AgentOnFloor:
    user: User
    state: AgentState
    reason: str | None
    since: datetime | None
    campaigns: tuple[int, ...]
    follows_running: bool


class AgentStates:
    """Agents' own state (ready, paused, logged out), through the dialer's floor when there
    is one."""

    def __init__(
        self,
        store: AgentStateStore,
        campaigns: Store,
        events: AgentEvents,
        floor: AgentFloor | None = None,
        clock: Clock | None = None,
        service: str | None = None,
    ) -> None:
        self._store = store
        self._campaigns = campaigns
        self._events = events
        self._floor = floor
        self._service = service
        """This service's name (instance id), recorded on the agents logged in to its floor:
        services sharing a database route callbacks reserved for an agent by it."""
        self._clock = clock
        # One entry per user who ever set a state: bounded by the users table.
        self._states: dict[int, tuple[AgentState, str | None, datetime | None]] = {}

    async def may_become_ready(self, agent_id: int) -> bool:
        """False while a forced registration of the agent is missing."""
        return rules.may_become_ready(await self._store.awaiting_wrapup(agent_id))

    async def set_state(
        self,
        user: User,
        state: AgentState,
        reason: str | None,
        campaigns: Sequence[int] | None = None,
    ) -> AgentState:
        """Ready, paused or logged out (the states an agent chooses). Ready is refused
        while a forced registration is missing; any change during a call.

        With the dialer's floor behind it, the first ready or pause logs the agent in to
        ``campaigns`` (None: every running campaign) with their phone (the user's
        extension, default ``PJSIP/<username>``).
        """
        for campaign_id in campaigns or ():
            try:
                await self._campaigns.get_campaign(campaign_id)
            except NotFound:
                raise Invalid(f"campaigns: no campaign {campaign_id}", field="campaigns") from None
        if state is AgentState.READY and not await self.may_become_ready(user.id):
            raise Conflict(
                "register the last call before becoming ready",
                code=Code.WRAPUP_REGISTRATION_REQUIRED,
            )
        if self._floor is None:
            before = self._states.get(user.id)
            since = before[2] if before and before[:2] == (state, reason) else None
            self._states[user.id] = (state, reason, since or (self._clock and self._clock()))
            self._events.agent_state(user.id, state.value, reason)
            return state
        floor = self._floor
        current, _ = floor.state_of(user.id)
        if state is AgentState.LOGGED_OUT:
            floor.log_out(user.id)
            if self._service is not None:
                await self._store.set_logged_in_to(user.id, None)
            return AgentState.LOGGED_OUT
        if current.on_a_call:
            raise Conflict("the agent is on a call", code=Code.AGENT_ON_CALL)
        if current is AgentState.LOGGED_OUT or campaigns is not None:
            # An extension stored before dial strings were checked is checked again here.
            phone = check_extension(user.extension) or f"PJSIP/{user.username}"
            floor.log_in(user.id, phone, campaigns)
            if self._service is not None and current is AgentState.LOGGED_OUT:
                await self._store.set_logged_in_to(user.id, self._service)
        if state is AgentState.READY:
            floor.ready(user.id)
        else:
            floor.pause(user.id, reason)
        return floor.state_of(user.id)[0]

    def campaigns_of(self, user_id: int) -> tuple[list[int], bool]:
        if self._floor is not None:
            return self._floor.campaigns_of(user_id)
        return [], False

    def state_of(self, user_id: int) -> tuple[AgentState, str | None]:
        if self._floor is not None:
            return self._floor.state_of(user_id)
        state, reason, _ = self._states.get(user_id, (AgentState.LOGGED_OUT, None, None))
        return state, reason

    def since(self, user_id: int) -> datetime | None:
        """When the agent's current state began (None: logged out, or not known)."""
        if self._floor is not None:
            return self._floor.since(user_id)
        entry = self._states.get(user_id)
        return entry[2] if entry and entry[0] is not AgentState.LOGGED_OUT else None

    def floor_view(
        self, actor: User, users: Sequence[User], campaign_id: int | None = None
    ) -> list[AgentOnFloor]:
        """Every active agent, and any other user who is logged in, with their state and
        since when; ``campaign_id``: those logged in to that campaign only."""
        require_manager(actor)
        seen = []
        for user in users:
            state, reason = self.state_of(user.id)
            logged_out = state is AgentState.LOGGED_OUT
            if not user.active or (user.role is not Role.AGENT and logged_out):
                continue
            campaigns, follows = self.campaigns_of(user.id)
            if campaign_id is not None and campaign_id not in campaigns:
                continue
            seen.append(
                AgentOnFloor(user, state, reason, self.since(user.id), tuple(campaigns), follows)
            )
        return seen
