"""The ``ringback`` command line, for administrators and campaign managers."""

from __future__ import annotations

import asyncio
import csv
import functools
import json
import os
import sys
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ParamSpec, TypeVar
from zoneinfo import ZoneInfo

import typer
from pydantic import TypeAdapter
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from ami_bridge import AmiError
from ami_bridge.simulator import PbxSimulator
from campaigns.errors import DomainError as StoreError
from campaigns.errors import NotFound
from campaigns.imports.files import ImportFileError, ImportOptions
from campaigns.imports.loading import LoadSummary, load_contacts, load_dnc
from campaigns.model import CampaignState, DialMode
from campaigns.phones import PhoneError, normalise
from campaigns.ports.forecast import Forecast
from campaigns.services import Forecasts, Users
from campaigns.spec import Campaign, CampaignSpec, SpecError
from campaigns.storage.store import SqlAgentStore, SqlStore
from campaigns.users import Role, User
from campaigns.wrapup import EndReason, read_end_reasons
from dialer import logs
from dialer.app import open_store
from dialer.demo import run_demo
from dialer.forecast import simulate
from dialer.service import serve
from dialer.settings import Settings, load_settings

P = ParamSpec("P")
R = TypeVar("R")

app = typer.Typer(help="Ringback: outbound dialer and callback service for Asterisk.")
db_app = typer.Typer(help="Database schema.")
campaign_app = typer.Typer(help="Campaigns: create, apply, list, show, start, pause, resume.")
contacts_app = typer.Typer(help="Contact lists.")
dnc_app = typer.Typer(help="The do-not-call list.")
user_app = typer.Typer(help="Users of the agent API (agents, managers, administrators).")
end_reasons_app = typer.Typer(help="End reasons agents pick when a call ends.")
app.add_typer(db_app, name="db")
app.add_typer(campaign_app, name="campaign")
app.add_typer(contacts_app, name="contacts")
app.add_typer(dnc_app, name="dnc")
app.add_typer(user_app, name="user")
app.add_typer(end_reasons_app, name="end-reasons")

out = Console()
err = Console(stderr=True)


