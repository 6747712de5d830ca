"""Contact CSV import: file checks, per-row refusals, line numbers, worker mode."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from campaigns.imports.files import (
    MALFORMED,
    TOO_FEW_FIELDS,
    TOO_MANY_FIELDS,
    UNKNOWN_TIMEZONE,
    Batch,
    ImportFileError,
    ImportOptions,
    Refusal,
    inspect_file,
    iter_batches,
    write_refusals,
)
from campaigns.model import ContactRow
from campaigns.phones import PhoneReason


def _write(tmp_path: Path, content: str | bytes, name: str = "contacts.csv") -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8", newline="")
    else:
        path.write_bytes(content)
    return path


def _read(path: Path, **options: object) -> tuple[list[ContactRow], list[Refusal], list[Batch]]:
    batches = list(iter_batches(path, ImportOptions(**options)))  # type: ignore[arg-type]
    rows = [row for batch in batches for row in batch.rows]
    refusals = [refusal for batch in batches for refusal in batch.refusals]
    return rows, refusals, batches


def test_reads_rows_with_attributes(tmp_path: Path) -> None:
    """Phones become E.164, other non-empty columns become stripped attributes."""
    path = _write(
        tmp_path, "name,phone,account,notes\nOla , 412 34 567,A-1,\nKari,+46 8 123 456 78,,vip\n"
    )
    rows, refusals, _ = _read(path)
    assert refusals == []
    assert rows == [
        ContactRow(2, "+4741234567", "Europe/Oslo", {"name": "Ola", "account": "A-1"}),
        ContactRow(3, "+46812345678", "Europe/Stockholm", {"name": "Kari", "notes": "vip"}),
    ]


def test_bom_and_semicolon(tmp_path: Path) -> None:
    """A UTF-8 BOM is dropped from the first column name and ';' is sniffed from the header."""
    path = _write(tmp_path, "\ufeffNavn;Telefon;Konto\nÅse;41234567;1,5\n")
    rows, refusals, _ = _read(path)
    assert refusals == []
    assert rows == [ContactRow(2, "+4741234567", "Europe/Oslo", {"Navn": "Åse", "Konto": "1,5"})]


def test_crlf_line_endings(tmp_path: Path) -> None:
    """Windows line endings give the same rows and line numbers."""
    path = _write(tmp_path, "phone,name\r\n41234567,a\r\n41234568,b\r\n")
    rows, _, batches = _read(path)
    assert [(r.line, r.phone, r.attributes) for r in rows] == [
        (2, "+4741234567", {"name": "a"}),
        (3, "+4741234568", {"name": "b"}),
    ]
    assert batches[-1].bytes_read == path.stat().st_size
    assert batches[-1].lines_read == 3


def test_ragged_rows_are_refused_with_line(tmp_path: Path) -> None:
    """Rows with too many or too few fields are refused; the good rows are kept."""
    path = _write(tmp_path, "name,phone\nA,41234567\nB,41234568,extra\nC\nD,41234569\n")
    rows, refusals, _ = _read(path)
    assert [r.line for r in rows] == [2, 5]
    assert refusals == [
        Refusal(3, TOO_MANY_FIELDS, "41234568"),
        Refusal(4, TOO_FEW_FIELDS, ""),
    ]


def test_bad_phones_are_refused_with_reason_and_raw_text(tmp_path: Path) -> None:
    """Letters, short numbers, invalid numbers and a newline inside the phone are refused."""
    path = _write(
        tmp_path,
        'phone,name\n4123456a,a\n12,b\n12345678,c\n"4123\n4567",d\n"41234567\n",e\n,f\n',
    )
    rows, refusals, _ = _read(path)
    assert rows == []
    assert refusals == [
        Refusal(2, PhoneReason.LETTERS, "4123456a"),
        Refusal(3, PhoneReason.TOO_SHORT, "12"),
        Refusal(4, PhoneReason.INVALID, "12345678"),
        Refusal(5, PhoneReason.CONTROL, "4123\n4567"),
        Refusal(7, PhoneReason.CONTROL, "41234567\n"),
        Refusal(9, PhoneReason.EMPTY, ""),
    ]


def test_multiline_fields_keep_physical_line_numbers(tmp_path: Path) -> None:
    """A quoted field spanning lines is one record; later records keep their physical line."""
    path = _write(
        tmp_path,
        'phone,notes\n41234567,"one\ntwo\nthree"\n\n41234568,"x\r\ny"\n12,bad\n41234569,z\n',
    )
    rows, refusals, _ = _read(path)
    assert [(r.line, r.attributes["notes"]) for r in rows] == [
        (2, "one\ntwo\nthree"),
        (6, "x\r\ny"),
        (9, "z"),
    ]
    assert [r.line for r in refusals] == [8]


def test_blank_lines_and_empty_rows_are_skipped(tmp_path: Path) -> None:
    """Blank lines, before the header too, and rows of empty fields are neither rows nor errors."""
    path = _write(tmp_path, "\n\nphone;name\n\n41234567;a\n;\n")
    rows, refusals, _ = _read(path)
    assert [r.line for r in rows] == [5]
    assert refusals == []


def test_timezone_column(tmp_path: Path) -> None:
    """A time zone column overrides the number's zone; an unknown zone is refused."""
    path = _write(
        tmp_path,
        "phone,TZ,name\n41234567,America/New_York,a\n41234568,,b\n41234569,Mars/Base,c\n",
    )
    rows, refusals, _ = _read(path, default_timezone="UTC")
    assert [(r.phone, r.timezone, r.attributes) for r in rows] == [
        ("+4741234567", "America/New_York", {"name": "a"}),
        ("+4741234568", "UTC", {"name": "b"}),
    ]
    assert refusals == [Refusal(4, UNKNOWN_TIMEZONE, "41234569")]


