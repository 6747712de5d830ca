"""Ringback's pacer (:mod:`dialer.pacing`) on the simulated floor, called as the engine's
placer calls it (:meth:`dialer.engine.placing.Placer.capacity`): the same floor figures,
the same campaign statistics learned online from the run's own calls, one campaign-wide
answer rate."""

from __future__ import annotations

from campaigns.model import DialMode, Outcome
from dialer.forecast.floorsim import Call, FloorSim, Lead
from dialer.pacing import CampaignStats, Floor, calls_to_place, recheck_in


class RingbackPacer:
    tick: float | None = None
    name = "ringback"

    def __init__(
        self,
        mode: DialMode = DialMode.PREDICTIVE,
        abandon_cap: float = 0.03,
        *,
        max_concurrent: int = 200,
        ring_timeout: float = 30.0,
        abandon_wait: float = 2.0,
    ) -> None:
        # Preview is paced by the agents, who ask for each contact: as one call per free
        # agent, it is progressive without the reading time.
        self.mode = DialMode.PROGRESSIVE if mode is DialMode.PREVIEW else mode
        self.abandon_cap = abandon_cap
        self.max_concurrent = max_concurrent
        self.ring_timeout = ring_timeout
        self.abandon_wait = abandon_wait
        self.stats = CampaignStats()

    def start(self, sim: FloorSim) -> None:
        pass

    def ringing_chances(self, sim: FloorSim, calls: list[Call]) -> tuple[float, ...]:
        """Each ringing call's own answer chance; empty: the campaign's rate (the engine
        passes none yet)."""
        return ()

    def next_chances(self, sim: FloorSim) -> list[float]:
        """The answer chances of the contacts next in the queue; empty: the campaign's."""
        return []

    def _floor(self, sim: FloorSim) -> Floor:
        now, calls = sim.now, list(sim.ringing.values())
        return Floor(
            free=len(sim.free),
            on_call=sim.on_call,
            wrapup=tuple(now - t for t in sim.wrapup.values()),
            # A call spaced by the calls-per-second limit has not rung yet.
            ringing=tuple(max(0.0, now - c.placed) for c in calls),
            waiting=len(sim.waiting),
            ring_timeout=self.ring_timeout,
            abandon_wait=self.abandon_wait,
            chances=self.ringing_chances(sim, calls),
        )

    def place(self, sim: FloorSim) -> int:
        floor = self._floor(sim)
        up = len(sim.ringing) + len(sim.waiting) + sim.on_call
        return calls_to_place(
            self.mode,
            floor,
            self.stats,
            self.abandon_cap,
            limit=self.max_concurrent - up,
            next_chances=self.next_chances(sim),
        )

    def recheck(self, sim: FloorSim) -> float | None:
        ringing = tuple(max(0.0, sim.now - c.placed) for c in sim.ringing.values())
        return recheck_in(self.mode, Floor(0, 0, ringing=ringing), self.stats)

    def chance(self, sim: FloorSim, lead: Lead) -> float | None:
        return None

    def settled(self, sim: FloorSim, call: Call, outcome: Outcome) -> None:
        human = outcome in (Outcome.ANSWERED, Outcome.ABANDONED)
        until = call.answered_at if call.answered_at is not None else sim.now
        self.stats.record_call(human, until - call.placed, abandoned=outcome is Outcome.ABANDONED)

    def talked(self, seconds: float) -> None:
        self.stats.record_talk(seconds)

    def wrapped(self, seconds: float) -> None:
        self.stats.record_wrapup(seconds)
