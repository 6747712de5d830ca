"""The agent side's store as the use cases see it: users, the wrap-up catalogue, interactions
and their registrations, booked callbacks, cases.

Docstrings live here; the implementation (:mod:`campaigns.storage`) stays terse. Lookups by
id raise :class:`~campaigns.errors.NotFound`; a write the current state forbids raises
:class:`~campaigns.errors.Conflict` with its code.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from campaigns.callbacks import Callback, CallbackQuery, NewCallback
from campaigns.cases import Case, CaseAction, CaseActionKind, CaseStatus, CaseType
from campaigns.users import Role, User
from campaigns.wrapup import (
    AgentFigures,
    Category,
    ContactChange,
    ContactHistory,
    Direction,
    EndReason,
    EndReasonChanges,
    EndReasonOutcome,
    Feedback,
    FollowupItem,
    FollowupNote,
    Interaction,
    NewEndReason,
    QueueSummary,
    Registration,
    StatsQuery,
    Topic,
    TopicCount,
)


class UserStore(Protocol):
    async def create_user(
        self,
        username: str,
        role: Role,
        name: str,
        extension: str | None,
        token_hash: str,
        now: datetime,
    ) -> User:
        """A new user; ``Conflict`` (``user.exists``) if the name is taken."""
        ...

    async def user_by_token_hash(self, token_hash: str) -> tuple[User, str] | None:
        """The user holding a token with this hash, and the stored hash."""
        ...

    async def list_users(self) -> list[User]: ...

    async def set_token_hash(self, user_id: int, token_hash: str) -> None: ...

    async def set_user_active(self, user_id: int, active: bool) -> None: ...

    async def set_logged_in_to(self, user_id: int, service: str | None) -> None:
        """The service (its instance id) the agent logged in to; None: logged out."""
        ...


class CatalogueStore(Protocol):
    """Wrap-up categories and topics, and end reasons."""

    async def create_category(
        self, name: str, multi_choice: bool, campaign_id: int | None, required: bool = False
    ) -> Category: ...

    async def set_category_active(self, category_id: int, active: bool) -> Category: ...

    async def set_category_required(self, category_id: int, required: bool) -> Category:
        """Required: a forced registration needs a topic of it when it is offered."""
        ...

    async def create_topic(self, category_id: int, name: str, script: str) -> Topic: ...

    async def catalogue(self) -> tuple[list[Category], list[Topic]]:
        """Every category and every topic (agents read it with each call)."""
        ...

    async def topics_with_categories(
        self, topic_ids: Sequence[int]
    ) -> tuple[dict[int, Topic], dict[int, Category]]:
        """The topics of ``topic_ids`` that exist, and their categories."""
        ...

    async def add_end_reasons(self, reasons: Sequence[NewEndReason]) -> int:
        """Add the reasons not present yet (by name, globally or in their campaign);
        returns how many were added. :class:`NotFound` (field ``campaign_id``) for a
        campaign that does not exist."""
        ...

    async def create_end_reason(self, reason: NewEndReason) -> EndReason:
        """:class:`Conflict` (field ``name``) when its scope has a reason of that name."""
        ...

    async def update_end_reason(self, reason_id: int, changes: EndReasonChanges) -> EndReason:
        """Apply the values set in ``changes``; :class:`NotFound` for an unknown id."""
        ...

    async def list_end_reasons(
        self, campaign_id: int | None = None, *, offered: bool = False
    ) -> list[EndReason]:
        """In the agents' order (position, name). ``campaign_id``: the global reasons and
        that campaign's (else all, or with ``offered`` the global ones); ``offered``: the
        active ones only."""
        ...

    async def get_end_reason(self, ref: int | str, campaign_id: int | None = None) -> EndReason:
        """By id, or by name: ``campaign_id``'s own reason before a global one."""
        ...


