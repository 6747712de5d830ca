"""Pacing arithmetic: progressive and predictive call counts, without an engine."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from campaigns.model import DialMode, Outcome
from dialer.pacing import (
    AnswerModel,
    CampaignStats,
    Durations,
    Floor,
    _Answers,
    _target,
    calls_to_place,
    recheck_in,
)


def measured(rate: float, n: int = 300, seed: int = 1) -> CampaignStats:
    chance = random.Random(seed)
    stats = CampaignStats()
    for _ in range(n):
        human = chance.random() < rate
        stats.record_call(human, chance.uniform(4, 18) if human else 30.0)
    return stats


def test_progressive_places_one_call_per_free_agent() -> None:
    """Progressive: free agents minus calls already ringing, never negative."""
    stats = CampaignStats()
    floor = Floor(free=5, on_call=3, ringing=(1.0, 2.0))
    assert calls_to_place(DialMode.PROGRESSIVE, floor, stats, 0.03, limit=100) == 3
    assert calls_to_place(DialMode.PROGRESSIVE, floor, stats, 0.03, limit=2) == 2
    busy = Floor(free=1, on_call=3, ringing=(1.0, 2.0))
    assert calls_to_place(DialMode.PROGRESSIVE, busy, stats, 0.03, limit=100) == 0


def test_preview_never_dials_by_itself() -> None:
    """Preview: the agent starts every call."""
    floor = Floor(free=5, on_call=0, ringing=())
    assert calls_to_place(DialMode.PREVIEW, floor, CampaignStats(), 0.03, limit=100) == 0


def test_predictive_dials_more_than_free_agents_at_a_low_answer_rate() -> None:
    """With one answer in four, predictive rings several lines per free agent."""
    floor = Floor(free=5, on_call=15, ringing=())
    n = calls_to_place(DialMode.PREDICTIVE, floor, measured(0.25), 0.03, limit=100)
    assert 5 < n <= 40


def test_predictive_holds_back_when_abandons_near_the_cap() -> None:
    """The measured abandon rate over the cap makes the pacer more careful."""
    floor = Floor(free=5, on_call=15, ringing=())
    calm = measured(0.25)
    hot = measured(0.25)
    for _ in range(10):
        hot.record_call(True, 10.0, abandoned=True)
    assert calls_to_place(DialMode.PREDICTIVE, floor, hot, 0.03, limit=100) < calls_to_place(
        DialMode.PREDICTIVE, floor, calm, 0.03, limit=100
    )


def test_calls_ringing_past_the_answer_window_count_for_little() -> None:
    """A call ringing for 25 s is a likely no-answer: it barely holds back new calls."""
    stats = measured(0.25)
    assert stats.answer_chance(25.0, 30.0) < 0.05 < stats.answer_chance(1.0, 30.0)
    fresh = Floor(free=4, on_call=16, ringing=(1.0,) * 8)
    stale = Floor(free=4, on_call=16, ringing=(25.0,) * 8)
    assert calls_to_place(DialMode.PREDICTIVE, stale, stats, 0.03, limit=100) > calls_to_place(
        DialMode.PREDICTIVE, fresh, stats, 0.03, limit=100
    )


def test_no_agent_no_call() -> None:
    """Nobody free or about to be: predictive places nothing."""
    floor = Floor(free=0, on_call=0, ringing=())
    assert calls_to_place(DialMode.PREDICTIVE, floor, measured(0.25), 0.03, limit=100) == 0


@given(
    qs=st.lists(st.floats(0, 1), max_size=40),
    agents=st.floats(0.5, 12),
)
def test_abandon_ratio_matches_brute_force(qs: list[float], agents: float) -> None:
    """E[(X - a)+] from the lower tail equals the one from the full distribution."""
    answers = _Answers(agents)
    for q in qs:
        answers.add(q)
    pmf = [1.0]
    for q in qs:
        pmf = [
            (pmf[k] if k < len(pmf) else 0) * (1 - q) + (pmf[k - 1] * q if k > 0 else 0)
            for k in range(len(pmf) + 1)
        ]
    excess = sum(max(0.0, k - agents) * pk for k, pk in enumerate(pmf))
    assert abs(answers.excess() - excess) < 1e-9


def predictive(floor: Floor, stats: CampaignStats) -> int:
    return calls_to_place(DialMode.PREDICTIVE, floor, stats, 0.03, limit=100)


def test_answered_calls_waiting_for_an_agent_hold_back_new_calls() -> None:
    """An answer already waiting takes an agent: fewer new calls than without it."""
    stats = measured(0.25)
    idle = Floor(free=3, on_call=17, ringing=(2.0,) * 4)
    queued = Floor(free=3, on_call=17, ringing=(2.0,) * 4, waiting=2)
    assert predictive(queued, stats) < predictive(idle, stats)


def test_agents_about_to_leave_wrapup_count_more_than_those_starting_it() -> None:
    """An agent back in 2 s can take a call placed now; one back in 15 s hardly can."""
    stats = measured(0.25)
    for _ in range(100):
        stats.record_wrapup(15.0)
    starting = Floor(free=1, on_call=15, wrapup=(0.0,) * 4)
    ending = Floor(free=1, on_call=15, wrapup=(13.0,) * 4)
    assert predictive(ending, stats) > predictive(starting, stats)


def test_wrapup_return_is_conditioned_on_the_time_spent() -> None:
    """With wrap-ups of 10 s or 60 s, an agent 20 s in is expected back in 40 s."""
    stats = CampaignStats()
    for seconds in (10.0, 60.0) * 50:
        stats.record_wrapup(seconds)
    assert stats.wrapup_left(0.0) == 35.0
    assert stats.wrapup_left(20.0) == 40.0
    # Longer than any wrap-up seen: a whole mean wrap-up more, not "back already".
    assert stats.wrapup_left(90.0) == stats.mean_wrapup == 35.0


def test_abandon_budget_steers_the_target_both_ways() -> None:
    """Budget in hand raises the planned ratio; abandons over the set point lower it."""
    fresh = CampaignStats()
    quiet = CampaignStats()
    noisy = CampaignStats()
    for i in range(400):
        quiet.record_call(True, 10.0)
        noisy.record_call(True, 10.0, abandoned=i % 10 == 0)
    assert _target(noisy, 0.03) < _target(fresh, 0.03) < _target(quiet, 0.03)
    assert noisy.abandon_rate == 0.1


def test_a_quiet_past_is_not_saved_up_and_no_abandon_is_forgiven() -> None:
    """The budget counts over the recent window, but never more than since the start."""
    stats = CampaignStats()
    for _ in range(10_000):
        stats.record_call(True, 10.0)
    assert abs(stats.abandon_budget(0.027) - 0.027 * 400) < 1e-9
    burst = CampaignStats()
    for _ in range(50):
        burst.record_call(True, 10.0, abandoned=True)
    for _ in range(400):
        burst.record_call(True, 10.0)
    # The window has forgotten the burst; the campaign's whole record has not.
    assert burst.abandon_budget(0.027) < 0


def test_the_answer_rate_is_taken_high_while_little_is_measured() -> None:
    """Few calls measured: the pacer assumes more answers; the margin shrinks with data."""
    few, many = measured(0.25, n=10), measured(0.25, n=400)
    margin = [s.cautious_answer_rate - s.answer_rate for s in (few, many)]
    assert margin[0] > 2 * margin[1] > 0


def test_recheck_when_the_oldest_live_call_leaves_the_answer_window() -> None:
    """No event needed: the pacer looks again once a ringing call is a likely no-answer."""
    stats = measured(0.25)
    window = stats.longest_answer_delay
    floor = Floor(free=2, on_call=10, ringing=(3.0, 8.0, window + 5))
    recheck = recheck_in(DialMode.PREDICTIVE, floor, stats)
    assert recheck is not None and abs(recheck - (window - 8.0)) < 0.1
    assert recheck_in(DialMode.PREDICTIVE, Floor(free=2, on_call=10), stats) is None
    assert recheck_in(DialMode.PROGRESSIVE, floor, stats) is None


@given(
    samples=st.lists(st.floats(0, 100), max_size=60),
    t=st.floats(0, 120),
)
def test_durations_match_a_plain_count(samples: list[float], t: float) -> None:
    """Sorted look-ups give the same survival and residual as counting by hand."""
    durations = Durations()
    for x in samples:
        durations.append(x)
    assert durations.longer(t) == sum(1 for x in samples if x > t)
    longer = [x - t for x in samples if x > t]
    residual = durations.residual(t)
    if longer:
        assert residual is not None and abs(residual - sum(longer) / len(longer)) < 1e-6
    else:
        assert residual is None


def test_per_call_chances_replace_the_campaign_rate() -> None:
    """Ringing calls known to be hopeless leave room for more calls; calls sure to be
    answered leave less. Without chances the campaign's rate is used, as before."""
    stats = measured(0.25)
    ringing = (3.0, 4.0, 5.0, 6.0, 7.0, 8.0)
    plain = Floor(free=5, on_call=15, ringing=ringing)
    hopeless = Floor(free=5, on_call=15, ringing=ringing, chances=(0.0,) * 6)
    sure = Floor(free=5, on_call=15, ringing=ringing, chances=(1.0,) * 6)
    place = lambda floor: calls_to_place(DialMode.PREDICTIVE, floor, stats, 0.03, limit=100)  # noqa: E731
    assert place(hopeless) > place(plain) > place(sure)
    same = Floor(free=5, on_call=15, ringing=ringing, chances=(stats.cautious_answer_rate,) * 6)
    assert place(same) == place(plain)


