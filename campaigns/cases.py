"""Cases (SPEC 6, seed 002): requests handed to another department, with an action log.

Pure: values, the status machine, and the rules on who may change what.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from campaigns.errors import Code, Conflict, Forbidden, Invalid

# Names a case type may list as mandatory besides its own custom fields.
BUILTIN_FIELDS = frozenset({"comments", "phone"})


class Priority(enum.StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class CaseStatus(enum.StrEnum):
    SENT = "sent"
    """In the department's queue, not taken up yet."""
    TAKEN = "taken"
    RETURNED = "returned"
    """Sent back to the creator (e.g. a mandatory detail was wrong)."""
    RESOLVED = "resolved"
    CLOSED = "closed"


class CaseActionKind(enum.StrEnum):
    CREATED = "created"
    AMENDED = "amended"
    TAKEN = "taken"
    RETURNED = "returned"
    RESOLVED = "resolved"
    CLOSED = "closed"


# Moves by the department (managers acting for it) and by the creator.
_DEPARTMENT_MOVES: dict[CaseActionKind, tuple[frozenset[CaseStatus], CaseStatus]] = {
    CaseActionKind.TAKEN: (frozenset({CaseStatus.SENT}), CaseStatus.TAKEN),
    CaseActionKind.RETURNED: (frozenset({CaseStatus.SENT, CaseStatus.TAKEN}), CaseStatus.RETURNED),
    CaseActionKind.RESOLVED: (frozenset({CaseStatus.TAKEN}), CaseStatus.RESOLVED),
}
_CREATOR_MAY_CHANGE = frozenset({CaseStatus.SENT, CaseStatus.RETURNED})


@dataclass(frozen=True, slots=True)
class CaseType:
    id: int
    name: str
    department: str
    mandatory_fields: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CaseDraft:
    type_id: int
    subject: str
    priority: Priority = Priority.NORMAL
    comments: str = ""
    phone: str | None = None
    interaction_id: int | None = None
    fields: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Case:
    id: int
    type_id: int
    subject: str
    priority: Priority
    status: CaseStatus
    department: str
    creator_id: int
    created_at: datetime
    updated_at: datetime
    comments: str = ""
    phone: str | None = None
    interaction_id: int | None = None
    taken_by: str | None = None
    fields: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CaseAction:
    id: int
    case_id: int
    actor: str
    action: CaseActionKind
    at: datetime
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CaseAmendment:
    subject: str | None = None
    priority: Priority | None = None
    comments: str | None = None
    fields: dict[str, str] | None = None


def check_case_type(name: str, department: str, mandatory: tuple[str, ...]) -> None:
    if not name.strip():
        raise Invalid("name: must not be blank", field="name")
    if not department.strip():
        raise Invalid("department: must not be blank", field="department")
    if len(set(mandatory)) != len(mandatory):
        raise Invalid("mandatory_fields: a field is listed twice", field="mandatory_fields")
    for name_ in mandatory:
        if not name_.strip():
            raise Invalid("mandatory_fields: names must not be blank", field="mandatory_fields")


def missing_fields(
    case_type: CaseType, fields: Mapping[str, str], comments: str, phone: str | None
) -> list[str]:
    builtin = {"comments": comments, "phone": phone or ""}
    missing = []
    for name in case_type.mandatory_fields:
        value = builtin[name] if name in BUILTIN_FIELDS else fields.get(name, "")
        if not value.strip():
            missing.append(name)
    return missing


def check_complete(
    case_type: CaseType, fields: Mapping[str, str], comments: str, phone: str | None, subject: str
) -> None:
    """Refuse a case with a blank subject or a missing mandatory field, naming them all."""
    missing = (["subject"] if not subject.strip() else []) + missing_fields(
        case_type, fields, comments, phone
    )
    if missing:
        raise Invalid(
            f"case type {case_type.name!r} requires: {', '.join(missing)}",
            code=Code.CASE_MISSING_FIELDS,
            field=",".join(missing),
        )


def check_creator_change(case: Case, user_id: int) -> None:
    """Only the creator amends or closes, and only while no department has taken it up."""
    if case.creator_id != user_id:
        raise Forbidden("only the creator may amend or close this case", code=Code.CASE_NOT_CREATOR)
    if case.status not in _CREATOR_MAY_CHANGE:
        raise Conflict(
            f"case {case.id} is {case.status.value}; it can no longer be amended or closed",
            code=Code.CASE_TAKEN,
        )


def amend(case: Case, case_type: CaseType, change: CaseAmendment, now: datetime) -> Case:
    new = replace(
        case,
        subject=change.subject if change.subject is not None else case.subject,
        priority=change.priority or case.priority,
        comments=change.comments if change.comments is not None else case.comments,
        fields={**case.fields, **(change.fields or {})},
        updated_at=now,
    )
    check_complete(case_type, new.fields, new.comments, new.phone, new.subject)
    # A returned case goes back to the queue once the creator has amended it.
    status = CaseStatus.SENT if case.status is CaseStatus.RETURNED else case.status
    return replace(new, status=status)


def close(case: Case, now: datetime) -> Case:
    return replace(case, status=CaseStatus.CLOSED, updated_at=now)


def department_move(case: Case, kind: CaseActionKind, actor: str, now: datetime) -> Case:
    allowed = _DEPARTMENT_MOVES.get(kind)
    if allowed is None:
        raise Invalid(f"action: {kind.value!r} is not a department action", field="action")
    sources, target = allowed
    if case.status not in sources:
        raise Conflict(
            f"case {case.id} is {case.status.value}; cannot be {kind.value}",
            code=Code.CASE_BAD_TRANSITION,
        )
    taken_by = actor if kind is CaseActionKind.TAKEN else case.taken_by
    return replace(case, status=target, taken_by=taken_by, updated_at=now)
