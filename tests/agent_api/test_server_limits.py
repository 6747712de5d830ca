"""The server's own limits, with real sockets against a running server."""

from __future__ import annotations

import contextlib
import socket
import time
from pathlib import Path

from tests.agent_api.live import Live, live_api


def _connect(live: Live) -> socket.socket:
    return socket.create_connection((live.host, live.port), timeout=5)


def _closed_within(sock: socket.socket, seconds: float) -> tuple[bytes, float]:
    """What the server sends until it closes, and how long that took (then closes)."""
    start = time.monotonic()
    sock.settimeout(seconds)
    received = b""
    with sock:
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except (TimeoutError, ConnectionResetError):
            pass
    return received, time.monotonic() - start


def test_headers_are_bounded_and_half_sent_requests_time_out(tmp_path: Path) -> None:
    """Oversized headers get 431, a request whose head or body stalls gets 408, an idle
    socket is closed, all before any token check; ordinary requests and slow answers are
    untouched."""
    with live_api(
        "sqlite", tmp_path, max_head_bytes=8192, head_timeout=1.0, body_idle_timeout=1.0
    ) as live:
        # 1 MB of headers: refused without reading them all.
        big = _connect(live)
        head = b"GET /health HTTP/1.1\r\nHost: x\r\n"
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            big.sendall(head + b"X-Junk: " + b"a" * 1_000_000 + b"\r\n\r\n")
        answer, _ = _closed_within(big, 5)
        assert answer.startswith(b"HTTP/1.1 431"), answer[:100]
        # Slowloris: a head sent a byte now and then, and a socket that sends nothing.
        slow, idle = _connect(live), _connect(live)
        slow.sendall(b"GET /users/me HTTP/1.1\r\nHost: x\r\n")
        answer, took = _closed_within(slow, 5)
        assert answer.startswith(b"HTTP/1.1 408") and took < 3, (answer, took)
        answer, took = _closed_within(idle, 5)
        assert took < 3, took
        # A body that never comes.
        stalled = _connect(live)
        stalled.sendall(
            b"POST /dnc HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n{"
        )
        answer, took = _closed_within(stalled, 5)
        assert answer.startswith(b"HTTP/1.1 408") and took < 3, (answer, took)
        # An ordinary keep-alive client gets two answers on one connection.
        ok = _connect(live)
        for _ in range(2):
            ok.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            time.sleep(0.3)
            assert ok.recv(65536).startswith(b"HTTP/1.1 200")
        ok.close()
