"""The domain's refusals: one tree, and the catalogue of their stable codes.

Every refusal is a :class:`DomainError` with a ``code`` from :class:`Code` (stable: clients
match on it), a message for people, and the request field to blame when there is one.
The HTTP status of each class is chosen in one place (``agent_api.errors``), which also
documents :data:`MEANINGS` in the OpenAPI document.
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
    WRAPUP_TOPIC_REQUIRED = "wrapup.topic_required"

    CALLBACK_IN_PAST = "callback.in_past"
    CALLBACK_TOO_FAR = "callback.too_far"
    CALLBACK_OUTSIDE_HOURS = "callback.outside_hours"
    CALLBACK_CLOSED = "callback.closed"

    CASE_MISSING_FIELDS = "case.missing_fields"
    CASE_NOT_CREATOR = "case.not_creator"
    CASE_TAKEN = "case.taken"
    CASE_BAD_TRANSITION = "case.bad_transition"
    CASE_CHANGED = "case.changed"

    FOLLOWUP_TAKEN = "followup.taken"
    FOLLOWUP_CLOSED = "followup.closed"

    PREVIEW_UNAVAILABLE = "preview.unavailable"
    PREVIEW_MODE = "preview.mode"

    FORECAST_UNAVAILABLE = "forecast.unavailable"
    FORECAST_BUSY = "forecast.busy"
    FORECAST_TOO_LONG = "forecast.too_long"


MEANINGS: dict[Code, str] = {
    Code.DOMAIN_ERROR: "the request was refused by a rule with no more specific code",
    Code.INVALID: "a value cannot be used as given; `field` names it",
    Code.NOT_FOUND: "no such thing, or it is not yours to see",
    Code.CONFLICT: "clashes with the current state (a name taken, a move not allowed)",
    Code.FORBIDDEN: "your role may not do this (managers and administrators only)",
    Code.UNAUTHORIZED: "no bearer token, or one that is not valid",
    Code.USER_EXISTS: "a user with that username exists",
    Code.AGENT_ON_CALL: "the agent is on a call or in wrap-up",
    Code.WRAPUP_ALREADY_REGISTERED: "the interaction has its registration already",
    Code.WRAPUP_CAMPAIGN_CATEGORY: "a topic of another campaign's category",
    Code.WRAPUP_SINGLE_CHOICE: "two topics of a single-choice category",
    Code.WRAPUP_CALL_ACTIVE: "the call is still up",
    Code.WRAPUP_NOT_EXTENDABLE: "the campaign does not allow extending the wrap-up",
    Code.WRAPUP_REGISTRATION_REQUIRED: "forced registration: register before going ready",
    Code.WRAPUP_CONTACT_BUSY: "dialer feedback refused: the contact was dialled again since",
    Code.WRAPUP_TOPIC_REQUIRED: "forced registration: a required category has no topic",
    Code.CALLBACK_IN_PAST: "the callback time has passed",
    Code.CALLBACK_TOO_FAR: "the callback time is more than a year ahead",
    Code.CALLBACK_OUTSIDE_HOURS: "the callback time is outside the contact's calling hours",
    Code.CALLBACK_CLOSED: "the callback is done or cancelled",
    Code.CASE_MISSING_FIELDS: "the case type's mandatory fields are missing; `field` lists them",
    Code.CASE_NOT_CREATOR: "only the creator may change this case",
    Code.CASE_TAKEN: "another department has taken the case up",
    Code.CASE_BAD_TRANSITION: "the case cannot move to that status",
    Code.CASE_CHANGED: "the case changed meanwhile; read it again",
    Code.FOLLOWUP_TAKEN: "another agent has taken this follow-up (a manager may take it over)",
    Code.FOLLOWUP_CLOSED: "the follow-up is closed",
    Code.PREVIEW_UNAVAILABLE: "previewing needs the dialer, which is not running behind this API",
    Code.PREVIEW_MODE: "the campaign is not in preview mode",
    Code.FORECAST_UNAVAILABLE: "forecasting needs the dialer's simulation, not behind this API",
    Code.FORECAST_BUSY: "other forecasts are running; ask again shortly",
    Code.FORECAST_TOO_LONG: "the forecast ran past its time limit: fewer agents, hours or runs",
}
"""What each code means, for people: the OpenAPI document's catalogue."""


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
