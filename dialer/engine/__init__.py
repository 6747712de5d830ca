"""The dialer engine (see :mod:`dialer.engine.engine`): one :class:`Engine` as the public
face, its collaborators one module each."""

from dialer.engine.config import EngineConfig, EngineEvents, NoEvents, TrunkLimit
from dialer.engine.engine import Engine
from dialer.engine.placing import RateLimiter

__all__ = ["Engine", "EngineConfig", "EngineEvents", "NoEvents", "RateLimiter", "TrunkLimit"]
