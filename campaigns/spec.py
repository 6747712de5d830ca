"""A campaign's settings: what a manager writes in a TOML file or sends to the API.

Validated once here (unknown keys and impossible values are refused with the key named),
then carried around as frozen values.
"""

from __future__ import annotations

import re
import tomllib
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from campaigns.dialstring import check_channel_template
from campaigns.errors import Invalid
from campaigns.model import CampaignState, DialMode, Outcome
from campaigns.text import check_storable

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_WALL_CLOCK = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?", re.ASCII)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        return check_storable(value)


def _no_control(value: str) -> str:
    # These values end up in AMI actions: a CR or LF would inject a new header or action.
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters (CR, LF, tab, ...)")
    return value


SafeStr = Annotated[str, Field(min_length=1, max_length=200)]
Minutes = Annotated[float, Field(ge=0, le=60 * 24 * 60)]

DEFAULT_DELAYS: dict[Outcome, float] = {
    Outcome.NO_ANSWER: 60,
    Outcome.BUSY: 10,
    Outcome.CONGESTION: 2,
    Outcome.MACHINE: 120,
    Outcome.REJECTED: 30,
    Outcome.ABANDONED: 1,
    Outcome.FAILED_SYSTEM: 1,
}
DEFAULT_UNCOUNTED = frozenset({Outcome.CONGESTION, Outcome.FAILED_SYSTEM})


class RetryRules(_Frozen):
    """When an unanswered contact comes back, and how often it may be tried."""

    max_attempts: int = Field(default=5, ge=1, le=100)
    max_dials: int = Field(
        default=20,
        ge=1,
        le=1000,
        description="Cap on all calls to a contact, counted or not (a trunk that is always "
        "congested must not dial a number forever).",
    )
    delays_minutes: dict[Outcome, Minutes] = Field(default_factory=lambda: dict(DEFAULT_DELAYS))
    uncounted: frozenset[Outcome] = DEFAULT_UNCOUNTED
    abandoned_priority: int = Field(default=10, ge=0, le=1000)

    @field_validator("delays_minutes")
    @classmethod
    def _fill_defaults(cls, value: dict[Outcome, float]) -> dict[Outcome, float]:
        for outcome in (Outcome.ANSWERED, Outcome.INVALID):
            if outcome in value:
                raise ValueError(f"{outcome.value!r} is final and has no retry delay")
        return {**DEFAULT_DELAYS, **value}

    @field_validator("uncounted")
    @classmethod
    def _answered_counts(cls, value: frozenset[Outcome]) -> frozenset[Outcome]:
        if Outcome.ANSWERED in value:
            raise ValueError("an answered call always counts as an attempt")
        return value

    @model_validator(mode="after")
    def _dials_cover_attempts(self) -> Self:
        if self.max_dials < self.max_attempts:
            raise ValueError("max_dials must be at least max_attempts")
        return self

    def delay(self, outcome: Outcome) -> timedelta:
        return timedelta(minutes=self.delays_minutes[outcome])

    def counts(self, outcome: Outcome) -> bool:
        return outcome not in self.uncounted


class CallingHours(_Frozen):
    """The contact's local window for calls: the same hours on each allowed weekday."""

    start: time = time(9, 0)
    end: time = time(20, 0)
    weekdays: frozenset[int] = Field(
        default=frozenset(range(0, 5)), description="0 = Monday ... 6 = Sunday"
    )

    @field_validator("start", "end", mode="before")
    @classmethod
    def _wall_clock(cls, value: Any) -> Any:
        # Wall-clock times in the contact's own zone: an offset would make them moments,
        # and a number is no time of day.
        if isinstance(value, time):
            if value.tzinfo is not None:
                raise ValueError("a local wall-clock time, without an offset (e.g. 09:00)")
            return value
        if not isinstance(value, str):
            raise ValueError("a time of day as text, e.g. '09:00' or '20:30:00'")
        if not _WALL_CLOCK.fullmatch(value):
            raise ValueError(
                f"{value!r}: a local wall-clock time HH:MM[:SS], without an offset (e.g. 09:00)"
            )
        return value

    @field_validator("weekdays")
    @classmethod
    def _valid_days(cls, value: frozenset[int]) -> frozenset[int]:
        if not value:
            raise ValueError("at least one weekday is needed")
        if not value <= set(range(7)):
            raise ValueError("weekdays are 0 (Monday) to 6 (Sunday)")
        return value

    @model_validator(mode="after")
    def _end_after_start(self) -> Self:
        if self.end <= self.start:
            raise ValueError("end must be after start (windows across midnight are not supported)")
        return self


class Dialing(_Frozen):
    """The Asterisk side of dialing and the campaign's limits."""

    mode: DialMode = DialMode.PROGRESSIVE
    channel: SafeStr = "PJSIP/{number}@trunk"
    context: SafeStr = "ringback"
    extension: SafeStr = "connect"
    caller_id: SafeStr = '"Ringback" <5550100>'
    ring_timeout_seconds: int = Field(default=30, ge=5, le=300)
    max_concurrent: int = Field(default=10, ge=1, le=10_000)
    calls_per_second: float = Field(default=5, gt=0, le=1000)
    abandon_rate_cap: float = Field(default=0.03, ge=0, le=1)
    trunk: SafeStr = "default"

    @field_validator("channel", "context", "extension", "caller_id", "trunk")
    @classmethod
    def _safe(cls, value: str) -> str:
        return _no_control(value)

    @field_validator("channel")
    @classmethod
    def _dial_string(cls, value: str) -> str:
        return check_channel_template(value)

    def channel_for(self, phone: str) -> str:
        return self.channel.replace("{number}", phone)


class Wrapup(_Frozen):
    forced_registration: bool = False
    seconds: int = Field(default=30, ge=0, le=3600)
    extendable: bool = True
    default_end_reason: str | None = None


class CampaignSpec(_Frozen):
    """Everything a manager sets on a campaign."""

    name: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[\w][\w .\-]*$")]
    description: str = ""
    default_region: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] = "NO"
    timezone: str = "Europe/Oslo"
    callback_reservation_minutes: int = Field(default=20, ge=0, le=24 * 60)
    dialing: Dialing = Dialing()
    retry: RetryRules = RetryRules()
    hours: CallingHours = CallingHours()
    wrapup: Wrapup = Wrapup()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @classmethod
    def from_toml(cls, path: Path) -> CampaignSpec:
        """Read a campaign file; raises :class:`SpecError` naming each bad key."""
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise SpecError(f"{path}: cannot read: {exc}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise SpecError(f"{path}: not valid TOML: {exc}") from exc
        data = data.get("campaign", data)
        return cls.parse(data, source=str(path))

    @classmethod
    def parse(cls, data: dict[str, Any], source: str = "campaign") -> CampaignSpec:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise SpecError(f"{source}: " + describe_errors(exc)) from exc


class SpecError(Invalid):
    """A campaign definition that cannot be used; the message names the keys."""


def describe_errors(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        message = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        parts.append(f"{key}: {message}")
    return "; ".join(parts)


class Campaign(BaseModel):
    """A stored campaign: its identity, state and settings."""

    model_config = ConfigDict(frozen=True)

    id: int
    state: CampaignState
    spec: CampaignSpec
    created_at: datetime

    @property
    def name(self) -> str:
        return self.spec.name
