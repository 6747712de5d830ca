"""Contact lists: a CSV file read as a stream of batches of good rows and refusals.

The file is read twice. The first pass (:func:`inspect_file`) checks everything that
makes a file unreadable as a whole: size, encoding, binary content, header, phone
column. It streams and keeps nothing, so a file that fails it imports nothing. The
second pass (:func:`read_batches`) yields batches; a bad row is refused with its
physical line number and a stable reason, and the rest are imported.

Phone numbers are checked in worker processes when ``workers`` > 0: phonenumbers is
pure Python and single-threaded, and the database writer in the main process overlaps
with it. The main process keeps the CSV parsing (one C call per record), so line
numbers, order and attributes never leave it. Workers are started with "forkserver"
(safe beside the event loop's and the database driver's threads), so a script that
imports with workers needs the usual ``if __name__ == "__main__":`` guard.

Attribute values are kept as written, apart from surrounding whitespace; a quoted field
may legally hold a line break (a "notes" column), and so may the stored attribute.
Attributes are for people and reports; they must never be put into an AMI message. The
phone number, which is, is refused outright if it holds any control character.

Duplicate numbers are passed through, within a batch too: merging belongs to the
store, which sees the campaign's existing contacts and decides how to merge.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import stat
from collections import deque
from collections.abc import Generator, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Final

from campaigns.errors import Invalid
from campaigns.model import ContactRow
from campaigns.phones import (
    PhoneError,
    check_region,
    is_known_zone,
    normalise,
    normalise_with_zone,
)

DEFAULT_MAX_BYTES: Final = 1 << 30
DEFAULT_BATCH_SIZE: Final = 5000

PHONE_COLUMNS: Final = (
    "phone",
    "phone_number",
    "phonenumber",
    "number",
    "msisdn",
    "telephone",
    "telephone_number",
    "tel",
    "mobile",
    "mobile_number",
    "cell",
    "telefon",
    "telefonnummer",
    "mobil",
    "mobilnummer",
)
"""Header names taken as the phone column, by preference, compared case-insensitively."""

TIMEZONE_COLUMNS: Final = ("timezone", "time_zone", "tz")

# Refusal reasons other than the phone's own (campaigns.phones.PhoneReason).
TOO_MANY_FIELDS: Final = "too many fields"
TOO_FEW_FIELDS: Final = "too few fields"
UNKNOWN_TIMEZONE: Final = "unknown time zone"
MALFORMED: Final = "malformed CSV record"

_SCAN_CHUNK = 1 << 20
_HEADER_LIMIT = 1 << 16


class ImportFileError(Invalid):
    """A file that cannot be imported at all; nothing was read from it into a batch."""

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        super().__init__(f"{os.fspath(path)}: {problem}")
        self.path = Path(path)
        self.problem = problem


@dataclass(frozen=True, slots=True)
class ImportOptions:
    region: str = "NO"
    """Region for numbers written without a country code."""
    default_timezone: str = "Europe/Oslo"
    """Zone for contacts whose number does not name a single zone."""
    phone_column: str | None = None
    """Header of the phone column; ``None`` picks the first of :data:`PHONE_COLUMNS`."""
    timezone_column: str | None = None
    """Header of a time zone column; ``None`` uses one of :data:`TIMEZONE_COLUMNS` if present."""
    batch_size: int = DEFAULT_BATCH_SIZE
    workers: int = 0
    """Processes checking numbers; 0 checks them in the calling process (see module doc)."""
    max_bytes: int = DEFAULT_MAX_BYTES

    def __post_init__(self) -> None:
        check_region(self.region)
        if not is_known_zone(self.default_timezone):
            raise ValueError(f"unknown time zone {self.default_timezone!r}")
        if self.batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if self.workers < 0:
            raise ValueError("workers must be 0 or more")
        if self.max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")


@dataclass(frozen=True, slots=True)
class Refusal:
    line: int
    reason: str
    """Stable text, fit for counting refusals by reason."""
    phone: str
    """The phone field as written, for the errors file."""


@dataclass(frozen=True, slots=True)
class Batch:
    rows: list[ContactRow]
    refusals: list[Refusal]
    """In line order."""
    lines_read: int
    """Physical lines read so far, header included (a running total)."""
    bytes_read: int
    """Bytes read so far (a running total, ahead by at most the read-ahead buffer)."""


@dataclass(frozen=True, slots=True)
class ContactFile:
    """A file that passed :func:`inspect_file`."""

    path: Path
    size: int
    delimiter: str
    columns: tuple[str, ...]
    phone_column: str
    timezone_column: str | None


def iter_batches(
    path: str | os.PathLike[str], options: ImportOptions | None = None
) -> Generator[Batch, None, None]:
    """Check the whole file, then yield its batches; raises :class:`ImportFileError`."""
    options = options or ImportOptions()
    yield from read_batches(inspect_file(path, options), options)


def inspect_file(path: str | os.PathLike[str], options: ImportOptions) -> ContactFile:
    """Check that the file can be imported at all, reading it once in constant memory."""
    size = _check_size(path, options.max_bytes)
    delimiter, columns, phone_column, timezone_column = _read_header(path, options)
    _scan_encoding(path)
    return ContactFile(Path(path), size, delimiter, columns, phone_column, timezone_column)


def read_batches(contact_file: ContactFile, options: ImportOptions) -> Generator[Batch, None, None]:
    """Yield the batches of a file that passed :func:`inspect_file`, in file order."""
    if options.workers == 0:
        for chunk in _chunks(contact_file, options.batch_size):
            yield chunk.batch(_check_phones(options.region, options.default_timezone, chunk.items))
        return
    with ProcessPoolExecutor(options.workers, mp_context=get_context("forkserver")) as pool:
        # Bounded look-ahead: enough chunks to keep every worker busy while the caller
        # writes a batch, few enough to keep memory flat.
        pending: deque[tuple[_Chunk, Future[list[_Checked]]]] = deque()
        try:
            for chunk in _chunks(contact_file, options.batch_size):
                future = pool.submit(
                    _check_phones, options.region, options.default_timezone, chunk.items
                )
                pending.append((chunk, future))
                if len(pending) > 2 * options.workers:
                    done, result = pending.popleft()
                    yield done.batch(result.result())
            while pending:
                done, result = pending.popleft()
                yield done.batch(result.result())
        finally:
            for _, future in pending:
                future.cancel()


class RefusalsFile:
    """The errors file: a CSV of refused rows (line, phone, reason), written as they come."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._out = open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed in close()
        self._writer = csv.writer(self._out)
        self._writer.writerow(("line", "phone", "reason"))
        self.count = 0

    def write(self, refusals: Iterable[Refusal]) -> None:
        for refusal in refusals:
            self._writer.writerow((refusal.line, refusal.phone, refusal.reason))
            self.count += 1

    def close(self) -> None:
        self._out.close()

    def __enter__(self) -> RefusalsFile:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def write_refusals(path: str | os.PathLike[str], refusals: Iterable[Refusal]) -> int:
    """Write refusals as a CSV file (line, phone, reason); returns how many."""
    with RefusalsFile(path) as out:
        out.write(refusals)
    return out.count


