"""Use cases of the agent side: routes parse and authenticate, these check the rules (pure
functions in the domain modules) and have the store act, then announce what happened.

The dialer engine calls :class:`Interactions` (``start_interaction``, ``end_interaction``,
``auto_wrapup_due``, ``next_wrapup_deadline``, ``may_become_ready``) and
:class:`Callbacks` (``callback_due``).
"""

from __future__ import annotations

import enum
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import structlog

from agent_api.ports import AgentEvents, AgentFloor, Clock
from campaigns import cases as case_rules
from campaigns import wrapup as rules
from campaigns.agents import (
    Clash,
    Invalid,
    Role,
    Unauthorized,
    Unknown,
    User,
    check_extension,
    check_username,
    hash_token,
    new_token,
    require_manager,
    token_matches,
)
from campaigns.cases import (
    Case,
    CaseAction,
    CaseActionKind,
    CaseAmendment,
    CaseDraft,
    CaseStatus,
    CaseType,
)
from campaigns.model import Contact
from campaigns.spec import Campaign, Wrapup
from campaigns.sql_agents import SqlAgentStore
from campaigns.store import NotFound, Store
from campaigns.wrapup import (
    Callback,
    Category,
    Direction,
    EndReason,
    EndReasonChoice,
    Interaction,
    Registration,
    RegistrationDraft,
    StatsQuery,
    Topic,
    TopicCount,
    WrapupTimer,
)

log = structlog.get_logger()


