"""The only part of Ringback that talks to Asterisk (AMI).

The dialer uses :class:`AmiBridge` (implemented by :class:`AsteriskAmiBridge`) and the
call events it yields; raw AMI messages never leave this package.
"""

from ami_bridge.bridge import AmiBridge, AsteriskAmiBridge
from ami_bridge.call_events import AgentLeg, CallAnswered, CallEnded, CallEvent, CallOutcome
from ami_bridge.errors import AmiAuthError, AmiDisconnected, AmiError, UnsafeFieldError

__all__ = [
    "AgentLeg",
    "AmiAuthError",
    "AmiBridge",
    "AmiDisconnected",
    "AmiError",
    "AsteriskAmiBridge",
    "CallAnswered",
    "CallEnded",
    "CallEvent",
    "CallOutcome",
    "UnsafeFieldError",
]
