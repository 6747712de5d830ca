"""``ringback end-reasons``: the starter set imported on request, never forced; listed."""

from __future__ import annotations

from pathlib import Path

from tests.dialer.test_cli import ROOT, ringback  # noqa: F401 - the fixture

STARTER = ROOT / "config" / "end-reasons.toml"


def test_no_reasons_until_imported_then_once(ringback, tmp_path: Path) -> None:  # noqa: F811
    """A new database has no end reasons; the import adds 24, a second import none."""
    code, output = ringback("end-reasons", "list")
    assert code == 0 and "Other" not in output
    code, output = ringback("end-reasons", "import", str(STARTER))
    assert code == 0 and "added 24 end reasons, 0 already there" in output, output
    code, output = ringback("end-reasons", "import", str(STARTER))
    assert "added 0 end reasons, 24 already there" in output
    code, output = ringback("end-reasons", "list")
    assert code == 0 and "Vacancies" in output and "complaints" in output


def test_campaign_import_and_bad_files(ringback, tmp_path: Path) -> None:  # noqa: F811
    """A campaign's own set; an unknown campaign or a bad key is one error line, exit 1."""
    assert ringback("campaign", "create", "spring")[0] == 0
    own = tmp_path / "own.toml"
    own.write_text('[[reason]]\nname = "Sale"\nclose = true\n', encoding="utf-8")
    code, output = ringback("end-reasons", "import", str(own), "--campaign", "spring")
    assert code == 0 and "added 1" in output, output
    assert "Sale" not in ringback("end-reasons", "list")[1]
    assert "Sale" in ringback("end-reasons", "list", "--campaign", "spring")[1]
    code, output = ringback("end-reasons", "import", str(own), "--campaign", "autumn")
    assert code == 1 and "autumn" in output
    own.write_text('[[reason]]\nname = "Sale"\nclosed = true\n', encoding="utf-8")
    code, output = ringback("end-reasons", "import", str(own))
    assert code == 1 and "reason.0.closed: unknown key" in output, output
