"""The AMI wire format: incremental parsing and safe action encoding."""

from __future__ import annotations

import pytest

from ami_bridge.protocol import (
    AmiParser,
    Banner,
    MalformedMessage,
    Message,
    UnsafeFieldError,
    encode_action,
)

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
HANGUP = b"Event: Hangup\r\nChannel: PJSIP/x-1\r\nCause: 16\r\nCause-txt: Normal Clearing\r\n\r\n"


def test_banner_without_blank_line() -> None:
    """The banner is one line with no blank line after it; the next block parses."""
    items = AmiParser().feed(BANNER + HANGUP)
    assert items[0] == Banner("11.0.0")
    assert isinstance(items[1], Message) and items[1].event == "Hangup"


def test_split_utf8_character_across_reads() -> None:
    """A two-byte character split between two TCP reads arrives intact."""
    data = BANNER + "Event: Newchannel\r\nCallerIDName: Алексей\r\n\r\n".encode()
    cut = data.index("л".encode()) + 1
    parser = AmiParser()
    items = parser.feed(data[:cut]) + parser.feed(data[cut:])
    message = items[-1]
    assert isinstance(message, Message)
    assert message.get("CallerIDName") == "Алексей"


def test_empty_value_and_value_with_colon() -> None:
    """``Key: `` is an empty value; a value may itself contain ': '."""
    block = b"Event: Newexten\r\nAccountCode: \r\nAppData: DialerAMD,Status: HUMAN\r\n\r\n"
    (message,) = AmiParser(expect_banner=False).feed(block)
    assert isinstance(message, Message)
    assert message.get("AccountCode") == ""
    assert message.get("AppData") == "DialerAMD,Status: HUMAN"


@pytest.mark.parametrize(
    "garbage",
    [b"Event: Hangup\r\nno colon here\r\n\r\n", b"\x00\xff\xfe\x81garbage\x02\r\n\r\n"],
    ids=["missing-colon", "binary"],
)
def test_malformed_block_is_reported_and_parsing_goes_on(garbage: bytes) -> None:
    """A bad block becomes one MalformedMessage; the block after it still parses."""
    items = AmiParser().feed(BANNER + garbage + HANGUP)
    assert isinstance(items[1], MalformedMessage)
    assert isinstance(items[2], Message) and items[2].event == "Hangup"


def test_one_megabyte_line_is_skipped_with_bounded_memory() -> None:
    """A 1 MB line is reported once, skipped to its terminator, and not buffered."""
    parser = AmiParser(max_message_bytes=64 * 1024)
    items = parser.feed(BANNER)
    items += parser.feed(b"Event: Junk\r\nData: ")
    for _ in range(16):
        items += parser.feed(b"x" * 65536)
        assert len(parser._buffer) <= 64 * 1024 + 65536
    items += parser.feed(b"\r\n\r\n" + HANGUP)
    assert [type(i) for i in items] == [Banner, MalformedMessage, Message]


def test_encode_action_layout() -> None:
    """Action and ActionID first, repeated keys kept, blank line at the end."""
    data = encode_action("Originate", "a-1", [("Variable", "A=1"), ("Variable", "B=2")])
    assert data == (b"Action: Originate\r\nActionID: a-1\r\nVariable: A=1\r\nVariable: B=2\r\n\r\n")


@pytest.mark.parametrize(
    "value",
    ["+3161234\r\nAction: Hangup", "+31612\n", "+31612\r", "x\x00y", "tab\there", "\x7f"],
)
def test_encode_refuses_control_characters(value: str) -> None:
    """A value with CR, LF or another control character is never encoded."""
    with pytest.raises(UnsafeFieldError):
        encode_action("Originate", "a-1", [("Channel", f"PJSIP/{value}@trunk")])


@pytest.mark.parametrize("key", ["Bad Key", "X\r\nAction", "", "Key:"])
def test_encode_refuses_odd_keys(key: str) -> None:
    """Keys are plain header names only."""
    with pytest.raises(UnsafeFieldError):
        encode_action("Originate", "a-1", [(key, "v")])


def test_encode_refuses_unsafe_action_id() -> None:
    """The ActionID is checked like any other value."""
    with pytest.raises(UnsafeFieldError):
        encode_action("Ping", "x\r\n\r\nAction: Hangup", [])
