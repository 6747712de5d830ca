"""The forecast's call stream: what each simulated call does, drawn from the campaign's
own history (:class:`campaigns.ports.forecast.History`), or from defaults where it has
none.

A call is answered by a person with the campaign's rate for that dial number (the first
call, the second, ... the sixth and later) times the factor of the contact's local hour
(that hour's rate over the campaign's overall rate), at most 95 %; the two are taken as
independent. Otherwise it ends as the campaign's other outcomes did for that dial number
(machine, busy, no answer, congestion, rejected, invalid). Each rate is the campaign's
count shrunk towards its prior with the weight of 20 calls (the pacer's own prior
weight, :mod:`dialer.pacing`): (answers + 20 x prior) / (calls + 20). So a campaign
with a few dozen calls moves the figures a little and one with thousands sets them; a
dial number the campaign has not reached yet follows the one before it by the default
decline. Talk, wrap-up and answer times are drawn from the campaign's own samples with
chance n / (n + 20), from the default distribution otherwise.

Defaults, and why:

- a person answers 25 % of first calls, then 19, 15, 12, 10 and 9 % of the second to the
  sixth and later: the first-call rate of the PBX simulator and the pacing benchmark
  (``dialer.testing.CallModel``, typical of consumer lists), declining as the pacing
  benchmark's realistic list does (``bench/callstream.py``: numbers differ in how often
  they answer, so one that did not answer is more likely a hard one; Kulka and Weeks,
  J. Official Statistics 4(4), 1988). Without history the hour of day changes nothing:
  its shape depends on the list (homes answer in the evening, offices in the day) and
  guessing it would pretend to know;
- the other outcomes as the simulator has them: of all first calls 10 % machines, 10 %
  busy, 3 % congestion, 2 % invalid numbers, the rest no answer; later calls the same
  without invalid numbers (an invalid number is final at its first call);
- talk exponential with a mean of 120 s (the simulator's);
- wrap-up the campaign's countdown (``[campaign.wrapup] seconds``), the longest an agent
  may take unless they extend it; 15 s when it has none (the benchmark's);
- a person or machine answers 4-18 s after the call is placed (uniform; the
  simulator's). Measured answer times run from placing the call to its reaching the
  agent, so half the AMD time is taken off them.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from campaigns.model import Outcome
from campaigns.ports.forecast import DIAL_BUCKETS, History
from campaigns.spec import CampaignSpec
from dialer.forecast.floorsim import Fate, Lead, LocalTime

PRIOR_WEIGHT = 20.0
HUMAN_BY_DIAL = (0.25, 0.19, 0.15, 0.12, 0.10, 0.09)
OTHERS_FIRST: Mapping[Outcome, float] = {
    Outcome.MACHINE: 0.10,
    Outcome.BUSY: 0.10,
    Outcome.CONGESTION: 0.03,
    Outcome.INVALID: 0.02,
    Outcome.REJECTED: 0.0,
    Outcome.NO_ANSWER: 0.50,
}
"""Of all first calls; the rest (25 %) a person answers."""
OTHERS_LATER: Mapping[Outcome, float] = {**OTHERS_FIRST, Outcome.INVALID: 0.0}
MEAN_TALK = 120.0
WRAPUP = 15.0
ANSWER_AFTER = (4.0, 18.0)
BUSY_AFTER = (1.0, 4.0)
FAILED_AFTER = (0.2, 1.0)
MAX_CHANCE = 0.95
_HUMAN = (Outcome.ANSWERED, Outcome.ABANDONED)
_OTHERS = tuple(OTHERS_FIRST)


@dataclass(frozen=True, slots=True)
class Durations:
    """Seconds drawn from a campaign's samples with chance n / (n + 20), else from the
    default: exponential with ``mean``, or uniform on ``span``, or the constant ``mean``."""

    samples: tuple[float, ...]
    mean: float
    span: tuple[float, float] | None = None
    exponential: bool = False
    shift: float = 0.0
    """Taken off each sample (not off the default), at least 0.5 s left."""

    @property
    def own_share(self) -> float:
        return len(self.samples) / (len(self.samples) + PRIOR_WEIGHT)

    @property
    def default_mean(self) -> float:
        return sum(self.span) / 2 if self.span is not None else self.mean

    @property
    def expected(self) -> float:
        if not self.samples:
            return self.default_mean
        own = sum(max(0.5, s - self.shift) for s in self.samples) / len(self.samples)
        return self.own_share * own + (1 - self.own_share) * self.default_mean

    def draw(self, rng: random.Random) -> float:
        if self.samples and rng.random() < self.own_share:
            sample = self.samples[int(rng.random() * len(self.samples))]
            return max(0.5, sample - self.shift) if self.shift else sample
        if self.span is not None:
            return rng.uniform(*self.span)
        return rng.expovariate(1 / self.mean) if self.exponential else self.mean


@dataclass(frozen=True, slots=True)
class Profile:
    """The figures the forecast replays."""

    human_by_dial: tuple[float, ...]
    hour_factor: tuple[float, ...]
    others_by_dial: tuple[tuple[tuple[Outcome, float], ...], ...]
    """Per dial number, the other outcomes with their cumulative shares (ending at 1)."""
    talk: Durations
    wrapup: Durations
    answer: Durations
    defaults: tuple[str, ...]

    @classmethod
    def from_history(cls, history: History, spec: CampaignSpec, amd_seconds: float) -> Profile:
        by_dial = list(history.outcomes_by_dial) + [{}] * DIAL_BUCKETS
        human_by_dial: list[float] = []
        others_by_dial = []
        for dial in range(DIAL_BUCKETS):
            counts = by_dial[dial]
            calls = sum(counts.values())
            answered = sum(counts.get(o, 0) for o in _HUMAN)
            prior = (
                HUMAN_BY_DIAL[0]
                if dial == 0
                else human_by_dial[-1] * HUMAN_BY_DIAL[dial] / HUMAN_BY_DIAL[dial - 1]
            )
            human_by_dial.append(_shrunk(answered, calls, prior))
            defaults = OTHERS_FIRST if dial == 0 else OTHERS_LATER
            total = sum(defaults.values())
            others = calls - answered
            shares = [(o, _shrunk(counts.get(o, 0), others, defaults[o] / total)) for o in _OTHERS]
            others_by_dial.append(_cumulative(shares))

        calls_by_hour = list(history.calls_by_hour) or [(0, 0)] * 24
        n_all = sum(n for n, _ in calls_by_hour)
        h_all = sum(h for _, h in calls_by_hour)
        overall = _shrunk(h_all, n_all, HUMAN_BY_DIAL[0])
        hour_factor = tuple(_shrunk(h, n, overall) / overall for n, h in calls_by_hour)

        countdown = float(spec.wrapup.seconds) or WRAPUP
        talk = Durations(history.talk_seconds, MEAN_TALK, exponential=True)
        wrapup = Durations(history.wrapup_seconds, countdown)
        answer = Durations(history.answer_seconds, 0.0, span=ANSWER_AFTER, shift=amd_seconds / 2)
        assumed = []
        if not history.attempts:
            assumed.append(
                "answer rates "
                + "/".join(f"{r:.0%}" for r in HUMAN_BY_DIAL)
                + " by attempt, the same at every hour"
            )
        if not history.talk_seconds:
            assumed.append(f"talk exponential, mean {MEAN_TALK:.0f} s")
        if not history.wrapup_seconds:
            assumed.append(f"wrap-up {countdown:.0f} s")
        if not history.answer_seconds:
            assumed.append(f"answered {ANSWER_AFTER[0]:.0f}-{ANSWER_AFTER[1]:.0f} s after dialling")
        return cls(
            tuple(human_by_dial),
            hour_factor,
            tuple(others_by_dial),
            talk,
            wrapup,
            answer,
            tuple(assumed),
        )


def _shrunk(hits: float, trials: float, prior: float) -> float:
    return (hits + PRIOR_WEIGHT * prior) / (trials + PRIOR_WEIGHT)


def _cumulative(shares: Sequence[tuple[Outcome, float]]) -> tuple[tuple[Outcome, float], ...]:
    total = sum(share for _, share in shares) or 1.0
    running = 0.0
    out = []
    for outcome, share in shares:
        running += share / total
        out.append((outcome, running))
    return tuple(out)


class ProfileStream:
    """Every call's fate, from (seed, contact, dial number): the same for every run that
    places that call at the same hour."""

    def __init__(self, profile: Profile, seed: int, clock: LocalTime) -> None:
        self.profile = profile
        self.seed = seed
        self.clock = clock

    def local_hour(self, lead: Lead, seconds: float) -> int:
        return self.clock.local_hour(lead.zone, seconds)

    def fate(self, lead: Lead, seconds: float) -> Fate:
        profile = self.profile
        draw = random.Random((self.seed * 7_919_000_003 + lead.id) * 131 + lead.dials + 1)
        dial = min(lead.dials, DIAL_BUCKETS - 1)
        hour = self.local_hour(lead, seconds)
        human = min(MAX_CHANCE, profile.human_by_dial[dial] * profile.hour_factor[hour])
        outcome = Outcome.ANSWERED
        if draw.random() >= human:
            v = draw.random()
            others = profile.others_by_dial[dial]
            outcome = others[-1][0]
            for kind, upto in others:
                if v < upto:
                    outcome = kind
                    break
        talk = profile.talk.draw(draw)
        wrapup = profile.wrapup.draw(draw)
        if outcome in (Outcome.ANSWERED, Outcome.MACHINE):
            ring = profile.answer.draw(draw)
        elif outcome in (Outcome.BUSY, Outcome.REJECTED):
            ring = draw.uniform(*BUSY_AFTER)
        else:
            ring = draw.uniform(*FAILED_AFTER)
        return Fate(outcome, ring, talk, human, wrapup)
