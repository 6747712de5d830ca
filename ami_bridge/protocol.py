"""The AMI wire format: an incremental parser over bytes and an action encoder.

Pure code, no I/O. Asterisk sends one banner line (``Asterisk Call Manager/11.0.0``,
with no blank line after it), then blocks of ``Key: Value`` lines, each block ended by
an empty line, all CRLF. Bytes are decoded per *complete* block, never per TCP read, so
a UTF-8 character split across two reads stays intact.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from ami_bridge.errors import UnsafeFieldError

BANNER_PREFIX = "Asterisk Call Manager/"
_TERMINATOR = b"\r\n\r\n"
DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024
# C0 controls and DEL. A CR or LF in a value would end the line and let the rest of the
# value be read by Asterisk as new headers, or a new action ("\r\n\r\nAction: Hangup").
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_KEY = re.compile(r"[A-Za-z0-9_\-()/@;.]+")


class Message:
    """One AMI block: ``Key: Value`` pairs in wire order.

    Keys repeat in real traffic (``ChanVariable`` appears once per variable), so the
    pairs are kept as they came; :meth:`get` gives the last value of a key and
    :meth:`get_all` every value in order.
    """

    __slots__ = ("_fields", "pairs")

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self.pairs: tuple[tuple[str, str], ...] = tuple(pairs)
        self._fields: dict[str, str] = dict(self.pairs)

    @property
    def event(self) -> str | None:
        """The ``Event`` name, or None for a response."""
        return self._fields.get("Event")

    @property
    def response(self) -> str | None:
        """The ``Response`` value of an action reply; None for any event.

        OriginateResponse is an *event* that also carries ``Response:``; it must not be
        taken for the reply to the Originate action.
        """
        if "Event" in self._fields:
            return None
        return self._fields.get("Response")

    @property
    def action_id(self) -> str | None:
        return self._fields.get("ActionID")

    def get(self, key: str, default: str = "") -> str:
        return self._fields.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._fields

    def get_all(self, key: str) -> list[str]:
        return [v for k, v in self.pairs if k == key]

    def __repr__(self) -> str:
        return f"Message({self.pairs!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Message) and other.pairs == self.pairs

    def __hash__(self) -> int:
        return hash(self.pairs)


@dataclass(frozen=True, slots=True)
class Banner:
    """The first line Asterisk sends; ``version`` is the AMI protocol version."""

    version: str


@dataclass(frozen=True, slots=True)
class MalformedMessage:
    """A block that could not be read; the caller logs it and carries on."""

    reason: str
    excerpt: bytes


Parsed = Message | Banner | MalformedMessage


class AmiParser:
    """Feed bytes as they arrive; get back every complete item.

    A block larger than ``max_message_bytes`` (a runaway line, binary garbage with no
    terminator) is reported once and skipped up to its terminator, so one bad peer
    message never costs the connection or unbounded memory.
    """

    __slots__ = ("_buffer", "_expect_banner", "_max", "_skipping")

    def __init__(
        self, *, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES, expect_banner: bool = True
    ) -> None:
        self._buffer = b""
        self._max = max_message_bytes
        self._expect_banner = expect_banner
        self._skipping = False

    def feed(self, data: bytes) -> list[Parsed]:
        buffer = self._buffer + data if self._buffer else data
        out: list[Parsed] = []
        if self._expect_banner:
            end = buffer.find(b"\r\n")
            if end < 0:
                self._buffer = self._check_size(buffer, out)
                return out
            self._expect_banner = False
            line = buffer[:end].decode("utf-8", "replace")
            if line.startswith(BANNER_PREFIX):
                out.append(Banner(line[len(BANNER_PREFIX) :]))
                buffer = buffer[end + 2 :]
            # Anything else is not a banner: parse it as an ordinary block.
        if self._skipping:
            end = buffer.find(_TERMINATOR)
            if end < 0:
                self._buffer = buffer[-3:]
                return out
            self._skipping = False
            buffer = buffer[end + 4 :]
        blocks = buffer.split(_TERMINATOR)
        rest = blocks.pop()
        for block in blocks:
            if block:
                out.append(parse_block(block))
        self._buffer = self._check_size(rest, out)
        return out

    def _check_size(self, rest: bytes, out: list[Parsed]) -> bytes:
        if len(rest) <= self._max:
            return rest
        out.append(MalformedMessage(f"message longer than {self._max} bytes", rest[:80]))
        self._expect_banner = False
        self._skipping = True
        return rest[-3:]


def parse_block(block: bytes) -> Message | MalformedMessage:
    """One block without its final blank line, decoded as a whole."""
    text = block.decode("utf-8", "replace")
    pairs = []
    for line in text.split("\r\n"):
        key, sep, value = line.partition(": ")
        if not sep:
            # ``Key:`` with nothing after it; Asterisk itself writes ``Key: `` but be lenient.
            if line.endswith(":") and _KEY.fullmatch(line[:-1]):
                key, value = line[:-1], ""
            else:
                return MalformedMessage("line without 'Key: '", block[:80])
        pairs.append((key, value))
    return Message(pairs)


def encode_action(action: str, action_id: str, fields: Iterable[tuple[str, str]]) -> bytes:
    """Encode an action; every key and value is checked before anything is built.

    ``fields`` is a sequence of pairs because some keys repeat (``Variable``).
    """
    lines = [("Action", action), ("ActionID", action_id), *fields]
    for key, value in lines:
        if not _KEY.fullmatch(key):
            raise UnsafeFieldError(f"AMI key {key!r} is not a plain header name")
        if _CONTROL.search(value):
            raise UnsafeFieldError(f"AMI field {key} holds a control character (CR/LF?)")
    return "".join(f"{key}: {value}\r\n" for key, value in lines).encode() + b"\r\n"