# What a worker returns per record: (E.164, zone), or a refusal reason.
_Checked = tuple[str, str] | str


def _check_phones(
    region: str, default_zone: str, items: Sequence[tuple[str, str]]
) -> list[_Checked]:
    """Check (phone, time zone column) pairs; runs in a worker process."""
    results: list[_Checked] = []
    append = results.append
    for phone, zone in items:
        try:
            if zone:
                e164 = normalise(phone, region)
                append((e164, zone) if is_known_zone(zone) else UNKNOWN_TIMEZONE)
            else:
                append(normalise_with_zone(phone, region, default_zone))
        except PhoneError as exc:
            append(str(exc.reason))
    return results


@dataclass(slots=True)
class _Chunk:
    """Records read by the main process, waiting for their phones to be checked."""

    names: tuple[str, ...]
    keep: tuple[int, ...]
    phone_index: int
    records: list[tuple[int, list[str]]]
    items: list[tuple[str, str]]
    refusals: list[Refusal]
    lines_read: int = 0
    bytes_read: int = 0

    def batch(self, checked: Sequence[_Checked]) -> Batch:
        rows: list[ContactRow] = []
        refusals = self.refusals
        names, keep, phone_index = self.names, self.keep, self.phone_index
        for (line, fields), result in zip(self.records, checked, strict=True):
            if isinstance(result, str):
                refusals.append(Refusal(line, result, fields[phone_index]))
                continue
            attributes = {}
            for i in keep:
                value = fields[i].strip()
                if value:
                    attributes[names[i]] = value
            rows.append(ContactRow(line, result[0], result[1], attributes))
        if self.refusals and self.records:
            refusals.sort(key=_line_of)
        return Batch(rows, refusals, self.lines_read, self.bytes_read)


