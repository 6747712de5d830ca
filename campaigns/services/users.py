"""Users: creating them, their tokens, authenticating a request."""

from __future__ import annotations

import time
from collections import OrderedDict

import structlog

from campaigns.errors import Unauthorized
from campaigns.ports import Clock, UserStore
from campaigns.users import (
    Role,
    User,
    check_extension,
    check_username,
    hash_token,
    new_token,
    require_manager,
    token_matches,
)

log = structlog.get_logger()


class Users:
    # Every request authenticates; a recent lookup is reused for this long. A token rotated
    # by another process stays valid here until then.
    TOKEN_CACHE_SECONDS = 30.0
    TOKEN_CACHE_SIZE = 1024

    def __init__(self, store: UserStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._tokens: OrderedDict[str, tuple[float, User, str]] = OrderedDict()

    async def create_user(
        self, username: str, role: Role, name: str = "", extension: str | None = None
    ) -> tuple[User, str]:
        """A new user and its bearer token (shown once; only its hash is kept)."""
        token, token_hash = new_token()
        user = await self._store.create_user(
            check_username(username),
            role,
            name,
            check_extension(extension),
            token_hash,
            self._clock(),
        )
        log.info("user_created", user_id=user.id, username=username, role=role.value)
        return user, token

    async def set_active(self, user_id: int, active: bool) -> None:
        """Disable (its token is refused) or enable a user."""
        await self._store.set_user_active(user_id, active)
        for key in [k for k, (_, user, _) in self._tokens.items() if user.id == user_id]:
            del self._tokens[key]
        log.info("user_active_changed", user_id=user_id, active=active)

    async def rotate_token(self, user_id: int) -> str:
        token, token_hash = new_token()
        await self._store.set_token_hash(user_id, token_hash)
        for key in [k for k, (_, user, _) in self._tokens.items() if user.id == user_id]:
            del self._tokens[key]
        log.info("user_token_rotated", user_id=user_id)
        return token

    async def authenticate(self, token: str) -> User:
        key = hash_token(token)
        now = time.monotonic()
        cached = self._tokens.get(key)
        if cached is not None and now - cached[0] < self.TOKEN_CACHE_SECONDS:
            found: tuple[User, str] | None = (cached[1], cached[2])
        else:
            found = await self._store.user_by_token_hash(key)
            if found is not None:
                self._tokens[key] = (now, *found)
                self._tokens.move_to_end(key)
                while len(self._tokens) > self.TOKEN_CACHE_SIZE:
                    self._tokens.popitem(last=False)
        if found is None or not token_matches(token, found[1]) or not found[0].active:
            raise Unauthorized("a valid bearer token is needed")
        return found[0]

    async def list_users(self, actor: User) -> list[User]:
        require_manager(actor)
        return await self._store.list_users()
