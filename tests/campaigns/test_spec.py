"""Campaign definitions: TOML files and their validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from campaigns.model import DialMode, Outcome
from campaigns.spec import CampaignSpec, SpecError

GOOD = """
[campaign]
name = "winter-offers"
default_region = "NO"
timezone = "Europe/Oslo"
callback_reservation_minutes = 20

[campaign.dialing]
mode = "predictive"
channel = "PJSIP/{number}@telco"
max_concurrent = 30

[campaign.retry]
max_attempts = 4
delays_minutes = { busy = 5, no_answer = 90 }
uncounted = ["congestion"]

[campaign.hours]
start = "09:00"
end = "20:30"
weekdays = [0, 1, 2, 3, 4, 5]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "campaign.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_full_campaign_file_loads(tmp_path: Path) -> None:
    """Every section of a campaign file is read into typed settings."""
    spec = CampaignSpec.from_toml(write(tmp_path, GOOD))
    assert spec.dialing.mode is DialMode.PREDICTIVE
    assert spec.dialing.channel_for("+4741000001") == "PJSIP/+4741000001@telco"
    assert spec.retry.delays_minutes[Outcome.BUSY] == 5
    assert spec.retry.delays_minutes[Outcome.MACHINE] == 120  # default kept
    assert spec.retry.uncounted == frozenset({Outcome.CONGESTION})
    assert 5 in spec.hours.weekdays


@pytest.mark.parametrize(
    ("replace", "by", "named"),
    [
        ("max_concurrent = 30", "max_concurent = 30", "dialing.max_concurent: unknown key"),
        ("busy = 5", "busy = -5", "retry.delays_minutes.busy"),
        ('end = "20:30"', 'end = "08:00"', "hours: Value error, end must be after start"),
        ('start = "09:00"', 'start = "09:00:00Z"', "hours.start: Value error"),
        ('end = "20:30"', 'end = "20:30+01:00"', "hours.end: Value error"),
        ('start = "09:00"', "start = 9", "hours.start: Value error"),
        ('start = "09:00"', "start = 1979-05-27T07:32:00Z", "hours.start: Value error"),
        ('timezone = "Europe/Oslo"', 'timezone = "Mars/Base"', "timezone: Value error, unknown"),
        ("PJSIP/{number}@telco", "PJSIP/trunk", "dialing.channel"),
        ("PJSIP/{number}@telco", "PJSIP/{number}@telco,RINGBACK_X=1", "dialing.channel"),
        ("PJSIP/{number}@telco", "PJSIP/{number}@telco&PJSIP/ann", "dialing.channel"),
        ("max_attempts = 4", "max_attempts = 0", "retry.max_attempts"),
        ("weekdays = [0, 1, 2, 3, 4, 5]", "weekdays = [7]", "hours.weekdays"),
        ('uncounted = ["congestion"]', 'uncounted = ["answered"]', "retry.uncounted"),
        ('name = "winter-offers"', 'name = ""', "name"),
    ],
)
def test_bad_values_are_refused_naming_the_key(
    tmp_path: Path, replace: str, by: str, named: str
) -> None:
    """Unknown keys and impossible values are refused with the key named."""
    assert replace in GOOD
    with pytest.raises(SpecError) as error:
        CampaignSpec.from_toml(write(tmp_path, GOOD.replace(replace, by)))
    assert named in str(error.value)


def test_control_characters_never_reach_dialing_settings() -> None:
    """A CR/LF in a value that goes into AMI actions is refused."""
    with pytest.raises(SpecError, match=r"dialing\.caller_id"):
        CampaignSpec.parse({"name": "x", "dialing": {"caller_id": "A\r\nAction: Hangup"}})


def test_unreadable_and_broken_files_are_clear_errors(tmp_path: Path) -> None:
    """A missing or syntactically broken file gets a message saying so."""
    with pytest.raises(SpecError, match="cannot read"):
        CampaignSpec.from_toml(tmp_path / "missing.toml")
    with pytest.raises(SpecError, match="not valid TOML"):
        CampaignSpec.from_toml(write(tmp_path, "[campaign\nname="))


def test_calling_hours_are_local_wall_clock_times() -> None:
    """Calling hours with an offset or of the wrong type are refused naming the field;
    local times, as text or TOML times, are accepted."""
    for hours, field in (
        ({"start": "00:00:00Z", "end": "23:59:00Z"}, "hours.start"),
        ({"start": 9}, "hours.start"),
        ({"end": "23:00:00-05:00"}, "hours.end"),
        ({"start": "9am"}, "hours.start"),
    ):
        with pytest.raises(SpecError, match=field.replace(".", r"\.")):
            CampaignSpec.parse({"name": "x", "hours": hours})
    spec = CampaignSpec.parse({"name": "x", "hours": {"start": "08:30", "end": "20:00:00"}})
    again = CampaignSpec.model_validate(spec.model_dump(mode="json"))
    assert again.hours == spec.hours and again.hours.start.tzinfo is None
