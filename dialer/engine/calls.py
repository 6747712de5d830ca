"""The calls in flight: one :class:`Call` per attempt from its Originate to its settlement.

Entries leave as soon as a call is settled and ended, so the registry is bounded by the
calls Asterisk has up; :meth:`Calls.until_quiet` waits until it is empty.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass

from ami_bridge import CallOutcome
from campaigns.callbacks import Callback
from campaigns.model import Contact
from campaigns.spec import Campaign


@dataclass(slots=True)
class Call:
    attempt_id: int
    contact: Contact
    campaign: Campaign
    placed_at: float
    agent_first: bool = False
    callback: Callback | None = None
    agent_id: int | None = None
    """The agent the call was put through to (their phone may still be ringing)."""
    agent_answered: bool = False
    outcome: CallOutcome | None = None
    answered_at: float | None = None
    abandoned: bool = False
    settled: bool = False
    ended: bool = False

    @property
    def ringing(self) -> bool:
        return self.answered_at is None and self.outcome is None

    @property
    def waiting(self) -> bool:
        """Answered by a person, not yet put through to an agent nor abandoned."""
        return (
            self.answered_at is not None
            and not self.agent_first
            and self.agent_id is None
            and not self.abandoned
            and not self.ended
        )

    @property
    def trunk(self) -> str:
        return self.campaign.spec.dialing.trunk


class Calls:
    """The registry of calls in flight, by attempt id."""

    def __init__(self) -> None:
        self._calls: dict[str, Call] = {}
        self._quiet = asyncio.Event()
        self._quiet.set()

    def __len__(self) -> int:
        return len(self._calls)

    def __iter__(self) -> Iterator[Call]:
        return iter(self._calls.values())

    def get(self, attempt_id: str) -> Call | None:
        return self._calls.get(attempt_id)

    def add(self, call: Call) -> None:
        self._calls[str(call.attempt_id)] = call
        self._quiet.clear()

    def forget(self, call: Call) -> None:
        """Drop the call once it is settled or ended (nothing more will be done with it)."""
        if call.settled or call.ended:
            self._calls.pop(str(call.attempt_id), None)
            self.check_quiet()

    def check_quiet(self) -> None:
        if not self._calls:
            self._quiet.set()

    async def until_quiet(self) -> None:
        """Until no call is in flight."""
        await self._quiet.wait()

    def contact_ids(self) -> set[int]:
        return {c.contact.id for c in self._calls.values()}
