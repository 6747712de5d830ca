"""Call scripts: what Asterisk 22 sends, event by event, for each way a call can go.

Each script plays one call out (Local pair or one channel; contact, agent phone or an
agent-first callback) and writes its events through ``emit``; times are scaled by
:attr:`Timing.scale`. The sequences follow the live recordings (``tests/fixtures``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from ami_bridge.simulator.model import (
    FAR_END_HANGUP,
    Behaviour,
    Call,
    Ids,
    Phones,
    Timing,
)
from ami_bridge.simulator.wire import (
    Channel,
    Fields,
    cause_fields,
    chan_fields,
    channel_name,
    dest_fields,
    is_local,
    number_of,
)

Emit = Callable[..., None]


class CallScripts:
    """Plays calls out; owns no connection (events go to ``emit``) and no call table."""

    def __init__(
        self,
        *,
        emit: Emit,
        timing: Timing,
        phones: Phones,
        ids: Ids,
        choose: Callable[[str], Behaviour],
        connected: dict[str, str],
        talk: Callable[[], float] | None = None,
    ) -> None:
        self._emit = emit
        self._talk = talk or (lambda: timing.talk)
        """Seconds a conversation lasts (the contact's, so it may vary call to call)."""
        self._timing = timing
        self._phones = phones
        self._ids = ids
        self._choose = choose
        self._connected = connected

    async def _sleep(self, call: Call, seconds: float) -> bool:
        """Wait, scaled; True when the client hung the call up meanwhile."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds * self._timing.scale):
                await call.hangup.wait()
        return call.hangup.is_set()

    async def play(self, call: Call, cid_num: str, cid_name: str) -> None:
        """The whole call, from Newchannel to the last Hangup."""
        one = call.one
        for ch in call.channels:
            self._emit("Newchannel", chan_fields(ch))
        for ch in call.channels:
            if call.two is not None:
                ch.cid_num, ch.cid_name = cid_num, cid_name
            for key, value in call.variables:
                self._emit(
                    "VarSet",
                    [*chan_fields(ch), ("Variable", key), ("Value", value)],
                    "dialplan,all",
                )
        # A PJSIP channel gets the caller id after the Originate's variables.
        one.cid_num, one.cid_name = cid_num, cid_name
        self._emit(
            "DialBegin",
            [*dest_fields(one), ("DialString", call.dial_string.split("/", 1)[-1])],
        )
        if call.two is None:
            await self._script_one(call)
        else:
            await self._script(call)

    def _ring_seconds(self, call: Call) -> float:
        """How long the far end takes to answer or fail (a no-answer rings out)."""
        if call.behaviour is Behaviour.NO_ANSWER:
            return call.timeout
        if call.behaviour is None or call.behaviour is Behaviour.REJECTED:
            return min(self._timing.ring / 4, call.timeout)
        return min(self._timing.ring, call.timeout)

    def _ringing(self, call: Call) -> None:
        call.one.state = 5
        self._emit("Newstate", chan_fields(call.one))
        self._emit("DialState", [*dest_fields(call.one), ("DialStatus", "RINGING")])

    async def _script(self, call: Call) -> None:
        """The Local pair: ;1 the originated channel, ;2 the far end's dialplan."""
        one, two = call.one, call.two
        assert two is not None
        behaviour = call.behaviour
        if behaviour in (Behaviour.NO_ANSWER, Behaviour.REJECTED, None):
            self._ringing(call)
        if await self._sleep(call, self._ring_seconds(call)):
            return self._cancelled(call)
        if behaviour is Behaviour.NO_ANSWER:
            self._emit("HangupRequest", [*chan_fields(two), ("Cause", "19")])
            self._emit("SoftHangupRequest", [*chan_fields(two), ("Cause", "16")])
            self._originate_response(call, False, 3)
            self._hangups(call, 19, 19)
        elif behaviour in (Behaviour.BUSY, Behaviour.CONGESTION):
            busy = behaviour is Behaviour.BUSY
            two.state = 7
            self._emit("Newstate", chan_fields(two))
            self._emit(
                "DialEnd", [*dest_fields(one), ("DialStatus", "BUSY" if busy else "CONGESTION")]
            )
            self._emit("HangupRequest", [*chan_fields(two), ("Cause", "0")])
            self._emit("SoftHangupRequest", [*chan_fields(two), ("Cause", "16")])
            self._originate_response(call, False, 5 if busy else 8)
            self._hangups(call, 0, 17 if busy else 34)
        elif behaviour in FAR_END_HANGUP:
            cause = FAR_END_HANGUP[behaviour]
            self._emit("SoftHangupRequest", [*chan_fields(two), ("Cause", "16")])
            self._emit("HangupRequest", [*chan_fields(one), ("Cause", str(cause))])
            self._emit("Hangup", chan_fields(two) + cause_fields(cause))
            self._emit("DialEnd", [*dest_fields(one), ("DialStatus", "NOANSWER")])
            self._originate_response(call, False, 0)
            self._emit("Hangup", chan_fields(one) + cause_fields(cause))
        else:
            await self._answered(call)

    async def _script_one(self, call: Call) -> None:
        """One channel (PJSIP): the far end's answer is the channel's own state and cause."""
        one = call.one
        behaviour = call.behaviour
        if behaviour in (Behaviour.NO_ANSWER, Behaviour.REJECTED, None):
            self._ringing(call)
        if await self._sleep(call, self._ring_seconds(call)):
            return self._cancelled(call)
        if behaviour is Behaviour.NO_ANSWER:
            # The Originate gives up: no DialEnd, no hang-up request.
            self._originate_response(call, False, 3)
            self._emit("Hangup", chan_fields(one) + cause_fields(19))
        elif behaviour in (Behaviour.BUSY, Behaviour.CONGESTION):
            busy = behaviour is Behaviour.BUSY
            cause = 17 if busy else 34
            self._emit("HangupRequest", [*chan_fields(one), ("Cause", str(cause))])
            self._originate_response(call, False, 0)
            self._emit(
                "DialEnd", [*dest_fields(one), ("DialStatus", "BUSY" if busy else "CONGESTION")]
            )
            self._emit("Hangup", chan_fields(one) + cause_fields(cause))
        elif behaviour in FAR_END_HANGUP:
            cause = FAR_END_HANGUP[behaviour]
            self._emit("HangupRequest", [*chan_fields(one), ("Cause", str(cause))])
            self._emit("DialEnd", [*dest_fields(one), ("DialStatus", "NOANSWER")])
            self._originate_response(call, False, 0)
            self._emit("Hangup", chan_fields(one) + cause_fields(cause))
        else:
            await self._answered(call)

    async def _answered(self, call: Call) -> None:
        one, two = call.one, call.two
        one.state = 6
        call.answered = True
        if two is not None:
            two.state = 6
            self._emit("Newstate", chan_fields(two))
        self._emit("Newstate", chan_fields(one))
        self._emit("DialEnd", [*dest_fields(one), ("DialStatus", "ANSWER")])
        self._originate_response(call, True, 4)
        one.context, one.exten, one.priority = call.context, call.exten, 2
        if call.behaviour is None:  # an agent phone
            contact = next((v for k, v in call.variables if k == "RINGBACK_CONTACT"), None)
            if call.exten == "callback" and contact is not None:
                await self._dial_contact(call, contact)
                return self._hangups(call, 16, 16)
            if call.exten != "connect":
                await self._sleep(call, 24 * 3600.0)  # up until someone hangs up
                return self._hangups(call, 16, 16)
            # The answered-call context runs AMD() on the agent's own line.
        if call.behaviour is Behaviour.HANGUP_DURING_AMD:
            if await self._sleep(call, self._timing.amd / 2):
                return self._hangups(call, 16, 16)
            if two is None:
                # The far end's BYE: a hang-up request without a cause (no Reason header).
                self._emit("HangupRequest", chan_fields(one))
            else:
                self._emit("SoftHangupRequest", [*chan_fields(two), ("Cause", "16")])
                self._emit("HangupRequest", [*chan_fields(one), ("Cause", "16")])
                self._emit("Hangup", chan_fields(two) + cause_fields(16))
            for name, value in (("AMDSTATUS", "HANGUP"), ("AMDCAUSE", "")):
                self._emit(
                    "VarSet",
                    [*chan_fields(one), ("Variable", name), ("Value", value)],
                    "dialplan,all",
                )
            self._emit("SoftHangupRequest", [*chan_fields(one), ("Cause", "16")])
            self._emit("Hangup", chan_fields(one) + cause_fields(16 if two is not None else 0))
            return None
        if await self._sleep(call, self._timing.amd):
            return self._hangups(call, 16, 16)
        machine = call.behaviour in (Behaviour.MACHINE, None)
        status, cause = (
            ("MACHINE", "LONGGREETING-1500-1500") if machine else ("HUMAN", "HUMAN-800-800")
        )
        self._emit(
            "VarSet",
            [*chan_fields(one), ("Variable", "AMDSTATUS"), ("Value", status)],
            "dialplan,all",
        )
        self._emit(
            "VarSet",
            [*chan_fields(one), ("Variable", "AMDCAUSE"), ("Value", cause)],
            "dialplan,all",
        )
        attempt = next((v for k, v in call.variables if k == call.attempt_var), "")
        user = [
            ("UserEvent", "DialerAMD"),
            ("Status", status),
            ("Cause", cause),
            ("AttemptId", attempt),
        ]
        self._emit("UserEvent", chan_fields(one) + user, "user,all")
        # A machine is dropped by the dialplan (Wait(2) then Hangup); a human waits for
        # the dialer to send it to an agent.
        if not machine and await self._redirected(call, self._timing.talk):
            await self._dial_agent(call)
        elif await self._sleep(call, 2.0 if machine else 0.0):
            pass
        self._emit("SoftHangupRequest", [*chan_fields(one), ("Cause", "16")])
        if two is not None:
            self._emit("HangupRequest", [*chan_fields(two), ("Cause", "16")])
        self._emit("Hangup", chan_fields(one) + cause_fields(16))
        if two is not None:
            self._emit("SoftHangupRequest", [*chan_fields(two), ("Cause", "16")])
            self._emit("Hangup", chan_fields(two) + cause_fields(16))

    async def _redirected(self, call: Call, seconds: float) -> bool:
        """Wait, scaled, for a Redirect; False when the time ran out or the call hung up."""
        hung = asyncio.ensure_future(call.hangup.wait())
        moved = asyncio.ensure_future(call.redirected.wait())
        try:
            await asyncio.wait(
                {hung, moved},
                timeout=seconds * self._timing.scale,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            hung.cancel()
            moved.cancel()
        return call.redirected.is_set() and not call.hangup.is_set()

    async def _dial_agent(self, call: Call) -> None:
        """``ringback,agent``: Dial(${RINGBACK_AGENT},20); the contact is hung up after."""
        agent = self._connected.get(call.one.uniqueid, "")
        seq = self._ids.seq()
        uid = self._ids.uniqueid()
        phone = Channel(f"{agent}-{seq:08x}", uid, call.one.linkedid, "", agent)
        caller = chan_fields(call.one)
        attempt = next((v for k, v in call.variables if k == call.attempt_var), "")

        def returned(status: str) -> None:
            # Dial() returned: the shipped dialplan's UserEvent, then Hangup.
            user = [("UserEvent", "DialerAgent"), ("Status", status), ("AttemptId", attempt)]
            self._emit("UserEvent", caller + user, "user,all")

        if not self._phones.is_agent(agent):
            # No such endpoint: Dial fails before any channel exists, so no DialBegin.
            return returned("CHANUNAVAIL")
        self._emit("Newchannel", chan_fields(phone))
        self._emit("DialBegin", [*caller, *dest_fields(phone), ("DialString", agent)])
        if agent in self._phones.unanswered:
            hung = await self._sleep(call, 20.0)
            status = "CANCEL" if hung else "NOANSWER"
            self._emit("Hangup", chan_fields(phone) + cause_fields(16 if hung else 19))
            self._emit("DialEnd", [*caller, *dest_fields(phone), ("DialStatus", status)])
            return None if hung else returned(status)
        if await self._sleep(call, self._timing.ring / 8):
            self._emit("Hangup", chan_fields(phone) + cause_fields(16))
            self._emit("DialEnd", [*caller, *dest_fields(phone), ("DialStatus", "CANCEL")])
            return None
        phone.state = 6
        self._emit("DialEnd", [*caller, *dest_fields(phone), ("DialStatus", "ANSWER")])
        if not await self._sleep(call, self._talk()):
            self._emit("Hangup", chan_fields(phone) + cause_fields(16))
            return returned("ANSWER")  # the agent hung up first: Dial returns
        self._emit("Hangup", chan_fields(phone) + cause_fields(16))
        return None

    async def _dial_contact(self, call: Call, dial: str) -> None:
        """Agent-first callback: the agent answered, the dialplan Dial()s the contact."""
        number = number_of(dial)
        behaviour = self._choose(number)
        seq = self._ids.seq()
        uid = self._ids.uniqueid()
        name = channel_name(dial, seq) if not is_local(dial) else f"{dial.split('@')[0]}-{seq:08x}"
        contact = Channel(name, uid, call.one.linkedid, "", number)
        caller = chan_fields(call.one)
        self._emit("Newchannel", chan_fields(contact))
        self._emit("DialBegin", [*caller, *dest_fields(contact), ("DialString", dial)])
        if await self._sleep(call, self._timing.ring):
            status, cause = "CANCEL", 16
        elif behaviour in (Behaviour.HUMAN, Behaviour.MACHINE):
            contact.state = 6
            self._emit("DialEnd", [*caller, *dest_fields(contact), ("DialStatus", "ANSWER")])
            await self._sleep(call, self._talk())
            self._emit("Hangup", chan_fields(contact) + cause_fields(16))
            return
        else:
            status, cause = {
                Behaviour.NO_ANSWER: ("NOANSWER", 19),
                Behaviour.BUSY: ("BUSY", 17),
                Behaviour.CONGESTION: ("CONGESTION", 34),
            }.get(behaviour, ("NOANSWER", FAR_END_HANGUP.get(behaviour, 16)))
        self._emit("Hangup", chan_fields(contact) + cause_fields(cause))
        self._emit("DialEnd", [*caller, *dest_fields(contact), ("DialStatus", status)])

    def _cancelled(self, call: Call) -> None:
        """The client hung up the ringing call (cancel-while-ringing)."""
        self._emit("DialEnd", [*dest_fields(call.one), ("DialStatus", "NOANSWER")])
        if call.two is not None:
            self._emit("HangupRequest", [*chan_fields(call.two), ("Cause", "16")])
            self._emit("SoftHangupRequest", [*chan_fields(call.two), ("Cause", "16")])
        self._hangups(call, 16, 16)
        self._originate_response(call, False, 0)

    def _hangups(self, call: Call, cause_one: int, cause_two: int) -> None:
        self._emit("Hangup", chan_fields(call.one) + cause_fields(cause_one))
        if call.two is not None:
            self._emit("Hangup", chan_fields(call.two) + cause_fields(cause_two))

    def _originate_response(self, call: Call, success: bool, reason: int) -> None:
        # On failure OR names no channel, unless the Originate chose a ChannelId.
        uid = call.one.uniqueid if success or call.channel_id_given else "<unknown>"
        fields: Fields = [
            ("ActionID", call.action_id),
            ("Response", "Success" if success else "Failure"),
            ("Channel", call.one.name if success else call.dial_string),
            ("Context", call.context),
            ("Exten", call.exten),
            ("Reason", str(reason)),
            ("Uniqueid", uid),
            ("CallerIDNum", call.one.cid_num),
            ("CallerIDName", call.one.cid_name),
        ]
        self._emit("OriginateResponse", fields)
