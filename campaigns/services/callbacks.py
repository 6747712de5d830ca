"""Callbacks as agents see them: their scheduled calls, rebooking, cancelling; and telling
agents when one falls due. Managers list every callback, reassign one, and read how late
they were delivered."""

from __future__ import annotations

from datetime import datetime

from campaigns import callbacks as rules
from campaigns.callbacks import Callback, CallbackQuery, CallbackState, Lateness
from campaigns.errors import NotFound
from campaigns.ports import AgentEvents, CallbackStore, Clock, Store
from campaigns.users import User, require_manager


class Callbacks:
    def __init__(
        self, store: CallbackStore, campaigns: Store, events: AgentEvents, clock: Clock
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
        """The agent's booked and due callbacks, and the due ones for all agents."""
        return await self._store.scheduled_callbacks(user.id)

    async def get(self, user: User, callback_id: int) -> Callback:
        """The agent's own (owned or booked), or a due one for all agents."""
        callback = await self._store.get_callback(callback_id)
        for_anyone = callback.owner_id is None and callback.state is CallbackState.DUE
        if not (for_anyone or user.id in (callback.owner_id, callback.booked_by)):
            require_manager_or_missing(user, callback_id)
        return callback

    async def _own(self, user: User, callback_id: int) -> Callback:
        callback = await self._store.get_callback(callback_id)
        if user.id not in (callback.owner_id, callback.booked_by):
            require_manager_or_missing(user, callback_id)
        return callback

    async def browse(self, user: User, query: CallbackQuery) -> tuple[int, list[Callback]]:
        require_manager(user)
        return await self._store.list_callbacks(query)

    async def reassign(self, user: User, callback_id: int, owner_id: int | None) -> Callback:
        """To ``owner_id`` or (None) to all agents; a due one is announced to its new owner
        (to every agent when for all)."""
        require_manager(user)
        callback = await self._store.reassign_callback(callback_id, owner_id, self._clock())
        if callback.state is CallbackState.DUE:
            self._events.callback_due(callback)
        else:
            self._events.callback_booked(callback)
        return callback

    async def lateness(self, user: User, campaign_id: int | None = None) -> list[Lateness]:
        require_manager(user)
        return rules.lateness(await self._store.callback_deliveries(campaign_id))

    async def rebook(
        self, user: User, callback_id: int, due_at: datetime, comment: str | None
    ) -> Callback:
        callback = await self._own(user, callback_id)
        campaign = await self._campaigns.get_campaign(callback.campaign_id)
        contact = await self._campaigns.get_contact(callback.contact_id)
        rules.check_callback_time(
            due_at, self._clock(), campaign.spec.hours, contact.timezone, "due_at"
        )
        rebooked = await self._store.rebook_callback(callback_id, due_at, comment, self._clock())
        self._events.callback_booked(rebooked)
        return rebooked

    async def cancel(self, user: User, callback_id: int) -> Callback:
        await self._own(user, callback_id)
        return await self._store.cancel_callback(callback_id, self._clock())


def require_manager_or_missing(user: User, callback_id: int) -> None:
    """Another agent's callback is answered as a missing one would be."""
    if not user.role.manages:
        raise NotFound(f"no callback {callback_id}")
