"""Wrap-up rules, tested as pure functions."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from campaigns.callbacks import CallbackRequest, check_callback_time
from campaigns.errors import Conflict, Invalid
from campaigns.model import Contact, ContactState, Outcome
from campaigns.spec import CallingHours, RetryRules, SpecError, Wrapup
from campaigns.users import Role, hash_token, new_token, token_matches
from campaigns.wrapup import (
    Category,
    Direction,
    EndReason,
    EndReasonChoice,
    Feedback,
    Interaction,
    RegistrationDraft,
    Topic,
    check_draft,
    check_extend,
    check_required,
    check_topics,
    choose_end_reason,
    feedback_change,
    may_become_ready,
    offered_categories,
    read_end_reasons,
    wrapup_deadline,
    wrapup_timer,
)
from tests.conftest import NOW

DIALER = Interaction(
    1, 7, Direction.OUTBOUND, "+4741000000", NOW, contact_id=3, campaign_id=5, attempt_id=9
)
INBOUND = Interaction(2, 7, Direction.INBOUND, "+4799999999", NOW)
MOOD = Category(1, "Mood", multi_choice=False)
PRODUCT = Category(2, "Product", multi_choice=True)
SALES = Category(3, "Sales", multi_choice=False, campaign_id=5)
TOPICS = {
    10: Topic(10, 1, "Positive"),
    11: Topic(11, 1, "Negative"),
    20: Topic(20, 2, "App"),
    21: Topic(21, 2, "Catalog"),
    30: Topic(30, 3, "Sale", script="Thank them."),
}
CATS = {c.id: c for c in (MOOD, PRODUCT, SALES)}
HOURS = CallingHours()
STARTER_END_REASONS = Path(__file__).resolve().parents[2] / "config" / "end-reasons.toml"


def test_starter_end_reasons_file_reads_in_order() -> None:
    """config/end-reasons.toml: 24 unique reasons, in file order, shop address to 'Other'."""
    reasons = read_end_reasons(STARTER_END_REASONS, campaign_id=7)
    names = [r.name for r in reasons]
    assert len(names) == len(set(names)) == 24
    assert names[0] == "Address, phone number of POS"
    assert names[-2:] == ["The call fell through", "Other"]
    assert [r.position for r in reasons] == list(range(1, 25))
    assert {r.campaign_id for r in reasons} == {7}
    assert reasons[-1].description and not reasons[-1].close_by_default


def test_end_reason_file_errors_name_the_key(tmp_path: Path) -> None:
    """A bad key, a missing close flag, a name twice or bad TOML is refused, naming it."""
    bad = tmp_path / "r.toml"
    for text, expected in (
        ('[[reason]]\nname = "A"\nclose = true\ncolour = 1\n', "reason.0.colour: unknown key"),
        ('[[reason]]\nname = "A"\n', "reason.0.close: Field required"),
        ('[[reason]]\nname = "A"\nclose = true\n' * 2, "listed twice: A"),
        ("[[reason]\n", "not valid TOML"),
    ):
        bad.write_text(text, encoding="utf-8")
        with pytest.raises(SpecError, match=expected):
            read_end_reasons(bad)


def test_end_reason_offered_by_scope_and_state() -> None:
    """A global reason is offered for every call, a campaign's for its calls; retired: none."""
    choice = EndReasonChoice(1)
    mine = EndReason(1, "Sale", True, campaign_id=3)
    glob = EndReason(2, "Other", False, "general")
    assert choose_end_reason(mine, choice, 3).closed
    assert choose_end_reason(glob, EndReasonChoice(2), None).followup_queue == "general"
    for reason, campaign_id in ((mine, 4), (mine, None), (replace(glob, active=False), 3)):
        with pytest.raises(Invalid) as err:
            choose_end_reason(reason, choice, campaign_id)
        assert err.value.field == "end_reason.reason_id"


def test_single_choice_category_refuses_two_topics() -> None:
    """Two topics in one single-choice category are refused, naming the category."""
    with pytest.raises(Invalid, match="'Mood' is single-choice") as err:
        check_topics(DIALER, [10, 11], TOPICS, CATS)
    assert err.value.code == "wrapup.single_choice"
    assert err.value.field == "topic_ids"
    check_topics(DIALER, [10, 20, 21], TOPICS, CATS)


def test_campaign_category_only_for_its_dialer_calls() -> None:
    """A campaign's category is offered and accepted only for that campaign's dialer calls."""
    check_topics(DIALER, [30], TOPICS, CATS)
    with pytest.raises(Invalid, match="only for dialer calls"):
        check_topics(INBOUND, [30], TOPICS, CATS)
    with pytest.raises(Invalid):
        check_topics(replace(DIALER, campaign_id=6), [30], TOPICS, CATS)
    assert offered_categories(CATS.values(), INBOUND) == [MOOD, PRODUCT]
    assert offered_categories(CATS.values(), DIALER) == [MOOD, PRODUCT, SALES]


def test_unknown_duplicate_or_inactive_topics_are_refused() -> None:
    """Unknown ids, repeated ids and inactive topics are refused."""
    for ids, topics in (
        ([99], TOPICS),
        ([10, 10], TOPICS),
        ([10], {10: replace(TOPICS[10], active=False)}),
    ):
        with pytest.raises(Invalid):
            check_topics(DIALER, ids, topics, CATS)


def test_feedback_only_for_dialer_calls_and_callback_needs_details() -> None:
    """Dialer feedback on an inbound call, or a callback without a time, is refused."""
    with pytest.raises(Invalid, match="feedback"):
        check_draft(INBOUND, RegistrationDraft(feedback=Feedback.NOT_ANSWERED))
    with pytest.raises(Invalid, match="callback"):
        check_draft(DIALER, RegistrationDraft(feedback=Feedback.CALLBACK))
    with pytest.raises(Invalid, match="callback"):
        check_draft(DIALER, RegistrationDraft(callback=CallbackRequest(NOW)))
    with pytest.raises(Conflict):
        check_draft(replace(DIALER, wrapped_up_at=NOW), RegistrationDraft())