class Users:
    # Every request authenticates; a recent lookup is reused for this long. A token rotated
    # by another process stays valid here until then.
    TOKEN_CACHE_SECONDS = 30.0
    TOKEN_CACHE_SIZE = 1024

    def __init__(self, store: SqlAgentStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._tokens: OrderedDict[str, tuple[float, User, str]] = OrderedDict()

    async def create_user(
        self, username: str, role: Role, name: str = "", extension: str | None = None
    ) -> tuple[User, str]:
        """A new user and its bearer token (shown once; only its hash is kept)."""
        token, token_hash = new_token()
        user = await self._store.create_user(
            check_username(username),
            role,
            name,
            check_extension(extension),
            token_hash,
            self._clock(),
        )
        log.info("user_created", user_id=user.id, username=username, role=role.value)
        return user, token

    async def rotate_token(self, user_id: int) -> str:
        token, token_hash = new_token()
        await self._store.set_token_hash(user_id, token_hash)
        for key in [k for k, (_, user, _) in self._tokens.items() if user.id == user_id]:
            del self._tokens[key]
        log.info("user_token_rotated", user_id=user_id)
        return token

    async def authenticate(self, token: str) -> User:
        key = hash_token(token)
        now = time.monotonic()
        cached = self._tokens.get(key)
        if cached is not None and now - cached[0] < self.TOKEN_CACHE_SECONDS:
            found: tuple[User, str] | None = (cached[1], cached[2])
        else:
            found = await self._store.user_by_token_hash(key)
            if found is not None:
                self._tokens[key] = (now, *found)
                self._tokens.move_to_end(key)
                while len(self._tokens) > self.TOKEN_CACHE_SIZE:
                    self._tokens.popitem(last=False)
        if found is None or not token_matches(token, found[1]):
            raise Unauthorized("a valid bearer token is needed", code="unauthorized")
        return found[0]

    async def list_users(self, actor: User) -> list[User]:
        require_manager(actor)
        return await self._store.list_users()


class AgentState(enum.StrEnum):
    LOGGED_OUT = "logged_out"
    READY = "ready"
    PAUSED = "paused"


@dataclass(frozen=True, slots=True)
class InteractionView:
    interaction: Interaction
    timer: WrapupTimer | None
    contact: Contact | None
    categories: list[Category]
    topics: list[Topic]
    registration: Registration | None


class Interactions:
    """Interactions, wrap-up registration, end reasons, the wrap-up catalogue, statistics."""

    def __init__(
        self,
        store: SqlAgentStore,
        campaigns: Store,
        events: AgentEvents,
        clock: Clock,
        inbound_wrapup: Wrapup | None = None,
        floor: AgentFloor | None = None,
    ) -> None:
        self._store = store
        self._campaigns = campaigns
        self._events = events
        self._clock = clock
        self._inbound = inbound_wrapup
        self._floor = floor
        # One entry per user who ever set a state: bounded by the users table.
        self._states: dict[int, tuple[AgentState, str | None]] = {}

    # The engine's side

    async def start_interaction(
        self,
        agent_id: int,
        phone: str,
        direction: Direction = Direction.OUTBOUND,
        *,
        contact: Contact | None = None,
        attempt_id: int | None = None,
        callback: Callback | None = None,
    ) -> Interaction:
        """A call is offered to ``agent_id``: record it and push it to the agent.

        Inbound calls from numbers that are not contacts pass only ``phone``.
        """
        interaction = await self._store.create_interaction(
            agent_id,
            direction,
            phone,
            self._clock(),
            contact_id=contact.id if contact else None,
            campaign_id=contact.campaign_id if contact else None,
            attempt_id=attempt_id,
        )
        self._events.call_offered(
            interaction, dict(contact.attributes) if contact else None, callback
        )
        log.info("interaction_started", interaction_id=interaction.id, agent_id=agent_id)
        return interaction

    async def end_interaction(self, interaction_id: int) -> Interaction:
        """The call ended: start the wrap-up countdown (the campaign's, or the inbound one)."""
        return await self._end(await self._store.get_interaction(interaction_id))

    async def _end(self, interaction: Interaction) -> Interaction:
        settings = await self._wrapup_settings(interaction)
        now = self._clock()
        ended = await self._store.end_interaction(
            interaction.id,
            now,
            rules.wrapup_deadline(now, settings),
            settings.forced_registration if settings else False,
        )
        if ended.awaiting_wrapup:
            self._events.wrapup_started(ended, rules.wrapup_timer(ended, now))
        return ended

    async def auto_wrapup_due(self, now: datetime | None = None) -> list[Interaction]:
        """Wrap up every interaction whose countdown reached zero, with the default reason."""
        now = now or self._clock()
        done = []
        for interaction in await self._store.due_wrapups(now):
            settings = await self._wrapup_settings(interaction)
            outcome = None
            if settings and settings.default_end_reason and interaction.end_reason_id is None:
                try:
                    reason = await self._store.get_end_reason(settings.default_end_reason)
                    outcome = rules.choose_end_reason(reason, EndReasonChoice(reason.id))
                except (NotFound, Invalid):
                    log.warning(
                        "default_end_reason_unknown",
                        campaign_id=interaction.campaign_id,
                        reason=settings.default_end_reason,
                    )
            try:
                registration, _ = await self._store.save_registration(
                    interaction,
                    topic_ids=(),
                    comment="",
                    feedback=None,
                    automatic=True,
                    now=now,
                    end_reason=outcome,
                )
            except Clash:
                continue  # the agent registered meanwhile
            wrapped = replace(interaction, wrapped_up_at=now, wrapup_deadline=None)
            self._events.wrapped_up(wrapped, registration)
            log.info("wrapup_automatic", interaction_id=interaction.id)
            done.append(wrapped)
        return done

    async def next_wrapup_deadline(self) -> datetime | None:
        """When ``auto_wrapup_due`` has work next: the engine sleeps until then or a wake-up."""
        return await self._store.next_wrapup_deadline()

    async def may_become_ready(self, agent_id: int) -> bool:
        """False while a forced registration of the agent is missing."""
        return rules.may_become_ready(await self._store.awaiting_wrapup(agent_id))

    # The agent's side

    async def mine(self, user: User, limit: int = 50) -> list[Interaction]:
        return await self._store.list_interactions(user.id, limit)

    async def take(
        self,
        user: User,
        phone: str,
        direction: Direction,
        contact_id: int | None = None,
        campaign_id: int | None = None,
    ) -> Interaction:
        """A call the agent takes by hand (inbound, or a manual or preview dial)."""
        if (contact_id is None) != (campaign_id is None):
            raise Invalid(
                "contact_id: give both contact_id and campaign_id, or neither", field="contact_id"
            )
        contact = None
        if contact_id is not None:
            # An agent sees a contact the dialer offered them or they are previewing, and
            # no other: any other answers as if it did not exist.
            previewed = self._floor.previewing(user.id) if self._floor is not None else None
            if previewed != contact_id and not await self._store.was_offered(user.id, contact_id):
                raise Unknown(f"contact_id: no contact {contact_id}", field="contact_id")
            try:
                contact = await self._campaigns.get_contact(contact_id)
            except NotFound:
                raise Unknown(f"contact_id: no contact {contact_id}", field="contact_id") from None
            if contact.campaign_id != campaign_id:
                raise Invalid(
                    "campaign_id: the contact is not in this campaign", field="campaign_id"
                )
        return await self.start_interaction(user.id, phone, direction, contact=contact)

    async def end(self, user: User, interaction_id: int) -> Interaction:
        """The agent ends a call it recorded."""
        return await self._end(await self._owned(user, interaction_id))

    async def view(self, user: User, interaction_id: int) -> InteractionView:
        interaction = await self._owned(user, interaction_id)
        all_categories, all_topics = await self._store.catalogue()
        categories = rules.offered_categories(all_categories, interaction)
        offered = {c.id for c in categories}
        return InteractionView(
            interaction,
            rules.wrapup_timer(interaction, self._clock()),
            await self._contact(interaction.contact_id),
            categories,
            [t for t in all_topics if t.active and t.category_id in offered],
            await self._store.get_registration(interaction.id),
        )

    async def register(
        self, user: User, interaction_id: int, draft: RegistrationDraft
    ) -> tuple[Registration, Callback | None]:
        interaction = await self._owned(user, interaction_id)
        rules.check_draft(interaction, draft)
        topics, categories = await self._store.topics_with_categories(draft.topic_ids)
        rules.check_topics(interaction, draft.topic_ids, topics, categories)
        outcome = None
        if draft.end_reason is not None:
            reason = await self._reason(draft.end_reason.reason_id)
            outcome = rules.choose_end_reason(reason, draft.end_reason)
        change = callback = None
        now = self._clock()
        if draft.feedback is not None:
            campaign, contact = await self._campaign_contact(interaction)
            if draft.callback is not None:
                rules.check_callback_time(
                    draft.callback.due_at,
                    now,
                    campaign.spec.hours,
                    contact.timezone,
                    "callback.due_at",
                )
                callback = rules.new_callback(interaction, draft.callback, user.id)
            change = rules.feedback_change(
                draft.feedback, contact, campaign.spec.retry, campaign.spec.hours, now
            )
        registration, booked = await self._store.save_registration(
            interaction,
            topic_ids=draft.topic_ids,
            comment=draft.comment,
            feedback=draft.feedback,
            automatic=False,
            now=now,
            end_reason=outcome,
            contact_change=change,
            callback=callback,
        )
        self._events.wrapped_up(replace(interaction, wrapped_up_at=now), registration)
        if booked is not None:
            self._events.callback_booked(booked)
        log.info(
            "wrapup_registered",
            interaction_id=interaction.id,
            agent_id=user.id,
            topics=len(draft.topic_ids),
            feedback=draft.feedback,
        )
        return registration, booked

    async def set_end_reason(
        self, user: User, interaction_id: int, choice: EndReasonChoice
    ) -> Interaction:
        """The end reason alone (SPEC 6), for any call, known contact or not."""
        interaction = await self._owned(user, interaction_id)
        outcome = rules.choose_end_reason(await self._reason(choice.reason_id), choice)
        return await self._store.set_end_reason(interaction.id, outcome)

    async def extend(self, user: User, interaction_id: int) -> Interaction:
        interaction = await self._owned(user, interaction_id)
        rules.check_extend(interaction, await self._wrapup_settings(interaction))
        return await self._store.extend_wrapup(interaction.id)

    async def set_state(
        self,
        user: User,
        state: AgentState,
        reason: str | None,
        campaigns: Sequence[int] | None = None,
    ) -> str:
        """Ready is refused while a forced registration is missing, or during a call.

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
            raise Clash(
                "register the last call before becoming ready",
                code="wrapup.registration_required",
            )
        if self._floor is None:
            self._states[user.id] = (state, reason)
            self._events.agent_state(user.id, state.value, reason)
            return state.value
        floor = self._floor
        current, _ = floor.state_of(user.id)
        if state is AgentState.LOGGED_OUT:
            floor.log_out(user.id)
            return AgentState.LOGGED_OUT.value
        if current in ("on_call", "reserved"):
            raise Clash("the agent is on a call", code="agent.on_call")
        if current == AgentState.LOGGED_OUT.value or campaigns is not None:
            # An extension stored before dial strings were checked is checked again here.
            phone = check_extension(user.extension) or f"PJSIP/{user.username}"
            floor.log_in(user.id, phone, campaigns)
        if state is AgentState.READY:
            floor.ready(user.id)
        else:
            floor.pause(user.id, reason)
        return floor.state_of(user.id)[0]

    def campaigns_of(self, user_id: int) -> tuple[list[int], bool]:
        if self._floor is not None:
            return self._floor.campaigns_of(user_id)
        return [], False

    def state_of(self, user_id: int) -> tuple[str, str | None]:
        if self._floor is not None:
            return self._floor.state_of(user_id)
        state, reason = self._states.get(user_id, (AgentState.LOGGED_OUT, None))
        return state.value, reason

    # Catalogue (managers)

    async def create_category(
        self, actor: User, name: str, multi_choice: bool, campaign_id: int | None
    ) -> Category:
        require_manager(actor)
        if campaign_id is not None:
            await self._campaign(campaign_id)
        return await self._store.create_category(name, multi_choice, campaign_id)

    async def set_category_active(self, actor: User, category_id: int, active: bool) -> Category:
        require_manager(actor)
        return await self._store.set_category_active(category_id, active)

    async def create_topic(self, actor: User, category_id: int, name: str, script: str) -> Topic:
        require_manager(actor)
        return await self._store.create_topic(category_id, name, script)

    async def catalogue(self) -> tuple[list[Category], list[Topic]]:
        return await self._store.catalogue()

    async def end_reasons(self) -> list[EndReason]:
        return await self._store.list_end_reasons()

    async def create_end_reason(
        self, actor: User, name: str, close_by_default: bool, followup_queue: str
    ) -> EndReason:
        require_manager(actor)
        return await self._store.create_end_reason(name, close_by_default, followup_queue)

    async def followups(self, actor: User, queue: str | None) -> list[Interaction]:
        require_manager(actor)
        return await self._store.followups(queue)

    async def stats(self, actor: User, query: StatsQuery) -> list[TopicCount]:
        require_manager(actor)
        return await self._store.registration_stats(query)

    # Helpers

    async def _owned(self, user: User, interaction_id: int) -> Interaction:
        interaction = await self._store.get_interaction(interaction_id)
        if interaction.agent_id != user.id:
            raise Unknown(f"no interaction {interaction_id}")
        return interaction

    async def _reason(self, reason_id: int) -> EndReason:
        try:
            return await self._store.get_end_reason(reason_id)
        except NotFound:
            raise Invalid(
                f"end_reason.reason_id: no end reason {reason_id}", field="end_reason.reason_id"
            ) from None

    async def _contact(self, contact_id: int | None) -> Contact | None:
        return await self._campaigns.get_contact(contact_id) if contact_id is not None else None

    async def _campaign(self, campaign_id: int) -> Campaign:
        try:
            return await self._campaigns.get_campaign(campaign_id)
        except NotFound:
            raise Invalid(f"campaign_id: no campaign {campaign_id}", field="campaign_id") from None

    async def _campaign_contact(self, interaction: Interaction) -> tuple[Campaign, Contact]:
        assert interaction.campaign_id is not None and interaction.contact_id is not None
        return (
            await self._campaigns.get_campaign(interaction.campaign_id),
            await self._campaigns.get_contact(interaction.contact_id),
        )

    async def _wrapup_settings(self, interaction: Interaction) -> Wrapup | None:
        if interaction.campaign_id is None:
            return self._inbound
        return (await self._campaigns.get_campaign(interaction.campaign_id)).spec.wrapup


class Callbacks:
    def __init__(
        self, store: SqlAgentStore, campaigns: Store, events: AgentEvents, clock: Clock
    ) -> None:
        self._store = store
        self._campaigns = campaigns
        self._events = events
        self._clock = clock

    async def callback_due(self, callback: Callback) -> None:
        """For the engine: the callback is due; tell its owner (or every agent)."""
        self._events.callback_due(callback)

    async def due(self, now: datetime | None = None) -> list[Callback]:
        """Booked callbacks whose time has come (for the engine to deliver)."""
        return await self._store.due_callbacks(now or self._clock())

    async def scheduled(self, user: User) -> list[Callback]:
        return await self._store.scheduled_callbacks(user.id)

    async def get(self, user: User, callback_id: int) -> Callback:
        callback = await self._store.get_callback(callback_id)
        if not user.role.manages and user.id not in (callback.owner_id, callback.booked_by):
            raise Unknown(f"no callback {callback_id}")
        return callback

    async def rebook(
        self, user: User, callback_id: int, due_at: datetime, comment: str | None
    ) -> Callback:
        callback = await self.get(user, callback_id)
        campaign = await self._campaigns.get_campaign(callback.campaign_id)
        contact = await self._campaigns.get_contact(callback.contact_id)
        rules.check_callback_time(
            due_at, self._clock(), campaign.spec.hours, contact.timezone, "due_at"
        )
        rebooked = await self._store.rebook_callback(callback_id, due_at, comment, self._clock())
        self._events.callback_booked(rebooked)
        return rebooked

    async def cancel(self, user: User, callback_id: int) -> Callback:
        await self.get(user, callback_id)
        return await self._store.cancel_callback(callback_id, self._clock())


class Cases:
    def __init__(self, store: SqlAgentStore, events: AgentEvents, clock: Clock) -> None:
        self._store = store
        self._events = events
        self._clock = clock

    async def create_type(
        self, actor: User, name: str, department: str, mandatory: Sequence[str]
    ) -> CaseType:
        require_manager(actor)
        case_rules.check_case_type(name, department, tuple(mandatory))
        return await self._store.create_case_type(name, department, mandatory)

    async def types(self) -> list[CaseType]:
        return await self._store.list_case_types()

    async def create(self, user: User, draft: CaseDraft) -> Case:
        case_type = await self._type(draft.type_id)
        phone = draft.phone
        if draft.interaction_id is not None:
            # Another agent's interaction answers as a missing one: no existence oracle.
            missing = Unknown(
                f"interaction_id: no interaction {draft.interaction_id}", field="interaction_id"
            )
            try:
                interaction = await self._store.get_interaction(draft.interaction_id)
            except NotFound:
                raise missing from None
            if interaction.agent_id != user.id:
                raise missing
            phone = phone or interaction.phone
        case_rules.check_complete(case_type, draft.fields, draft.comments, phone, draft.subject)
        now = self._clock()
        case = await self._store.create_case(
            Case(
                id=0,
                type_id=case_type.id,
                subject=draft.subject,
                priority=draft.priority,
                status=CaseStatus.SENT,
                department=case_type.department,
                creator_id=user.id,
                created_at=now,
                updated_at=now,
                comments=draft.comments,
                phone=phone,
                interaction_id=draft.interaction_id,
                fields=dict(draft.fields),
            ),
            actor=user.username,
        )
        self._events.case_changed(case, CaseActionKind.CREATED.value)
        log.info("case_created", case_id=case.id, department=case.department)
        return case

    async def get(self, user: User, case_id: int) -> Case:
        case = await self._store.get_case(case_id)
        if not user.role.manages and case.creator_id != user.id:
            raise Unknown(f"no case {case_id}")
        return case

    async def mine(self, user: User, status: CaseStatus | None) -> list[Case]:
        return await self._store.list_cases(creator_id=user.id, status=status)

    async def queue(self, actor: User, department: str, status: CaseStatus | None) -> list[Case]:
        require_manager(actor)
        return await self._store.list_cases(department=department, status=status)

    async def log(self, user: User, case_id: int) -> list[CaseAction]:
        await self.get(user, case_id)
        return await self._store.case_actions(case_id)

    async def amend(self, user: User, case_id: int, change: CaseAmendment) -> Case:
        case = await self.get(user, case_id)
        case_rules.check_creator_change(case, user.id)
        new = case_rules.amend(case, await self._type(case.type_id), change, self._clock())
        detail: dict[str, Any] = {
            k: v
            for k, v in (
                ("subject", change.subject),
                ("priority", change.priority),
                ("comments", change.comments),
                ("fields", change.fields),
            )
            if v is not None
        }
        return await self._write(case, new, user.username, CaseActionKind.AMENDED, detail)

    async def close(self, user: User, case_id: int, comment: str) -> Case:
        case = await self.get(user, case_id)
        case_rules.check_creator_change(case, user.id)
        new = case_rules.close(case, self._clock())
        detail = {"comment": comment} if comment else {}
        return await self._write(case, new, user.username, CaseActionKind.CLOSED, detail)

    async def department_action(
        self, actor: User, case_id: int, kind: CaseActionKind, comment: str
    ) -> Case:
        require_manager(actor)
        case = await self._store.get_case(case_id)
        new = case_rules.department_move(case, kind, actor.username, self._clock())
        detail = {"comment": comment} if comment else {}
        return await self._write(case, new, actor.username, kind, detail)

    async def _write(
        self, old: Case, new: Case, actor: str, kind: CaseActionKind, detail: dict[str, Any]
    ) -> Case:
        stored = await self._store.update_case(
            new, expected=old.status, actor=actor, action=kind, detail=detail
        )
        self._events.case_changed(stored, kind.value)
        return stored

    async def _type(self, type_id: int) -> CaseType:
        try:
            return await self._store.get_case_type(type_id)
        except NotFound:
            raise Invalid(f"type_id: no case type {type_id}", field="type_id") from None


@dataclass(frozen=True, slots=True)
class Services:
    """What the HTTP app and the engine are given by the composition root."""

    users: Users
    interactions: Interactions
    callbacks: Callbacks
    cases: Cases
    campaigns: Store
    clock: Clock
    floor: AgentFloor | None = None

    @classmethod
    def build(
        cls,
        store: SqlAgentStore,
        campaigns: Store,
        events: AgentEvents,
        clock: Clock,
        inbound_wrapup: Wrapup | None = None,
        floor: AgentFloor | None = None,
    ) -> Services:
        return cls(
            Users(store, clock),
            Interactions(store, campaigns, events, clock, inbound_wrapup, floor),
            Callbacks(store, campaigns, events, clock),
            Cases(store, events, clock),
            campaigns,
            clock,
            floor,
        )
