"""Contact import benchmark: rows/s and peak memory against phonenumbers' own loop.

    .venv/bin/python bench/bench_import.py            # 1,000,000 rows
    .venv/bin/python bench/bench_import.py --rows 100000

Generates a contact list under bench/out/ (kept between runs), then measures, each in
a fresh process so that peak memory figures are its own:

- the ceiling: ``phonenumbers.parse`` + ``is_valid_number`` over the file's phone
  values, already in memory (no I/O, single core);
- the parse pipeline: ``campaigns.imports.files.iter_batches`` over the file, the check
  pass included, in-process and with worker processes;
- the database import: :func:`import_into`, through the store as the CLI imports.

Peak memory is the largest resident size seen for the process and all its descendants
together (worker processes included), sampled every 50 ms, plus the main process's own
``ru_maxrss``.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import phonenumbers
import sqlalchemy as sa

from campaigns.imports.files import ImportOptions, inspect_file, iter_batches
from campaigns.imports.loading import load_contacts
from campaigns.spec import CampaignSpec
from campaigns.storage.engine import make_engine
from campaigns.storage.migrate import upgrade
from campaigns.storage.store import SqlStore
from dialer.testing import TEST_PG_URL

OUT = Path(__file__).resolve().parent / "out"
REGION = "NO"
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
BACKENDS = ("sqlite", "postgresql")
TARGET_RATIO = 0.8
MEMORY_TARGET = 400_000_000


def generate(path: Path, rows: int, seed: int = 20260523) -> None:
    """A realistic list: NO/SE/UK numbers in assorted formats, some bad, some repeated."""
    rng = random.Random(seed)
    first = ["Ola", "Kari", "Per", "Anne", "Lars", "Ingrid", "Sven", "Astrid", "James", "Emma"]
    last = ["Hansen", "Johansen", "Olsen", "Larsen", "Andersson", "Karlsson", "Smith", "Jones"]
    seen: list[str] = []
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as out:
        out.write("\ufeff")
        writer = csv.writer(out, delimiter=";")
        writer.writerow(["name", "phone", "account", "city", "notes"])
        for i in range(rows):
            draw = rng.random()
            if draw < 0.02 and seen:
                phone = rng.choice(seen)
            elif draw < 0.05:
                phone = _bad_number(rng)
            else:
                phone = _good_number(rng, draw)
                if len(seen) < 10_000:
                    seen.append(phone)
            notes = ""
            if i % 97 == 0:
                notes = "ring etter kl. 16\nspør etter Per"
            elif i % 13 == 0:
                notes = "vip"
            writer.writerow(
                [
                    f"{rng.choice(first)} {rng.choice(last)}",
                    phone,
                    f"AC-{i:08d}",
                    rng.choice(["Oslo", "Bergen", "Stockholm", "Göteborg", "London", ""]),
                    notes,
                ]
            )
    tmp.replace(path)


def _good_number(rng: random.Random, draw: float) -> str:
    d = rng.randint
    if draw < 0.55:  # Norway, national and international forms
        n = f"{rng.choice('49492')}{d(0, 9999999):07d}"
        return rng.choice(
            [
                n,
                f"{n[:3]} {n[3:5]} {n[5:]}",
                f"+47 {n}",
                f"+47 {n[:2]} {n[2:4]} {n[4:6]} {n[6:]}",
                f"0047-{n}",
                f"(+47) {n[:3]}.{n[3:5]}.{n[5:]}",
            ]
        )
    if draw < 0.80:  # Sweden, international forms (the default region is NO)
        n = rng.choice([f"7{rng.choice('0236')}{d(0, 9999999):07d}", f"8{d(1000000, 9999999)}"])
        return rng.choice([f"+46 {n[:2]} {n[2:5]} {n[5:]}", f"+46{n}", f"0046 {n}"])
    n = rng.choice(
        [f"7{d(400, 999)}{d(0, 999999):06d}", f"20{rng.choice('378')}{d(0, 9999999):07d}"]
    )
    return rng.choice([f"+44 {n[:4]} {n[4:]}", f"+44 (0){n}", f"0044 {n}"])


def _bad_number(rng: random.Random) -> str:
    return rng.choice(
        [
            f"{rng.randint(10, 9999)}",
            f"4{rng.randint(0, 999999):06d}a",
            "",
            f"1{rng.randint(0, 9999999):07d}",
            f"+47 {rng.randint(0, 99999999999):011d}",
            "ukjent",
        ]
    )


class PeakRss:
    """Largest summed RSS of this process and its descendants, sampled in a thread."""

    def __init__(self, interval: float = 0.05) -> None:
        self.peak = 0
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.peak = max(self.peak, _tree_rss(os.getpid()))


def _tree_rss(root: int) -> int:
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry)
        parents[pid] = int(fields[1])
        rss[pid] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    total = 0
    for pid in rss:
        walk = pid
        while walk > 1 and walk != root:
            walk = parents.get(walk, 0)
        if walk == root:
            total += rss[pid]
    return total


def _own_maxrss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def measure_ceiling(path: Path) -> dict[str, Any]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f, delimiter=";")
        column = next(reader).index("phone")
        numbers = [row[column] for row in reader]
    parse, is_valid = phonenumbers.parse, phonenumbers.is_valid_number
    error = phonenumbers.NumberParseException
    valid = 0
    start = time.perf_counter()
    for raw in numbers:
        # A plain try/except: contextlib.suppress would slow the ceiling down.
        try:  # noqa: SIM105
            valid += is_valid(parse(raw, REGION))
        except error:
            pass
    elapsed = time.perf_counter() - start
    return {"rows": len(numbers), "valid": valid, "seconds": elapsed}


def measure_pipeline(path: Path, workers: int) -> dict[str, Any]:
    options = ImportOptions(region=REGION, workers=workers)
    start = time.perf_counter()
    inspect_file(path, options)
    check = time.perf_counter() - start
    rows = refusals = 0
    with PeakRss() as peak:
        start = time.perf_counter()
        for batch in iter_batches(path, options):
            rows += len(batch.rows)
            refusals += len(batch.refusals)
        elapsed = time.perf_counter() - start
    return {
        "rows": rows,
        "refusals": refusals,
        "seconds": elapsed,
        "check_seconds": check,
        "peak_tree_bytes": peak.peak,
        "main_maxrss_bytes": _own_maxrss(),
    }


async def import_into(store_url: str, csv_path: Path, workers: int) -> dict[str, Any]:
    """Import ``csv_path`` into a fresh campaign at ``store_url``, as the CLI does.

    ``load_contacts`` over a migrated store, timed as a whole: the check pass, parsing
    and the database writes. On PostgreSQL ``store_url`` is the server; the import runs in
    a throw-away schema, dropped afterwards.
    """
    schema = None
    connect_args: dict[str, Any] = {}
    if store_url.startswith("postgresql"):
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        await _admin(store_url, f"CREATE SCHEMA {schema}")
        connect_args = {"server_settings": {"search_path": schema}}
    engine = make_engine(store_url, connect_args=connect_args) if connect_args else None
    engine = engine or make_engine(store_url)
    try:
        await upgrade(engine)
        store = SqlStore(engine)
        spec = CampaignSpec(name=f"bench-{uuid.uuid4().hex[:8]}", default_region=REGION)
        campaign = await store.create_campaign(spec, NOW)
        options = ImportOptions(
            region=spec.default_region, default_timezone=spec.timezone, workers=workers
        )
        with PeakRss() as peak:
            start = time.perf_counter()
            summary = await load_contacts(store, campaign.id, csv_path, options, NOW)
            elapsed = time.perf_counter() - start
        stored = (await store.campaign_stats(campaign.id)).contacts_by_state
    finally:
        await engine.dispose()
        if schema is not None:
            await _admin(store_url, f"DROP SCHEMA {schema} CASCADE")
    return {
        "rows": summary.imported + summary.merged,
        "imported": summary.imported,
        "merged": summary.merged,
        "stored": sum(stored.values()),
        "refusals": summary.refused_total,
        "seconds": elapsed,
        "peak_tree_bytes": peak.peak,
        "main_maxrss_bytes": _own_maxrss(),
    }


async def _admin(url: str, statement: str) -> None:
    admin = make_engine(url)
    try:
        async with admin.begin() as conn:
            await conn.execute(sa.text(statement))
    finally:
        await admin.dispose()


def measure_import(backend: str, csv_path: Path, workers: int) -> dict[str, Any]:
    if backend == "postgresql":
        return asyncio.run(import_into(TEST_PG_URL, csv_path, workers))
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        return asyncio.run(import_into(url, csv_path, workers))


def _run_child(args: list[str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, *args], check=True, capture_output=True, text=True
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _mb(n: float) -> str:
    return f"{n / 1e6:,.0f} MB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--workers", default="0,2", help="comma-separated worker counts for the parse pipeline"
    )
    parser.add_argument(
        "--import-workers",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="worker processes for the database import (the CLI's default)",
    )
    parser.add_argument(
        "--backends", default=",".join(BACKENDS), help="comma-separated: sqlite, postgresql"
    )
    parser.add_argument("--regenerate", action="store_true")
    parser.add_argument(
        "--child", choices=["ceiling", "pipeline", *BACKENDS], help=argparse.SUPPRESS
    )
    parser.add_argument("--csv", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child == "ceiling":
        print(json.dumps(measure_ceiling(args.csv)))
        return
    if args.child == "pipeline":
        print(json.dumps(measure_pipeline(args.csv, int(args.workers))))
        return
    if args.child in BACKENDS:
        print(json.dumps(measure_import(args.child, args.csv, int(args.workers))))
        return

    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"contacts-{args.rows}.csv"
    if args.regenerate or not path.exists():
        start = time.perf_counter()
        generate(path, args.rows)
        print(f"generated {path} in {time.perf_counter() - start:.1f} s")
    size = path.stat().st_size
    print(f"file: {args.rows:,} rows, {_mb(size)}; cores: {os.cpu_count()}", flush=True)

    ceiling = _run_child(["--child", "ceiling", "--csv", str(path)])
    ceiling_rate = ceiling["rows"] / ceiling["seconds"]
    print(
        f"ceiling  phonenumbers parse+is_valid: {ceiling_rate:>9,.0f} rows/s "
        f"({ceiling['valid']:,} valid, {ceiling['seconds']:.1f} s)",
        flush=True,
    )
    for workers in (int(w) for w in args.workers.split(",") if w):
        result = _run_child(["--child", "pipeline", "--csv", str(path), "--workers", str(workers)])
        total = result["rows"] + result["refusals"]
        rate = total / result["seconds"]
        print(
            f"parse    iter_batches workers={workers}:     {rate:>9,.0f} rows/s "
            f"= {rate / ceiling_rate:.2f} x ceiling; {result['rows']:,} rows, "
            f"{result['refusals']:,} refused, {result['seconds']:.1f} s "
            f"(check pass {result['check_seconds']:.2f} s); "
            f"peak RSS {_mb(result['peak_tree_bytes'])} with workers, "
            f"main {_mb(result['main_maxrss_bytes'])}",
            flush=True,
        )
    for backend in (b for b in args.backends.split(",") if b):
        if backend not in BACKENDS:
            parser.error(f"unknown backend {backend!r}")
        result = _run_child(
            ["--child", backend, "--csv", str(path), "--workers", str(args.import_workers)]
        )
        total = result["rows"] + result["refusals"]
        rate = total / result["seconds"]
        print(
            f"import   {backend:10} workers={args.import_workers}:  {rate:>9,.0f} rows/s "
            f"= {rate / ceiling_rate:.2f} x ceiling (target {TARGET_RATIO}); "
            f"{result['imported']:,} imported, {result['merged']:,} merged, "
            f"{result['refusals']:,} refused, {result['stored']:,} stored, "
            f"{result['seconds']:.1f} s end to end; "
            f"peak RSS {_mb(result['peak_tree_bytes'])} (target < {_mb(MEMORY_TARGET)}), "
            f"main {_mb(result['main_maxrss_bytes'])}",
            flush=True,
        )


if __name__ == "__main__":
    main()
