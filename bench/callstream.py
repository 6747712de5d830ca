"""The seeded call stream of the pacing benchmark: who is on the list and what each call does.

Every call's fate is a function of (seed, contact, dial number, the contact's local hour):
the same for every pacer that dials that contact that many times at that hour, so pacers
are compared on common random numbers, and a clairvoyant pacer can be told each fate.

Two lists:

- ``uniform``: the benchmark's original model (``dialer.testing.CallModel``): every call
  answered by a person with the same 25 %, 10 % machines, 10 % busy, 2 % congestion,
  2 % invalid; nothing a dialer knows says anything about the next call.
- ``realistic`` (the default): the same mix on a first call, but contacts differ, as in
  the call-record studies of telephone surveys: each number has its own propensity to
  be answered (a Beta distribution, so a number that did not answer several times is
  more likely a hard one: the chance of an answer falls with every unanswered attempt,
  the conditional-probability pattern of Kulka and Weeks, "Toward the development of
  optimal calling protocols for telephone surveys", J. Official Statistics 4(4), 1988),
  and answers depend on the contact's local hour (lowest in working hours, highest on
  weekday evenings: Weeks, Kulka and Pierson, "Optimal call scheduling for a telephone
  survey", Public Opinion Quarterly 51(4), 1987). Numbers with voicemail that screen
  calls answer less and go to a machine more. The list is spread over the four
  mainland US time zones (by population), dialled 16:00-24:00 UTC: 11:00-19:00 in New
  York, 08:00-16:00 in Los Angeles. The shape is from those studies; the figures (the
  Beta's spread, the hour factors) are ours, set so that a first call is answered by a
  person about 25 % of the time as in the uniform list.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from campaigns.model import Outcome
from dialer.forecast.floorsim import Fate, Lead

START_UTC_HOUR = 16
ZONES: tuple[tuple[str, int, float], ...] = (
    ("America/New_York", -5, 0.47),
    ("America/Chicago", -6, 0.29),
    ("America/Denver", -7, 0.07),
    ("America/Los_Angeles", -8, 0.17),
)
HOUR_FACTOR: dict[int, float] = {
    8: 0.75, 9: 0.70, 10: 0.70, 11: 0.75, 12: 0.90, 13: 0.85, 14: 0.75,
    15: 0.80, 16: 0.95, 17: 1.20, 18: 1.50, 19: 1.55, 20: 1.40, 21: 1.20,
}  # fmt: skip
"""Answer propensity by the contact's local hour, relative (weekday, Weeks et al.'s shape)."""
PROPENSITY = (0.6, 1.2)
"""Beta(a, b) of a number's own propensity: mean 1/3, most numbers well below it."""
SCALE = 0.85
"""Propensity x hour factor x SCALE = chance of a person answering (first calls ~25 %)."""

ANSWER_AFTER = (4.0, 18.0)
BUSY_AFTER = (1.0, 4.0)
MEAN_TALK = 120.0


def person_answers(propensity: float, local_hour: int) -> float:
    """The chance a person answers a number of this propensity at this local hour."""
    return min(0.95, propensity * HOUR_FACTOR.get(local_hour, 0.6) * SCALE)


@dataclass(frozen=True, slots=True)
class Contact:
    id: int
    zone: str
    utc_offset: int
    propensity: float
    voicemail: bool
    invalid: bool