class InteractionStore(Protocol):
    """Interactions (calls handled by agents) and their registrations."""

    async def create_interaction(
        self,
        agent_id: int,
        direction: Direction,
        phone: str,
        now: datetime,
        contact_id: int | None = None,
        campaign_id: int | None = None,
        attempt_id: int | None = None,
        owner: str | None = None,
    ) -> Interaction:
        """``owner``: the service whose agent has it (see :meth:`due_wrapups`)."""
        ...

    async def get_interaction(self, interaction_id: int) -> Interaction: ...

    async def list_interactions(self, agent_id: int, limit: int = 50) -> list[Interaction]: ...

    async def contact_history(self, contact_id: int, limit: int = 50) -> ContactHistory:
        """The contact's last ``limit`` attempts and registrations, newest first."""
        ...

    async def was_offered(self, agent_id: int, contact_id: int) -> bool:
        """Whether the dialer ever gave the agent a call to the contact."""
        ...

    async def awaiting_wrapup(self, agent_id: int) -> list[Interaction]:
        """The agent's ended interactions not wrapped up yet."""
        ...

    async def end_interaction(
        self, interaction_id: int, ended_at: datetime, deadline: datetime | None, required: bool
    ) -> Interaction:
        """Record the end and the wrap-up deadline; ending twice returns the first ending."""
        ...

    async def extend_wrapup(self, interaction_id: int) -> Interaction:
        """Stop the countdown; ``Conflict`` if already wrapped up."""
        ...

    async def set_end_reason(
        self, interaction_id: int, outcome: EndReasonOutcome
    ) -> Interaction: ...

    async def due_wrapups(
        self,
        now: datetime,
        limit: int = 100,
        *,
        owner: str | None = None,
        others_overdue: timedelta = timedelta(0),
    ) -> list[Interaction]:
        """Interactions whose wrap-up countdown reached zero. Given ``owner``: its own and
        those of no owner, and other services' only once ``others_overdue`` past zero."""
        ...

    async def next_wrapup_deadline(
        self, owner: str | None = None, others_overdue: timedelta = timedelta(0)
    ) -> datetime | None:
        """When :meth:`due_wrapups`, given the same arguments, has work next."""
        ...

    async def followups(self, queue: str | None, limit: int = 100) -> list[Interaction]:
        """Interactions left open for further work, in ``queue`` (None: every queue)."""
        ...

    async def save_registration(
        self,
        interaction: Interaction,
        *,
        topic_ids: Sequence[int],
        comment: str,
        feedback: Feedback | None,
        automatic: bool,
        now: datetime,
        end_reason: EndReasonOutcome | None = None,
        contact_change: ContactChange | None = None,
        callback: NewCallback | None = None,
    ) -> tuple[Registration, Callback | None]:
        """Registration, topics, end reason, contact state and callback: all or nothing.

        ``Conflict`` (``wrapup.already_registered``) if the interaction is wrapped up;
        the contact changes only through the interaction's own settled attempt, else
        ``Conflict`` (``wrapup.contact_busy``).
        """
        ...

    async def get_registration(self, interaction_id: int) -> Registration | None: ...

    async def registration_stats(self, query: StatsQuery) -> list[TopicCount]: ...

    async def agent_figures(self, query: StatsQuery) -> list[AgentFigures]:
        """Per agent, by username, of the interactions started and the registrations made
        in the period, filtered by campaign and agent (``by_*`` ignored)."""
        ...


