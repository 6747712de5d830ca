"""Preview dialing: the agent reads the next due contact, then starts the call (their
phone rings first) or puts the contact back."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from campaigns.errors import Conflict
from campaigns.model import Contact
from campaigns.ports import Store
from campaigns.spec import Campaign
from dialer.clock import Clock
from dialer.engine.calls import Call
from dialer.engine.config import EngineConfig
from dialer.engine.placing import Placer
from dialer.roster import AgentBusy, Roster, UnknownAgent


class Preview:
    def __init__(
        self,
        *,
        store: Store,
        roster: Roster,
        clock: Clock,
        config: EngineConfig,
        placer: Placer,
        known: Callable[[int], Campaign | None],
    ) -> None:
        self._store = store
        self._roster = roster
        self._clock = clock
        self._config = config
        self._placer = placer
        self._known = known
        """The campaign as the supervisor last read it, if it did."""

    async def next(self, agent_id: int, campaign_id: int) -> Contact | None:
        """Claim the next due contact of a preview campaign for the agent to look at."""
        now = self._clock.now()
        # The agent may read as long as they like; the lease is renewed with the others.
        contacts = await self._store.claim_due(
            campaign_id, 1, now, self._config.owner, now + self._config.lease
        )
        return contacts[0] if contacts else None

    async def dial(self, agent_id: int, contact: Contact) -> int:
        """The agent starts the call: their phone rings first, then the contact's."""
        campaign = self._known(contact.campaign_id) or await self._store.get_campaign(
            contact.campaign_id
        )
        now = self._clock.now()
        try:
            seat = self._roster.reserve(agent_id, now)
        except (UnknownAgent, AgentBusy) as exc:
            raise Conflict(f"agent {agent_id} cannot start a call now") from exc
        attempt = await self._store.start_attempt(
            contact, self._config.owner, now, now + self._config.lease
        )
        call = Call(
            attempt.id,
            contact,
            campaign,
            asyncio.get_running_loop().time(),
            agent_first=True,
            agent_id=agent_id,
        )
        await self._placer.dial_agent_first(call, seat)
        return attempt.id

    async def skip(self, contact: Contact, until: datetime | None = None) -> None:
        """Put a previewed contact back, due again at ``until`` (default: now)."""
        await self._store.defer(contact.id, until or self._clock.now(), self._config.owner)
