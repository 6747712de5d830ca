"""Interactions: calls offered to agents, their wrap-up and registration, end reasons, the
wrap-up catalogue, registration statistics.

The dialer engine calls ``start_interaction``, ``end_interaction``, ``auto_wrapup_due``,
``next_wrapup_deadline`` and ``may_become_ready``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import structlog

from campaigns import callbacks as callback_rules
from campaigns import wrapup as rules
from campaigns.callbacks import Callback
from campaigns.errors import Conflict, Invalid, NotFound
from campaigns.model import Contact
from campaigns.ports import AgentEvents, AgentFloor, Clock, Store, WrapupStore
from campaigns.spec import Campaign, Wrapup
from campaigns.users import User, require_manager
from campaigns.wrapup import (
    AgentFigures,
    Category,
    ContactHistory,
    Direction,
    EndReason,
    EndReasonChanges,
    EndReasonChoice,
    Interaction,
    NewEndReason,
    Registration,
    RegistrationDraft,
    StatsQuery,
    Topic,
    TopicCount,
    WrapupTimer,
)

log = structlog.get_logger()

OTHERS_OVERDUE = timedelta(minutes=1)
"""How long past zero another service's wrap-up countdown waits before this one wraps it
up (that service may be gone; while it runs it wraps up its own agents' on time)."""


@dataclass(frozen=True, slots=True)
class InteractionView:
    interaction: Interaction
    timer: WrapupTimer | None
    contact: Contact | None
    categories: list[Category]
    topics: list[Topic]
    registration: Registration | None
    history: ContactHistory | None = None


class Interactions:
    """Interactions, wrap-up registration, end reasons, the wrap-up catalogue, statistics."""

    def __init__(
        self,
        store: WrapupStore,
        campaigns: Store,
        events: AgentEvents,
        clock: Clock,
        inbound_wrapup: Wrapup | None = None,
        floor: AgentFloor | None = None,
        owner: str | None = None,
    ) -> None:
        self._store = store
        self._campaigns = campaigns
        self._events = events
        self._clock = clock
        self._inbound = inbound_wrapup
        self._floor = floor
        self._owner = owner
        """This service's name (its instance id), on the interactions its agents have:
        each service wraps up its own agents' countdowns, where its roster can make them
        ready again. None: every interaction is ours (one service)."""

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
            owner=self._owner,
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
        if interaction.ended_at is not None:
            # Ended once already (by the agent, then by the hang-up it caused): one wrap-up.
            return interaction
        settings = await self._wrapup_settings(interaction)
        now = self._clock()
        ended = await self._store.end_interaction(
            interaction.id,
            now,
            rules.wrapup_deadline(now, settings),
            settings.forced_registration if settings else False,
        )
        # The store keeps the first ending; only the one that made it starts the countdown.
        if ended.awaiting_wrapup and ended.ended_at == now:
            self._events.wrapup_started(ended, rules.wrapup_timer(ended, now))
        return ended

    async def auto_wrapup_due(self, now: datetime | None = None) -> list[Interaction]:
        """Wrap up every interaction whose countdown reached zero, with the default reason."""
        now = now or self._clock()
        done = []
        due = await self._store.due_wrapups(now, owner=self._owner, others_overdue=OTHERS_OVERDUE)
        for interaction in due:
            settings = await self._wrapup_settings(interaction)
            outcome = None
            if settings and settings.default_end_reason and interaction.end_reason_id is None:
                try:
                    reason = await self._store.get_end_reason(
                        settings.default_end_reason, interaction.campaign_id
                    )
                    outcome = rules.choose_end_reason(
                        reason, EndReasonChoice(reason.id), interaction.campaign_id
                    )
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
            except Conflict:
                continue  # the agent registered meanwhile
            wrapped = replace(interaction, wrapped_up_at=now, wrapup_deadline=None)
            self._events.wrapped_up(wrapped, registration)
            log.info("wrapup_automatic", interaction_id=interaction.id)
            done.append(wrapped)
        return done

    async def next_wrapup_deadline(self) -> datetime | None:
        """When ``auto_wrapup_due`` has work next: the engine sleeps until then or a wake-up."""
        return await self._store.next_wrapup_deadline(self._owner, OTHERS_OVERDUE)

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
                raise NotFound(f"contact_id: no contact {contact_id}", field="contact_id")
            try:
                contact = await self._campaigns.get_contact(contact_id)
            except NotFound:
                raise NotFound(f"contact_id: no contact {contact_id}", field="contact_id") from None
            if contact.campaign_id != campaign_id:
                raise Invalid(
                    "campaign_id: the contact is not in this campaign", field="campaign_id"
                )
        return await self.start_interaction(user.id, phone, direction, contact=contact)

    async def end(self, user: User, interaction_id: int) -> Interaction:
        """The agent ends a call: a dialer call still up is hung up in Asterisk first."""
        interaction = await self._owned(user, interaction_id)
        if (
            interaction.ended_at is None
            and interaction.attempt_id is not None
            and self._floor is not None
        ):
            await self._floor.hang_up(user.id, interaction.attempt_id)
        return await self._end(interaction)

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
            await self._history(interaction),
        )

    async def _history(self, interaction: Interaction) -> ContactHistory | None:
        """The contact's earlier calls: this one's attempt and registration left out."""
        if interaction.contact_id is None:
            return None
        history = await self._store.contact_history(interaction.contact_id)
        return ContactHistory(
            tuple(a for a in history.attempts if a.id != interaction.attempt_id),
            tuple(r for r in history.registrations if r.interaction_id != interaction.id),
        )

    async def register(
        self, user: User, interaction_id: int, draft: RegistrationDraft
    ) -> tuple[Registration, Callback | None]:
        interaction = await self._owned(user, interaction_id)
        rules.check_draft(interaction, draft)
        topics, categories = await self._store.topics_with_categories(draft.topic_ids)
        rules.check_topics(interaction, draft.topic_ids, topics, categories)
        settings = await self._wrapup_settings(interaction)
        if interaction.registration_required or (settings and settings.forced_registration):
            catalogue, _ = await self._store.catalogue()
            offered = rules.offered_categories(catalogue, interaction)
            rules.check_required(draft, offered, topics)
        outcome = None
        if draft.end_reason is not None:
            reason = await self._reason(draft.end_reason.reason_id)
            outcome = rules.choose_end_reason(reason, draft.end_reason, interaction.campaign_id)
        change = callback = None
        now = self._clock()
        if draft.feedback is not None:
            campaign, contact = await self._campaign_contact(interaction)
            if draft.callback is not None:
                callback_rules.check_callback_time(
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
        reason = await self._reason(choice.reason_id)
        outcome = rules.choose_end_reason(reason, choice, interaction.campaign_id)
        return await self._store.set_end_reason(interaction.id, outcome)

    async def extend(self, user: User, interaction_id: int) -> Interaction:
        interaction = await self._owned(user, interaction_id)
        rules.check_extend(interaction, await self._wrapup_settings(interaction))
        return await self._store.extend_wrapup(interaction.id)

    # Catalogue (managers)

    async def create_category(
        self,
        actor: User,
        name: str,
        multi_choice: bool,
        campaign_id: int | None,
        required: bool = False,
    ) -> Category:
        require_manager(actor)
        if campaign_id is not None:
            await self._campaign(campaign_id)
        return await self._store.create_category(name, multi_choice, campaign_id, required)

    async def set_category_active(self, actor: User, category_id: int, active: bool) -> Category:
        require_manager(actor)
        return await self._store.set_category_active(category_id, active)

    async def set_category_required(
        self, actor: User, category_id: int, required: bool
    ) -> Category:
        require_manager(actor)
        return await self._store.set_category_required(category_id, required)

    async def create_topic(self, actor: User, category_id: int, name: str, script: str) -> Topic:
        require_manager(actor)
        return await self._store.create_topic(category_id, name, script)

    async def catalogue(self) -> tuple[list[Category], list[Topic]]:
        return await self._store.catalogue()

    async def end_reasons(
        self, actor: User, campaign_id: int | None = None, *, retired: bool = False
    ) -> list[EndReason]:
        """The reasons an agent may pick for a call of ``campaign_id`` (None: the global
        ones), in order. Managers may ask for every reason, retired ones included."""
        if retired:
            require_manager(actor)
            return await self._store.list_end_reasons(campaign_id)
        return await self._store.list_end_reasons(campaign_id, offered=True)

    async def create_end_reason(self, actor: User, reason: NewEndReason) -> EndReason:
        require_manager(actor)
        return await self._store.create_end_reason(reason)

    async def update_end_reason(
        self, actor: User, reason_id: int, changes: EndReasonChanges
    ) -> EndReason:
        """Edit, reorder (``position``), retire (``active`` false) or bring back a reason."""
        require_manager(actor)
        return await self._store.update_end_reason(reason_id, changes)

    async def import_end_reasons(self, actor: User, reasons: Sequence[NewEndReason]) -> int:
        require_manager(actor)
        return await self._store.add_end_reasons(reasons)

    async def followups(self, actor: User, queue: str | None) -> list[Interaction]:
        require_manager(actor)
        return await self._store.followups(queue)

    async def stats(self, actor: User, query: StatsQuery) -> list[TopicCount]:
        require_manager(actor)
        return await self._store.registration_stats(query)

    async def agent_figures(self, actor: User, query: StatsQuery) -> list[AgentFigures]:
        require_manager(actor)
        return await self._store.agent_figures(query)

    # Helpers

    async def _owned(self, user: User, interaction_id: int) -> Interaction:
        interaction = await self._store.get_interaction(interaction_id)
        if interaction.agent_id != user.id:
            raise NotFound(f"no interaction {interaction_id}")
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
