"""Callbacks as agents see them: their scheduled calls, rebooking, cancelling; and telling
agents when one falls due."""

from __future__ import annotations

from datetime import datetime

from campaigns import callbacks as rules
from campaigns.callbacks import Callback
from campaigns.errors import NotFound
from campaigns.ports import AgentEvents, CallbackStore, Clock, Store
from campaigns.users import User


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
        return await self._store.scheduled_callbacks(user.id)

    async def get(self, user: User, callback_id: int) -> Callback:
        callback = await self._store.get_callback(callback_id)
        if not user.role.manages and user.id not in (callback.owner_id, callback.booked_by):
            raise NotFound(f"no callback {callback_id}")
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
