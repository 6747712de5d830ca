"""The seams of a forecast: the campaign's history as the store reads it, the simulation
of the floor that replays it, and the values they pass.

Docstrings live here; the implementations are :mod:`campaigns.storage.history` and
:mod:`dialer.forecast`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from campaigns.model import Outcome
from campaigns.spec import Campaign

DIAL_BUCKETS = 6
"""Answer rates are kept per dial number 0 (the first call) to 5; the last bucket holds
the sixth call and every later one."""


@dataclass(frozen=True, slots=True)
class QueuedContact:
    """A contact still to call (pending or retry), as the queue holds it."""

    timezone: str
    due_at: datetime
    dials: int
    """Calls placed to it so far, counted or not."""
    attempts: int
    """Of those, the ones that count against the campaign's maximum."""
    priority: int = 0
    last_outcome: Outcome | None = None


@dataclass(frozen=True, slots=True)
class History:
    """What a campaign's own calls say, for a forecast to replay."""

    attempts: int = 0
    """Settled attempts read (the most recent ones, up to the store's limit)."""
    outcomes_by_dial: tuple[dict[Outcome, int], ...] = ()
    """Per dial number bucket (:data:`DIAL_BUCKETS`), how the attempts ended."""
    calls_by_hour: tuple[tuple[int, int], ...] = ()
    """Per hour of the contact's local clock (0-23): attempts, and those answered by a
    person (abandoned ones included)."""
    talk_seconds: tuple[float, ...] = ()
    """Of the campaign's interactions: from the call reaching the agent to its end."""
    wrapup_seconds: tuple[float, ...] = ()
    """From the end of the call to the registration (by hand or at the countdown's zero)."""
    answer_seconds: tuple[float, ...] = ()
    """From placing a call to its reaching an agent, of calls put through."""
    queue: tuple[QueuedContact, ...] = ()
    """The contacts still to call, in the order the queue hands them out."""
    queued_total: int = 0
    """All the contacts still to call; more than ``len(queue)`` when the store read only
    the head of a long queue."""
    callbacks_open: int = 0
    """Contacts waiting for a booked callback (not replayed: an agent books them)."""

    @property
    def empty(self) -> bool:
        """No settled attempt and no interaction: every figure is a default."""
        return not self.attempts and not self.talk_seconds and not self.wrapup_seconds


@dataclass(frozen=True, slots=True)
class ForecastPlan:
    """What the forecast simulates: the floor's agents for ``hours`` from ``start``, over
    ``seeds`` random streams."""

    agents: int
    hours: float
    seeds: int
    start: datetime


@dataclass(frozen=True, slots=True)
class ProfileUsed:
    """The figures the simulation replayed, and which of them are defaults."""

    attempts_seen: int
    talks_seen: int
    wrapups_seen: int
    answer_rate_by_dial: tuple[float, ...]
    """Chance that a person answers the first call, the second, ... (:data:`DIAL_BUCKETS`),
    averaged over the day's hours."""
    mean_talk_seconds: float
    mean_wrapup_seconds: float
    defaults: tuple[str, ...]
    """The figures that come from the defaults, not from the history."""


@dataclass(frozen=True, slots=True)
class SeedRun:
    """One simulated run."""

    seed: int
    run_hours: float
    talk_minutes_per_agent_hour: float
    abandon_rate: float
    worst_hour_abandon_rate: float
    idle_share: float
    calls_per_hour: float
    exhausted_after_hours: float | None


@dataclass(frozen=True, slots=True)
class Forecast:
    """What the floor is expected to do, over the seeds' runs."""

    campaign: str
    mode: str
    abandon_rate_cap: float
    agents: int
    hours: float
    seeds: int
    start: datetime
    talk_minutes_per_agent_hour: float
    """Mean over the runs; each run's agent hours end when the list is exhausted and the
    last call is wrapped up, or at ``hours``."""
    abandon_rate: float
    """Abandoned per call answered by a person, over every run."""
    abandon_rate_p95_hour: float
    """The 95th percentile of the abandon rates of rolling 60-minute windows (every 5
    minutes), pooled over the runs: a bound for any hour a regulator may look at."""
    worst_hour_abandon_rate: float
    idle_share: float
    """Share of the agents' time free with no call, mean over the runs."""
    calls_per_hour: float
    contacts_queued: int
    exhausted_at: datetime | None
    """When the list runs out (no contact left to call) in the slowest run; None when it
    does not within ``hours`` in every run."""
    exhausted_runs: int
    """Runs in which the list ran out within ``hours``."""
    profile: ProfileUsed
    runs: tuple[SeedRun, ...]
    notes: tuple[str, ...] = ()
    """What the figures rest on beyond the history (an empty list, a closed window...)."""


class HistoryStore(Protocol):
    async def forecast_history(self, campaign_id: int) -> History:
        """The campaign's history for a forecast: its most recent settled attempts by dial
        number, outcome and the contact's local hour; talk, wrap-up and answer times of its
        interactions; and the head of its queue (pending and retry contacts in claim
        order). Bounded: a long-running campaign is summarised by its recent calls."""
        ...


class ForecastSimulator(Protocol):
    def __call__(
        self, campaign: Campaign, history: History, plan: ForecastPlan, *, deadline: float | None
    ) -> Forecast:
        """Simulate the campaign's floor as planned, replaying ``history``. CPU-bound and
        blocking: run it off the event loop. When ``time.monotonic()`` passes
        ``deadline`` it stops: the runs done so far make the forecast (with a note), and
        with none done it raises :class:`TimeoutError`."""
        ...
