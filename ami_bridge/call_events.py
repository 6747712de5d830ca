"""What the dialer hears about its calls, per attempt (see :mod:`ami_bridge.tracker`).

Typed values only: raw AMI never leaves ``ami_bridge``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ami_bridge.events import AmdStatus, DialStatus
from campaigns.model import Outcome


@dataclass(frozen=True, slots=True)
class CallAnswered:
    """A person answered: connect an agent (AMD said HUMAN/NOTSURE, or AMD is off)."""

    attempt_id: str
    uniqueid: str | None
    amd: AmdStatus | None


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """The one final outcome of an attempt."""

    attempt_id: str
    outcome: Outcome
    reason: int | None = None
    """OriginateResponse Reason, when seen."""
    cause: int | None = None
    """The Q.850 Hangup cause that mattered, when seen."""
    cause_txt: str = ""
    dial_status: DialStatus | None = None
    amd: AmdStatus | None = None
    detail: str = ""
    """Why, when the evidence alone does not say: e.g. ``reconciled``, ``timeout``."""


@dataclass(frozen=True, slots=True)
class CallEnded:
    """An answered call is over: every channel of it hung up (or vanished)."""

    attempt_id: str
    talk_seconds: float
    cause: int | None
    cause_txt: str
    lost: bool = False
    """True when the hangup was not seen and the call was found gone by reconciliation."""


@dataclass(frozen=True, slots=True)
class AgentLeg:
    """The dialplan's Dial() of the agent's phone, after the dialer's Redirect, is over."""

    attempt_id: str
    answered: bool
    status: DialStatus | None
    """DialEnd's DialStatus: ANSWER, NOANSWER, BUSY, CHANUNAVAIL, CANCEL (the contact hung
    up while the agent's phone rang)..."""


CallEvent = CallAnswered | CallOutcome | CallEnded | AgentLeg