def test_callback_in_past_or_outside_hours_is_refused_with_reason() -> None:
    """A callback time in the past or outside the contact's calling hours says why."""
    with pytest.raises(Invalid, match="in the past") as err:
        check_callback_time(
            NOW - timedelta(minutes=1), NOW, HOURS, "Europe/Oslo", "callback.due_at"
        )
    assert err.value.code == "callback.in_past"
    saturday = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    with pytest.raises(Invalid, match="outside the campaign's calling hours") as err:
        check_callback_time(saturday, NOW, HOURS, "Europe/Oslo", "callback.due_at")
    assert "09:00-20:00 Mon,Tue,Wed,Thu,Fri" in str(err.value)
    late = datetime(2026, 11, 23, 19, 30, tzinfo=UTC)  # 20:30 in Oslo
    with pytest.raises(Invalid):
        check_callback_time(late, NOW, HOURS, "Europe/Oslo", "callback.due_at")
    check_callback_time(late, NOW, HOURS, "America/New_York", "callback.due_at")


def test_feedback_requeues_or_exhausts_the_contact() -> None:
    """Not answered puts the contact back in the queue while attempts remain."""
    contact = Contact(3, 5, "+4741000000", "Europe/Oslo", ContactState.COMPLETED, None, attempts=1)
    rules = RetryRules()
    change = feedback_change(Feedback.NOT_ANSWERED, contact, rules, HOURS, NOW)
    assert change is not None and change.state is ContactState.RETRY
    assert change.due_at == NOW + rules.delay(Outcome.NO_ANSWER)
    spent = replace(contact, attempts=rules.max_attempts)
    exhausted = feedback_change(Feedback.ANSWERING_MACHINE, spent, rules, HOURS, NOW)
    assert exhausted is not None and exhausted.state is ContactState.EXHAUSTED
    booked = feedback_change(Feedback.CALLBACK, contact, rules, HOURS, NOW)
    assert booked is not None and (booked.state, booked.due_at) == (ContactState.CALLBACK, None)
    dnc = replace(contact, state=ContactState.DNC)
    assert feedback_change(Feedback.CALLBACK, dnc, rules, HOURS, NOW) is None


def test_end_reason_default_and_override() -> None:
    """The reason's close default applies unless the agent overrides; unclosed → its queue."""
    reason = EndReason(1, "Complaints", close_by_default=False, followup_queue="complaints")
    assert choose_end_reason(reason, EndReasonChoice(1), None).followup_queue == "complaints"
    closed = choose_end_reason(reason, EndReasonChoice(1, close=True, description="ok"), None)
    assert (closed.closed, closed.followup_queue, closed.description) == (True, None, "ok")


def test_wrapup_timer_counts_down_and_extension() -> None:
    """Elapsed and remaining come from the end time and the campaign's seconds."""
    assert wrapup_timer(DIALER, NOW) is None
    ended = replace(DIALER, ended_at=NOW, wrapup_deadline=wrapup_deadline(NOW, Wrapup(seconds=30)))
    timer = wrapup_timer(ended, NOW + timedelta(seconds=10))
    assert timer is not None and (timer.elapsed_seconds, timer.remaining_seconds) == (10, 20)
    late = wrapup_timer(ended, NOW + timedelta(seconds=40))
    assert late is not None and late.remaining_seconds == 0
    assert wrapup_deadline(NOW, Wrapup(seconds=0)) is None
    with pytest.raises(Conflict, match="does not allow"):
        check_extend(ended, Wrapup(extendable=False))
    with pytest.raises(Conflict, match="still on"):
        check_extend(DIALER, Wrapup())
    check_extend(ended, Wrapup())


def test_forced_registration_blocks_ready() -> None:
    """An ended, unregistered call that requires registration blocks ready."""
    pending = replace(DIALER, ended_at=NOW, registration_required=True)
    assert not may_become_ready([pending])
    assert may_become_ready([replace(pending, registration_required=False)])
    assert may_become_ready([replace(pending, wrapped_up_at=NOW)])


def test_tokens_are_hashed_and_compared() -> None:
    """A token's hash is stored; the token matches it and nothing else does."""
    token, stored = new_token()
    assert stored == hash_token(token) and token not in stored
    assert token_matches(token, stored)
    assert not token_matches(token + "x", stored)
    assert Role.MANAGER.manages and not Role.AGENT.manages


def test_required_categories_need_a_topic_unless_the_feedback_ends_the_call() -> None:
    """Each required category offered needs a chosen topic, named when missing; optional
    ones do not; not answered, answering machine and callback need none."""
    reason = Category(3, "Reason", multi_choice=False, required=True)
    outcome = Category(4, "Outcome", multi_choice=False, required=True)
    topics = {10: Topic(10, 3, "Price"), 11: Topic(11, 1, "Happy")}
    offered = [MOOD, reason, outcome]
    with pytest.raises(Invalid) as refused:
        check_required(RegistrationDraft(topic_ids=(11,)), offered, topics)
    assert refused.value.field == "topic_ids"
    assert "'Reason', 'Outcome'" in str(refused.value)
    with pytest.raises(Invalid, match="'Outcome'"):
        check_required(RegistrationDraft(topic_ids=(10,)), offered, topics)
    check_required(RegistrationDraft(topic_ids=(10,)), [MOOD, reason], topics)
    check_required(RegistrationDraft(), [MOOD], topics)
    for feedback in Feedback:
        check_required(RegistrationDraft(feedback=feedback), offered, topics)
