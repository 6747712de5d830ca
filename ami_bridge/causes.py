"""What Asterisk's evidence of a failed call means: Q.850 Hangup cause, OriginateResponse
Reason and DialEnd's DialStatus, turned into one SPEC section 2 outcome.

Pure tables and one function; the tracker decides *when* the evidence is complete.
"""

from __future__ import annotations

from collections.abc import Mapping

from ami_bridge.events import DialStatus, OriginateReason
from campaigns.model import Outcome

DECISIVE_CAUSES: Mapping[int, Outcome] = {
    1: Outcome.INVALID,
    28: Outcome.INVALID,
    21: Outcome.REJECTED,
}
"""Q.850 causes that decide the outcome whatever the OriginateResponse reason says."""
MAPPED_CAUSES: Mapping[int, Outcome] = {
    **DECISIVE_CAUSES,
    17: Outcome.BUSY,
    18: Outcome.NO_ANSWER,
    19: Outcome.NO_ANSWER,
    34: Outcome.CONGESTION,
    38: Outcome.CONGESTION,
    41: Outcome.CONGESTION,
    42: Outcome.CONGESTION,
}
"""Every cause that tells an outcome on its own."""
_REASONS: Mapping[int, Outcome] = {
    OriginateReason.NO_ANSWER: Outcome.NO_ANSWER,
    OriginateReason.BUSY: Outcome.BUSY,
    OriginateReason.CONGESTION: Outcome.CONGESTION,
}
_DIAL_STATUSES: Mapping[DialStatus, Outcome] = {
    DialStatus.BUSY: Outcome.BUSY,
    DialStatus.NOANSWER: Outcome.NO_ANSWER,
    DialStatus.CANCEL: Outcome.NO_ANSWER,
    DialStatus.CONGESTION: Outcome.CONGESTION,
    DialStatus.CHANUNAVAIL: Outcome.CONGESTION,
}


def failure_outcome(
    cause: int | None, reason: int | None, dial_status: DialStatus | None
) -> Outcome:
    """The outcome of a call nobody answered: a decisive cause, else the Originate's
    Reason, else the cause, else DialStatus.

    Reason 0 and friends say nothing. Cause 16 (normal clearing) before an answer means
    *we* hung up the ringing call (``cancel-while-ringing``): the contact did not answer.
    No cause and no DialStatus (an Originate to a dial string that does not exist, cause
    0) is our own fault: ``failed_system``.
    """
    decisive = DECISIVE_CAUSES.get(cause) if cause is not None else None
    by_reason = _REASONS.get(reason) if reason is not None else None
    by_cause = MAPPED_CAUSES.get(cause) if cause is not None else None
    by_status = _DIAL_STATUSES.get(dial_status) if dial_status is not None else None
    found = decisive or by_reason or by_cause or by_status
    if found is not None:
        return found
    if cause == 16:
        return Outcome.NO_ANSWER
    return Outcome.FAILED_SYSTEM
