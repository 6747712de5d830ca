"""Phone numbers: what a contact list holds, turned into E.164 or refused with a reason.

phonenumbers decides validity; this module only adds a stricter front door. A number
ends up in AMI messages (``Originate`` channel, caller variables), so anything that is
not digits and ordinary punctuation is refused, never cleaned: a CR/LF that slipped
through would let a contact list inject AMI headers.
"""

from __future__ import annotations

import enum
import functools
import unicodedata
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumber, PhoneNumberType, ValidationResult
from phonenumbers.phonenumberutil import is_number_type_geographical
from phonenumbers.tzdata import TIMEZONE_DATA, TIMEZONE_LONGEST_PREFIX

# E.164 allows 15 digits; phonenumbers parses up to 17 before calling it too long.
# Anything longer than this many characters is refused before parsing.
MAX_RAW_LENGTH = 64

_SPACES = " \u00a0"
_PUNCTUATION = frozenset("-.()/" + _SPACES)
_ALLOWED = _PUNCTUATION | frozenset("0123456789+")
# Control characters and the Unicode line/paragraph separators, which some tools
# treat as line breaks.
_CONTROL_CATEGORIES = frozenset({"Cc", "Zl", "Zp"})


class PhoneReason(enum.StrEnum):
    """Why a number was refused; the values are stable and shown to users."""

    EMPTY = "empty phone number"
    CONTROL = "phone number contains control characters"
    LETTERS = "phone number contains letters"
    CHARACTERS = "phone number contains characters other than digits and punctuation"
    TOO_SHORT = "phone number too short"
    TOO_LONG = "phone number too long"
    COUNTRY_CODE = "unknown country code"
    INVALID = "not a valid phone number"


class PhoneError(ValueError):
    """A number that cannot be dialed; ``reason`` is stable, the message adds the input."""

    def __init__(self, reason: PhoneReason, raw: str = "", region: str | None = None) -> None:
        where = f" (default region {region})" if region else ""
        super().__init__(f"{reason}: {raw!r}{where}")
        self.reason = reason
        self.raw = raw


def normalise(raw: str, region: str) -> str:
    """Return ``raw`` as E.164, or raise :class:`PhoneError`."""
    return _format(_parse(raw, region)[0])


def timezone_for(e164: str, default: str) -> str:
    """The number's time zone when phonenumbers names exactly one, else ``default``."""
    _check_zone(default)
    number, kind = _parse(e164, "ZZ")
    return _zone(number, kind, _format(number), default)


def normalise_with_zone(raw: str, region: str, default_zone: str) -> tuple[str, str]:
    """:func:`normalise` and :func:`timezone_for` in one parse; ``default_zone`` is trusted."""
    number, kind = _parse(raw, region)
    e164 = _format(number)
    return e164, _zone(number, kind, e164, default_zone)


def check_region(region: str) -> None:
    """Raise ``ValueError`` unless ``region`` is a region phonenumbers knows (``NO``, ``GB``)."""
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"unknown region {region!r}: expected an ISO 3166 code such as 'NO'")


def is_known_zone(name: str) -> bool:
    """Whether ``name`` is an IANA time zone this machine knows."""
    return _known_zone(name)


def _check_zone(name: str) -> None:
    if not _known_zone(name):
        raise ValueError(f"unknown time zone {name!r}")


def _parse(raw: str, region: str) -> tuple[PhoneNumber, int]:
    # The raw text, before any stripping: str.strip() would hide a trailing CR/LF.
    if not _ALLOWED.issuperset(raw):
        raise PhoneError(_classify(raw), raw, region)
    text = raw.strip(_SPACES)
    if not text:
        raise PhoneError(PhoneReason.EMPTY, raw, region)
    plus = text.find("+")
    if plus >= 0 and (text.count("+") > 1 or not _PUNCTUATION.issuperset(text[:plus])):
        raise PhoneError(PhoneReason.CHARACTERS, raw, region)
    if len(text) > MAX_RAW_LENGTH:
        raise PhoneError(PhoneReason.TOO_LONG, raw, region)
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException as exc:
        reason = _PARSE_REASONS.get(exc.error_type, PhoneReason.INVALID)
        # phonenumbers wants 2 digits before it calls anything a number; "1" is too short.
        if exc.error_type == NumberParseException.NOT_A_NUMBER and 0 < _digits(text) < 3:
            reason = PhoneReason.TOO_SHORT
        raise PhoneError(reason, raw, region) from exc
    # number_type() is what is_valid_number() computes (UNKNOWN exactly when invalid),
    # and the time zone lookup needs the type too: one pass over the patterns, not two.
    kind = phonenumbers.number_type(number)
    if kind == PhoneNumberType.UNKNOWN:
        raise PhoneError(_invalid_reason(number), raw, region)
    return number, kind


def _digits(text: str) -> int:
    return sum(c.isdigit() for c in text)


def _classify(text: str) -> PhoneReason:
    """The reason for a number holding a character outside digits and punctuation."""
    if any(unicodedata.category(c) in _CONTROL_CATEGORIES for c in text):
        return PhoneReason.CONTROL
    if any(c.isalpha() for c in text):
        return PhoneReason.LETTERS
    return PhoneReason.CHARACTERS


_PARSE_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: PhoneReason.COUNTRY_CODE,
    NumberParseException.NOT_A_NUMBER: PhoneReason.INVALID,
    NumberParseException.TOO_SHORT_AFTER_IDD: PhoneReason.TOO_SHORT,
    NumberParseException.TOO_SHORT_NSN: PhoneReason.TOO_SHORT,
    NumberParseException.TOO_LONG: PhoneReason.TOO_LONG,
}


def _invalid_reason(number: PhoneNumber) -> PhoneReason:
    result = phonenumbers.is_possible_number_with_reason(number)
    if result == ValidationResult.TOO_SHORT:
        return PhoneReason.TOO_SHORT
    if result == ValidationResult.TOO_LONG:
        return PhoneReason.TOO_LONG
    if result == ValidationResult.INVALID_COUNTRY_CODE:
        return PhoneReason.COUNTRY_CODE
    return PhoneReason.INVALID


def _format(number: PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _zone(number: PhoneNumber, kind: int, e164: str, default: str) -> str:
    # phonenumbers.timezone.time_zones_for_number(), given the type already known.
    country_code = number.country_code or 0
    if is_number_type_geographical(kind, country_code):
        zones = _prefix_zones(e164)
    else:
        zones = _country_zones(country_code)
    return _resolve(zones, default)


def _prefix_zones(e164: str) -> tuple[str, ...]:
    for prefix_len in range(TIMEZONE_LONGEST_PREFIX, 0, -1):
        zones = TIMEZONE_DATA.get(e164[1 : 1 + prefix_len])
        if zones is not None:
            return tuple(zones)
    return ()


@functools.lru_cache(maxsize=512)
def _country_zones(country_code: int) -> tuple[str, ...]:
    """phonenumbers' country-level zones for a calling code (as its private helper does)."""
    cc = str(country_code)
    for prefix_len in range(TIMEZONE_LONGEST_PREFIX, 0, -1):
        zones = TIMEZONE_DATA.get(cc[: 1 + prefix_len])
        if zones is not None:
            return tuple(zones)
    return ()


@functools.lru_cache(maxsize=4096)
def _resolve(zones: tuple[str, ...], default: str) -> str:
    distinct = set(zones)
    if len(distinct) == 1:
        (zone,) = distinct
        if _known_zone(zone):
            return zone
    return default


@functools.lru_cache(maxsize=1024)
def _known_zone(name: str) -> bool:
    if not name or name != name.strip():
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True