def _line_of(refusal: Refusal) -> int:
    return refusal.line


def _chunks(contact_file: ContactFile, size: int) -> Iterator[_Chunk]:
    columns = contact_file.columns
    phone_index = columns.index(contact_file.phone_column)
    zone_index = columns.index(contact_file.timezone_column) if contact_file.timezone_column else -1
    names = tuple(name or f"column{i + 1}" for i, name in enumerate(columns))
    keep = tuple(i for i in range(len(columns)) if i not in (phone_index, zone_index))
    width = len(columns)

    with open(contact_file.path, "rb") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        reader = csv.reader(text, delimiter=contact_file.delimiter)
        chunk = _Chunk(names, keep, phone_index, [], [], [])
        records, items, refusals = chunk.records, chunk.items, chunk.refusals
        header_seen = False
        line = 0
        yielded = -1
        while True:
            start = line + 1
            try:
                fields = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                line = reader.line_num
                refusals.append(Refusal(start, f"{MALFORMED}: {exc}", ""))
                continue
            except UnicodeDecodeError as exc:
                raise ImportFileError(contact_file.path, "file changed while reading") from exc
            line = reader.line_num
            if len(fields) != width or not fields[phone_index]:
                if not header_seen:
                    # As _read_header: the first line that is not blank.
                    header_seen = any(field.strip() for field in fields)
                    continue
                # Blank lines, and rows of empty fields that spreadsheets leave at the end.
                if not any(fields):
                    continue
                if len(fields) != width:
                    reason = TOO_MANY_FIELDS if len(fields) > width else TOO_FEW_FIELDS
                    phone = fields[phone_index] if phone_index < len(fields) else ""
                    refusals.append(Refusal(start, reason, phone))
                    continue
            elif not header_seen:
                header_seen = any(field.strip() for field in fields)
                continue
            records.append((start, fields))
            items.append(
                (fields[phone_index], fields[zone_index].strip() if zone_index >= 0 else "")
            )
            if len(records) >= size:
                chunk.lines_read, chunk.bytes_read = line, raw.tell()
                yield chunk
                chunk = _Chunk(names, keep, phone_index, [], [], [])
                records, items, refusals = chunk.records, chunk.items, chunk.refusals
                yielded = line
        chunk.lines_read, chunk.bytes_read = line, raw.tell()
        # The last chunk, unless it would be an empty batch reporting no progress.
        if records or refusals or line != yielded:
            yield chunk


def _check_size(path: str | os.PathLike[str], max_bytes: int) -> int:
    try:
        info = os.stat(path)
    except OSError as exc:
        raise ImportFileError(path, f"cannot read the file: {exc.strerror}") from exc
    if not stat.S_ISREG(info.st_mode):
        raise ImportFileError(path, "not a regular file")
    if info.st_size > max_bytes:
        raise ImportFileError(
            path, f"file too large: {_size(info.st_size)}, the limit is {_size(max_bytes)}"
        )
    if info.st_size == 0:
        raise ImportFileError(path, "empty file")
    return info.st_size


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    scaled = float(n)
    for unit in ("KB", "MB", "GB"):
        scaled /= 1024
        if scaled < 1024 or unit == "GB":
            break
    return f"{scaled:.1f} {unit}"


