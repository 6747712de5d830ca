"""A private Asterisk 22 (and a SIPp carrier) for the live tests.

Everything comes from this repository: the config templates in ``tests/live/asterisk``
load the project's shipped ``config/asterisk/{extensions,manager,pjsip}.conf`` by
``#include`` (only the AMI secret/port and the carrier's address are ours), the SIPp
scenario is ``tests/live/sipp/carrier.xml``, and the prompts are made with espeak-ng and
sox (cached in the temp dir). Every path the instance writes is in its own folder, every
port is picked free at run time, so several runs can share a machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
TEMPLATES = HERE / "asterisk"
SIPP_SCENARIO = HERE / "sipp" / "carrier.xml"

INSTALL_HINT = "install Asterisk 22 and SIPp (CI runs the Asterisk kit's install.sh, as root)"

# Dialplan contexts of tests/live/asterisk/test-contexts.conf.
CARRIER_CONTEXT = "ringback-test-carrier"
PHONES_CONTEXT = "ringback-test-phones"

# (name, text, seconds of silence after it); 8 kHz mono 16-bit wav for Asterisk.
PROMPTS: list[tuple[str, str, float]] = [
    ("ringback-test-hello", "Hello?", 10.0),
    (
        "ringback-test-machine",
        "Hi, you have reached the voicemail of the Hansen family. We are not able to take"
        " your call right now. Please leave your name, your number and a short message"
        " after the tone, and we will call you back as soon as we possibly can.",
        0.5,
    ),
    ("ringback-test-silence", "", 10.0),
    # The shipped dialplan's apology for a person no agent took (ringback,connect).
    ("ringback-sorry-we-missed-you", "Sorry, we missed you. We will call you back.", 0.3),
]


def asterisk_binary() -> str:
    """The asterisk binary; ``RINGBACK_ASTERISK`` overrides (a missing path simulates none)."""
    return os.environ.get("RINGBACK_ASTERISK", "/usr/sbin/asterisk")


def sipp_binary() -> str | None:
    """SIPp from ``RINGBACK_SIPP`` or ``PATH``."""
    override = os.environ.get("RINGBACK_SIPP")
    if override is not None:
        return override if os.access(override, os.X_OK) else None
    return shutil.which("sipp")


def missing_asterisk() -> str | None:
    """Why the live tests cannot run here, or None."""
    binary = asterisk_binary()
    if not os.access(binary, os.X_OK):
        return f"Asterisk 22 not installed ({binary} missing): {INSTALL_HINT}"
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            return f"{tool} not installed (prompts for the live tests): {INSTALL_HINT}"
    return None


def missing_sipp() -> str | None:
    if sipp_binary() is None:
        return f"SIPp not installed (the SIP carrier of the live tests): {INSTALL_HINT}"
    return None


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


_PHONE_WAV = ("-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer")


def _run(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True)


def make_prompts() -> Path:
    """Generate the prompts once per machine (a cache folder in the temp dir)."""
    spec = repr(PROMPTS).encode()
    cache = (
        Path(tempfile.gettempdir()) / f"ringback-live-prompts-{hashlib.sha1(spec).hexdigest()[:10]}"
    )
    if (cache / "done").exists():
        return cache
    work = Path(tempfile.mkdtemp(prefix="ringback-prompts-"))
    try:
        for name, text, silence in PROMPTS:
            wav = work / f"{name}.wav"
            if text:
                raw = work / f"{name}.raw.wav"
                _run("espeak-ng", "-s", "150", "-w", str(raw), text)
                # The words, then the silence after them, as 8 kHz mono 16-bit.
                _run("sox", "-V1", str(raw), *_PHONE_WAV, str(wav), "pad", "0", str(silence))
                raw.unlink()
            else:
                _run("sox", "-V1", "-n", *_PHONE_WAV, str(wav), "trim", "0", str(silence))
            # SIPp's rtp_stream plays G.711 wav files: the same prompt in mu-law.
            _run("sox", "-V1", str(wav), "-e", "u-law", str(work / f"{name}.ulaw.wav"))
        (work / "done").write_text("ok\n")
        try:
            work.rename(cache)
        except OSError:  # another run made it first
            shutil.rmtree(work, ignore_errors=True)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return cache


@dataclass
class LivePbx:
    """A private Asterisk for one test session.

    ``local_carrier`` and ``pjsip_carrier`` are Originate channel templates (``{number}``
    is the E.164 number; its last two digits pick the far end's behaviour, see
    ``tests/live/asterisk/test-contexts.conf``); ``phones`` / ``sip_phones`` are agent
    dial strings.
    """

    dir: Path
    host: str = "127.0.0.1"
    username: str = "ringback"
    secret: str = field(default_factory=lambda: f"live-{secrets.token_hex(8)}")
    ami_port: int = field(default_factory=free_port)
    sip_port: int = field(default_factory=lambda: free_port(socket.SOCK_DGRAM))
    sipp_port: int = field(default_factory=lambda: free_port(socket.SOCK_DGRAM))
    local_carrier: str = f"Local/{{number}}@{CARRIER_CONTEXT}"
    pjsip_carrier: str = "PJSIP/{number}@trunk"
    phones: dict[str, str] = field(
        default_factory=lambda: {
            "answer": f"Local/agent-answer@{PHONES_CONTEXT}",
            "talk3": f"Local/agent-talk3@{PHONES_CONTEXT}",
            "noanswer": f"Local/agent-noanswer@{PHONES_CONTEXT}",
            "unreachable": "PJSIP/ringback-test-nobody",
        }
    )
    sip_phones: dict[str, str] = field(
        default_factory=lambda: {
            "answer": "PJSIP/agent-answer@trunk",
            "talk3": "PJSIP/agent-talk3@trunk",
            "noanswer": "PJSIP/agent-noanswer@trunk",
            "unreachable": "PJSIP/ringback-test-nobody",
        }
    )
    _proc: subprocess.Popen[bytes] | None = None
    _sipp: subprocess.Popen[bytes] | None = None

    # ---- paths --------------------------------------------------------------------

    @property
    def conf(self) -> Path:
        return self.dir / "etc" / "asterisk.conf"

    @property
    def sipp_log(self) -> Path:
        return self.dir / "sipp" / "sipp.log"

    def local(self, number: str) -> str:
        return self.local_carrier.format(number=number)

    # ---- Asterisk -----------------------------------------------------------------

    def rx(self, command: str, timeout: float = 15.0) -> str:
        """``asterisk -C DIR/etc/asterisk.conf -rx COMMAND``: the console's answer."""
        done = subprocess.run(
            [asterisk_binary(), "-C", str(self.conf), "-rx", command],
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        return done.stdout.decode(errors="replace")

    def write_config(self) -> None:
        for sub in ("etc", "db", "keys", "spool", "run", "log", "data/sounds/en", "sipp"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        values = {
            "@DIR@": str(self.dir),
            "@REPO@": str(REPO),
            "@AMI_PORT@": str(self.ami_port),
            "@AMI_SECRET@": self.secret,
            "@SIP_PORT@": str(self.sip_port),
            "@SIPP_PORT@": str(self.sipp_port),
        }
        for template in TEMPLATES.glob("*.conf"):
            text = template.read_text()
            for key, value in values.items():
                text = text.replace(key, value)
            (self.dir / "etc" / template.name).write_text(text)
        # astdatadir is ours (for sounds/); the rest of Asterisk's data dir is borrowed.
        system_data = Path("/var/lib/asterisk")
        if system_data.is_dir():
            for entry in system_data.iterdir():
                link = self.dir / "data" / entry.name
                if entry.name != "sounds" and not link.exists():
                    link.symlink_to(entry)
        prompts = make_prompts()
        for wav in prompts.glob("*.wav"):
            target = (
                self.dir / "sipp"
                if wav.name.endswith(".ulaw.wav")
                else self.dir / "data" / "sounds" / "en"
            )
            shutil.copy(wav, target / wav.name)

    def start(self, timeout: float = 40.0) -> None:
        self.write_config()
        log = (self.dir / "log" / "console.log").open("ab")
        self._proc = subprocess.Popen(
            [asterisk_binary(), "-C", str(self.conf), "-f"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 40.0) -> None:
        """Until AMI accepts connections and Asterisk is fully booted."""
        deadline = time.monotonic() + timeout
        while not port_open(self.ami_port):
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError(f"asterisk exited ({self._proc.returncode}); see {self.dir}/log")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"asterisk did not open AMI on {self.ami_port}; see {self.dir}/log"
                )
            time.sleep(0.1)
        while True:
            # Right after a restart the console socket may not answer yet: ask again.
            left = max(1.0, deadline - time.monotonic())
            out = self.rx("core waitfullybooted", timeout=left)
            if "fully booted" in out.lower():
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"asterisk not fully booted: {out!r}")
            time.sleep(0.1)

    def restart(self, timeout: float = 40.0) -> None:
        """``core restart now`` and wait until AMI is back (same process, same config)."""
        with socket.create_connection((self.host, self.ami_port), timeout=2.0) as watch:
            watch.settimeout(timeout)
            watch.recv(100)  # the banner
            self.rx("core restart now")
            with contextlib.suppress(OSError):
                while watch.recv(4096):
                    pass  # Asterisk closes every AMI session as it goes down
        self.wait_ready(timeout)

    def stop(self) -> None:
        self.stop_sipp()
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired, OSError):
                self.rx("core stop now", timeout=10.0)
            try:
                proc.wait(timeout=10.0)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5.0)
        self._proc = None

    # ---- SIPp ---------------------------------------------------------------------

    def start_sipp(self) -> None:
        binary = sipp_binary()
        if binary is None:
            raise RuntimeError(missing_sipp())
        log = self.sipp_log.open("ab")
        self._sipp = subprocess.Popen(
            [
                binary,
                "-sf",
                str(SIPP_SCENARIO),
                "-i",
                "127.0.0.1",
                "-p",
                str(self.sipp_port),
                "-mi",
                "127.0.0.1",
                "-mp",
                str(free_port(socket.SOCK_DGRAM)),
                "-nostdin",
                "-trace_err",
                "-trace_msg",
                "-message_file",
                str(self.dir / "sipp" / "messages.log"),
                "-error_file",
                str(self.dir / "sipp" / "errors.log"),
            ],
            cwd=self.dir / "sipp",
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        time.sleep(0.3)
        if self._sipp.poll() is not None:
            raise RuntimeError(f"sipp exited ({self._sipp.returncode}); see {self.sipp_log}")

    def stop_sipp(self) -> None:
        proc = self._sipp
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5.0)
        self._sipp = None

    def sipp_invites(self, number: str) -> int:
        """INVITEs SIPp received for ``number`` (from its message trace)."""
        path = self.dir / "sipp" / "messages.log"
        if not path.exists():
            return 0
        needle = f"INVITE sip:{number}@"
        return path.read_text(errors="replace").count(needle)


