"""Users of the agent API (agents, managers, administrators) and their tokens.

Pure: frozen values and functions, no I/O. A token is shown once when it is made; only its
SHA-256 is stored, found by that hash and compared in constant time.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from campaigns.dialstring import DialStringError, check_dial_string
from campaigns.errors import Forbidden, Invalid

_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


class AgentState(enum.StrEnum):
    """An agent's state on the floor. Agents choose ready, paused or logged out; the
    dialer moves them through reserved (a call being put through), on a call and wrap-up."""

    LOGGED_OUT = "logged_out"
    READY = "ready"
    PAUSED = "paused"
    RESERVED = "reserved"
    ON_CALL = "on_call"
    WRAPUP = "wrapup"

    @property
    def on_a_call(self) -> bool:
        return self in (AgentState.RESERVED, AgentState.ON_CALL)


class Role(enum.StrEnum):
    AGENT = "agent"
    MANAGER = "manager"
    ADMIN = "admin"

    @property
    def manages(self) -> bool:
        return self is not Role.AGENT


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str
    role: Role
    name: str = ""
    extension: str | None = None
    active: bool = True
    """False: disabled by an administrator; its token is refused."""


def check_username(username: str) -> str:
    if not _USERNAME.fullmatch(username):
        raise Invalid(
            "username: 1-64 characters, lower-case letters, digits, '.', '_' or '-'",
            field="username",
        )
    return username


def check_extension(extension: str | None) -> str | None:
    """The agent's phone as Asterisk dials it (``PJSIP/ann``): one dial string, or None."""
    if extension is None:
        return None
    try:
        return check_dial_string(extension)
    except DialStringError as exc:
        raise Invalid(f"extension: {exc}", field="extension") from None


def new_token() -> tuple[str, str]:
    """A fresh bearer token and the hash to store for it."""
    token = secrets.token_urlsafe(32)
    return token, hash_token(token)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(token: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_token(token), stored_hash)


def require_manager(user: User) -> None:
    if not user.role.manages:
        raise Forbidden("managers and administrators only")
