"""A forecast: the campaign's history replayed through the floor simulation with the
planned agents and the campaign's settings, over several seeds.

The campaign's settings the simulation honours: the dialing mode and abandon-rate cap
(through Ringback's own pacer, :mod:`dialer.pacing`, as the engine calls it), the
maximum concurrent calls, calls per second and ring timeout, the retry rules (delays,
maximum attempts and dials, uncounted outcomes, abandoned calls first) and the calling
hours in each contact's zone. The list is the campaign's queue as it stands (pending and
retry contacts with their attempts, last outcomes and due times); a campaign with no
contact queued is forecast on a list that does not run dry (60 fresh contacts per agent
and hour), to show what the floor can do. What the simulation does not model is said in
:mod:`dialer.forecast.floorsim`; where the call figures come from, in
:mod:`dialer.forecast.stream`.

Every run's figures are per agent hour of its own length: the planned hours, or until
the list runs out and the last call is wrapped up.
"""

from __future__ import annotations

import math
import statistics
from datetime import timedelta

from campaigns.model import DialMode
from campaigns.ports.forecast import (
    Forecast,
    ForecastPlan,
    History,
    ProfileUsed,
    SeedRun,
)
from campaigns.spec import Campaign
from dialer.forecast.floorsim import FloorRules, FloorSim, Lead, LocalTime, Result
from dialer.forecast.pacer import RingbackPacer
from dialer.forecast.stream import Profile, ProfileStream

AMD_SECONDS = 2.4
ABANDON_WAIT = 2.0
FRESH_PER_AGENT_HOUR = 60
"""Fresh contacts per agent and hour for a campaign with none queued (twice that at the
start): more than any floor dials, as in the pacing benchmark."""
ROLLING_STEP = 300.0


def simulate(
    campaign: Campaign, history: History, plan: ForecastPlan, *, deadline: float | None = None
) -> Forecast:
    """:class:`campaigns.ports.forecast.ForecastSimulator`."""
    spec = campaign.spec
    dialing = spec.dialing
    profile = Profile.from_history(history, spec, AMD_SECONDS)
    seconds = plan.hours * 3600
    zones = list(dict.fromkeys([spec.timezone, *(q.timezone for q in history.queue)]))
    clock = LocalTime(plan.start, zones, spec.hours, seconds)
    unbounded = not history.queue
    rules = FloorRules(
        retry=spec.retry,
        ring_timeout=float(dialing.ring_timeout_seconds),
        abandon_wait=ABANDON_WAIT,
        amd_seconds=AMD_SECONDS,
        wrapup=profile.wrapup.expected,
        calls_per_second=dialing.calls_per_second,
        clock=clock,
        stop_when_exhausted=not unbounded,
    )
    results: list[Result] = []
    for seed in range(1, plan.seeds + 1):
        pacer = RingbackPacer(
            dialing.mode,
            dialing.abandon_rate_cap,
            max_concurrent=dialing.max_concurrent,
            ring_timeout=rules.ring_timeout,
            abandon_wait=ABANDON_WAIT,
        )
        leads = _fresh(plan) if unbounded else _queued(history, plan, clock)
        sim = FloorSim(
            ProfileStream(profile, seed, clock),
            pacer,
            agents=plan.agents,
            hours=plan.hours,
            leads=leads,
            rules=rules,
            deadline=deadline,
        )
        try:
            results.append(sim.run())
        except TimeoutError:
            if not results:
                raise
            break  # the runs done so far make the forecast, said in a note
    return _summary(campaign, history, plan, profile, results, clock, unbounded)


def _queued(history: History, plan: ForecastPlan, clock: LocalTime) -> list[Lead]:
    zone = {name: i for i, name in enumerate(clock.zones)}
    return [
        Lead(
            i,
            max(0.0, (q.due_at - plan.start).total_seconds()),
            priority=q.priority,
            attempts=q.attempts,
            dials=q.dials,
            last=q.last_outcome,
            zone=zone[q.timezone],
        )
        for i, q in enumerate(history.queue)
    ]


def _fresh(plan: ForecastPlan) -> list[Lead]:
    per_hour = plan.agents * FRESH_PER_AGENT_HOUR
    dues = [0.0] * (2 * per_hour)
    hour = 1
    while hour < plan.hours:
        dues += [hour * 3600.0] * per_hour
        hour += 1
    return [Lead(i, due) for i, due in enumerate(dues)]


