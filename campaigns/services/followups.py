"""Follow-up queues: requests an agent left open at the end of a call, worked by agents and
managers: taken, noted, closed, or handed to another department as a case."""

from __future__ import annotations

from dataclasses import replace

import structlog

from campaigns.cases import Case, CaseDraft
from campaigns.errors import Invalid
from campaigns.ports import AgentStore, Clock
from campaigns.services.cases import Cases
from campaigns.users import User
from campaigns.wrapup import FollowupItem, FollowupNote, QueueSummary, check_followup_work

log = structlog.get_logger()

MAX_NOTE = 4000


class Followups:
    """Every signed-in user may see the queues and work on an item; an item another agent
    has taken is theirs, unless a manager takes it over."""

    def __init__(self, store: AgentStore, cases: Cases, clock: Clock) -> None:
        self._store = store
        self._cases = cases
        self._clock = clock

    async def queues(self, user: User) -> list[QueueSummary]:
        return await self._store.followup_queues()

    async def items(
        self,
        user: User,
        queue: str | None,
        *,
        closed: bool = False,
        limit: int = 100,
        offset: int = 0,
    ) -> list[FollowupItem]:
        return await self._store.followup_items(queue, closed=closed, limit=limit, offset=offset)

    async def item(
        self, user: User, interaction_id: int
    ) -> tuple[FollowupItem, list[FollowupNote]]:
        item = await self._store.followup_item(interaction_id)
        return item, await self._store.followup_notes(interaction_id)

    async def take(self, user: User, interaction_id: int) -> FollowupItem:
        item = await self._store.followup_item(interaction_id)
        check_followup_work(item, user.id, user.role.manages)
        if item.taken_by != user.id:
            await self._store.take_followup(interaction_id, user.id, self._clock())
            log.info(
                "followup_taken",
                interaction_id=interaction_id,
                agent_id=user.id,
                taken_from=item.taken_by,
            )
        return await self._store.followup_item(interaction_id)

    async def note(self, user: User, interaction_id: int, text: str) -> FollowupNote:
        item = await self._store.followup_item(interaction_id)
        check_followup_work(item, user.id, user.role.manages)
        if not text.strip():
            raise Invalid("text: empty note", field="text")
        return await self._store.add_followup_note(interaction_id, user.id, text, self._clock())

    async def close(self, user: User, interaction_id: int, note: str = "") -> FollowupItem:
        """Close the item (and the request); a note, if given, says how it was settled."""
        item = await self._store.followup_item(interaction_id)
        check_followup_work(item, user.id, user.role.manages)
        now = self._clock()
        if note.strip():
            await self._store.add_followup_note(interaction_id, user.id, note, now)
        await self._store.close_followup(interaction_id, user.id, now)
        log.info("followup_closed", interaction_id=interaction_id, agent_id=user.id)
        return await self._store.followup_item(interaction_id)

    async def to_case(self, user: User, interaction_id: int, draft: CaseDraft) -> Case:
        """Hand the request to another department as a case that names the interaction;
        the item is closed, and shows the case."""
        item = await self._store.followup_item(interaction_id)
        check_followup_work(item, user.id, user.role.manages)
        case = await self._cases.create(
            user,
            replace(
                draft, interaction_id=interaction_id, phone=draft.phone or item.interaction.phone
            ),
            interaction_checked=True,
        )
        await self._store.close_followup(interaction_id, user.id, self._clock())
        return case
