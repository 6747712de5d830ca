"""AMI throughput: Ringback's bridge path next to panoramisk's parser and a bare split.

Run: ``.venv/bin/python bench/bench_ami.py [--calls N] [--concurrent N]``

The stream is built from the real Asterisk 22 transcripts in ``tests/fixtures/ami-traces``:
each call is one recorded scenario with its ids rewritten, calls interleaved message
by message, everything (Newexten, Cdr, DeviceStateChange...) kept as Asterisk sends it.
"Bridge" means what happens to each TCP read in production: parse, decode to a typed
event, correlate with its attempt and settle outcomes.
"""

from __future__ import annotations

import argparse
import itertools
import re
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ami_bridge.call_events import CallEvent, CallOutcome
from ami_bridge.client import AmiClient
from ami_bridge.protocol import AmiParser, Banner, Message
from ami_bridge.tracker import CallTracker

TRACES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "ami-traces"
TEMPLATES = ["human", "machine", "noanswer", "busy", "congestion", "unallocated", "answer"]
CHUNK = 65536


def _template(name: str) -> tuple[list[str], str, str, list[str], list[str]]:
    """Blocks of one call (after login), its attempt id, action id, uniqueids, channels."""
    items = AmiParser().feed((TRACES / f"{name}.ami").read_bytes())
    text_blocks = (TRACES / f"{name}.ami").read_bytes().decode().split("\r\n\r\n")
    sent = (TRACES / f"{name}.sent").read_bytes().decode()
    action_id = re.search(r"ActionID: (orig-\S+)", sent)
    attempt = re.search(r"DIALER_ATTEMPT_ID=(\d+)", sent)
    assert action_id and attempt
    messages = [i for i in items if isinstance(i, Message)]
    uids = sorted({m.get("Uniqueid") for m in messages if m.event == "Newchannel"}, key=len)
    chans = sorted({m.get("Channel")[:-2] for m in messages if m.event == "Newchannel"})
    keep = [
        b
        for b in text_blocks
        if b
        and not b.startswith("Asterisk Call Manager")
        and "login-1" not in b
        and "logoff-1" not in b
        and "FullyBooted" not in b
        and "SuccessfulAuth" not in b
    ]
    return keep, attempt.group(1), action_id.group(1), uids, chans


def build_stream(calls: int, concurrent: int) -> tuple[bytes, list[tuple[str, str]], int]:
    """The bytes, (attempt id, action id) per call, and the number of events in them."""
    templates = [_template(n) for n in TEMPLATES]
    per_call: list[list[str]] = []
    attempts: list[tuple[str, str]] = []
    for i in range(calls):
        blocks, attempt, action_id, uids, chans = templates[i % len(templates)]
        new_attempt, new_action = f"{900000 + i}", f"bench-{i}"
        swaps = {action_id: new_action, f"DIALER_ATTEMPT_ID={attempt}": f"x={new_attempt}"}
        swaps |= {u: f"1795400000.{2 * i + k}" for k, u in enumerate(uids)}
        swaps |= {c: f"{c.rsplit('-', 1)[0]}-{i:08x}" for c in chans}
        pattern = re.compile("|".join(re.escape(k) for k in sorted(swaps, key=len, reverse=True)))
        out = []
        for block in blocks:
            block = pattern.sub(lambda m, s=swaps: s[m.group(0)], block)
            block = block.replace(f"Value: {attempt}", f"Value: {new_attempt}")
            block = block.replace(f"AttemptId: {attempt}", f"AttemptId: {new_attempt}")
            out.append(block + "\r\n\r\n")
        per_call.append(out)
        attempts.append((new_attempt, new_action))
    ordered: list[str] = []
    for start in range(0, calls, concurrent):
        group = per_call[start : start + concurrent]
        for row in itertools.zip_longest(*group):
            ordered += [b for b in row if b is not None]
    data = ("Asterisk Call Manager/11.0.0\r\n" + "".join(ordered)).encode()
    events = sum(b.startswith("Event:") for b in ordered)
    return data, attempts, events


def chunks(data: bytes) -> Iterator[bytes]:
    for i in range(0, len(data), CHUNK):
        yield data[i : i + CHUNK]


def run_bridge(data: bytes, attempts: list[tuple[str, str]]) -> int:
    """Parse, type, correlate, settle: the production path minus the socket."""
    tracker = CallTracker(attempt_variable="DIALER_ATTEMPT_ID")
    for attempt, action_id in attempts:
        tracker.register(attempt, action_id, ring_timeout=30.0)
    client = AmiClient(host="", port=0, username="", secret="")
    settled: list[CallEvent] = []
    client.subscribe(lambda event: settled.extend(tracker.handle(event)))
    parser = AmiParser()
    for chunk in chunks(data):
        for item in parser.feed(chunk):
            if not isinstance(item, Banner):
                client._handle_item(item)
    outcomes = sum(isinstance(e, CallOutcome) for e in settled)
    assert outcomes == len(attempts), (outcomes, len(attempts))
    assert len(tracker) == 0, "attempts left tracked"
    return outcomes


def run_parser_only(data: bytes) -> int:
    parser = AmiParser()
    return sum(len(parser.feed(chunk)) for chunk in chunks(data))


def run_panoramisk(data: bytes) -> int:
    """panoramisk 1.4's data_received parsing, without its dispatch."""
    from panoramisk.message import Message as PMessage

    queue = ""
    count = 0
    for chunk in chunks(data):
        text = queue + chunk.decode("utf8", "ignore")
        lines = text.split("\r\n\r\n")
        queue = lines.pop(-1)
        for line in lines:
            if PMessage.from_line(line.strip()) is not None:
                count += 1
    return count


def run_minimal(data: bytes) -> int:
    """The least a parser can do: split blocks and lines, build a dict."""
    rest = b""
    count = 0
    for chunk in chunks(data):
        blocks = (rest + chunk).split(b"\r\n\r\n")
        rest = blocks.pop()
        for block in blocks:
            dict(line.partition(": ")[::2] for line in block.decode().split("\r\n"))
            count += 1
    return count


def measure(fn: Callable[[], int], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--concurrent", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    data, attempts, events = build_stream(args.calls, args.concurrent)
    print(
        f"stream: {args.calls} calls ({args.concurrent} at a time), {events} events, "
        f"{len(data) / 1e6:.1f} MB, templates: {', '.join(TEMPLATES)}"
    )
    rows = [
        ("ringback bridge (parse+type+correlate+settle)", lambda: run_bridge(data, attempts)),
        ("ringback parser only", lambda: run_parser_only(data)),
        ("panoramisk 1.4 bare parsing", lambda: run_panoramisk(data)),
        ("minimal split-on-CRLF parser", lambda: run_minimal(data)),
    ]
    rates = {}
    for label, fn in rows:
        rates[label] = events / measure(fn, args.repeat)
        print(f"  {label:<48} {rates[label]:>10,.0f} events/s")
    bridge = rates[rows[0][0]]
    print(f"  bridge / panoramisk bare parsing: {bridge / rates[rows[2][0]]:.2f}")
    print(f"  bridge / minimal parser:          {bridge / rates[rows[3][0]]:.2f}")
    print(f"  parser / panoramisk:              {rates[rows[1][0]] / rates[rows[2][0]]:.2f}")
    ok = bridge >= 30_000 and bridge >= 0.5 * rates[rows[2][0]]
    print("targets (>= 30,000 events/s, >= 0.5 x panoramisk):", "met" if ok else "NOT met")


if __name__ == "__main__":
    main()
