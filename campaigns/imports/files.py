"""Contact lists: a CSV file read as a stream of batches of good rows and refusals.

The file is read twice. The first pass (:func:`campaigns.imports.checks.inspect_file`)
checks everything that makes a file unreadable as a whole: size, encoding, binary
content, header, phone column. It streams and keeps nothing, so a file that fails it
imports nothing. The second pass (:func:`read_batches`) yields batches; a bad row is
refused with its physical line number and a stable reason, and the rest are imported.

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

import csv
import io
import os
from collections import deque
from collections.abc import Generator, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Final

from campaigns.imports.checks import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_MAX_BYTES,
    PHONE_COLUMNS,
    TIMEZONE_COLUMNS,
    ContactFile,
    ImportFileError,
    ImportOptions,
    inspect_file,
)
from campaigns.model import ContactRow
from campaigns.phones import (
    PhoneError,
    is_known_zone,
    normalise,
    normalise_with_zone,
)

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_MAX_BYTES",
    "MALFORMED",
    "PHONE_COLUMNS",
    "TIMEZONE_COLUMNS",
    "TOO_FEW_FIELDS",
    "TOO_MANY_FIELDS",
    "UNKNOWN_TIMEZONE",
    "Batch",
    "ContactFile",
    "ImportFileError",
    "ImportOptions",
    "Refusal",
    "RefusalsFile",
    "inspect_file",
    "iter_batches",
    "read_batches",
    "write_refusals",
]

# Refusal reasons other than the phone's own (campaigns.phones.PhoneReason).
TOO_MANY_FIELDS: Final = "too many fields"
TOO_FEW_FIELDS: Final = "too few fields"
UNKNOWN_TIMEZONE: Final = "unknown time zone"
MALFORMED: Final = "malformed CSV record"


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


def iter_batches(
    path: str | os.PathLike[str], options: ImportOptions | None = None
) -> Generator[Batch, None, None]:
    """Check the whole file, then yield its batches; raises :class:`ImportFileError`."""
    options = options or ImportOptions()
    yield from read_batches(inspect_file(path, options), options)


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
