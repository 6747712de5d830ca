"""The first pass over a contact file: everything that makes it unreadable as a whole
(size, encoding, binary content, header, phone column), checked streaming and keeping
nothing, so a file that fails imports nothing. Also the import's options."""

from __future__ import annotations

import codecs
import csv
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from campaigns.errors import Invalid
from campaigns.phones import PhoneError, check_region, is_known_zone, normalise

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
class ContactFile:
    """A file that passed :func:`inspect_file`."""

    path: Path
    size: int
    delimiter: str
    columns: tuple[str, ...]
    phone_column: str
    timezone_column: str | None


def inspect_file(path: str | os.PathLike[str], options: ImportOptions) -> ContactFile:
    """Check that the file can be imported at all, reading it once in constant memory."""
    size = _check_size(path, options.max_bytes)
    delimiter, columns, phone_column, timezone_column = _read_header(path, options)
    _scan_encoding(path)
    return ContactFile(Path(path), size, delimiter, columns, phone_column, timezone_column)


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
