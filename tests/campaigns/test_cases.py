"""Case rules, tested as pure functions."""

from __future__ import annotations

from datetime import timedelta

import pytest

from campaigns.cases import (
    Case,
    CaseActionKind,
    CaseAmendment,
    CaseStatus,
    CaseType,
    Priority,
    amend,
    check_complete,
    check_creator_change,
    close,
    department_move,
)
from campaigns.errors import Conflict, Forbidden, Invalid
from tests.conftest import NOW

BILLING = CaseType(1, "Billing", "finance", ("ban", "comments"))
CASE = Case(
    9,
    1,
    "bid",
    Priority.NORMAL,
    CaseStatus.SENT,
    "finance",
    7,
    NOW,
    NOW,
    comments="details",
    fields={"ban": "123"},
)


def test_missing_mandatory_fields_are_named() -> None:
    """A case missing mandatory fields is refused with every missing field named."""
    with pytest.raises(Invalid, match="requires: subject, ban, comments") as err:
        check_complete(BILLING, {"ban": " "}, "", None, "")
    assert err.value.code == "case.missing_fields"
    check_complete(BILLING, {"ban": "1"}, "c", None, "s")


def test_only_creator_changes_an_untaken_case() -> None:
    """Another user may not amend; nobody amends once the department took it up."""
    with pytest.raises(Forbidden):
        check_creator_change(CASE, 8)
    taken = department_move(CASE, CaseActionKind.TAKEN, "finance-bob", NOW)
    assert (taken.status, taken.taken_by) == (CaseStatus.TAKEN, "finance-bob")
    with pytest.raises(Conflict, match="can no longer"):
        check_creator_change(taken, 7)
    check_creator_change(CASE, 7)


def test_amend_keeps_mandatory_fields_and_requeues_a_returned_case() -> None:
    """Amending re-checks mandatory fields; a returned case goes back to the queue."""
    later = NOW + timedelta(minutes=1)
    with pytest.raises(Invalid, match="ban"):
        amend(CASE, BILLING, CaseAmendment(fields={"ban": ""}), later)
    returned = department_move(CASE, CaseActionKind.RETURNED, "x", NOW)
    fixed = amend(returned, BILLING, CaseAmendment(priority=Priority.HIGH), later)
    assert (fixed.status, fixed.priority, fixed.updated_at) == (
        CaseStatus.SENT,
        Priority.HIGH,
        later,
    )
    assert close(CASE, later).status is CaseStatus.CLOSED


def test_department_moves_follow_the_status_machine() -> None:
    """Resolving an untaken case, or a creator action as a department move, is refused."""
    with pytest.raises(Conflict):
        department_move(CASE, CaseActionKind.RESOLVED, "x", NOW)
    with pytest.raises(Invalid):
        department_move(CASE, CaseActionKind.CLOSED, "x", NOW)
