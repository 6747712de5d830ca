"""Cases: opened by agents, worked by departments, with an action log."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog

from campaigns import cases as case_rules
from campaigns.cases import (
    Case,
    CaseAction,
    CaseActionKind,
    CaseAmendment,
    CaseDraft,
    CaseStatus,
    CaseType,
)
from campaigns.errors import Invalid, NotFound
from campaigns.ports import AgentEvents, CaseDesk, Clock
from campaigns.users import User, require_manager

log = structlog.get_logger()


class Cases:
    def __init__(self, store: CaseDesk, events: AgentEvents, clock: Clock) -> None:
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

    async def create(
        self, user: User, draft: CaseDraft, *, interaction_checked: bool = False
    ) -> Case:
        """``interaction_checked``: the caller has checked that ``user`` may refer to the
        interaction (a follow-up they work on), which need not be their own call."""
        case_type = await self._type(draft.type_id)
        phone = draft.phone
        if draft.interaction_id is not None and not interaction_checked:
            # Another agent's interaction answers as a missing one: no existence oracle.
            missing = NotFound(
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
            raise NotFound(f"no case {case_id}")
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