def _scan_encoding(path: str | os.PathLike[str]) -> None:
    """Decode the whole file as UTF-8, a chunk at a time, keeping nothing."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    try:
        with open(path, "rb") as raw:
            while chunk := raw.read(_SCAN_CHUNK):
                nul = chunk.find(b"\0")
                if nul >= 0:
                    raise ImportFileError(
                        path, f"binary file, not CSV text (NUL byte at offset {offset + nul})"
                    )
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as exc:
                    raise ImportFileError(
                        path, f"not UTF-8 text (undecodable byte near offset {offset + exc.start})"
                    ) from exc
                offset += len(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        raise ImportFileError(path, "not UTF-8 text (truncated character at the end)") from exc
    except OSError as exc:
        raise ImportFileError(path, f"cannot read the file: {exc.strerror}") from exc


def _read_header(
    path: str | os.PathLike[str], options: ImportOptions
) -> tuple[str, tuple[str, ...], str, str | None]:
    try:
        with open(path, "rb") as raw:
            first = b""
            offset = 0
            while not first.strip():
                offset += len(first)
                first = raw.readline(_HEADER_LIMIT)
                if not first:
                    raise ImportFileError(path, "empty file: no header line")
                if offset == 0 and first.startswith(codecs.BOM_UTF8):
                    first = first[len(codecs.BOM_UTF8) :]
                    offset = len(codecs.BOM_UTF8)
        if b"\0" in first:
            raise ImportFileError(path, "binary file, not CSV text")
        header = first.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ImportFileError(
            path, f"not UTF-8 text (undecodable byte near offset {offset + exc.start})"
        ) from exc
    except OSError as exc:
        raise ImportFileError(path, f"cannot read the file: {exc.strerror}") from exc
    delimiter = ";" if header.count(";") > header.count(",") else ","
    try:
        fields = next(csv.reader([header], delimiter=delimiter), [])
    except csv.Error as exc:
        raise ImportFileError(path, f"unreadable header line: {exc}") from exc
    columns = tuple(field.strip() for field in fields)
    named = [c for c in columns if c]
    if not named:
        raise ImportFileError(path, "no header line: the first line names no columns")
    duplicates = sorted({c for c in named if named.count(c) > 1})
    if duplicates:
        raise ImportFileError(path, f"duplicate column names: {', '.join(duplicates)}")
    phone = _pick(columns, options.phone_column, PHONE_COLUMNS)
    if phone is None:
        raise ImportFileError(path, _no_phone_column(columns, options))
    zone = _pick(columns, options.timezone_column, TIMEZONE_COLUMNS)
    if options.timezone_column is not None and zone is None:
        raise ImportFileError(
            path,
            f"no time zone column {options.timezone_column!r}; columns found: " + _listing(columns),
        )
    return delimiter, columns, phone, zone


def _pick(columns: Sequence[str], wanted: str | None, candidates: Sequence[str]) -> str | None:
    by_key = {_key(c): c for c in columns if c}
    if wanted is not None:
        return by_key.get(_key(wanted))
    return next((by_key[c] for c in candidates if c in by_key), None)


def _key(name: str) -> str:
    return name.strip().casefold().replace(" ", "_").replace("-", "_")


def _listing(columns: Sequence[str]) -> str:
    return ", ".join(repr(c) for c in columns)


def _no_phone_column(columns: Sequence[str], options: ImportOptions) -> str:
    if options.phone_column is not None:
        missing = f"no phone column {options.phone_column!r}"
    else:
        missing = "no phone column (looked for " + ", ".join(PHONE_COLUMNS) + ")"
    message = f"{missing}; columns found: {_listing(columns)}"
    if any(_looks_like_phone(c, options.region) for c in columns):
        message += "; the first line looks like a contact: the file needs a header line"
    return message


def _looks_like_phone(value: str, region: str) -> bool:
    try:
        normalise(value, region)
    except PhoneError:
        return False
    return True
