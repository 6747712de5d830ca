"""Typed, immutable AMI events: the only shape AMI data takes outside the parser.

Field names were checked against recorded Asterisk 22 traffic (``tests/fixtures/ami-traces``);
the queue/agent events follow the Asterisk 20+ AMI event documentation.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from ami_bridge.protocol import Message

UNKNOWN_UNIQUEID = "<unknown>"


class DialStatus(enum.StrEnum):
    ANSWER = "ANSWER"
    BUSY = "BUSY"
    NOANSWER = "NOANSWER"
    CANCEL = "CANCEL"
    CONGESTION = "CONGESTION"
    CHANUNAVAIL = "CHANUNAVAIL"
    DONTCALL = "DONTCALL"
    TORTURE = "TORTURE"
    INVALIDARGS = "INVALIDARGS"
    # DialState progress values
    RINGING = "RINGING"
    PROCEEDING = "PROCEEDING"
    PROGRESS = "PROGRESS"
    UNKNOWN = "UNKNOWN"

    @classmethod
    def parse(cls, value: str) -> DialStatus:
        try:
            return cls(value)
        except ValueError:
            return cls.UNKNOWN


class AmdStatus(enum.StrEnum):
    """``AMDSTATUS`` as set by the AMD() application."""

    HUMAN = "HUMAN"
    MACHINE = "MACHINE"
    NOTSURE = "NOTSURE"
    HANGUP = "HANGUP"

    @classmethod
    def parse(cls, value: str) -> AmdStatus | None:
        try:
            return cls(value)
        except ValueError:
            return None


class OriginateReason(enum.IntEnum):
    """OriginateResponse ``Reason``: an ast_control_frame_type (main/pbx.c)."""

    FAILED = 0
    HANGUP = 1  # never observed for Originate
    NO_ANSWER = 3  # the Originate Timeout expired, whether it rang or not
    ANSWERED = 4
    BUSY = 5
    CONGESTION = 8


class DeviceState(enum.IntEnum):
    """Numeric device state of a queue member (``Status`` of QueueMemberStatus)."""

    UNKNOWN = 0
    NOT_INUSE = 1
    INUSE = 2
    BUSY = 3
    INVALID = 4
    UNAVAILABLE = 5
    RINGING = 6
    RINGINUSE = 7
    ONHOLD = 8


@dataclass(frozen=True, slots=True)
class ChannelEvent:
    channel: str
    uniqueid: str
    linkedid: str


@dataclass(frozen=True, slots=True)
class OriginateResponse:
    """Result of an async Originate. Broadcast to every AMI session: check the ActionID."""

    action_id: str
    success: bool
    reason: int
    channel: str
    uniqueid: str | None
    """None when Asterisk says ``<unknown>`` (failures without ChannelId)."""


@dataclass(frozen=True, slots=True)
class Newchannel(ChannelEvent):
    context: str
    exten: str
    caller_id_num: str
    caller_id_name: str


@dataclass(frozen=True, slots=True)
class Hangup(ChannelEvent):
    cause: int
    cause_txt: str


@dataclass(frozen=True, slots=True)
class SoftHangupRequest(ChannelEvent):
    cause: int
    """A soft-hangup flag (4 = shutdown, 16 = dialplan ended), not a Q.850 cause."""


@dataclass(frozen=True, slots=True)
class VarSet(ChannelEvent):
    variable: str
    value: str


@dataclass(frozen=True, slots=True)
class DialBegin:
    """For an Originate there is no caller: ``uniqueid`` is None, only Dest* is set."""

    uniqueid: str | None
    dest_channel: str
    dest_uniqueid: str
    dest_linkedid: str
    dial_string: str


@dataclass(frozen=True, slots=True)
class DialState:
    uniqueid: str | None
    dest_uniqueid: str
    status: DialStatus


@dataclass(frozen=True, slots=True)
class DialEnd:
    uniqueid: str | None
    dest_uniqueid: str
    dest_linkedid: str
    status: DialStatus


@dataclass(frozen=True, slots=True)
class DialerAmd(ChannelEvent):
    """``UserEvent: DialerAMD`` sent by our dialplan after AMD()."""

    status: AmdStatus | None
    cause: str
    attempt_id: str


@dataclass(frozen=True, slots=True)
class DialerAgent(ChannelEvent):
    """``UserEvent: DialerAgent`` sent by our dialplan when Dial() of the agent's phone
    returns: ``status`` is its DIALSTATUS. Needed because a Dial that fails at once (no
    such endpoint: CHANUNAVAIL) sends no DialBegin/DialEnd at all."""

    status: DialStatus
    attempt_id: str


@dataclass(frozen=True, slots=True)
class Shutdown:
    cleanly: bool
    restart: bool


@dataclass(frozen=True, slots=True)
class FullyBooted:
    status: str


@dataclass(frozen=True, slots=True)
class CoreShowChannel(ChannelEvent):
    action_id: str
    state_desc: str
    application: str
    duration: str


@dataclass(frozen=True, slots=True)
class CoreShowChannelsComplete:
    action_id: str
    list_items: int


@dataclass(frozen=True, slots=True)
class QueueMemberStatus:
    queue: str
    member_name: str
    interface: str
    status: DeviceState
    paused: bool
    in_call: bool


@dataclass(frozen=True, slots=True)
class AgentConnect(ChannelEvent):
    """A queue member answered and is bridged to the caller (``channel``)."""

    queue: str
    member_name: str
    interface: str
    dest_uniqueid: str
    hold_time: int
    ring_time: int


@dataclass(frozen=True, slots=True)
class AgentComplete(ChannelEvent):
    queue: str
    member_name: str
    interface: str
    dest_uniqueid: str
    hold_time: int
    talk_time: int
    reason: str


AmiEvent = (
    OriginateResponse
    | Newchannel
    | Hangup
    | SoftHangupRequest
    | VarSet
    | DialBegin
    | DialState
    | DialEnd
    | DialerAmd
    | DialerAgent
    | Shutdown
    | FullyBooted
    | CoreShowChannel
    | CoreShowChannelsComplete
    | QueueMemberStatus
    | AgentConnect
    | AgentComplete
)


def _int(value: str, default: int = 0) -> int:
    try:
        return int(value)
    except ValueError:
        return default


def _device_state(value: str) -> DeviceState:
    try:
        return DeviceState(int(value))
    except ValueError:
        return DeviceState.UNKNOWN


def _or(m: Message) -> OriginateResponse:
    uid = m.get("Uniqueid")
    return OriginateResponse(
        action_id=m.get("ActionID"),
        success=m.get("Response") == "Success",
        reason=_int(m.get("Reason")),
        channel=m.get("Channel"),
        uniqueid=None if uid in ("", UNKNOWN_UNIQUEID) else uid,
    )


def _chan(m: Message) -> tuple[str, str, str]:
    return m.get("Channel"), m.get("Uniqueid"), m.get("Linkedid")


def _caller(m: Message) -> str | None:
    return m.get("Uniqueid") or None


def _user_event(m: Message) -> DialerAmd | DialerAgent | None:
    name = m.get("UserEvent")
    if name == "DialerAgent":
        return DialerAgent(
            *_chan(m), status=DialStatus.parse(m.get("Status")), attempt_id=m.get("AttemptId")
        )
    if name != "DialerAMD":
        return None
    return DialerAmd(
        *_chan(m),
        status=AmdStatus.parse(m.get("Status")),
        cause=m.get("Cause"),
        attempt_id=m.get("AttemptId"),
    )


_DECODERS: dict[str, Callable[[Message], AmiEvent | None]] = {
    "OriginateResponse": _or,
    "Newchannel": lambda m: Newchannel(
        *_chan(m),
        context=m.get("Context"),
        exten=m.get("Exten"),
        caller_id_num=m.get("CallerIDNum"),
        caller_id_name=m.get("CallerIDName"),
    ),
    "Hangup": lambda m: Hangup(*_chan(m), cause=_int(m.get("Cause")), cause_txt=m.get("Cause-txt")),
    "SoftHangupRequest": lambda m: SoftHangupRequest(*_chan(m), cause=_int(m.get("Cause"))),
    "VarSet": lambda m: VarSet(*_chan(m), variable=m.get("Variable"), value=m.get("Value")),
    "DialBegin": lambda m: DialBegin(
        uniqueid=_caller(m),
        dest_channel=m.get("DestChannel"),
        dest_uniqueid=m.get("DestUniqueid"),
        dest_linkedid=m.get("DestLinkedid"),
        dial_string=m.get("DialString"),
    ),
    "DialState": lambda m: DialState(
        uniqueid=_caller(m),
        dest_uniqueid=m.get("DestUniqueid"),
        status=DialStatus.parse(m.get("DialStatus")),
    ),
    "DialEnd": lambda m: DialEnd(
        uniqueid=_caller(m),
        dest_uniqueid=m.get("DestUniqueid"),
        dest_linkedid=m.get("DestLinkedid"),
        status=DialStatus.parse(m.get("DialStatus")),
    ),
    "UserEvent": _user_event,
    "Shutdown": lambda m: Shutdown(
        cleanly=m.get("Shutdown") == "Cleanly", restart=m.get("Restart") == "True"
    ),
    "FullyBooted": lambda m: FullyBooted(status=m.get("Status")),
    "CoreShowChannel": lambda m: CoreShowChannel(
        *_chan(m),
        action_id=m.get("ActionID"),
        state_desc=m.get("ChannelStateDesc"),
        application=m.get("Application"),
        duration=m.get("Duration"),
    ),
    "CoreShowChannelsComplete": lambda m: CoreShowChannelsComplete(
        action_id=m.get("ActionID"), list_items=_int(m.get("ListItems"))
    ),
    "QueueMemberStatus": lambda m: QueueMemberStatus(
        queue=m.get("Queue"),
        member_name=m.get("MemberName"),
        interface=m.get("Interface"),
        status=_device_state(m.get("Status")),
        paused=m.get("Paused") == "1",
        in_call=m.get("InCall") == "1",
    ),
    "AgentConnect": lambda m: AgentConnect(
        *_chan(m),
        queue=m.get("Queue"),
        member_name=m.get("MemberName"),
        interface=m.get("Interface"),
        dest_uniqueid=m.get("DestUniqueid"),
        hold_time=_int(m.get("HoldTime")),
        ring_time=_int(m.get("RingTime")),
    ),
    "AgentComplete": lambda m: AgentComplete(
        *_chan(m),
        queue=m.get("Queue"),
        member_name=m.get("MemberName"),
        interface=m.get("Interface"),
        dest_uniqueid=m.get("DestUniqueid"),
        hold_time=_int(m.get("HoldTime")),
        talk_time=_int(m.get("TalkTime")),
        reason=m.get("Reason"),
    ),
}

EVENT_NAMES = frozenset(_DECODERS)
"""Events this module types; every other event is dropped at the edge."""


def decode_event(message: Message) -> AmiEvent | None:
    """The typed event for an AMI event message, or None if Ringback has no use for it."""
    name = message.event
    if name is None:
        return None
    decoder = _DECODERS.get(name)
    return decoder(message) if decoder is not None else None
