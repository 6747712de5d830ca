"""The ringback command line, run as a user runs it (on SQLite in a temporary folder)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dialer.cli import app

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def ringback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Run ``ringback ARGS`` against a fresh data folder; returns (exit code, output)."""
    monkeypatch.setenv("RINGBACK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("RINGBACK_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, list(args))
        return result.exit_code, result.output

    return run


def test_import_reports_every_refused_row_and_merges_duplicates(ringback, tmp_path: Path) -> None:
    """A contact list imports its good rows and reports each bad one with line and reason."""
    assert ringback("campaign", "create", "spring")[0] == 0
    source = tmp_path / "contacts.csv"
    source.write_bytes(
        "\ufeffname;Mobile;account\n"
        "Ola;+47 412 34 567;A1\n"
        "Kari;41234567;A2\n"
        "Bad;12ab;A3\n"
        'Injected;"41234568\r\nAction: Hangup";A4\n'
        "Per;22 33 44 55;A5\n"
        "ragged;1\n".encode()
    )
    errors = tmp_path / "refused.csv"
    code, output = ringback("contacts", "import", "spring", str(source), "--errors", str(errors))
    assert code == 0, output
    assert "imported" in output and "merged duplicates" in output
    with errors.open(encoding="utf-8", newline="") as f:
        refused = list(csv.DictReader(f))
    assert [(r["line"], r["reason"]) for r in refused] == [
        ("4", "phone number contains letters"),
        ("5", "phone number contains control characters"),
        ("8", "too few fields"),  # the quoted field above spans lines 5 and 6
    ]
    code, output = ringback("campaign", "show", "spring")
    assert code == 0
    assert "pending" in output and "│ 2 " in output


def test_unreadable_file_imports_nothing(ringback, tmp_path: Path) -> None:
    """A file that is not UTF-8 is refused as a whole, before any row is stored."""
    ringback("campaign", "create", "spring")
    source = tmp_path / "latin1.csv"
    source.write_bytes("phone;name\n41234567;Ola\n41234568;Bjørn\n".encode("latin-1"))
    code, output = ringback("contacts", "import", "spring", str(source))
    assert code == 1
    assert "UTF-8" in output
    code, output = ringback("campaign", "show", "spring")
    assert "pending" not in output


def test_file_without_phone_column_names_the_columns(ringback, tmp_path: Path) -> None:
    """No phone column: the error lists the columns that were found."""
    ringback("campaign", "create", "spring")
    source = tmp_path / "nophone.csv"
    source.write_text("name,email\nOla,ola@example.com\n", encoding="utf-8")
    code, output = ringback("contacts", "import", "spring", str(source))
    assert code == 1
    assert "name" in output and "email" in output


def test_do_not_call_numbers_are_refused_at_import(ringback, tmp_path: Path) -> None:
    """A number on the do-not-call list is refused with that reason."""
    ringback("campaign", "create", "spring")
    code, output = ringback("dnc", "add", "412 34 567", "--reason", "asked")
    assert code == 0 and "1 added" in output
    source = tmp_path / "c.csv"
    source.write_text("phone\n+4741234567\n+4741234568\n", encoding="utf-8")
    code, output = ringback("contacts", "import", "spring", str(source))
    assert code == 0
    assert "on the do-not-call list" in output
    assert ringback("dnc", "remove", "+4741234567")[1].startswith("1 removed")
    code, output = ringback("dnc", "add", "not a number")
    assert code == 1 and "error" in output


def test_dnc_import_stops_contacts_and_reports_refused_rows(ringback, tmp_path: Path) -> None:
    """A do-not-call file adds its numbers once, stops listed contacts, reports bad rows."""
    ringback("campaign", "create", "spring")
    contacts = tmp_path / "c.csv"
    contacts.write_text("phone\n+4741234567\n+4741234568\n", encoding="utf-8")
    assert ringback("contacts", "import", "spring", str(contacts))[0] == 0
    registry = tmp_path / "dnc.csv"
    registry.write_text(
        "msisdn;since\n41234567;2020\n+47 412 34 569;2021\nukjent;2022\n412 34 567;2023\n",
        encoding="utf-8",
    )
    errors = tmp_path / "refused.csv"
    code, output = ringback("dnc", "import", str(registry), "--errors", str(errors))
    assert code == 0, output
    table = dict(
        (cells[1].strip(), cells[2].strip())
        for cells in (line.split("│") for line in output.splitlines())
        if len(cells) == 4
    )
    assert table == {
        "added": "2",
        "already listed": "1",
        "refused: phone number contains letters": "1",
    }
    with errors.open(encoding="utf-8", newline="") as f:
        assert [(r["line"], r["reason"]) for r in csv.DictReader(f)] == [
            ("4", "phone number contains letters")
        ]
    code, output = ringback("campaign", "show", "spring")
    assert "dnc" in output and "pending" in output


