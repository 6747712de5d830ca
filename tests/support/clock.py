"""The one fake clock: time that moves only when the test moves it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, TypeVar

T = TypeVar("T", float, datetime)


@dataclass
class FakeClock(Generic[T]):
    """A callable clock reading ``now``: loop seconds (the call tracker) or an aware instant
    (the use cases). Set ``now`` or :meth:`advance` it."""

    now: T

    def __call__(self) -> T:
        return self.now

    def advance(self, seconds: float) -> None:
        step = timedelta(seconds=seconds) if isinstance(self.now, datetime) else seconds
        self.now += step  # type: ignore[assignment,operator]