class CallbackStore(Protocol):
    """Booked callbacks, as agents see and change them (delivery is the campaign store's)."""

    async def get_callback(self, callback_id: int) -> Callback: ...

    async def scheduled_callbacks(self, owner_id: int) -> list[Callback]:
        """The agent's scheduled calls: their booked and due callbacks, and the due ones
        for all agents; soonest first."""
        ...

    async def list_callbacks(self, query: CallbackQuery) -> tuple[int, list[Callback]]:
        """How many callbacks match, and the page of them :class:`CallbackQuery` asks for."""
        ...

    async def reassign_callback(
        self, callback_id: int, owner_id: int | None, now: datetime
    ) -> Callback:
        """Give an open callback to ``owner_id`` (None: to all agents); a due one is
        reserved for them anew (:func:`campaigns.callbacks.reserved_after_reassign`).
        ``NotFound``, ``Conflict`` if closed, ``Invalid`` (``owner_id``) for no such active
        user."""
        ...

    async def callback_deliveries(
        self, campaign_id: int | None = None
    ) -> list[tuple[int, datetime, datetime]]:
        """``(campaign_id, due_at, started_at)`` of each delivered (done) callback: the
        start of the attempt that delivered it."""
        ...

    async def due_callbacks(self, now: datetime, limit: int = 100) -> list[Callback]: ...

    async def rebook_callback(
        self, callback_id: int, due_at: datetime, comment: str | None, now: datetime
    ) -> Callback:
        """Book an open callback again; its contact waits for it. ``Conflict`` if closed."""
        ...

    async def cancel_callback(self, callback_id: int, now: datetime) -> Callback:
        """Cancel an open callback; see :data:`campaigns.callbacks.CONTACT_AFTER_CANCEL`."""
        ...


class CaseStore(Protocol):
    async def create_case_type(
        self, name: str, department: str, mandatory_fields: Sequence[str]
    ) -> CaseType: ...

    async def list_case_types(self) -> list[CaseType]: ...

    async def get_case_type(self, type_id: int) -> CaseType: ...

    async def create_case(self, case: Case, actor: str) -> Case:
        """Store a new case with its ``created`` log entry."""
        ...

    async def get_case(self, case_id: int) -> Case: ...

    async def list_cases(
        self,
        *,
        creator_id: int | None = None,
        department: str | None = None,
        status: CaseStatus | None = None,
        limit: int = 100,
    ) -> list[Case]: ...

    async def update_case(
        self,
        case: Case,
        *,
        expected: CaseStatus,
        actor: str,
        action: CaseActionKind,
        detail: dict[str, Any],
    ) -> Case:
        """Write ``case`` if its status is still ``expected`` (else ``Conflict``), with its
        log entry."""
        ...

    async def case_actions(self, case_id: int) -> list[CaseAction]: ...


class FollowupStore(Protocol):
    """Requests left open at the end of a call (``followup_queue`` set), by queue."""

    async def followup_items(
        self, queue: str | None, *, closed: bool = False, limit: int = 100, offset: int = 0
    ) -> list[FollowupItem]:
        """Open items (``closed``: closed ones), of ``queue`` or all, oldest first."""
        ...

    async def followup_item(self, interaction_id: int) -> FollowupItem:
        """:class:`NotFound` when the interaction left no request open."""
        ...

    async def followup_queues(self) -> list[QueueSummary]:
        """Each queue with open items: how many, how many taken, the oldest."""
        ...

    async def take_followup(self, interaction_id: int, agent_id: int, now: datetime) -> None: ...

    async def close_followup(self, interaction_id: int, agent_id: int, now: datetime) -> None:
        """Close the item, and the request on its interaction."""
        ...

    async def add_followup_note(
        self, interaction_id: int, author_id: int, text: str, now: datetime
    ) -> FollowupNote: ...

    async def followup_notes(self, interaction_id: int) -> list[FollowupNote]: ...


class WrapupStore(InteractionStore, CatalogueStore, Protocol):
    """What the interaction use cases need."""


class CaseDesk(CaseStore, Protocol):
    """What the case use cases need: cases, and the interactions they may refer to."""

    async def get_interaction(self, interaction_id: int) -> Interaction: ...


class AgentStore(
    UserStore, CatalogueStore, InteractionStore, CallbackStore, CaseStore, FollowupStore, Protocol
):
    """The whole agent-side store, as the composition root hands it out."""