class AmiObserver:
    """A raw AMI connection (the shipped user, ``Events: on``) that keeps every byte.

    ``data`` is the stream exactly as received, banner first (the format of
    ``tests/fixtures/ami-traces/*.ami``); ``messages`` the same parsed into dicts, for counting.
    """

    def __init__(self, pbx: LivePbx) -> None:
        self._pbx = pbx
        self.data = bytearray()
        self.messages: list[dict[str, str]] = []
        self._buffer = b""
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    async def __aenter__(self) -> AmiObserver:
        self._reader, self._writer = await asyncio.open_connection(
            self._pbx.host, self._pbx.ami_port
        )
        self._writer.write(
            (
                "Action: Login\r\nActionID: observer-login\r\n"
                f"Username: {self._pbx.username}\r\nSecret: {self._pbx.secret}\r\n"
                "Events: on\r\n\r\n"
            ).encode()
        )
        self._task = asyncio.create_task(self._read())
        await self.wait_for(lambda m: m.get("ActionID") == "observer-login", within=10.0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._writer is not None and not self._writer.is_closing():
            with contextlib.suppress(OSError):
                self._writer.write(b"Action: Logoff\r\nActionID: observer-logoff\r\n\r\n")
                await self._writer.drain()
            if self._task is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(self._task), 2.0)
            self._writer.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await self._task

    async def _read(self) -> None:
        assert self._reader is not None
        while True:
            chunk = await self._reader.read(65536)
            if not chunk:
                return
            self.data += chunk
            self._buffer += chunk
            if (
                not self.messages
                and b"\r\n" in self._buffer
                and self._buffer.startswith(b"Asterisk")
            ):
                self._buffer = self._buffer.split(b"\r\n", 1)[1]  # the banner
            while b"\r\n\r\n" in self._buffer:
                block, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
                message: dict[str, str] = {}
                for line in block.decode(errors="replace").split("\r\n"):
                    key, _, value = line.partition(": ")
                    message.setdefault(key, value)
                self.messages.append(message)
            self._changed.set()

    def events(self, name: str, **fields: str) -> list[dict[str, str]]:
        return [
            m
            for m in self.messages
            if m.get("Event") == name and all(m.get(k) == v for k, v in fields.items())
        ]

    async def wait_for(
        self, predicate: Callable[[dict[str, str]], bool], within: float = 10.0
    ) -> dict[str, str]:
        async with asyncio.timeout(within):
            while True:
                for m in self.messages:
                    if predicate(m):
                        return m
                self._changed.clear()
                await self._changed.wait()

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(bytes(self.data))
