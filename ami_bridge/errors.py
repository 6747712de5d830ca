"""Every error ``ami_bridge`` raises to its callers."""

from __future__ import annotations


class AmiError(Exception):
    """Base of every error the AMI client raises."""


class AmiAuthError(AmiError):
    """Asterisk refused the username/secret. Not retried: fix the configuration."""


class AmiDisconnected(AmiError):
    """No AMI session, or it ended before the reply came. The action was not re-sent."""


class AmiNotConnected(AmiDisconnected):
    """There was no AMI session: the action was not written at all."""


class AmiActionError(AmiError):
    """Asterisk answered ``Response: Error``."""


class UnsafeFieldError(ValueError):
    """An action key or value holds a control character and was not sent."""