class Context:
    """What every command gets: settings, loaded once."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings


@app.callback()
def _main(
    ctx: typer.Context,
    config: Path | None = typer.Option(
        None, "--config", "-c", help="Settings file (default config/ringback.toml)."
    ),
) -> None:
    if config is not None:
        os.environ["RINGBACK_CONFIG"] = str(config)
    settings = load_settings()
    logs.configure(settings.log_level, settings.log_format)
    ctx.obj = Context(settings)


def _now() -> datetime:
    return datetime.now(UTC)


_EXPECTED = (StoreError, SpecError, ImportFileError, PhoneError, ValueError, AmiError)


def command(fn: Callable[P, Coroutine[Any, Any, R]]) -> Callable[P, R]:
    """Run an async command; expected errors become one clear line and exit code 1."""

    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return asyncio.run(fn(*args, **kwargs))
        except _EXPECTED as exc:
            err.print(f"[red]error:[/red] {exc}", highlight=False, markup=True)
            raise typer.Exit(1) from None

    return run


def _store(ctx: typer.Context) -> Any:
    settings: Settings = ctx.obj.settings
    return open_store(settings)


async def _with_store(ctx: typer.Context, work: Callable[[SqlStore], Awaitable[R]]) -> R:
    async with _store(ctx) as store:
        return await work(store)


# Database


@db_app.command("upgrade")
@command
async def db_upgrade(ctx: typer.Context) -> None:
    """Create or migrate the database schema to the current version."""
    async with _store(ctx):
        pass
    out.print("database is up to date")


# Campaigns


def _campaign_table(campaigns: list[Campaign]) -> Table:
    table = Table("id", "name", "state", "mode", "channel", "created")
    for c in campaigns:
        table.add_row(
            str(c.id),
            c.name,
            c.state.value,
            c.spec.dialing.mode.value,
            c.spec.dialing.channel,
            f"{c.created_at:%Y-%m-%d %H:%M}",
        )
    return table


@campaign_app.command("create")
@command
async def campaign_create(
    ctx: typer.Context,
    name: str,
    mode: DialMode = typer.Option(DialMode.PROGRESSIVE, help="Dialing mode."),
    channel: str = typer.Option("PJSIP/{number}@trunk", help="Originate channel template."),
    region: str = typer.Option("NO", help="Default region for numbers without +country."),
    timezone: str = typer.Option("Europe/Oslo", help="Campaign time zone."),
) -> None:
    """Create a campaign in draft (more settings: ``campaign apply FILE.toml``)."""
    spec = CampaignSpec.parse(
        {
            "name": name,
            "default_region": region,
            "timezone": timezone,
            "dialing": {"mode": mode, "channel": channel},
        },
        source="campaign",
    )
    campaign = await _with_store(ctx, lambda s: s.create_campaign(spec, _now()))
    out.print(f"created campaign {campaign.name!r} (id {campaign.id}, {campaign.state.value})")


@campaign_app.command("apply")
@command
async def campaign_apply(ctx: typer.Context, file: Path) -> None:
    """Create or update a campaign from a TOML file."""
    spec = CampaignSpec.from_toml(file)
    campaign, created = await _with_store(ctx, lambda s: s.apply_campaign(spec, _now()))
    verb = "created" if created else "updated"
    out.print(f"{verb} campaign {campaign.name!r} (id {campaign.id}, {campaign.state.value})")


@campaign_app.command("list")
@command
async def campaign_list(ctx: typer.Context) -> None:
    """List campaigns."""
    out.print(_campaign_table(await _with_store(ctx, lambda s: s.list_campaigns())))


@campaign_app.command("show")
@command
async def campaign_show(ctx: typer.Context, campaign: str) -> None:
    """Show a campaign's settings and progress."""

    async def work(store: SqlStore) -> None:
        found = await store.get_campaign(campaign)
        stats = await store.campaign_stats(found.id)
        out.print(_campaign_table([found]))
        out.print_json(found.spec.model_dump_json())
        progress = Table("contacts by state", "count")
        for state, n in sorted(stats.contacts_by_state.items()):
            progress.add_row(state.value, str(n))
        outcomes = Table("attempts by outcome", "count")
        for outcome, n in sorted(stats.attempts_by_outcome.items()):
            outcomes.add_row(outcome.value, str(n))
        outcomes.add_row("(in progress)", str(stats.attempts_open))
        out.print(progress, outcomes)

    await _with_store(ctx, work)


def _state_command(name: str, state: CampaignState, doc: str) -> None:
    @campaign_app.command(name, help=doc)
    @command
    async def move(ctx: typer.Context, campaign: str) -> None:
        moved = await _with_store(ctx, lambda s: s.set_campaign_state(campaign, state, _now()))
        out.print(f"campaign {moved.name!r} is {moved.state.value}")


_state_command("start", CampaignState.RUNNING, "Start dialing a draft campaign.")
_state_command("pause", CampaignState.PAUSED, "Pause a running campaign.")
_state_command("resume", CampaignState.RUNNING, "Resume a paused campaign.")
_state_command("finish", CampaignState.FINISHED, "Finish a campaign for good.")


# Contacts


def _print_summary(
    summary: LoadSummary, title: str, imported: str, merged: str, errors: Path | None
) -> None:
    table = Table("result", "rows", title=title)
    table.add_row(imported, str(summary.imported))
    table.add_row(merged, str(summary.merged))
    for reason, n in summary.refused.most_common():
        table.add_row(f"refused: {reason}", str(n))
    out.print(table)
    if errors is not None:
        out.print(f"{summary.refused_total} refused rows written to {errors}")


