"""What the agent API reads of the settings: the service's typed settings (``dialer.settings``)
satisfy these, and tests can pass anything that does."""

from __future__ import annotations

from typing import Protocol

from pydantic import SecretStr


class ApiOptions(Protocol):
    @property
    def host(self) -> str: ...

    @property
    def port(self) -> int: ...


class MqttOptions(Protocol):
    @property
    def host(self) -> str: ...

    @property
    def port(self) -> int: ...

    @property
    def username(self) -> str | None: ...

    @property
    def password(self) -> SecretStr | None: ...

    @property
    def buffer_size(self) -> int: ...
