"""``ringback forecast``: the campaign's history replayed through the floor simulation with
Ringback's pacer; the figures follow the history and the campaign's settings."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from campaigns.model import CampaignState, Outcome
from campaigns.ports.forecast import DIAL_BUCKETS, Forecast, ForecastPlan, History, QueuedContact
from campaigns.retry import decide
from campaigns.spec import Campaign, CampaignSpec
from dialer.cli import app
from dialer.forecast import simulate
from dialer.forecast.floorsim import FloorRules, FloorSim, Lead, LocalTime
from dialer.forecast.pacer import RingbackPacer
from dialer.forecast.stream import Profile, ProfileStream

MONDAY_9 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # 09:00 in Oslo


@pytest.fixture
def ringback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Run ``ringback ARGS`` against a fresh data folder; returns (exit code, output)."""
    monkeypatch.setenv("RINGBACK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("RINGBACK_CONFIG", str(tmp_path / "none.toml"))
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, list(args))
        return result.exit_code, result.output

    return run


def campaign(**settings: object) -> Campaign:
    spec = CampaignSpec.parse({"name": "spring", **settings})
    return Campaign(id=1, state=CampaignState.DRAFT, spec=spec, created_at=MONDAY_9)


def answered_history(rate: float, calls: int = 1000) -> History:
    """``calls`` first calls, ``rate`` of them answered by a person, the rest no answer."""
    answered = round(rate * calls)
    by_dial = ({Outcome.ANSWERED: answered, Outcome.NO_ANSWER: calls - answered},)
    return History(
        attempts=calls,
        outcomes_by_dial=by_dial + ({},) * (DIAL_BUCKETS - 1),
        calls_by_hour=tuple((calls, answered) if h == 10 else (0, 0) for h in range(24)),
        talk_seconds=(90.0,) * 50,
        wrapup_seconds=(10.0,) * 50,
    )


def queue(n: int, due: datetime = MONDAY_9, zone: str = "Europe/Oslo") -> tuple[QueuedContact, ...]:
    return tuple(QueuedContact(zone, due, 0, 0) for _ in range(n))


def test_empty_campaign_forecasts_with_defaults(ringback) -> None:
    """A campaign with no history and no contacts: defaults, on a list that never runs dry."""
    assert ringback("campaign", "create", "empty")[0] == 0
    started = time.perf_counter()
    code, output = ringback(
        "forecast", "empty", "--agents", "3", "--hours", "0.5", "--seeds", "1",
        "--start", "2026-11-23T09:00",
    )  # fmt: skip
    assert code == 0, output
    assert time.perf_counter() - started < 2
    assert "no history: defaults" in output
    assert "from 2026-11-23 09:00 Europe/Oslo" in output
    for figure in (
        "talk minutes per agent hour",
        "abandon rate",
        "95th percentile",
        "agent idle share",
        "calls per hour",
        "list exhausted               no contact queued",
    ):
        assert figure in output, figure
    code, output = ringback(
        "forecast", "empty", "--agents", "3", "--hours", "0.5", "--seeds", "2", "--json"
    )
    assert code == 0, output
    result = json.loads(output)
    assert result["profile"]["attempts_seen"] == 0 and result["profile"]["defaults"]
    assert result["talk_minutes_per_agent_hour"] > 0 and len(result["runs"]) == 2
    assert result["exhausted_at"] is None


def test_unknown_campaign_is_an_error(ringback) -> None:
    """An unknown campaign: one clear line and exit code 1."""
    code, output = ringback("forecast", "nosuch")
    assert code == 1
    assert "no campaign 'nosuch'" in output


def test_answer_rate_of_the_history_drives_the_talk_time() -> None:
    """A history where people answer 10 % of calls forecasts far less talk than one where
    they answer 45 %, on the same list and floor; the replayed rates follow the history."""
    plan = ForecastPlan(agents=5, hours=1.0, seeds=1, start=MONDAY_9)
    target = campaign(dialing={"mode": "progressive"})
    started = time.perf_counter()
    low = simulate(target, answered_history(0.10), plan)
    high = simulate(target, answered_history(0.45), plan)
    assert time.perf_counter() - started < 2
    assert low.profile.answer_rate_by_dial[0] == pytest.approx(0.10, abs=0.01)
    assert high.profile.answer_rate_by_dial[0] == pytest.approx(0.45, abs=0.01)
    assert low.profile.mean_talk_seconds == pytest.approx(0.7 * 90 + 0.3 * 120, abs=1)
    assert high.talk_minutes_per_agent_hour > 1.5 * low.talk_minutes_per_agent_hour
    assert low.idle_share > high.idle_share
    assert low.profile.defaults == ("answered 4-18 s after dialling",)