@contextmanager
def _progress(file: Path) -> Iterator[Callable[[LoadSummary], None]]:
    """A progress bar on stderr for loading ``file``; yields the loader's callback."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[rows]} rows"),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task(file.name, total=None, rows=0)

        def update(summary: LoadSummary) -> None:
            bar.update(task, total=summary.size, completed=summary.bytes_read, rows=summary.lines)

        yield update


_WORKERS = typer.Option(min(2, os.cpu_count() or 1), help="Processes checking numbers (0: none).")
_ERRORS = typer.Option(None, help="Write refused rows (line, reason) here.")


@contacts_app.command("import")
@command
async def contacts_import(
    ctx: typer.Context,
    campaign: str,
    file: Path,
    region: str | None = typer.Option(None, help="Default region (default: the campaign's)."),
    phone_column: str | None = typer.Option(None, help="Header of the phone column."),
    timezone_column: str | None = typer.Option(None, help="Header of a time zone column."),
    errors: Path | None = _ERRORS,
    workers: int = _WORKERS,
) -> None:
    """Import a CSV contact list (UTF-8, ',' or ';') into a campaign."""
    async with _store(ctx) as store:
        target = await store.get_campaign(campaign)
        options = ImportOptions(
            region=region or target.spec.default_region,
            default_timezone=target.spec.timezone,
            phone_column=phone_column,
            timezone_column=timezone_column,
            workers=workers,
        )
        with _progress(file) as progress:
            summary = await load_contacts(
                store,
                target.id,
                file,
                options,
                _now(),
                errors_path=errors,
                on_progress=progress,
            )
    _print_summary(summary, "contact import", "imported", "merged duplicates", errors)


# Do-not-call


def _numbers(raw: list[str], region: str) -> list[str]:
    return [normalise(number, region) for number in raw]


@dnc_app.command("add")
@command
async def dnc_add(
    ctx: typer.Context,
    numbers: list[str],
    region: str = typer.Option("NO", help="Region for numbers without +country."),
    reason: str = typer.Option("", help="Why (kept with the number)."),
) -> None:
    """Put numbers on the do-not-call list; contacts with them stop being dialled."""
    phones = _numbers(numbers, region)
    added = await _with_store(ctx, lambda s: s.dnc_add(phones, reason, _now()))
    out.print(f"{added} added, {len(set(phones)) - added} already listed")


@dnc_app.command("remove")
@command
async def dnc_remove(
    ctx: typer.Context,
    numbers: list[str],
    region: str = typer.Option("NO", help="Region for numbers without +country."),
) -> None:
    """Take numbers off the do-not-call list (contacts already closed stay closed)."""
    phones = _numbers(numbers, region)
    removed = await _with_store(ctx, lambda s: s.dnc_remove(phones))
    out.print(f"{removed} removed")


@dnc_app.command("import")
@command
async def dnc_import(
    ctx: typer.Context,
    file: Path,
    region: str = typer.Option("NO", help="Region for numbers without +country."),
    phone_column: str | None = typer.Option(None, help="Header of the phone column."),
    reason: str = typer.Option("imported", help="Why (kept with each number)."),
    errors: Path | None = _ERRORS,
    workers: int = _WORKERS,
) -> None:
    """Add every number of a CSV file (with a phone column) to the do-not-call list."""
    options = ImportOptions(region=region, phone_column=phone_column, workers=workers)
    async with _store(ctx) as store:
        with _progress(file) as progress:
            summary = await load_dnc(
                store, file, options, reason, _now(), errors_path=errors, on_progress=progress
            )
    _print_summary(summary, "do-not-call import", "added", "already listed", errors)


@dnc_app.command("list")
@command
async def dnc_list(ctx: typer.Context) -> None:
    """Every number on the do-not-call list, with its reason and when it was added."""
    listed = await _with_store(ctx, lambda s: s.dnc_list())
    table = Table("number", "reason", "added (UTC)")
    for phone, reason, added in listed:
        table.add_row(phone, reason, added.strftime("%Y-%m-%d %H:%M"))
    out.print(table)
    err.print(f"{len(listed)} numbers")


@dnc_app.command("export")
@command
async def dnc_export(
    ctx: typer.Context,
    file: Path = typer.Argument(
        ..., help="CSV file to write (phone,reason,added_at); - for stdout."
    ),
) -> None:
    """Write the do-not-call list as CSV (UTF-8), readable again by ``dnc import``."""
    listed = await _with_store(ctx, lambda s: s.dnc_list())
    target = sys.stdout if str(file) == "-" else file.open("w", encoding="utf-8", newline="")
    try:
        writer = csv.writer(target)
        writer.writerow(["phone", "reason", "added_at"])
        for phone, reason, added in listed:
            writer.writerow([phone, reason, added.isoformat()])
    finally:
        if target is not sys.stdout:
            target.close()
    err.print(f"{len(listed)} numbers written")


# End reasons


async def _campaign_id(store: SqlStore, campaign: str | None) -> int | None:
    return None if campaign is None else (await store.get_campaign(campaign)).id


@end_reasons_app.command("import")
@command
async def end_reasons_import(
    ctx: typer.Context,
    file: Path = typer.Argument(
        ..., help="TOML file of [[reason]] tables (config/end-reasons.toml)."
    ),
    campaign: str | None = typer.Option(None, help="Make them this campaign's own."),
) -> None:
    """Add the file's end reasons that are not there yet (by name); existing ones, edited or
    retired, are left as they are."""

    async def work(store: SqlStore) -> tuple[int, int]:
        reasons = read_end_reasons(file, await _campaign_id(store, campaign))
        return len(reasons), await SqlAgentStore(store.engine).add_end_reasons(reasons)

    listed, added = await _with_store(ctx, work)
    out.print(f"added {added} end reasons, {listed - added} already there")


@end_reasons_app.command("list")
@command
async def end_reasons_list(
    ctx: typer.Context,
    campaign: str | None = typer.Option(
        None, help="The global reasons and this campaign's (default: the global ones)."
    ),
    all_: bool = typer.Option(False, "--all", help="Every campaign's, retired ones too."),
) -> None:
    """End reasons in the agents' order."""

    async def work(store: SqlStore) -> list[EndReason]:
        campaign_id = await _campaign_id(store, campaign)
        agents = SqlAgentStore(store.engine)
        return await agents.list_end_reasons(campaign_id, offered=not all_)

    table = Table("id", "pos", "name", "closes", "follow-up queue", "campaign", "active")
    for r in await _with_store(ctx, work):
        table.add_row(
            str(r.id),
            str(r.position),
            r.name,
            "yes" if r.close_by_default else "no",
            r.followup_queue,
            "" if r.campaign_id is None else str(r.campaign_id),
            "yes" if r.active else "retired",
        )
    out.print(table)


