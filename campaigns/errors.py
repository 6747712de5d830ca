"""The domain's refusals: one tree, and the catalogue of their stable codes.

Every refusal is a :class:`DomainError` with a ``code`` from :class:`Code` (stable: clients
match on it), a message for people, and the request field to blame when there is one.
The HTTP status of each class is chosen in one place (``agent_api.errors``).
"""

from __future__ import annotations

import enum


class Code(enum.StrEnum):
    """Every error code the domain and the use cases raise."""

    DOMAIN_ERROR = "domain_error"
    INVALID = "invalid"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    FORBIDDEN = "forbidden"
    UNAUTHORIZED = "unauthorized"

    USER_EXISTS = "user.exists"
    AGENT_ON_CALL = "agent.on_call"

    WRAPUP_ALREADY_REGISTERED = "wrapup.already_registered"
    WRAPUP_CAMPAIGN_CATEGORY = "wrapup.campaign_category"
    WRAPUP_SINGLE_CHOICE = "wrapup.single_choice"
    WRAPUP_CALL_ACTIVE = "wrapup.call_active"
    WRAPUP_NOT_EXTENDABLE = "wrapup.not_extendable"
    WRAPUP_REGISTRATION_REQUIRED = "wrapup.registration_required"
    WRAPUP_CONTACT_BUSY = "wrapup.contact_busy"

    CALLBACK_IN_PAST = "callback.in_past"
    CALLBACK_TOO_FAR = "callback.too_far"
    CALLBACK_OUTSIDE_HOURS = "callback.outside_hours"
    CALLBACK_CLOSED = "callback.closed"

    CASE_MISSING_FIELDS = "case.missing_fields"
    CASE_NOT_CREATOR = "case.not_creator"
    CASE_TAKEN = "case.taken"
    CASE_BAD_TRANSITION = "case.bad_transition"
    CASE_CHANGED = "case.changed"

    PREVIEW_UNAVAILABLE = "preview.unavailable"
    PREVIEW_MODE = "preview.mode"


class DomainError(Exception):
    """A refusal with a stable ``code`` and, when a request field is to blame, its name."""

    code: Code = Code.DOMAIN_ERROR

    def __init__(self, message: str, *, code: Code | None = None, field: str | None = None):
        super().__init__(message)
        if code is not None:
            self.code = code
        self.field = field


class Invalid(DomainError):
    """The request cannot be carried out as given (a value, a missing detail)."""

    code = Code.INVALID


class NotFound(DomainError):
    """Not found: also what an agent gets when asking for another agent's things."""

    code = Code.NOT_FOUND


class Conflict(DomainError):
    """The request clashes with the current state (a name taken, a move not allowed)."""

    code = Code.CONFLICT


class Forbidden(DomainError):
    code = Code.FORBIDDEN


class Unauthorized(DomainError):
    code = Code.UNAUTHORIZED