def test_predictive_forecast_keeps_the_abandon_bound_near_the_cap() -> None:
    """Predictive dialing on the default figures: the pacer's abandons stay near the cap,
    and the 95th-percentile hour is a bound over the whole-run rate."""
    plan = ForecastPlan(agents=10, hours=1.5, seeds=2, start=MONDAY_9)
    target = campaign(dialing={"mode": "predictive", "max_concurrent": 100})
    result = simulate(target, History(), plan)
    assert result.abandon_rate < 0.06
    assert result.abandon_rate_p95_hour >= result.abandon_rate
    assert result.worst_hour_abandon_rate >= result.abandon_rate_p95_hour
    assert result.calls_per_hour > 10 * 60  # more calls than agents can take one by one


def test_list_is_exhausted_when_every_contact_is_settled() -> None:
    """Forty contacts tried once each run out within the hour, the runs end with them;
    a list that opens at nine is not exhausted before nine; a long one not within the run."""
    target = campaign(dialing={"mode": "progressive"}, retry={"max_attempts": 1})
    history = History(queue=queue(40), queued_total=40)
    result = simulate(target, history, ForecastPlan(5, 2.0, 2, MONDAY_9))
    assert result.exhausted_runs == 2 and result.exhausted_at is not None
    assert MONDAY_9 < result.exhausted_at < MONDAY_9 + timedelta(hours=1)
    assert all(r.run_hours < 2.0 for r in result.runs)
    # One counted attempt each; congestion does not count and is tried again.
    assert 80 <= round(sum(r.calls_per_hour * r.run_hours for r in result.runs)) < 90

    early = MONDAY_9 - timedelta(hours=2)  # 07:00 in Oslo, the hours open at 09:00
    result = simulate(target, history, ForecastPlan(5, 3.0, 1, early))
    assert result.exhausted_at is not None and result.exhausted_at > MONDAY_9
    assert any("closed for 2.0 h" in note for note in result.notes)

    long = History(queue=queue(2000), queued_total=2000)
    result = simulate(target, long, ForecastPlan(5, 1.0, 1, MONDAY_9))
    assert result.exhausted_at is None and result.exhausted_runs == 0


def test_retries_follow_the_campaign_rules() -> None:
    """A contact that never answers is tried max_attempts times, each retry at the
    campaign's delay and inside its calling hours, as campaigns.retry.decide has it."""
    target = campaign(
        dialing={"mode": "progressive"},
        retry={"max_attempts": 3, "delays_minutes": {"no_answer": 600}},
    )
    spec = target.spec
    clock = LocalTime(MONDAY_9, ["Europe/Oslo"], spec.hours, 48 * 3600)
    never_answered = History(
        attempts=DIAL_BUCKETS * 100_000,
        outcomes_by_dial=({Outcome.NO_ANSWER: 100_000},) * DIAL_BUCKETS,
    )
    never = Profile.from_history(never_answered, spec, 2.4)
    placed: list[float] = []

    class Recording(ProfileStream):
        def fate(self, lead: Lead, seconds: float):  # type: ignore[no-untyped-def]
            placed.append(seconds)
            return super().fate(lead, seconds)

    sim = FloorSim(
        Recording(never, 1, clock),
        RingbackPacer(spec.dialing.mode),
        agents=1,
        hours=48,
        leads=[Lead(0, 0.0)],
        rules=FloorRules(retry=spec.retry, clock=clock, stop_when_exhausted=True),
    )
    result = sim.run()
    assert result.exhausted_at is not None and len(placed) == 3
    expected, at = [0.0], MONDAY_9
    for attempts in range(2):
        ended = at + timedelta(seconds=30)  # the ring timeout
        decision = decide(
            attempts=attempts,
            dials=attempts,
            outcome=Outcome.NO_ANSWER,
            rules=spec.retry,
            hours=spec.hours,
            timezone="Europe/Oslo",
            now=ended,
        )
        assert decision.due_at is not None
        at = decision.due_at
        expected.append((at - MONDAY_9).total_seconds())
    assert placed == pytest.approx(expected)


def test_a_forecast_past_its_deadline_stops() -> None:
    """Past the deadline before any run is done: TimeoutError (the API's 422)."""
    with pytest.raises(TimeoutError):
        simulate(campaign(), History(), ForecastPlan(5, 1.0, 1, MONDAY_9), deadline=0.0)


def test_forecast_is_json_serialisable() -> None:
    """The CLI's --json and the API's body come from the same value."""
    result = simulate(campaign(), History(), ForecastPlan(2, 0.25, 1, MONDAY_9))
    assert isinstance(result, Forecast) and result.runs[0].seed == 1