# Forecast


@app.command("forecast")
@command
async def forecast_command(
    ctx: typer.Context,
    campaign: str,
    agents: int = typer.Option(10, help="Agents on the floor."),
    hours: float = typer.Option(8.0, help="Length of the shift."),
    seeds: int = typer.Option(5, help="Simulated runs, each with its own calls."),
    start: str | None = typer.Option(
        None,
        help="When the shift starts, ISO 8601 (without an offset: the campaign's zone); "
        "default now, or when the campaign's calling hours next open.",
    ),
    as_json: bool = typer.Option(False, "--json", help="The forecast as JSON."),
) -> None:
    """Forecast a campaign: its own history (defaults where it has none) replayed through
    a simulation of the floor with the planned agents and the campaign's settings."""

    async def work(store: SqlStore) -> tuple[Forecast, str]:
        target = await store.get_campaign(campaign)
        zone = target.spec.timezone
        begin = None
        if start is not None:
            begin = datetime.fromisoformat(start)
            if begin.tzinfo is None:
                begin = begin.replace(tzinfo=ZoneInfo(zone))
        forecasts = Forecasts(store, store, simulate, _now, time_limit=None)
        result = await forecasts.forecast(
            target.id, agents=agents, hours=hours, seeds=seeds, start=begin
        )
        return result, zone

    result, zone = await _with_store(ctx, work)
    if as_json:
        typer.echo(json.dumps(TypeAdapter(Forecast).dump_python(result, mode="json"), indent=2))
        return
    for line in _forecast_lines(result, ZoneInfo(zone)):
        typer.echo(line)


