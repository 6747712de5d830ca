"""The simulator's side of the wire: AMI events as Asterisk 22 writes them.

Field lists and their encoding, channel names and the header block of a channel.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
Fields = list[tuple[str, str]]

# Q.850 cause and its Cause-txt, as Asterisk prints them.
CAUSE_TXT = {
    0: "Unknown",
    1: "Unallocated (unassigned) number",
    16: "Normal Clearing",
    17: "User busy",
    19: "User alerting, no answer",
    21: "Call Rejected",
    28: "Invalid number format",
    34: "Circuit/channel congestion",
}
STATE_DESC = {0: "Down", 4: "Ring", 5: "Ringing", 6: "Up", 7: "Busy"}
_NUMBER = re.compile(r"^[^/]+/([^@]+)")


@dataclass(slots=True)
class Channel:
    name: str
    uniqueid: str
    linkedid: str
    context: str
    exten: str
    state: int = 0
    priority: int = 1
    cid_num: str = "<unknown>"
    cid_name: str = "<unknown>"


def event(name: str, fields: Fields, privilege: str) -> Fields:
    return [("Event", name), ("Privilege", privilege), *fields]


def encode(fields: Fields) -> bytes:
    return "".join(f"{k}: {v}\r\n" for k, v in fields).encode() + b"\r\n"


def cause_fields(cause: int) -> Fields:
    return [("Cause", str(cause)), ("Cause-txt", CAUSE_TXT.get(cause, "Unknown"))]


def chan_fields(ch: Channel) -> Fields:
    return [
        ("Channel", ch.name),
        ("ChannelState", str(ch.state)),
        ("ChannelStateDesc", STATE_DESC.get(ch.state, "Unknown")),
        ("CallerIDNum", ch.cid_num),
        ("CallerIDName", ch.cid_name),
        ("ConnectedLineNum", ch.cid_num),
        ("ConnectedLineName", ch.cid_name),
        ("Language", "en"),
        ("AccountCode", ""),
        ("Context", ch.context),
        ("Exten", ch.exten),
        ("Priority", str(ch.priority)),
        ("Uniqueid", ch.uniqueid),
        ("Linkedid", ch.linkedid),
    ]


def dest_fields(ch: Channel) -> Fields:
    return [(f"Dest{k}", v) for k, v in chan_fields(ch)]


def is_local(dial: str) -> bool:
    return dial.split("/", 1)[0].lower() == "local"


def channel_name(dial: str, seq: int) -> str:
    """``PJSIP/+4741000100@trunk`` → ``PJSIP/trunk-0000000a``; ``PJSIP/ann`` → ``PJSIP/ann-...``.

    Asterisk names a channel after the endpoint it goes out on, not the number dialled.
    """
    tech, _, resource = dial.partition("/")
    endpoint = resource.split("@", 1)[1] if "@" in resource else resource.split("/", 1)[0]
    return f"{tech}/{endpoint}-{seq:08x}"


def parse_caller_id(value: str) -> tuple[str, str]:
    """``"Ringback Dialer" <5550100>`` → (name, number)."""
    found = re.fullmatch(r'\s*"?([^"<]*?)"?\s*<([^>]*)>\s*', value)
    if found:
        return found.group(1), found.group(2)
    return "", value


def number_of(dial: str) -> str:
    """``PJSIP/+4741000100@trunk`` → ``+4741000100``: the number a dial string dials."""
    found = _NUMBER.match(dial)
    return found.group(1) if found else dial
