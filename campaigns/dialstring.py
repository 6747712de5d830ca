"""Asterisk dial strings: the agents' phones and the campaigns' channel templates.

Both end up as one argument of an AMI ``Originate`` (``Channel``) or of the dialplan's
``Dial(${RINGBACK_AGENT},20)``. There a ``&`` adds a destination, a ``,`` (or the old
``|``) starts the next argument (a timeout, options such as ``U(...)`` running a
subroutine), and in ``Originate`` a CR/LF starts a new header or action. So a dial string
is one ``Technology/resource`` and nothing else: the technology is a name (``PJSIP``,
``SIP``, ``IAX2``, ``Local``, ...), the resource letters, digits and ``_ . + - @ / : * #``
(``PJSIP/ann``, ``PJSIP/+4741000000@trunk``, ``Local/agent-answer@ringback-test-phones``).
It is refused, never cleaned.
"""

from __future__ import annotations

import re

MAX_LENGTH = 200
PLACEHOLDER = "{number}"
_DIAL_STRING = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}/[A-Za-z0-9_.+\-@/:*#]+", re.ASCII)
_EXAMPLE_NUMBER = "+4741000000"


class DialStringError(ValueError):
    """Not a dial string Ringback will hand to Asterisk; the message says why."""


def check_dial_string(value: str, *, shown: str | None = None) -> str:
    """``value`` if it is one ``Technology/resource`` dial string; else :class:`DialStringError`
    (quoting ``shown``, default ``value``)."""
    if not value:
        raise DialStringError("empty; give Technology/resource, e.g. PJSIP/ann")
    if len(value) > MAX_LENGTH:
        raise DialStringError(f"longer than {MAX_LENGTH} characters")
    if not _DIAL_STRING.fullmatch(value):
        bad = sorted({c for c in value if c in "&,|" or not c.isprintable() or c.isspace()})
        why = (
            "must not contain " + " ".join(repr(c) for c in bad)
            if bad
            else "only letters, digits and _ . + - @ / : * # after the technology"
        )
        raise DialStringError(
            f"{shown or value!r} is not one Asterisk dial string Technology/resource "
            f"(e.g. PJSIP/ann): {why}"
        )
    return value


def check_channel_template(value: str) -> str:
    """A campaign's channel: a dial string with ``{number}`` once, e.g. PJSIP/{number}@trunk."""
    if value.count(PLACEHOLDER) != 1:
        raise DialStringError("must contain '{number}' exactly once, e.g. PJSIP/{number}@trunk")
    rest = value.replace(PLACEHOLDER, "")
    if "{" in rest or "}" in rest:
        raise DialStringError("only the {number} placeholder is allowed")
    check_dial_string(value.replace(PLACEHOLDER, _EXAMPLE_NUMBER), shown=value)
    return value
