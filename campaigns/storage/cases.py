"""Cases and their action log."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from campaigns.cases import Case, CaseAction, CaseActionKind, CaseStatus, CaseType
from campaigns.errors import Code, Conflict
from campaigns.storage import mappers
from campaigns.storage import tables as t
from campaigns.storage.base import SqlBase


class CaseRows(SqlBase):
    async def create_case_type(
        self, name: str, department: str, mandatory_fields: Sequence[str]
    ) -> CaseType:
        async def work(conn: AsyncConnection) -> CaseType:
            row = (
                await conn.execute(
                    sa.insert(t.case_types)
                    .values(
                        name=name, department=department, mandatory_fields=list(mandatory_fields)
                    )
                    .returning(*t.case_types.c)
                )
            ).one()
            return mappers.case_type(row)

        try:
            return await self._tx(work)
        except IntegrityError:
            raise Conflict(f"name: a case type {name!r} exists", field="name") from None

    async def list_case_types(self) -> list[CaseType]:
        q = sa.select(t.case_types).order_by(t.case_types.c.id)
        return [mappers.case_type(r) for r in await self._rows(q)]

    async def get_case_type(self, type_id: int) -> CaseType:
        return mappers.case_type(
            await self._one(
                sa.select(t.case_types).where(t.case_types.c.id == type_id),
                f"type_id: no case type {type_id}",
            )
        )

    async def create_case(self, case: Case, actor: str) -> Case:
        async def work(conn: AsyncConnection) -> Case:
            row = (
                await conn.execute(
                    sa.insert(t.cases)
                    .values(**_case_values(case), created_at=case.created_at)
                    .returning(*t.cases.c)
                )
            ).one()
            created = mappers.case(row)
            await _log_case(conn, created.id, actor, CaseActionKind.CREATED, {}, case.created_at)
            return created

        return await self._tx(work)

    async def get_case(self, case_id: int) -> Case:
        return mappers.case(
            await self._one(sa.select(t.cases).where(t.cases.c.id == case_id), f"no case {case_id}")
        )

    async def list_cases(
        self,
        *,
        creator_id: int | None = None,
        department: str | None = None,
        status: CaseStatus | None = None,
        limit: int = 100,
    ) -> list[Case]:
        c = t.cases.c
        q = sa.select(t.cases).order_by(c.id.desc()).limit(limit)
        if creator_id is not None:
            q = q.where(c.creator_id == creator_id)
        if department is not None:
            q = q.where(c.department == department)
        if status is not None:
            q = q.where(c.status == status.value)
        return [mappers.case(r) for r in await self._rows(q)]

    async def update_case(
        self,
        case: Case,
        *,
        expected: CaseStatus,
        actor: str,
        action: CaseActionKind,
        detail: dict[str, Any],
    ) -> Case:
        """Write ``case`` if its status is still ``expected``; log the action with it."""
        c = t.cases.c

        async def work(conn: AsyncConnection) -> Case:
            row = (
                await conn.execute(
                    sa.update(t.cases)
                    .where(c.id == case.id, c.status == expected.value)
                    .values(**_case_values(case))
                    .returning(*t.cases.c)
                )
            ).one_or_none()
            if row is None:
                raise Conflict(
                    f"case {case.id} changed meanwhile; reload it", code=Code.CASE_CHANGED
                )
            await _log_case(conn, case.id, actor, action, detail, case.updated_at)
            return mappers.case(row)

        return await self._tx(work)

    async def case_actions(self, case_id: int) -> list[CaseAction]:
        a = t.case_actions.c
        q = sa.select(t.case_actions).where(a.case_id == case_id).order_by(a.id)
        return [
            CaseAction(r.id, r.case_id, r.actor, CaseActionKind(r.action), r.at, dict(r.detail))
            for r in await self._rows(q)
        ]


async def _log_case(
    conn: AsyncConnection,
    case_id: int,
    actor: str,
    action: CaseActionKind,
    detail: dict[str, Any],
    at: datetime,
) -> None:
    await conn.execute(
        sa.insert(t.case_actions).values(
            case_id=case_id, actor=actor, action=action.value, detail=detail, at=at
        )
    )


def _case_values(case: Case) -> dict[str, Any]:
    return {
        "type_id": case.type_id,
        "subject": case.subject,
        "priority": case.priority.value,
        "status": case.status.value,
        "department": case.department,
        "creator_id": case.creator_id,
        "taken_by": case.taken_by,
        "interaction_id": case.interaction_id,
        "fields": case.fields,
        "comments": case.comments,
        "phone": case.phone,
        "updated_at": case.updated_at,
    }
