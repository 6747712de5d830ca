"""The campaign store as the dialer and the use cases see it.

Docstrings live here; implementations (:mod:`campaigns.storage`) stay terse. Refusals are
:mod:`campaigns.errors` (``NotFound``, ``Conflict``).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from campaigns.callbacks import Callback
from campaigns.model import Attempt, CampaignState, Contact, ContactRow, ContactState, Outcome
from campaigns.retry import Decision
from campaigns.spec import Campaign, CampaignSpec


@dataclass(frozen=True, slots=True)
class AddResult:
    inserted: int = 0
    merged: int = 0
    dnc_lines: tuple[int, ...] = ()
    """Lines refused because the number is on the do-not-call list."""


@dataclass(frozen=True, slots=True)
class CampaignStats:
    contacts_by_state: dict[ContactState, int]
    attempts_by_outcome: dict[Outcome, int]
    attempts_open: int


class Store(Protocol):
    # Campaigns
    async def create_campaign(self, spec: CampaignSpec, now: datetime) -> Campaign:
        """Store a new campaign in ``draft``; ``Conflict`` if the name is taken."""
        ...

    async def apply_campaign(self, spec: CampaignSpec, now: datetime) -> tuple[Campaign, bool]:
        """Create the campaign or replace the settings of the one with that name.

        Returns the campaign and whether it was created. The state is kept.
        """
        ...

    async def get_campaign(self, ref: int | str) -> Campaign:
        """A campaign by id or name; :class:`~campaigns.errors.NotFound` otherwise."""
        ...

    async def list_campaigns(self) -> list[Campaign]: ...

    def watch_campaigns(self) -> AsyncGenerator[None]:
        """Yield whenever campaigns may have changed (a start, a pause, a new spec), by
        this process or another on the same database. Runs until closed."""
        ...

    async def set_campaign_state(
        self, ref: int | str, state: CampaignState, now: datetime
    ) -> Campaign:
        """Move a campaign to ``state``; ``Conflict`` when the state machine forbids it
        (:meth:`campaigns.model.CampaignState.may_become`)."""
        ...

    async def campaign_stats(self, campaign_id: int) -> CampaignStats: ...

    async def connected_calls(
        self, campaign_id: int, since: datetime
    ) -> list[tuple[datetime, Outcome]]:
        """End time and outcome of the campaign's calls answered by a person or abandoned,
        ended at or after ``since``, oldest first."""
        ...

    # Contacts
    async def add_contacts(
        self, campaign_id: int, rows: Sequence[ContactRow], now: datetime
    ) -> AddResult:
        """Insert rows as ``pending`` contacts due ``now``, in one transaction.

        A number already in the campaign is merged: its attributes are updated with the
        row's, its state and history are kept. A number on the do-not-call list is refused.
        """
        ...

    async def get_contact(self, contact_id: int) -> Contact: ...

    async def get_contacts(self, contact_ids: Collection[int]) -> dict[int, Contact]:
        """The contacts of ``contact_ids`` that exist, by id, in one read."""
        ...

    async def claim_due(
        self, campaign_id: int, limit: int, now: datetime, owner: str, lease_until: datetime
    ) -> list[Contact]:
        """Hand out up to ``limit`` due contacts of a running campaign and mark them ``dialing``.

        Highest priority first, then earliest due. Atomic: two claimers, in one process or
        in several sharing a PostgreSQL database, never receive the same contact
        (``FOR UPDATE SKIP LOCKED`` there; SQLite serialises writers). The lease lets
        another process reclaim the contact if this one dies.
        """
        ...

    async def next_due_at(self, campaign_id: int) -> datetime | None:
        """When the campaign's earliest queued contact is due (None: the queue is empty)."""
        ...

    async def defer(self, contact_id: int, due_at: datetime, owner: str) -> bool:
        """Put a claimed contact back in the queue untouched (e.g. outside calling hours)."""
        ...

    async def release_expired_leases(self, now: datetime) -> list[int]:
        """Requeue contacts whose lease ran out (their dialer died) without counting a call.

        Their open attempts are closed as ``failed_system``. Returns the contact ids.
        """
        ...

    async def release_owned(self, owner: str, now: datetime) -> list[int]:
        """Requeue every contact leased by ``owner`` (its process restarted), like above."""
        ...

    async def renew_leases(self, owner: str, until: datetime) -> int:
        """Extend every lease held by ``owner`` (its calls are still being followed)."""
        ...

    # Attempts
    async def start_attempt(
        self, contact: Contact, owner: str, now: datetime, lease_until: datetime
    ) -> Attempt:
        """Record an attempt before its call is placed; renews the contact's lease.

        Raises Conflict if ``owner`` no longer holds the contact's claim."""
        ...

    async def start_attempts(
        self, contacts: Sequence[Contact], owner: str, now: datetime, lease_until: datetime
    ) -> list[Attempt]:
        """:meth:`start_attempt` for a batch, in one transaction and in ``contacts``' order.

        A contact ``owner`` no longer holds is left out (no attempt, nothing changed)."""
        ...

    async def finish_attempt(
        self, attempt_id: int, outcome: Outcome, decision: Decision, now: datetime
    ) -> bool:
        """Close the attempt with its outcome and apply ``decision`` to its contact, atomically.

        Exactly once: returns False (and changes nothing) if the attempt was already closed.
        A callback's attempt closes the callback, except a ``failed_system`` one: the
        callback is then due again and its contact waits for it.
        """
        ...

    async def finish_attempts(
        self, settled: Sequence[tuple[int, Outcome, Decision]], now: datetime
    ) -> list[bool]:
        """:meth:`finish_attempt` for each of ``settled`` (attempt id, outcome, decision), in
        one transaction; one flag per item, in order."""
        ...

    async def open_attempts(self, owner: str) -> list[Attempt]:
        """Attempts of ``owner`` with no outcome yet (crash recovery)."""
        ...

    # Callback delivery (booking is the agent side's: campaigns.ports.agent_store)
    async def next_callback_at(self) -> datetime | None:
        """When the earliest booked callback falls due."""
        ...

    async def take_due_callbacks(self, now: datetime) -> list[Callback]:
        """Move booked callbacks due by ``now`` to ``due``, reserved for their owner.

        The reservation runs for the campaign's ``callback_reservation_minutes`` from the
        due time. Returns the callbacks moved.
        """
        ...

    async def agents_logged_in_elsewhere(self, agent_ids: Iterable[int], service: str) -> set[int]:
        """Those of ``agent_ids`` logged in to a service other than ``service``."""
        ...

    async def log_out_agents_of(self, service: str) -> int:
        """Agents recorded as logged in to ``service`` are logged out (it is starting: its
        roster is empty). Returns how many."""
        ...

    async def open_due_callbacks(self) -> list[Callback]:
        """Callbacks that are due and not yet delivered, oldest first (survives a restart);
        not those being called now (their contact is dialling)."""
        ...

    async def start_callback_attempt(
        self, callback: Callback, agent_id: int, owner: str, now: datetime, lease_until: datetime
    ) -> tuple[Contact, Attempt]:
        """Claim a due callback's contact for ``agent_id`` and record the attempt.

        :class:`~campaigns.errors.Conflict` if the callback is no longer due or its contact is busy.
        The attempt's ``finish_attempt`` closes the callback.
        """
        ...

    # Do-not-call
    async def dnc_add(self, phones: Sequence[str], reason: str, now: datetime) -> int:
        """Add numbers; contacts with them that are not final become ``dnc``. Returns new ones."""
        ...

    async def dnc_remove(self, phones: Sequence[str]) -> int: ...

    async def dnc_contains(self, phone: str) -> bool: ...

    async def dnc_list(self) -> list[tuple[str, str, datetime]]:
        """Every listed number with its reason and when it was added, by number."""
        ...

    async def dnc_page(
        self, prefix: str, limit: int, offset: int
    ) -> tuple[int, list[tuple[str, str, datetime]]]:
        """The numbers starting with ``prefix`` (E.164, ``+`` included): how many there
        are, and ``limit`` of them from ``offset``, by number."""
        ...
