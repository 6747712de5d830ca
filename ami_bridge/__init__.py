"""The only part of Ringback that talks to Asterisk (AMI).

The dialer uses :class:`AmiBridge` (implemented by :class:`AsteriskAmiBridge`) and the
call events it yields; raw AMI messages never leave this package.
"""

from ami_bridge.bridge import AmiBridge, AsteriskAmiBridge
from ami_bridge.calls import AgentLeg, CallAnswered, CallEnded, CallEvent, CallOutcome
from ami_bridge.client import AmiAuthError, AmiDisconnected, AmiError
from ami_bridge.protocol import UnsafeFieldError

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