def test_named_columns(tmp_path: Path) -> None:
    """Phone and time zone columns can be named, case-insensitively."""
    path = _write(tmp_path, "Mobil nr,home,Sone\n41234567,22334455,Europe/Oslo\n")
    rows, _, _ = _read(path, phone_column="mobil_nr", timezone_column="sone")
    assert rows == [ContactRow(2, "+4741234567", "Europe/Oslo", {"home": "22334455"})]


def test_phone_column_preference(tmp_path: Path) -> None:
    """With several candidate columns the first of the preference list wins."""
    path = _write(tmp_path, "mobile,Phone Number\n41234567,22334455\n")
    rows, _, _ = _read(path)
    assert rows[0].phone == "+4722334455"
    assert rows[0].attributes == {"mobile": "41234567"}


def test_duplicates_are_passed_through(tmp_path: Path) -> None:
    """Duplicate numbers, written differently, all reach the store, which merges them."""
    path = _write(tmp_path, "phone,name\n41234567,a\n+47 412 34 567,b\n0047-41234567,c\n")
    rows, _, _ = _read(path)
    assert [(r.line, r.phone, r.attributes["name"]) for r in rows] == [
        (2, "+4741234567", "a"),
        (3, "+4741234567", "b"),
        (4, "+4741234567", "c"),
    ]


def test_attributes_keep_inner_line_breaks_but_are_stripped(tmp_path: Path) -> None:
    """Attribute values keep legal quoted line breaks and lose surrounding whitespace."""
    path = _write(tmp_path, 'phone,notes\n41234567,"  call after 5\r\nask for Per \n"\n')
    rows, _, _ = _read(path)
    assert rows[0].attributes == {"notes": "call after 5\r\nask for Per"}


