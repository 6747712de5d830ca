"""Request dependencies: the services given to the app, and the authenticated user."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from agent_api.hub import AgentHub
from campaigns.errors import Unauthorized
from campaigns.services import Services
from campaigns.users import User, require_manager

_bearer = HTTPBearer(auto_error=False, description="The token printed by `ringback user add`")


# Async on purpose: FastAPI runs a plain-def dependency in a worker thread, a thread hop
# on every request.


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def get_hub(request: Request) -> AgentHub:
    hub: AgentHub = request.app.state.hub
    return hub


async def current_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    if credentials is None:
        raise Unauthorized("a bearer token is needed (Authorization: Bearer <token>)")
    return await (await get_services(request)).users.authenticate(credentials.credentials)


# The role is named in the OpenAPI security requirement (OpenAPI 3.1 lets a bearer scheme
# list roles): the document then shows which operations are for managers.
async def manager(user: Annotated[User, Security(current_user, scopes=["manager"])]) -> User:
    require_manager(user)
    return user


Svc = Annotated[Services, Depends(get_services)]
Me = Annotated[User, Depends(current_user)]
Hub = Annotated[AgentHub, Depends(get_hub)]
Manager = Annotated[User, Depends(manager)]
