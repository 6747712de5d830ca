"""Phone numbers: E.164 normalisation, refusal reasons and time zones."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from phonenumbers import PhoneNumberType
from phonenumbers.timezone import time_zones_for_number

from campaigns.phones import (
    PhoneError,
    PhoneReason,
    check_region,
    normalise,
    normalise_with_zone,
    timezone_for,
)

REGIONS = ["NO", "SE", "GB", "DE", "US", "FR", "IT"]


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("41234567", "NO", "+4741234567"),
        ("+47 412 34 567", "NO", "+4741234567"),
        ("0047 412 34 567", "NO", "+4741234567"),
        ("(+47) 41-23-45-67", "NO", "+4741234567"),
        ("412.34.567", "NO", "+4741234567"),
        ("  22 33 44 55 ", "NO", "+4722334455"),
        ("\u00a041234567", "NO", "+4741234567"),
        ("070-123 45 67", "SE", "+46701234567"),
        ("08/123 456 78", "SE", "+46812345678"),
        ("07400 123456", "GB", "+447400123456"),
        ("+44 (0)20 7946 0018", "NO", "+442079460018"),
        ("+46 70 123 45 67", "GB", "+46701234567"),
    ],
)
def test_normalise_accepts_usual_formats(raw: str, region: str, expected: str) -> None:
    """Spaces, dashes, dots, slashes, parentheses, + and 00 prefixes all normalise to E.164."""
    assert normalise(raw, region) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", PhoneReason.EMPTY),
        ("   ", PhoneReason.EMPTY),
        ("+4741234567\r\n", PhoneReason.CONTROL),
        ("4123\n4567", PhoneReason.CONTROL),
        ("\t41234567", PhoneReason.CONTROL),
        ("41234567\x00", PhoneReason.CONTROL),
        ("41234567\x1b[0m", PhoneReason.CONTROL),
        ("4123\u20284567", PhoneReason.CONTROL),
        ("\n", PhoneReason.CONTROL),
        ("4123456a", PhoneReason.LETTERS),
        ("1-800-FLOWERS", PhoneReason.LETTERS),
        ("41234567 ext 12", PhoneReason.LETTERS),
        ("#41234567", PhoneReason.CHARACTERS),
        ("41234567;", PhoneReason.CHARACTERS),
        ("+47+41234567", PhoneReason.CHARACTERS),
        ("4123\u200b4567", PhoneReason.CHARACTERS),
        ("1", PhoneReason.TOO_SHORT),
        ("+47 1", PhoneReason.TOO_SHORT),
        ("4123", PhoneReason.TOO_SHORT),
        ("412345678901234567890", PhoneReason.TOO_LONG),
        ("4" * 70, PhoneReason.TOO_LONG),
        ("+999 41234567", PhoneReason.COUNTRY_CODE),
        ("12345678", PhoneReason.INVALID),
        ("---", PhoneReason.INVALID),
    ],
)
def test_normalise_refuses_with_stable_reason(raw: str, reason: PhoneReason) -> None:
    """Each kind of bad number is refused with its own reason."""
    with pytest.raises(PhoneError) as caught:
        normalise(raw, "NO")
    assert caught.value.reason is reason


def test_error_message_names_input_and_region() -> None:
    """The message quotes the input (control characters escaped) and the default region."""
    with pytest.raises(PhoneError, match=r"'4123\\n4567' \(default region NO\)"):
        normalise("4123\n4567", "NO")


def test_unknown_region_is_a_value_error() -> None:
    """A region phonenumbers does not know is a configuration error, not a bad number."""
    with pytest.raises(ValueError, match="unknown region 'XX'"):
        check_region("XX")
    check_region("NO")


_punctuated = st.text(alphabet="0123456789 -.()/", max_size=30)


@given(
    prefix=st.text(max_size=10),
    control=st.characters(categories=["Cc", "Zl", "Zp"]),
    suffix=st.text(max_size=10),
    region=st.sampled_from(REGIONS),
)
@example(prefix="+47 412 34 567", control="\n", suffix="", region="NO")
def test_any_control_character_is_refused(
    prefix: str, control: str, suffix: str, region: str
) -> None:
    """A number holding a control character anywhere is refused as such, never cleaned."""
    with pytest.raises(PhoneError) as caught:
        normalise(prefix + control + suffix, region)
    assert caught.value.reason is PhoneReason.CONTROL


@given(
    body=_punctuated,
    plus=st.sampled_from(["", "+", "00"]),
    region=st.sampled_from(REGIONS),
    again=st.sampled_from(REGIONS),
)
@example(body="41234567", plus="", region="NO", again="GB")
def test_normalise_is_idempotent(body: str, plus: str, region: str, again: str) -> None:
    """Normalising an E.164 result again, with any region, returns it unchanged."""
    try:
        e164 = normalise(plus + body, region)
    except PhoneError:
        return
    assert e164.startswith("+") and e164[1:].isdigit()
    assert normalise(e164, again) == e164


@given(body=_punctuated, plus=st.sampled_from(["", "+", "00"]), region=st.sampled_from(REGIONS))
@example(body="412 34 567", plus="+47 ", region="SE")
def test_verdict_equals_phonenumbers(body: str, plus: str, region: str) -> None:
    """On digits and punctuation the verdict and the E.164 text are phonenumbers' own."""
    raw = plus + body
    try:
        parsed = phonenumbers.parse(raw, region)
        expected = (
            phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
            if phonenumbers.is_valid_number(parsed)
            else None
        )
    except phonenumbers.NumberParseException:
        expected = None
    try:
        got: str | None = normalise(raw, region)
    except PhoneError:
        got = None
    assert got == expected


def _reference_zone(e164: str, default: str) -> str:
    zones = set(time_zones_for_number(phonenumbers.parse(e164)))
    return zones.pop() if len(zones) == 1 and zones != {"Etc/Unknown"} else default


def _example_numbers() -> list[str]:
    numbers = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in (PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE, PhoneNumberType.VOIP):
            example_number = phonenumbers.example_number_for_type(region, kind)
            if example_number is not None and phonenumbers.is_valid_number(example_number):
                numbers.append(
                    phonenumbers.format_number(example_number, phonenumbers.PhoneNumberFormat.E164)
                )
    return numbers


def test_timezone_equals_phonenumbers_for_every_region() -> None:
    """The fast path gives phonenumbers' answer for example numbers of every region."""
    numbers = _example_numbers()
    assert len(numbers) > 500
    for e164 in numbers:
        assert timezone_for(e164, "UTC") == _reference_zone(e164, "UTC"), e164


@pytest.mark.parametrize(
    ("e164", "expected"),
    [
        ("+46812345678", "Europe/Stockholm"),
        ("+12015550123", "America/New_York"),
        ("+442079460018", "Europe/London"),
        # Norwegian mobiles map to Oslo and Longyearbyen: ambiguous, so the default.
        ("+4741234567", "Asia/Tokyo"),
    ],
)
def test_timezone_for(e164: str, expected: str) -> None:
    """A single zone is taken from the number; several give the default."""
    assert timezone_for(e164, "Asia/Tokyo") == expected


def test_timezone_for_refuses_unknown_default() -> None:
    """The default zone must be a zone this machine knows."""
    with pytest.raises(ValueError, match="unknown time zone"):
        timezone_for("+46812345678", "Mars/Olympus")


def test_normalise_with_zone_is_both_in_one() -> None:
    """normalise_with_zone gives normalise's number and timezone_for's zone."""
    assert normalise_with_zone("08-123 456 78", "SE", "UTC") == (
        "+46812345678",
        "Europe/Stockholm",
    )
