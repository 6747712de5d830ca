"""Cases: types (managers), create, my console, find by id, amend/close, action log."""

from __future__ import annotations

from fastapi import APIRouter

from agent_api.deps import Manager, Me, Svc
from agent_api.schemas import (
    CaseActionIn,
    CaseActionOut,
    CaseCloseIn,
    CaseIn,
    CaseOut,
    CasePatch,
    CaseTypeIn,
    CaseTypeOut,
    IdPath,
)
from campaigns.cases import CaseActionKind, CaseAmendment, CaseDraft, CaseStatus

router = APIRouter(tags=["cases"])


@router.get("/case-types", response_model=list[CaseTypeOut])
async def list_case_types(svc: Svc, _: Me) -> list[CaseTypeOut]:
    return [CaseTypeOut.model_validate(t) for t in await svc.cases.types()]


@router.post("/case-types", response_model=CaseTypeOut, status_code=201)
async def create_case_type(body: CaseTypeIn, svc: Svc, me: Manager) -> CaseTypeOut:
    case_type = await svc.cases.create_type(me, body.name, body.department, body.mandatory_fields)
    return CaseTypeOut.model_validate(case_type)


@router.post("/cases", response_model=CaseOut, status_code=201)
async def create_case(body: CaseIn, svc: Svc, me: Me) -> CaseOut:
    """Create and send a case to its type's department (refused naming missing fields)."""
    draft = CaseDraft(
        type_id=body.type_id,
        subject=body.subject,
        priority=body.priority,
        comments=body.comments,
        phone=body.phone,
        interaction_id=body.interaction_id,
        fields=dict(body.fields),
    )
    return CaseOut.model_validate(await svc.cases.create(me, draft))


@router.get("/agents/me/cases", response_model=list[CaseOut])
async def my_cases(svc: Svc, me: Me, status: CaseStatus | None = None) -> list[CaseOut]:
    """The console: cases I created, with their status."""
    return [CaseOut.model_validate(c) for c in await svc.cases.mine(me, status)]


@router.get("/departments/{department}/cases", response_model=list[CaseOut])
async def department_queue(
    department: str, svc: Svc, me: Manager, status: CaseStatus | None = CaseStatus.SENT
) -> list[CaseOut]:
    return [CaseOut.model_validate(c) for c in await svc.cases.queue(me, department, status)]


@router.get("/cases/{case_id}", response_model=CaseOut)
async def get_case(case_id: IdPath, svc: Svc, me: Me) -> CaseOut:
    return CaseOut.model_validate(await svc.cases.get(me, case_id))


@router.patch("/cases/{case_id}", response_model=CaseOut)
async def amend_case(case_id: IdPath, body: CasePatch, svc: Svc, me: Me) -> CaseOut:
    change = CaseAmendment(body.subject, body.priority, body.comments, body.fields)
    return CaseOut.model_validate(await svc.cases.amend(me, case_id, change))


@router.post("/cases/{case_id}/close", response_model=CaseOut)
async def close_case(case_id: IdPath, body: CaseCloseIn, svc: Svc, me: Me) -> CaseOut:
    return CaseOut.model_validate(await svc.cases.close(me, case_id, body.comment))


@router.post("/cases/{case_id}/actions", response_model=CaseOut)
async def department_action(case_id: IdPath, body: CaseActionIn, svc: Svc, me: Manager) -> CaseOut:
    """The department takes up, returns or resolves a case."""
    case = await svc.cases.department_action(me, case_id, CaseActionKind(body.action), body.comment)
    return CaseOut.model_validate(case)


@router.get("/cases/{case_id}/log", response_model=list[CaseActionOut])
async def case_log(case_id: IdPath, svc: Svc, me: Me) -> list[CaseActionOut]:
    """Who did what, when."""
    return [CaseActionOut.model_validate(a) for a in await svc.cases.log(me, case_id)]
