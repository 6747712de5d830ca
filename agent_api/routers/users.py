"""Users, tokens and the agent's own state."""

from __future__ import annotations

from fastapi import APIRouter

from agent_api.deps import Manager, Me, Svc
from agent_api.schemas import (
    IdPath,
    StateIn,
    StateOut,
    TokenOut,
    UserCreated,
    UserIn,
    UserOut,
)
from campaigns.services import AgentState, Services

router = APIRouter(tags=["users"])


@router.get("/users/me", response_model=UserOut)
async def who_am_i(me: Me) -> UserOut:
    return UserOut.model_validate(me)


@router.post("/users", response_model=UserCreated, status_code=201)
async def create_user(body: UserIn, svc: Svc, _: Manager) -> UserCreated:
    user, token = await svc.users.create_user(body.username, body.role, body.name, body.extension)
    return UserCreated(user=UserOut.model_validate(user), token=token)


@router.get("/users", response_model=list[UserOut])
async def list_users(svc: Svc, me: Manager) -> list[UserOut]:
    return [UserOut.model_validate(u) for u in await svc.users.list_users(me)]


@router.post("/users/{user_id}/token", response_model=TokenOut)
async def rotate_token(user_id: IdPath, svc: Svc, _: Manager) -> TokenOut:
    return TokenOut(token=await svc.users.rotate_token(user_id))


@router.get("/agents/me/state", response_model=StateOut)
async def my_state(svc: Svc, me: Me) -> StateOut:
    state, reason = svc.agents.state_of(me.id)
    return await _state_out(svc, me.id, state, reason)


async def _state_out(svc: Services, user_id: int, state: str, reason: str | None) -> StateOut:
    ready = await svc.agents.may_become_ready(user_id)
    campaigns, all_running = svc.agents.campaigns_of(user_id)
    since = svc.agents.since(user_id)
    return StateOut(
        state=state,
        reason=reason,
        may_become_ready=ready,
        campaigns=campaigns,
        all_running=all_running,
        since=since,
        seconds_in_state=round((svc.clock() - since).total_seconds(), 3) if since else None,
    )


@router.put("/agents/me/state", response_model=StateOut)
async def set_my_state(body: StateIn, svc: Svc, me: Me) -> StateOut:
    """Ready / paused (with a reason) / logged out; ready waits for a forced registration."""
    state = await svc.agents.set_state(me, AgentState(body.state), body.reason, body.campaigns)
    return await _state_out(svc, me.id, state, body.reason)