def _forecast_lines(f: Forecast, zone: ZoneInfo) -> list[str]:
    def at(moment: datetime) -> str:
        return f"{moment.astimezone(zone):%Y-%m-%d %H:%M} {zone.key}"

    def pct(x: float) -> str:
        return f"{x * 100:.1f} %"

    p = f.profile
    runs = "1 run" if f.seeds == 1 else f"{f.seeds} runs"
    lines = [
        f"forecast for {f.campaign!r} ({f.mode}, abandon cap {f.abandon_rate_cap:.0%}): "
        f"{f.agents} agents for {f.hours:g} h from {at(f.start)}, {runs}",
    ]
    if p.attempts_seen or p.talks_seen or p.wrapups_seen:
        lines.append(
            f"history: {p.attempts_seen} attempts, {p.talks_seen} talks, {p.wrapups_seen} "
            f"wrap-ups; {f.contacts_queued} contacts queued"
        )
        rates = ", ".join(f"{r:.0%}" for r in p.answer_rate_by_dial)
        lines.append(
            f"  replayed: a person answers {rates} of calls 1-6+; talk "
            f"{p.mean_talk_seconds:.0f} s, wrap-up {p.mean_wrapup_seconds:.0f} s on average"
        )
        if p.defaults:
            lines.append("  defaults: " + "; ".join(p.defaults))
    else:
        lines.append(f"no history: defaults; {f.contacts_queued} contacts queued")
        lines.append("  " + "; ".join(p.defaults))
    talks = [r.talk_minutes_per_agent_hour for r in f.runs]
    spread = f"  ({min(talks):.1f}-{max(talks):.1f} over the runs)" if len(talks) > 1 else ""
    lengths = [r.run_hours for r in f.runs]
    if min(lengths, default=f.hours) < f.hours:
        spread += f"; the runs end with the list, after {max(lengths):.1f} h at most"
    if not f.contacts_queued:
        exhausted = "no contact queued (see the note)"
    elif f.exhausted_at is not None:
        after = (f.exhausted_at - f.start).total_seconds() / 3600
        exhausted = f"{at(f.exhausted_at)}, after {after:.1f} h (the slowest of the runs)"
    elif f.exhausted_runs:
        exhausted = f"not within {f.hours:g} h (in {f.exhausted_runs} of {len(f.runs)} runs it is)"
    else:
        exhausted = f"not within {f.hours:g} h"
    lines += [
        f"talk minutes per agent hour  {f.talk_minutes_per_agent_hour:.1f}{spread}",
        f"abandon rate                 {pct(f.abandon_rate)} over the runs",
        f"abandon rate, rolling hour   {pct(f.abandon_rate_p95_hour)} 95th percentile over "
        f"the runs (worst {pct(f.worst_hour_abandon_rate)})",
        f"agent idle share             {pct(f.idle_share)}",
        f"calls per hour               {f.calls_per_hour:.0f}",
        f"list exhausted               {exhausted}",
    ]
    lines += [f"note: {note}" for note in f.notes]
    return lines


# Users


@user_app.command("add")
@command
async def user_add(
    ctx: typer.Context,
    username: str,
    role: Role = typer.Option(Role.AGENT, help="agent, manager or admin."),
    name: str = typer.Option("", help="Display name."),
    extension: str | None = typer.Option(
        None, help="The agent's phone as Asterisk dials it, e.g. PJSIP/ann."
    ),
) -> None:
    """Create a user and print their API token (shown once; store it safely)."""

    async def work(store: SqlStore) -> tuple[User, str]:
        users = Users(SqlAgentStore(store.engine), _now)
        return await users.create_user(username, role, name, extension)

    user, token = await _with_store(ctx, work)
    err.print(f"created {user.role.value} {user.username!r} (id {user.id}); API token:")
    out.print(token, highlight=False)


async def _user(store: SqlStore, username: str) -> tuple[Users, User]:
    agent_store = SqlAgentStore(store.engine)
    for user in await agent_store.list_users():
        if user.username == username:
            return Users(agent_store, _now), user
    raise NotFound(f"username: no user {username!r}", field="username")


@user_app.command("list")
@command
async def user_list(ctx: typer.Context) -> None:
    """Every user: id, username, role, name, extension, enabled or disabled."""
    users = await _with_store(ctx, lambda s: SqlAgentStore(s.engine).list_users())
    table = Table("id", "username", "role", "name", "extension", "state")
    for user in users:
        state = "active" if user.active else "disabled"
        table.add_row(
            str(user.id), user.username, user.role.value, user.name, user.extension or "", state
        )
    out.print(table)


