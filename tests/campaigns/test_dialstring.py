"""Dial strings: one Technology/resource, nothing Asterisk would read as more."""

from __future__ import annotations

import pytest

from campaigns.dialstring import DialStringError, check_channel_template, check_dial_string


@pytest.mark.parametrize(
    "value",
    [
        "PJSIP/ann",
        "PJSIP/+4741000000@trunk",
        "Local/agent-answer@ringback-test-phones",
        "SIP/1001",
        "IAX2/user@host/100",
        "DAHDI/g1/5550100",
    ],
)
def test_dial_strings_asterisk_takes_pass(value: str) -> None:
    assert check_dial_string(value) == value


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("PJSIP/x\r\nAction: Originate", r"'\\r'"),
        ("PJSIP/a&PJSIP/+4741000000@trunk,20,U(x)", "'&' ','"),
        ("PJSIP/a|b", "'|'"),
        ("PJSIP/a b", "' '"),
        ("PJSIP/a\tb", r"'\\t'"),
        ("PJSIP/a\x00", r"'\\x00'"),
        ("1001", "Technology/resource"),
        ("PJSIP/", "Technology/resource"),
        ("PJSIP/${EVIL}", "Technology/resource"),
        ("", "empty"),
        ("PJSIP/" + "a" * 300, "longer than"),
    ],
)
def test_anything_more_is_refused_saying_why(value: str, why: str) -> None:
    with pytest.raises(DialStringError, match=why):
        check_dial_string(value)


def test_channel_templates_hold_one_number_and_nothing_more() -> None:
    assert check_channel_template("PJSIP/{number}@trunk") == "PJSIP/{number}@trunk"
    assert check_channel_template("Local/{number}@outbound/n") == "Local/{number}@outbound/n"
    for bad, why in (
        ("PJSIP/{number}@trunk,RINGBACK_ATTEMPT_ID=X", r"PJSIP/\{number\}@trunk,RINGBACK.*','"),
        ("PJSIP/{number}&PJSIP/{number}", "exactly once"),
        ("PJSIP/trunk", "exactly once"),
        ("PJSIP/{number}@{trunk}", "placeholder"),
    ):
        with pytest.raises(DialStringError, match=why):
            check_channel_template(bad)