def test_next_chances_size_the_new_calls() -> None:
    """Contacts next in the queue that are likely to answer need fewer calls."""
    stats = measured(0.25)
    floor = Floor(free=6, on_call=14)
    likely = calls_to_place(
        DialMode.PREDICTIVE, floor, stats, 0.03, limit=100, next_chances=[0.6] * 40
    )
    unlikely = calls_to_place(
        DialMode.PREDICTIVE, floor, stats, 0.03, limit=100, next_chances=[0.1] * 40
    )
    assert likely < unlikely


def test_answer_model_learns_attempts_and_hours() -> None:
    """Starts at the prior; learns that evenings answer more and that each unanswered
    attempt makes the next answer less likely."""
    model = AnswerModel()
    assert abs(model.chance(0, None, 10) - 0.3) < 1e-9
    chance = random.Random(3)
    for _ in range(6000):
        attempts = chance.randrange(4)
        hour = chance.choice((10, 19))
        truth = (0.4 if hour == 19 else 0.2) * (0.7**attempts)
        last = Outcome.NO_ANSWER if attempts else None
        model.record(attempts, last, hour, chance.random() < truth)
    assert model.chance(0, None, 19) > 1.5 * model.chance(0, None, 10)
    fresh, tried = model.chance(0, None, 19), model.chance(3, Outcome.NO_ANSWER, 19)
    assert tried < 0.6 * fresh
    assert abs(fresh - 0.4) < 0.08
    assert 0 < model.chance(9, Outcome.MACHINE, 3) < 1


