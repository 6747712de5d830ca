"""What a previous run left, and this run's leases.

At start: attempts with no outcome are settled ``failed_system`` (a call Asterisk still
has up is hung up first: its events are lost to us) and contacts claimed but not dialled
are released. While running: this process's leases are renewed, and contacts of a dialer
that died (on a shared database) come back when their leases expire.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import structlog

from ami_bridge import AmiBridge, AmiError
from campaigns.model import Outcome
from campaigns.ports import Store
from dialer.clock import Clock
from dialer.engine.config import EngineConfig
from dialer.engine.settlement import decide_for
from dialer.engine.waiting import guard

log = structlog.get_logger()


class Recovery:
    def __init__(
        self, *, store: Store, bridge: AmiBridge, clock: Clock, config: EngineConfig
    ) -> None:
        self._store = store
        self._bridge = bridge
        self._clock = clock
        self._config = config

    async def recover(self) -> None:
        """Settle what a crash left: attempts with no outcome, contacts claimed but not dialled."""
        owner, now = self._config.owner, self._clock.now()
        open_attempts = await self._store.open_attempts(owner)
        live: frozenset[str] | None = None
        if open_attempts:
            try:
                live = await self._bridge.live_attempt_ids()
            except AmiError as exc:
                log.warning("recovery_without_asterisk", error=str(exc))
        for attempt in open_attempts:
            if live is not None and str(attempt.id) in live:
                # Its events are lost to us: end the call rather than dial the contact
                # again while it is still up.
                with contextlib.suppress(AmiError):
                    await self._bridge.hangup(str(attempt.id))
            contact = await self._store.get_contact(attempt.contact_id)
            campaign = await self._store.get_campaign(attempt.campaign_id)
            decision = decide_for(contact, campaign, Outcome.FAILED_SYSTEM, now)
            await self._store.finish_attempt(attempt.id, Outcome.FAILED_SYSTEM, decision, now)
            log.warning(
                "attempt_recovered",
                attempt_id=attempt.id,
                contact_id=contact.id,
                call_was_live=live is not None and str(attempt.id) in live,
            )
        released = await self._store.release_owned(owner, now)
        if open_attempts or released:
            log.info("recovered", attempts=len(open_attempts), contacts=len(released))

    async def keep_leases(self, released: Callable[[], None]) -> None:
        """Renew our leases a third of the way through; ``released()`` when others' expired."""
        lease = self._config.lease
        while True:
            await asyncio.sleep(lease.total_seconds() / 3)
            now = self._clock.now()
            await guard(self._store.renew_leases(self._config.owner, now + lease))
            # Contacts of a dialer that died (on a shared database) come back.
            if await guard(self._store.release_expired_leases(now)):
                released()
