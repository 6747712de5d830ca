"""A PBX simulator speaking AMI like Asterisk 22, for tests, demos and the CLI.

It plays each call out with the event sequences, field names and codes recorded from a
real Asterisk in ``tests/fixtures/ami-traces`` and ``tests/fixtures/ami-live`` (conformance
tests keep it honest). The dial string's technology picks the channel model:

* ``Local/...``: the Local channel pair, ``;1`` the originated channel (Uniqueid the
  ChannelId), ``;2`` the contact side (the OtherChannelId), which carries the real cause
  for busy/congestion while the OriginateResponse says Reason 5/8;
* anything else (``PJSIP/...``): one channel named after the endpoint
  (``PJSIP/trunk-0000000a``), OtherChannelId unused. Busy, congestion and every other
  failure come with Reason 0 (no answer: 3) and only the Hangup cause tells them apart; a
  far end that hangs up during AMD sends a BYE without a Reason header: cause 0.

A failed Originate names the dial string as Channel, and as Uniqueid the ChannelId when
one was given (else ``<unknown>``).

Which outcome a dialed number gets is chosen by ``rules`` (regex on the number, first
match wins), else by ``weights`` with a seeded RNG. Times are multiplied by
``time_scale`` so tests can run calls in milliseconds.

Agent phones are the dial strings in :attr:`PbxSimulator.agent_phones` (the service adds
each logged-in agent's extension) or matching ``agent_channel_pattern``; they answer,
except those in :attr:`PbxSimulator.unanswered_phones`, and any other non-number dial
string is unreachable. The simulated dialplan is the shipped one: an Originate to
``ringback-agent``/``callback`` dials ``${RINGBACK_CONTACT}`` once the phone answers; any
other target runs AMD on whoever answered (an agent's phone there is heard as a machine,
as on a real Asterisk); a Redirect to ``ringback``/``agent`` Dial()s ``${RINGBACK_AGENT}``
and hangs up on the contact if that fails.

- :mod:`.server`: the AMI server (sessions, actions, the call table) and ``serve``;
- :mod:`.scripts`: how each call plays out, event by event;
- :mod:`.model`: behaviours, the call, agents' phones, ids and timing;
- :mod:`.wire`: the events' fields and their encoding.
"""

from ami_bridge.simulator.model import DEFAULT_WEIGHTS, Behaviour
from ami_bridge.simulator.server import PbxSimulator, serve

__all__ = ["DEFAULT_WEIGHTS", "Behaviour", "PbxSimulator", "serve"]
