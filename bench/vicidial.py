"""VICIdial's adaptive predictive pacing, rewritten from its description and source.

VICIdial (AGPL) paces with a *dial level*: calls to have up per counted agent. Two
processes share it:

- the auto-dial loop (``bin/AST_VDauto_dial.pl``, every 2.5 s) counts the campaign's
  agents (ready plus on a live call; only the ready ones with "available only tally"),
  adds the dial-level difference target, multiplies by the dial level, rounds, and
  places the difference to the calls it already has up (ringing, answered and waiting,
  with an agent). It also samples ready agents, answered calls waiting for an agent and
  logged-in agents; the last 20 samples (about a minute) average into the *differential*
  (ready minus waiting) and the average agents.
- the adapt process (``bin/AST_VDadapt.pl``) recounts drops every 60 s (today: drops per
  answered call; last minute: drops per call placed) and every 15 s sets a new level:
  level x (1 + (differential + difference target) / average agents), the change scaled
  by the intensity (positive changes by 1 + intensity/100, negative ones by
  |intensity/100 - 1|), capped at the maximum level; halved when over 20 calls in the
  last minute saw over 50 % dropped; and when over 50 calls today have dropped more than
  the allowed percentage of answers, by method: ADAPT_HARD_LIMIT sets 1.0,
  ADAPT_AVERAGE halves it, ADAPT_TAPERED multiplies it by the share of the day left
  ((latest server time - now) / 1000 in hhmm, 1 with over ten "hours" left, 1.0 past
  it), so it lets drops run over early in the day and tightens later. The level is never
  below 1.0.

This is our own code from that reading (no VICIdial code is copied). Thresholds
("dial level threshold", "available only tally threshold") are off, as by default.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

DIAL_LOOP = 2.5
ADAPT_EVERY = 15.0
DROPS_EVERY = 60.0
SAMPLES = 20
METHODS = ("ADAPT_HARD_LIMIT", "ADAPT_TAPERED", "ADAPT_AVERAGE")


@dataclass(frozen=True, slots=True)
class Settings:
    method: str = "ADAPT_TAPERED"
    dropped_percentage: float = 3.0
    """adaptive_dropped_percentage: the day's drops per answered call allowed, in %."""
    maximum_level: float = 3.0
    """adaptive_maximum_level (VICIdial's default 3.0)."""
    intensity: int = 0
    """adaptive_intensity, -40 (slower) to +40 (faster)."""
    dl_diff_target: int = 0
    """adaptive_dl_diff_target: -1 aims at one agent waiting, +1 at one customer waiting."""
    available_only: bool = False
    """available_only_ratio_tally: count ready agents only."""
    latest_hourmin: int = 1900
    """adaptive_latest_server_time, for ADAPT_TAPERED."""
    start_level: float = 1.0
    """auto_dial_level when the day starts."""

    def label(self) -> str:
        return (
            f"{self.method.removeprefix('ADAPT_')} max {self.maximum_level:g}"
            f" int {self.intensity:+d} diff {self.dl_diff_target:+d}"
            f"{' avail-only' if self.available_only else ''}"
        )


@dataclass(frozen=True, slots=True)
class DropStats:
    calls_today: int
    answers_today: int
    drops_today: int
    calls_minute: int
    drops_minute: int

    @property
    def today_pct(self) -> float:
        return 100 * self.drops_today / self.answers_today if self.answers_today else 0.0

    @property
    def minute_pct(self) -> float:
        return 100 * self.drops_minute / self.calls_minute if self.calls_minute else 0.0


def tapered_rate(latest_hourmin: int, hourmin: int) -> float:
    """VICIdial's share of the day left, in its hhmm arithmetic."""
    left = latest_hourmin - hourmin
    return 1.0 if left > 1000 else left / 1000


def adapt_level(
    s: Settings,
    level: float,
    *,
    differential: float,
    agents_average: float,
    drops: DropStats,
    hourmin: int,
) -> float:
    """The new dial level from the last minute's differential and the drop statistics."""
    target = differential + s.dl_diff_target
    change = target / agents_average if target and agents_average else 0.0
    factor = s.intensity / 100
    change *= abs(factor - 1) if change < 0 else factor + 1
    new = min(level * (1 + change), s.maximum_level)
    new = max(new, 1.0)
    if drops.calls_minute > 20 and drops.minute_pct > 50:
        new /= 2
    if drops.calls_today > 50 and drops.today_pct > s.dropped_percentage:
        if s.method == "ADAPT_HARD_LIMIT":
            new = 1.0
        elif s.method == "ADAPT_AVERAGE":
            new /= 2
        elif s.method == "ADAPT_TAPERED":
            left = tapered_rate(s.latest_hourmin, hourmin)
            new = 1.0 if left < 0 else new * left
    return max(new, 1.0)


def calls_to_make(
    s: Settings, level: float, *, ready: int, incall: int, calls_up: int, with_agents: int
) -> int:
    """The auto-dial loop: calls to place now."""
    counted = ready if s.available_only else ready + incall
    counted = max(0, counted + s.dl_diff_target)
    goal = round(level * counted) + (with_agents if s.available_only else 0)
    return max(0, goal - calls_up)


class Differential:
    """The auto-dial loop's samples: ready agents minus calls waiting, over ~a minute."""

    def __init__(self) -> None:
        self.samples: deque[tuple[int, int, int]] = deque(maxlen=SAMPLES)

    def sample(self, ready: int, waiting: int, agents: int) -> None:
        self.samples.append((ready, waiting, agents))

    def value(self) -> tuple[float, float]:
        """(average ready - average waiting, average agents)."""
        n = len(self.samples)
        if not n:
            return 0.0, 0.0
        ready = sum(r for r, _, _ in self.samples) / n
        waiting = sum(w for _, w, _ in self.samples) / n
        agents = sum(a for _, _, a in self.samples) / n
        return ready - waiting, agents