def test_campaign_file_apply_and_state_moves(ringback, tmp_path: Path) -> None:
    """A campaign file creates then updates; state moves are checked."""
    code, output = ringback("campaign", "apply", str(ROOT / "config" / "campaign.toml"))
    assert code == 0 and "created campaign 'winter-offers'" in output
    code, output = ringback("campaign", "apply", str(ROOT / "config" / "campaign.toml"))
    assert "updated campaign" in output
    assert ringback("campaign", "pause", "winter-offers")[0] == 1
    assert ringback("campaign", "start", "winter-offers")[0] == 0
    assert "is paused" in ringback("campaign", "pause", "winter-offers")[1]
    assert "is running" in ringback("campaign", "resume", "winter-offers")[1]
    code, output = ringback("campaign", "list")
    assert "winter-offers" in output and "running" in output


def test_bad_campaign_file_names_the_key(ringback, tmp_path: Path) -> None:
    """An unknown key in a campaign file is refused, naming the key."""
    bad = tmp_path / "bad.toml"
    bad.write_text('[campaign]\nname = "x"\n[campaign.retry]\nmax_atempts = 3\n')
    code, output = ringback("campaign", "apply", str(bad))
    assert code == 1
    assert "retry.max_atempts: unknown key" in output
    assert "winter" not in ringback("campaign", "list")[1]


def test_db_upgrade_is_idempotent(ringback) -> None:
    """Upgrading twice leaves the schema at head."""
    assert ringback("db", "upgrade") == (0, "database is up to date\n")
    assert ringback("db", "upgrade") == (0, "database is up to date\n")


def test_user_add_refuses_an_extension_that_is_not_one_dial_string(ringback) -> None:
    """CR/LF, '&' or ',' in an extension would add AMI headers, destinations or Dial()
    options: the user is not created."""
    for bad in ("PJSIP/x\r\nAction: Originate", "PJSIP/a&PJSIP/+4741000000@trunk,20,U(x)"):
        code, output = ringback("user", "add", "eve", "--extension", bad)
        assert code == 1 and "extension" in output, output
    code, output = ringback("user", "add", "eve", "--extension", "PJSIP/eve")
    assert code == 0, output


def test_user_list_disable_and_token_rotation(ringback) -> None:
    """Users are listed with their state; disable and enable by username; a rotated token
    is printed and differs; an unknown username is named."""
    code, first = ringback("user", "add", "eve", "--extension", "PJSIP/eve")
    assert code == 0, first
    assert ringback("user", "add", "max", "--role", "manager")[0] == 0
    code, output = ringback("user", "list")
    assert code == 0 and "eve" in output and "manager" in output and "disabled" not in output
    code, output = ringback("user", "disable", "eve")
    assert code == 0 and "disabled 'eve'" in output, output
    assert "disabled" in ringback("user", "list")[1]
    code, output = ringback("user", "disable", "eve", "--enable")
    assert code == 0 and "enabled 'eve'" in output
    code, output = ringback("user", "token", "eve")
    assert code == 0, output
    assert first.strip().splitlines()[-1] not in output
    code, output = ringback("user", "token", "nobody")
    assert code == 1 and "username: no user 'nobody'" in output


def test_dnc_list_and_export(ringback, tmp_path: Path) -> None:
    """The list shows each number and reason; the export is CSV that dnc import reads."""
    assert ringback("dnc", "add", "412 34 567", "41234568", "--reason", "asked")[0] == 0
    code, output = ringback("dnc", "list")
    assert code == 0 and "+4741234567" in output and "asked" in output
    target = tmp_path / "dnc.csv"
    code, output = ringback("dnc", "export", str(target))
    assert code == 0 and "2 numbers written" in output
    with target.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["phone"], r["reason"]) for r in rows] == [
        ("+4741234567", "asked"),
        ("+4741234568", "asked"),
    ]
    assert ringback("dnc", "remove", "+4741234567", "+4741234568")[0] == 0
    code, output = ringback("dnc", "import", str(target))
    assert code == 0, output
    assert "+4741234568" in ringback("dnc", "list")[1]
