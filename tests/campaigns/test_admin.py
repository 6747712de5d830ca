"""Administration on SQLite and PostgreSQL: disabling users, the do-not-call list's listing."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from campaigns.errors import NotFound, Unauthorized
from campaigns.services import Users
from campaigns.storage.store import SqlAgentStore, SqlStore
from campaigns.users import Role
from tests.conftest import NOW


async def test_a_disabled_user_is_refused_and_an_enabled_one_accepted(engine: AsyncEngine) -> None:
    """Disabling refuses the token at once in this process; enabling accepts it again; a
    rotated token replaces the old one; an unknown user is NotFound."""
    users = Users(SqlAgentStore(engine), lambda: NOW)
    user, token = await users.create_user("eve", Role.AGENT)
    assert (await users.authenticate(token)).active
    await users.set_active(user.id, False)
    with pytest.raises(Unauthorized):
        await users.authenticate(token)
    assert [u.active for u in await SqlAgentStore(engine).list_users()] == [False]
    await users.set_active(user.id, True)
    assert (await users.authenticate(token)).id == user.id
    fresh = await users.rotate_token(user.id)
    with pytest.raises(Unauthorized):
        await users.authenticate(token)
    assert (await users.authenticate(fresh)).id == user.id
    with pytest.raises(NotFound):
        await users.set_active(user.id + 100, False)


async def test_dnc_list_by_number_with_reason(engine: AsyncEngine) -> None:
    """Listed numbers come back by number with their reason and time."""
    store = SqlStore(engine)
    await store.dnc_add(["+4741000002", "+4741000001"], "asked", NOW)
    assert await store.dnc_list() == [("+4741000001", "asked", NOW), ("+4741000002", "asked", NOW)]