def test_unterminated_quote_is_one_refusal(tmp_path: Path) -> None:
    """An unclosed quote swallows the rest of the file into one refused record."""
    path = _write(tmp_path, 'phone,name\n41234567,a\n"41234568,b\n41234569,c\n')
    rows, refusals, _ = _read(path)
    assert [r.line for r in rows] == [2]
    assert [(r.line, r.reason) for r in refusals] == [(3, TOO_FEW_FIELDS)]


def test_huge_field_is_refused_not_loaded(tmp_path: Path) -> None:
    """A field beyond the csv module's limit is refused as malformed; reading goes on."""
    path = _write(tmp_path, 'phone,notes\n41234567,"' + "x" * 200_000 + '"\n41234568,ok\n')
    rows, refusals, _ = _read(path)
    assert [r.line for r in rows] == [3]
    assert len(refusals) == 1
    assert refusals[0].line == 2
    assert refusals[0].reason.startswith(MALFORMED)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file"),
        (b"\xef\xbb\xbf\n\n  \n", "empty file"),
        (b"name,account\nOla,1\n", "no phone column .* columns found: 'name', 'account'"),
        (b"41234567,Ola\n", "the first line looks like a contact: the file needs a header"),
        (b",,\n41234567,,\n", "no header line"),
        (b"phone,name,name\n", "duplicate column names: name"),
        (b"phone,name\n41234567,\xe5se\n", "not UTF-8 text .*offset 20"),
        (b"phone,n\xe5me\n", "not UTF-8 text"),
        (b"phone,name\n41234567,\xc3", "not UTF-8 text"),
        (b"phone,name\n" + b"\x00\x01\x02" * 100, "binary file"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not UTF-8|binary"),
    ],
)
def test_unreadable_files_import_nothing(tmp_path: Path, content: bytes, message: str) -> None:
    """A file that cannot be read as a whole raises before any batch is yielded."""
    path = _write(tmp_path, content)
    batches = iter_batches(path, ImportOptions())
    with pytest.raises(ImportFileError, match=message):
        next(batches)


def test_late_encoding_error_yields_nothing(tmp_path: Path) -> None:
    """An undecodable byte far into a large file still stops the import before any batch."""
    good = "".join(f"4{i:07d},name {i}\n" for i in range(20_000)).encode()
    path = _write(tmp_path, b"phone,name\n" + good + b"41234567,\xff\n")
    batches = iter_batches(path, ImportOptions(batch_size=100))
    with pytest.raises(ImportFileError, match="not UTF-8"):
        next(batches)


def test_too_large_file(tmp_path: Path) -> None:
    """A 2 GB (sparse) file is refused by size without being read."""
    path = tmp_path / "huge.csv"
    with open(path, "wb") as f:
        f.write(b"phone\n")
        f.truncate(2 * 1024**3)
    with pytest.raises(ImportFileError, match=r"file too large: 2\.0 GB, the limit is 1\.0 GB"):
        next(iter_batches(path))


def test_size_limit_is_configurable(tmp_path: Path) -> None:
    """max_bytes sets the limit."""
    path = _write(tmp_path, "phone\n41234567\n")
    with pytest.raises(ImportFileError, match="too large: 15 bytes, the limit is 10 bytes"):
        inspect_file(path, ImportOptions(max_bytes=10))


def test_missing_file_and_directory(tmp_path: Path) -> None:
    """A missing path or a directory is a clear file error."""
    with pytest.raises(ImportFileError, match="cannot read the file"):
        inspect_file(tmp_path / "nope.csv", ImportOptions())
    with pytest.raises(ImportFileError, match="not a regular file"):
        inspect_file(tmp_path, ImportOptions())


def test_named_column_missing(tmp_path: Path) -> None:
    """A named phone or time zone column that is absent is reported with the columns found."""
    path = _write(tmp_path, "phone,name\n41234567,a\n")
    with pytest.raises(ImportFileError, match="no phone column 'msisdn'; columns found"):
        inspect_file(path, ImportOptions(phone_column="msisdn"))
    with pytest.raises(ImportFileError, match="no time zone column 'zone'"):
        inspect_file(path, ImportOptions(timezone_column="zone"))