@user_app.command("disable")
@command
async def user_disable(
    ctx: typer.Context,
    username: str,
    enable: bool = typer.Option(False, "--enable", help="Enable the user again."),
) -> None:
    """Disable a user: their token is refused (by a running service within 30 s)."""

    async def work(store: SqlStore) -> User:
        users, user = await _user(store, username)
        await users.set_active(user.id, enable)
        return user

    user = await _with_store(ctx, work)
    out.print(f"{'enabled' if enable else 'disabled'} {user.username!r} (id {user.id})")


@user_app.command("token")
@command
async def user_token(ctx: typer.Context, username: str) -> None:
    """Rotate a user's API token and print the new one; the old one stops working."""

    async def work(store: SqlStore) -> str:
        users, user = await _user(store, username)
        return await users.rotate_token(user.id)

    token = await _with_store(ctx, work)
    err.print(f"new API token for {username!r} (the old one is refused from now on):")
    out.print(token, highlight=False)


# Service


@app.command("serve")
@command
async def serve_command(ctx: typer.Context) -> None:
    """Run the dialer: AMI bridge, engine and agent API, until SIGTERM or Ctrl-C."""
    await serve(ctx.obj.settings)


@app.command("simulator")
@command
async def simulator_command(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(5038, help="AMI port."),
    username: str = typer.Option("ringback", help="AMI user."),
    secret: str = typer.Option("ringback", help="AMI secret."),
    seed: int = typer.Option(0, help="Random seed for call outcomes."),
    time_scale: float = typer.Option(
        1.0, help="Scale ring and talk times (0.1: ten times faster)."
    ),
) -> None:
    """Run the PBX simulator: an AMI server that plays out calls like Asterisk does."""
    async with PbxSimulator(
        host=host, port=port, username=username, secret=secret, seed=seed, time_scale=time_scale
    ) as pbx:
        err.print(f"PBX simulator: AMI on {host}:{pbx.port} (user {username}); Ctrl-C stops it")
        await pbx.serve_forever()


@app.command("demo")
@command
async def demo_command(
    ctx: typer.Context,
    seconds: float = typer.Option(300, help="How long to run (Ctrl-C ends it sooner)."),
    contacts: int = typer.Option(300, help="Generated contacts in the demo campaign."),
    agents: int = typer.Option(6, help="Simulated agents."),
    seed: int = typer.Option(1, help="Random seed (outcomes, agents' choices)."),
) -> None:
    """Watch the whole cycle: simulator, dialer, agents wrapping up and booking callbacks.

    Uses a fresh SQLite database in DATA_DIR/demo and the built-in PBX simulator.
    """
    settings: Settings = ctx.obj.settings
    demo_settings = settings.model_copy(
        update={
            "data_dir": settings.data_dir / "demo",
            "database_url": "",
            "ami": settings.ami.model_copy(update={"simulate": True}),
            "api": settings.api.model_copy(update={"port": 0}),
            "mqtt": settings.mqtt.model_copy(update={"enabled": False}),
        }
    )
    logs.configure("warning", settings.log_format)
    tally = await run_demo(
        demo_settings, seconds=seconds, contacts=contacts, agents=agents, seed=seed
    )
    async with open_store(demo_settings) as store:
        campaign = await store.get_campaign("demo")
        stats = await store.campaign_stats(campaign.id)
    total = sum(stats.attempts_by_outcome.values())
    out.print(
        f"\n{total} calls placed, {sum(tally.offered.values())} put through to agents, "
        f"{tally.registered} wrap-ups registered, {tally.machines_marked} machines marked, "
        f"{tally.callbacks_booked} callbacks booked and {tally.callbacks_taken} delivered."
    )
    out.print(f"The demo database is {demo_settings.effective_database_url}; try:")
    out.print(f"  RINGBACK_DATA_DIR={demo_settings.data_dir} {sys.argv[0]} campaign show demo")


def main() -> None:
    app()