def test_vicidial_dial_level_rules() -> None:
    """The benchmark's VICIdial: the adapt step and the auto-dial count."""
    from bench import vicidial as v

    quiet = v.DropStats(calls_today=100, answers_today=30, drops_today=0, calls_minute=30,
                        drops_minute=0)  # fmt: skip
    s = v.Settings("ADAPT_HARD_LIMIT", maximum_level=3.0)
    # Agents waiting raise the level by the differential per agent; capped; never below 1.
    assert v.adapt_level(s, 2.0, differential=2, agents_average=20, drops=quiet, hourmin=1200) == (
        2.0 * 1.1
    )
    assert v.adapt_level(s, 2.9, differential=10, agents_average=20, drops=quiet, hourmin=1200) == 3
    assert v.adapt_level(s, 1.0, differential=-5, agents_average=20, drops=quiet, hourmin=1200) == 1
    # Intensity scales the change: +20 raises faster, and lowers more slowly.
    hot = replace(s, intensity=20)
    up = v.adapt_level(hot, 2.0, differential=2, agents_average=20, drops=quiet, hourmin=1200)
    down = v.adapt_level(hot, 2.0, differential=-2, agents_average=20, drops=quiet, hourmin=1200)
    assert abs(up - 2.0 * 1.12) < 1e-9 and abs(down - 2.0 * (1 - 0.1 * 0.8)) < 1e-9
    # Over the day's drop limit: hard limit 1.0, average halves, tapered by the day left.
    over = replace(quiet, answers_today=30, drops_today=2)
    level = {
        m: v.adapt_level(replace(s, method=m), 3.0, differential=0, agents_average=20,
                         drops=over, hourmin=1500)
        for m in v.METHODS
    }  # fmt: skip
    assert level["ADAPT_HARD_LIMIT"] == 1.0
    assert level["ADAPT_AVERAGE"] == 1.5
    assert abs(level["ADAPT_TAPERED"] - 3.0 * 0.4) < 1e-9  # 1900 - 1500 = 400 "minutes"
    assert v.tapered_rate(2300, 1200) == 1.0
    # Not before 50 calls today; half of the last minute dropped halves it anyway.
    early = replace(over, calls_today=40)
    assert (
        v.adapt_level(s, 2.4, differential=0, agents_average=20, drops=early, hourmin=1500) == 2.4
    )
    burst = replace(quiet, calls_minute=30, drops_minute=16)
    assert (
        v.adapt_level(s, 2.4, differential=0, agents_average=20, drops=burst, hourmin=1500) == 1.2
    )
    # Auto-dial: level x (ready + in call) - calls up; available-only counts ready agents.
    assert v.calls_to_make(s, 1.5, ready=4, incall=16, calls_up=22, with_agents=16) == 8
    only = replace(s, available_only=True)
    assert v.calls_to_make(only, 3.0, ready=4, incall=16, calls_up=22, with_agents=16) == 6
    assert v.calls_to_make(s, 1.0, ready=0, incall=16, calls_up=30, with_agents=16) == 0