def _p95(values: list[float]) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def _summary(
    campaign: Campaign,
    history: History,
    plan: ForecastPlan,
    profile: Profile,
    results: list[Result],
    clock: LocalTime,
    unbounded: bool,
) -> Forecast:
    spec = campaign.spec
    runs = tuple(
        SeedRun(
            seed=seed,
            run_hours=r.hours,
            talk_minutes_per_agent_hour=r.talk_per_agent_hour,
            abandon_rate=r.abandon_rate,
            worst_hour_abandon_rate=max(r.rolling_hours(ROLLING_STEP), default=0.0),
            idle_share=r.idle_share,
            calls_per_hour=r.calls_per_hour,
            exhausted_after_hours=None if r.exhausted_at is None else r.exhausted_at / 3600,
        )
        for seed, r in enumerate(results, start=1)
    )
    rolling = [rate for r in results for rate in r.rolling_hours(ROLLING_STEP)]
    answered = sum(r.answered for r in results)
    abandoned = sum(r.abandoned for r in results)
    exhausted = [r.exhausted_at for r in results if r.exhausted_at is not None]
    notes: list[str] = []
    truncated = history.queued_total > len(history.queue)
    exhausted_at = None
    if unbounded:
        notes.append(
            "no contact queued: the figures are for a list that does not run dry "
            f"({FRESH_PER_AGENT_HOUR} fresh contacts per agent and hour)"
        )
    elif truncated:
        notes.append(
            f"the first {len(history.queue)} of {history.queued_total} queued contacts "
            "replayed: the list is not exhausted within the run"
        )
    elif len(exhausted) == len(results):
        exhausted_at = plan.start + timedelta(seconds=max(exhausted))
    if len(results) < plan.seeds:
        notes.append(f"{len(results)} of {plan.seeds} runs within the time limit")
    if history.callbacks_open:
        notes.append(f"{history.callbacks_open} contacts wait for booked callbacks: not replayed")
    closed = _closed_hours(clock, plan.hours * 3600)
    if closed >= 0.1:
        notes.append(
            f"calling hours are closed for {closed:.1f} h of the {plan.hours:g} h in "
            f"{spec.timezone}: the agents wait"
        )
    if spec.dialing.max_concurrent < plan.agents:
        notes.append(
            f"the campaign allows {spec.dialing.max_concurrent} concurrent calls "
            f"(max_concurrent) for {plan.agents} agents: some agents wait for that"
        )
    if spec.dialing.mode is DialMode.PREVIEW:
        notes.append("preview is simulated as one call per free agent, without reading time")
    return Forecast(
        campaign=campaign.name,
        mode=spec.dialing.mode.value,
        abandon_rate_cap=spec.dialing.abandon_rate_cap,
        agents=plan.agents,
        hours=plan.hours,
        seeds=plan.seeds,
        start=plan.start,
        talk_minutes_per_agent_hour=statistics.fmean(r.talk_minutes_per_agent_hour for r in runs),
        abandon_rate=abandoned / answered if answered else 0.0,
        abandon_rate_p95_hour=_p95(rolling),
        worst_hour_abandon_rate=max(rolling, default=0.0),
        idle_share=statistics.fmean(r.idle_share for r in runs),
        calls_per_hour=statistics.fmean(r.calls_per_hour for r in runs),
        contacts_queued=history.queued_total,
        exhausted_at=exhausted_at,
        exhausted_runs=0 if unbounded or truncated else len(exhausted),
        profile=ProfileUsed(
            attempts_seen=history.attempts,
            talks_seen=len(history.talk_seconds),
            wrapups_seen=len(history.wrapup_seconds),
            answer_rate_by_dial=profile.human_by_dial,
            mean_talk_seconds=profile.talk.expected,
            mean_wrapup_seconds=profile.wrapup.expected,
            defaults=profile.defaults,
        ),
        runs=runs,
        notes=tuple(notes),
    )


def _closed_hours(clock: LocalTime, seconds: float) -> float:
    """Hours of the run outside the calling hours in the campaign's own zone (zone 0)."""
    return (seconds - clock.open_seconds(0, 0.0, seconds)) / 3600