class CallStream:
    """:class:`dialer.forecast.floorsim.Stream` over the benchmark's list: lead ``i`` is
    contact ``i``."""

    def __init__(self, seed: int, *, realistic: bool = True) -> None:
        self.seed = seed
        self.realistic = realistic
        self._contacts: dict[int, Contact] = {}

    def contact(self, cid: int) -> Contact:
        known = self._contacts.get(cid)
        if known is not None:
            return known
        draw = random.Random(self.seed * 7_919_000_003 + cid)
        x, zone, offset = draw.random(), ZONES[-1][0], ZONES[-1][1]
        for name, hours, share in ZONES:
            if x < share:
                zone, offset = name, hours
                break
            x -= share
        propensity = draw.betavariate(*PROPENSITY)
        voicemail = draw.random() < 0.45 - 0.5 * propensity
        invalid = draw.random() < 0.02
        made = Contact(cid, zone, offset, propensity, voicemail, invalid)
        self._contacts[cid] = made
        return made

    @staticmethod
    def hour_of(contact: Contact, seconds: float) -> int:
        """The contact's local hour ``seconds`` into the day."""
        return int(START_UTC_HOUR + contact.utc_offset + seconds // 3600) % 24

    def local_hour(self, lead: Lead, seconds: float) -> int:
        return self.hour_of(self.contact(lead.id), seconds)

    def fate(self, lead: Lead, seconds: float) -> Fate:
        return self.call(lead.id, lead.dials, seconds)

    def human_chance(self, contact: Contact, local_hour: int) -> float:
        if not self.realistic:
            return 0.25
        if contact.invalid:
            return 0.0
        return person_answers(contact.propensity, local_hour)

    def call(self, cid: int, dial: int, seconds: float) -> Fate:
        """The ``dial``-th call (from 0) to contact ``cid``, placed ``seconds`` into the day."""
        contact = self.contact(cid)
        draw = random.Random((self.seed * 7_919_000_003 + cid) * 131 + dial + 1)
        u, v = draw.random(), draw.random()
        human = self.human_chance(contact, self.hour_of(contact, seconds))
        talk = draw.expovariate(1 / MEAN_TALK)
        if self.realistic:
            if contact.invalid:
                outcome = Outcome.INVALID
            elif u < human:
                outcome = Outcome.ANSWERED
            elif contact.voicemail and v < 0.5:
                outcome = Outcome.MACHINE
            elif v > 0.86:
                outcome = Outcome.BUSY
            elif v > 0.84:
                outcome = Outcome.CONGESTION
            else:
                outcome = Outcome.NO_ANSWER
        else:
            outcome = Outcome.NO_ANSWER
            for kind, p in (
                (Outcome.ANSWERED, 0.25),
                (Outcome.MACHINE, 0.10),
                (Outcome.BUSY, 0.10),
                (Outcome.CONGESTION, 0.02),
                (Outcome.INVALID, 0.02),
            ):
                if u < p:
                    outcome = kind
                    break
                u -= p
        if outcome in (Outcome.ANSWERED, Outcome.MACHINE):
            ring = draw.uniform(*ANSWER_AFTER)
        elif outcome is Outcome.BUSY:
            ring = draw.uniform(*BUSY_AFTER)
        else:
            ring = draw.uniform(0.2, 1.0)
        return Fate(outcome, ring, talk, human)


class Posterior:
    """The chance a person answers the next call to a contact, given what a dialer saw of
    it (the local hour and outcome of each earlier call), computed with the call stream's
    own model: Bayes' rule over the number's propensity (its Beta prior on a grid) and
    voicemail. No learner from attempt history can know more: this is its ceiling."""

    def __init__(self, stream: CallStream, points: int = 200) -> None:
        self.stream = stream
        draw = random.Random(0)
        sample = sorted(draw.betavariate(*PROPENSITY) for _ in range(points * 20))
        self.grid = sample[10::20]
        self._weights: dict[int, list[float]] = {}
        self._seen: dict[int, int] = {}
        self._cache: dict[tuple[int, int, int], float] = {}

    def _human(self, propensity: float, hour: int) -> float:
        return person_answers(propensity, hour) if self.stream.realistic else 0.25

    def observe(self, cid: int, hour: int, outcome: Outcome) -> None:
        """An earlier call to ``cid`` placed at its local ``hour`` ended with ``outcome``."""
        weights = self._weights.get(cid) or [1.0] * len(self.grid)
        human = outcome in (Outcome.ANSWERED, Outcome.ABANDONED)
        for i, propensity in enumerate(self.grid):
            c = self._human(propensity, hour)
            if human:
                weights[i] *= c
                continue
            voicemail = min(1.0, max(0.0, 0.45 - 0.5 * propensity))
            rest = {
                Outcome.MACHINE: 0.5 * voicemail,
                Outcome.BUSY: 0.14,
                Outcome.CONGESTION: 0.02,
                Outcome.NO_ANSWER: 0.84 - 0.5 * voicemail,
            }.get(outcome, 1.0)
            weights[i] *= (1 - c) * rest
        total = sum(weights) or 1.0
        self._weights[cid] = [w / total for w in weights]
        self._seen[cid] = self._seen.get(cid, 0) + 1

    def chance(self, cid: int, hour: int) -> float:
        seen = self._seen.get(cid, 0)
        key = (cid, seen, hour)
        known = self._cache.get(key)
        if known is not None:
            return known
        weights = self._weights.get(cid)
        if weights is None:
            # Nothing seen: the prior, with the 2 % of numbers that are not valid.
            chance = 0.98 * sum(self._human(p, hour) for p in self.grid) / len(self.grid)
        else:
            chance = sum(w * self._human(p, hour) for w, p in zip(weights, self.grid, strict=True))
        self._cache[key] = chance
        return chance