def test_abandon_ratio_of_a_large_floor_is_near_the_exact_one() -> None:
    """Past EXACT_UP_TO agents the approximation gives the exact excess within 2 %."""
    chance = random.Random(3)
    agents = 300
    qs = [0.9] * 249 + [chance.uniform(0.02, 0.2) for _ in range(550)]
    answers = _Answers(agents)
    assert not answers.exact
    pmf = [1.0] + [0.0] * (len(qs) + 1)
    for n, q in enumerate(qs, 1):
        for k in range(n, 0, -1):
            pmf[k] = pmf[k] * (1 - q) + pmf[k - 1] * q
        pmf[0] *= 1 - q
    for q in qs:
        answers.add(q)
    exact = sum(max(0.0, k - agents) * pk for k, pk in enumerate(pmf))
    assert 0.01 < exact < 1
    assert answers.excess() == pytest.approx(exact, rel=0.02)


def test_grouping_a_large_floor_to_tenths_of_a_second_changes_almost_nothing() -> None:
    """Past EXACT_UP_TO agents ringing calls are taken in groups of a tenth of a second:
    the decision is within a call of the one made call by call."""
    stats = measured(0.2)
    chance = random.Random(5)
    for calls in (100, 300, 1000):
        ringing = tuple(chance.uniform(0, 30) for _ in range(calls))
        wrapup = tuple(chance.uniform(0, 20) for _ in range(100))
        floor = Floor(free=200, on_call=700, wrapup=wrapup, ringing=ringing, ring_timeout=30)
        grouped = calls_to_place(DialMode.PREDICTIVE, floor, stats, 0.03, limit=10_000)
        one_by_one = replace(floor, chances=(stats.cautious_answer_rate,) * calls)
        exact = calls_to_place(DialMode.PREDICTIVE, one_by_one, stats, 0.03, limit=10_000)
        assert exact > 0
        assert abs(grouped - exact) <= 1


def test_long_calls_still_going_on_count_in_the_talk_time() -> None:
    """At a campaign's start only short calls have ended: the agents still talking long
    past them say the calls are longer, and the pacer dials less for them."""
    stats = measured(0.25)
    for _ in range(20):
        stats.record_talk(15.0)
        stats.record_wrapup(1.0)
    floor = Floor(free=5, on_call=80, ringing=())
    unknown = calls_to_place(DialMode.PREDICTIVE, floor, stats, 0.03, limit=1000)
    talking = replace(floor, talking=(45.0,) * 80)
    assert stats.talk_estimate(talking.talking) == pytest.approx((20 * 15 + 80 * 45) / 20)
    assert calls_to_place(DialMode.PREDICTIVE, talking, stats, 0.03, limit=1000) < unknown
    # Once the window is full, the ended calls are a fair sample of the recent ones.
    for _ in range(400):
        stats.record_talk(15.0)
    assert stats.talk_estimate(talking.talking) == pytest.approx(15.0)


def test_talk_time_after_a_floor_starts_together_counts_the_calls_going_on() -> None:
    """500 agents start together, each taking call after call (talk exponential, 60 s on
    average, 1 s between calls). 70 s later the last 400 calls that ended are short ones
    (30 s on average: an agent with short calls ends many), and most first calls still go
    on: the estimate counts the time on call within the window those endings span."""
    for seed in range(3):
        rng = random.Random(seed)
        now = 70.0
        ends: list[tuple[float, float]] = []
        talking: list[float] = []
        for _ in range(500):
            t = rng.uniform(0, 5)
            while t < now:
                seconds = rng.expovariate(1 / 60)
                if t + seconds >= now:
                    talking.append(now - t)
                    break
                ends.append((t + seconds, seconds))
                t += seconds + 1.0
        stats = measured(0.25)
        for end, seconds in sorted(ends):
            stats.record_talk(seconds, ended_at=end)
        assert stats.mean_talk < 35
        assert stats.talk_estimate(talking, now) == pytest.approx(60, rel=0.12)


def test_the_answer_rate_waits_for_a_cohort_to_settle() -> None:
    """A burst of 100 calls, 20 answered after 6 s, 80 ringing out at 30 s: taken as they
    settle the rate would read all answers, then all no-answers; it counts them only once
    their cohort has settled, and then reads the burst's own rate."""
    stats = CampaignStats()
    prior = stats.answer_rate
    for i in range(20):
        stats.record_call(True, 6.0, placed_at=0.01 * i)
    stats.mature(6.0 - 31)
    assert stats.answer_rate == prior  # answers in, their cohort not settled: the prior
    for i in range(20, 100):
        stats.record_call(False, 30.0, placed_at=0.01 * i)
    stats.mature(30.0 - 31)
    assert stats.answer_rate == prior
    stats.mature(32.0 - 31)
    assert stats.answer_rate == pytest.approx((20 + prior * 20) / (100 + 20))
    # Without a placing time a result counts at once (the forecast's replica).
    plain = CampaignStats()
    plain.record_call(True, 6.0)
    assert plain.answer_rate > prior
