"""Pacing arithmetic: progressive and predictive call counts, without an engine."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from campaigns.model import DialMode
from dialer.pacing import CampaignStats, Floor, _Answers, calls_to_place


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
    floor = Floor(free=5, on_call=3, wrapup_ending=0, ringing=(1.0, 2.0))
    assert calls_to_place(DialMode.PROGRESSIVE, floor, stats, 0.03, limit=100) == 3
    assert calls_to_place(DialMode.PROGRESSIVE, floor, stats, 0.03, limit=2) == 2
    busy = Floor(free=1, on_call=3, wrapup_ending=0, ringing=(1.0, 2.0))
    assert calls_to_place(DialMode.PROGRESSIVE, busy, stats, 0.03, limit=100) == 0


def test_preview_never_dials_by_itself() -> None:
    """Preview: the agent starts every call."""
    floor = Floor(free=5, on_call=0, wrapup_ending=0, ringing=())
    assert calls_to_place(DialMode.PREVIEW, floor, CampaignStats(), 0.03, limit=100) == 0


def test_predictive_dials_more_than_free_agents_at_a_low_answer_rate() -> None:
    """With one answer in four, predictive rings several lines per free agent."""
    floor = Floor(free=5, on_call=15, wrapup_ending=0, ringing=())
    n = calls_to_place(DialMode.PREDICTIVE, floor, measured(0.25), 0.03, limit=100)
    assert 5 < n <= 40


def test_predictive_holds_back_when_abandons_near_the_cap() -> None:
    """The measured abandon rate over the cap makes the pacer more careful."""
    floor = Floor(free=5, on_call=15, wrapup_ending=0, ringing=())
    calm = measured(0.25)
    hot = measured(0.25)
    for _ in range(10):
        hot.record_abandon()
    assert calls_to_place(DialMode.PREDICTIVE, floor, hot, 0.03, limit=100) < calls_to_place(
        DialMode.PREDICTIVE, floor, calm, 0.03, limit=100
    )


def test_calls_ringing_past_the_answer_window_count_for_little() -> None:
    """A call ringing for 25 s is a likely no-answer: it barely holds back new calls."""
    stats = measured(0.25)
    assert stats.answer_chance(25.0, 30.0) < 0.05 < stats.answer_chance(1.0, 30.0)
    fresh = Floor(free=4, on_call=16, wrapup_ending=0, ringing=(1.0,) * 8)
    stale = Floor(free=4, on_call=16, wrapup_ending=0, ringing=(25.0,) * 8)
    assert calls_to_place(DialMode.PREDICTIVE, stale, stats, 0.03, limit=100) > calls_to_place(
        DialMode.PREDICTIVE, fresh, stats, 0.03, limit=100
    )


def test_no_agent_no_call() -> None:
    """Nobody free or about to be: predictive places nothing."""
    floor = Floor(free=0, on_call=0, wrapup_ending=0, ringing=())
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
