"""Loading a file of numbers: a contact list into a campaign, or the do-not-call list.

The importer's batches, written by the store. Shared by the CLI and the HTTP API. Parsing
runs in a thread (and, with workers, in processes) while the event loop writes the
previous batch.

The importer's batches are joined to at least :data:`WRITE_ROWS` rows per transaction:
each transaction rewrites every index page it touches, and phone numbers land all over
the (campaign, phone) index, so once that index outgrows SQLite's page cache a small
transaction costs nearly a page per row. Measured at 1M rows on SQLite: one importer
batch per transaction 8.5k rows/s, two 18k, five 15k (the cache spills mid-transaction).
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Generator, Iterator, Sequence
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Final

from campaigns.imports.files import (
    Batch,
    ImportOptions,
    Refusal,
    RefusalsFile,
    inspect_file,
    read_batches,
)
from campaigns.model import ContactRow
from campaigns.ports import AddResult, Store

DNC_REASON = "on the do-not-call list"
WRITE_ROWS: Final = 8_000
"""Rows written per transaction (at least; whole importer batches are joined)."""
DNC_WRITE_ROWS: Final = 50_000
"""Numbers per do-not-call transaction: each one scans the contacts for those to stop."""


@dataclass(slots=True)
class LoadSummary:
    lines: int = 0
    imported: int = 0
    merged: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    bytes_read: int = 0
    size: int = 0

    @property
    def refused_total(self) -> int:
        return sum(self.refused.values())


Progress = Callable[[LoadSummary], None]
Write = Callable[[Sequence[ContactRow]], Awaitable[AddResult]]

_DONE = object()


async def load_contacts(
    store: Store,
    campaign_id: int,
    path: Path,
    options: ImportOptions,
    now: datetime,
    *,
    errors_path: Path | None = None,
    on_progress: Progress | None = None,
    write_rows: int = WRITE_ROWS,
) -> LoadSummary:
    """Import ``path`` into the campaign; raises ``ImportFileError`` before writing anything.

    Every refused row, with its line number and reason, goes to ``errors_path`` if given.
    """

    def write(rows: Sequence[ContactRow]) -> Awaitable[AddResult]:
        return store.add_contacts(campaign_id, rows, now)

    return await _load(path, options, write, errors_path, on_progress, write_rows)


async def load_dnc(
    store: Store,
    path: Path,
    options: ImportOptions,
    reason: str,
    now: datetime,
    *,
    errors_path: Path | None = None,
    on_progress: Progress | None = None,
    write_rows: int = DNC_WRITE_ROWS,
) -> LoadSummary:
    """Add the numbers of ``path`` to the do-not-call list, as :func:`load_contacts` reads it.

    ``imported`` counts the numbers added, ``merged`` those already listed (or repeated).
    """

    async def write(rows: Sequence[ContactRow]) -> AddResult:
        added = await store.dnc_add([row.phone for row in rows], reason, now)
        return AddResult(added, len(rows) - added)

    return await _load(path, options, write, errors_path, on_progress, write_rows)


async def _load(
    path: Path,
    options: ImportOptions,
    write: Write,
    errors_path: Path | None,
    on_progress: Progress | None,
    write_rows: int,
) -> LoadSummary:
    contact_file = await asyncio.to_thread(inspect_file, path, options)
    summary = LoadSummary(size=contact_file.size)
    batches = read_batches(contact_file, options)
    # One batch parsed ahead of the one being written; memory stays flat.
    ahead: asyncio.Queue[Batch | object] = asyncio.Queue(maxsize=1)
    loop = asyncio.get_running_loop()

    stop = threading.Event()

    def produce(source: Generator[Batch, None, None]) -> None:
        try:
            for batch in _joined(source, write_rows):
                if stop.is_set():
                    break
                asyncio.run_coroutine_threadsafe(ahead.put(batch), loop).result()
        finally:
            source.close()  # stops the importer's worker processes now, not at collection
            asyncio.run_coroutine_threadsafe(ahead.put(_DONE), loop).result()

    with ExitStack() as stack:
        errors = stack.enter_context(RefusalsFile(errors_path)) if errors_path else None
        producer = asyncio.create_task(asyncio.to_thread(produce, batches))
        try:
            while (item := await ahead.get()) is not _DONE:
                assert isinstance(item, Batch)
                result = await write(item.rows)
                summary.lines = item.lines_read
                summary.bytes_read = item.bytes_read
                summary.imported += result.inserted
                summary.merged += result.merged
                summary.refused.update(r.reason for r in item.refusals)
                if result.dnc_lines:
                    summary.refused[DNC_REASON] += len(result.dnc_lines)
                if errors is not None:
                    dnc = set(result.dnc_lines)
                    refused = item.refusals + [
                        Refusal(k.line, DNC_REASON, k.phone) for k in item.rows if k.line in dnc
                    ]
                    errors.write(sorted(refused, key=lambda r: r.line))
                if on_progress is not None:
                    on_progress(summary)
        finally:
            # On an error here, stop the parser: drain so that its blocked put returns.
            stop.set()
            while not producer.done():
                with suppress(asyncio.QueueEmpty):
                    ahead.get_nowait()
                await asyncio.sleep(0.01)
            await producer
    return summary


def _joined(batches: Iterator[Batch], rows: int) -> Iterator[Batch]:
    """Consecutive batches joined until they hold at least ``rows`` rows."""
    pending: list[Batch] = []
    count = 0
    for batch in batches:
        pending.append(batch)
        count += len(batch.rows)
        if count >= rows:
            yield _join(pending)
            pending, count = [], 0
    if pending:
        yield _join(pending)


def _join(batches: list[Batch]) -> Batch:
    if len(batches) == 1:
        return batches[0]
    last = batches[-1]
    return Batch(
        [row for batch in batches for row in batch.rows],
        [refusal for batch in batches for refusal in batch.refusals],
        last.lines_read,
        last.bytes_read,
    )