def test_bad_options_are_value_errors() -> None:
    """Unknown region or default zone and impossible sizes are refused when building options."""
    for kwargs in (
        {"region": "XX"},
        {"default_timezone": "Nowhere/Land"},
        {"batch_size": 0},
        {"workers": -1},
    ):
        with pytest.raises(ValueError):
            ImportOptions(**kwargs)  # type: ignore[arg-type]


def test_header_only_file_yields_no_rows(tmp_path: Path) -> None:
    """A header with no rows is readable and imports nothing."""
    path = _write(tmp_path, "phone,name\n")
    rows, refusals, batches = _read(path)
    assert (rows, refusals) == ([], [])
    assert batches[-1].lines_read == 1


def test_inspect_reports_the_file(tmp_path: Path) -> None:
    """inspect_file returns size, delimiter, columns and the chosen columns."""
    path = _write(tmp_path, "\ufeffName;MSISDN;tz\n41234567;a;UTC\n")
    info = inspect_file(path, ImportOptions())
    assert (info.size, info.delimiter, info.columns) == (33, ";", ("Name", "MSISDN", "tz"))
    assert (info.phone_column, info.timezone_column) == ("MSISDN", "tz")


def _big_file(tmp_path: Path, count: int) -> Path:
    lines = ["phone;name;notes"]
    for i in range(count):
        if i % 50 == 7:
            lines.append(f'4{i:07d};"multi\nline {i}";x')
        elif i % 50 == 11:
            lines.append(f"12{i};bad;x")
        elif i % 50 == 13:
            lines.append(f"4{i:07d};ragged")
        else:
            lines.append(f"+47 4{i:07d};name {i};")
    return _write(tmp_path, "\n".join(lines) + "\n")


def test_batches_split_and_count_progress(tmp_path: Path) -> None:
    """Batches hold at most batch_size records and carry running line and byte totals."""
    path = _big_file(tmp_path, 1000)
    _, _, batches = _read(path, batch_size=64)
    assert len(batches) > 10
    assert all(len(b.rows) + len(b.refusals) <= 64 + 5 for b in batches)
    assert [b.lines_read for b in batches] == sorted(b.lines_read for b in batches)
    assert batches[-1].lines_read == 1 + 1000 + 20
    assert batches[-1].bytes_read == path.stat().st_size


def test_workers_give_the_same_batches(tmp_path: Path) -> None:
    """Worker processes give exactly the batches of in-process checking, in order."""
    path = _big_file(tmp_path, 3000)
    alone = list(iter_batches(path, ImportOptions(batch_size=97)))
    pooled = list(iter_batches(path, ImportOptions(batch_size=97, workers=2)))
    assert pooled == alone
    rows = [r for b in alone for r in b.rows]
    assert len(rows) == 3000 - 60 - 60
    assert [r.line for r in rows] == sorted(r.line for r in rows)


def test_closing_early_stops_workers(tmp_path: Path) -> None:
    """Closing the generator after one batch shuts the pool down without error."""
    path = _big_file(tmp_path, 3000)
    batches = iter_batches(path, ImportOptions(batch_size=50, workers=2))
    first = next(batches)
    assert first.rows[0].line == 2
    batches.close()


def test_write_refusals(tmp_path: Path) -> None:
    """The errors file has line, phone and reason, with awkward text quoted."""
    out = tmp_path / "errors.csv"
    count = write_refusals(
        out, [Refusal(3, PhoneReason.CONTROL, "4123\n4567"), Refusal(9, "too few fields", "")]
    )
    assert count == 2
    with open(out, encoding="utf-8", newline="") as f:
        assert list(csv.reader(f)) == [
            ["line", "phone", "reason"],
            ["3", "4123\n4567", "phone number contains control characters"],
            ["9", "", "too few fields"],
        ]
