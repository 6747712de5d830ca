"""Domain values: states, outcomes, contacts and attempts.

Everything here is immutable and free of I/O; transitions live in :mod:`campaigns.retry`.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import accumulate
from typing import Any


class CampaignState(enum.StrEnum):
    DRAFT = "draft"
    RUNNING = "running"
    PAUSED = "paused"
    FINISHED = "finished"

    def may_become(self, state: CampaignState) -> bool:
        """The campaign state machine: staying put is always allowed; finished is final."""
        return state is self or state in _CAMPAIGN_MOVES[self]


_CAMPAIGN_MOVES: dict[CampaignState, frozenset[CampaignState]] = {
    CampaignState.DRAFT: frozenset({CampaignState.RUNNING, CampaignState.FINISHED}),
    CampaignState.RUNNING: frozenset({CampaignState.PAUSED, CampaignState.FINISHED}),
    CampaignState.PAUSED: frozenset({CampaignState.RUNNING, CampaignState.FINISHED}),
    CampaignState.FINISHED: frozenset(),
}


class DialMode(enum.StrEnum):
    PREVIEW = "preview"
    PROGRESSIVE = "progressive"
    PREDICTIVE = "predictive"


class ContactState(enum.StrEnum):
    PENDING = "pending"
    DIALING = "dialing"
    RETRY = "retry"
    # A callback is booked: the callback scheduler, not the ordinary claim, brings it back.
    CALLBACK = "callback"
    COMPLETED = "completed"
    EXHAUSTED = "exhausted"
    INVALID = "invalid"
    DNC = "dnc"

    @property
    def is_queued(self) -> bool:
        """Waiting in the campaign's queue for its due time."""
        return self in (ContactState.PENDING, ContactState.RETRY)


class Outcome(enum.StrEnum):
    """One final outcome per attempt."""

    ANSWERED = "answered"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    CONGESTION = "congestion"
    MACHINE = "machine"
    INVALID = "invalid"
    REJECTED = "rejected"
    ABANDONED = "abandoned"
    # The dialer lost track of the attempt (crash, lost AMI session) and could not learn
    # what happened: never the contact's fault, so never counted as an attempt.
    FAILED_SYSTEM = "failed_system"


@dataclass(frozen=True, slots=True)
class Contact:
    id: int
    campaign_id: int
    phone: str
    """E.164, validated: digits after a leading '+', nothing else."""
    timezone: str
    state: ContactState
    due_at: datetime | None
    priority: int = 0
    attempts: int = 0
    """Attempts that count against the campaign's maximum."""
    dials: int = 0
    """Every call placed, counted or not."""
    attributes: dict[str, str] = field(default_factory=dict)
    last_outcome: Outcome | None = None


@dataclass(frozen=True, slots=True)
class Attempt:
    id: int
    contact_id: int
    campaign_id: int
    phone: str
    started_at: datetime
    ended_at: datetime | None = None
    outcome: Outcome | None = None
    counted: bool = False
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ContactRow:
    """A contact to add to a campaign (from a contact file, or given directly)."""

    line: int
    """Physical line of the file where the record starts; the header is line 1."""
    phone: str
    """E.164."""
    timezone: str
    attributes: dict[str, str]


def abandon_rate(answered: int, abandoned: int) -> float | None:
    """Calls dropped among those a person answered (the regulators' abandon rate); None
    without any."""
    connected = answered + abandoned
    return abandoned / connected if connected else None


@dataclass(frozen=True, slots=True)
class AbandonBucket:
    """Calls answered by a person in one stretch of time and how many were dropped, and
    the same counted from the first bucket of the series."""

    start: datetime
    answered: int
    abandoned: int
    answered_so_far: int
    abandoned_so_far: int

    @property
    def rate(self) -> float | None:
        return abandon_rate(self.answered, self.abandoned)

    @property
    def running_rate(self) -> float | None:
        return abandon_rate(self.answered_so_far, self.abandoned_so_far)


def bucket_start(moment: datetime, width: timedelta) -> datetime:
    """The start of ``moment``'s bucket: buckets on whole multiples of ``width`` since the
    epoch, so that a series read again later lines up with the first."""
    seconds = width.total_seconds()
    return datetime.fromtimestamp(moment.timestamp() // seconds * seconds, moment.tzinfo)


def abandon_buckets(
    calls: Sequence[tuple[datetime, Outcome]], since: datetime, until: datetime, width: timedelta
) -> list[AbandonBucket]:
    """``calls`` (end time, outcome) counted in buckets of ``width`` from ``since``; only
    answered and abandoned calls count, as in the abandon rate."""
    count = max(1, math.ceil((until - since) / width))
    answered = [0] * count
    abandoned = [0] * count
    for ended, outcome in calls:
        index = int((ended - since) / width)
        if not 0 <= index < count:
            continue
        if outcome is Outcome.ANSWERED:
            answered[index] += 1
        elif outcome is Outcome.ABANDONED:
            abandoned[index] += 1
    return [
        AbandonBucket(since + n * width, *counts)
        for n, counts in enumerate(
            zip(answered, abandoned, accumulate(answered), accumulate(abandoned), strict=True)
        )
    ]
