"""Per koppeling, what an admin needs at a glance: status, last and next run, open foutmeldingen."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from state.secrets import SecretStore
from state.settings import Settings
from state.store import Foutmelding, Store
from sync.engine import Progress
from sync.scheduler import LEASE, next_fire_times
from sync.service import is_connected, token_status, uses_oauth


class KoppelingState(StrEnum):
    NIET_VERBONDEN = "Niet verbonden"
    WACHT_OP_AUTORISATIE = "Wacht op autorisatie"
    ACTIEF = "Actief"
    HERAUTORISATIE = "Herautorisatie nodig"
    GEPAUZEERD = "Gepauzeerd"
    GEDEACTIVEERD = "Gedeactiveerd"
    FOUT = "Fout"


@dataclass(frozen=True)
class KoppelingStatus:
    name: str
    source: str
    target: str
    state: KoppelingState
    reason: str
    last_run_at: str | None
    last_run_status: str | None
    last_run_booked: int
    last_run_failed: int
    next_run_at: str | None
    next_run_retry: str | None  # '1/2' when the next run is the first of two retries of a failed night
    open_foutmeldingen: int
    unmapped: int  # mapping values that parked records are waiting for
    running: bool
    # Other active koppelingen that read the same source into the same administratie: each offers every
    # invoice, so one books and the others find it 'al aanwezig' (usually a koppeling set up twice).
    shared_with: tuple[str, ...] = ()

    def with_live_run(self, progress: Progress) -> KoppelingStatus:
        """This status while a run of this process is busy: its counts as they are now."""
        return replace(
            self,
            running=True,
            last_run_booked=progress.booked,
            last_run_failed=progress.failed + progress.parked,
        )

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["state"] = self.state.value
        return data


@dataclass(frozen=True)
class NextRun:
    at: datetime
    retry: int = 0  # n: the n-th retry of a failed scheduled run; 0: the schedule itself
    retries: int = 0  # how many retries the koppeling allows a night


def next_runs(settings: Settings, store: Store, name: str, count: int) -> list[NextRun]:
    """The next `count` runs of a koppeling: its schedule, and a pending retry of a failed night."""
    koppeling = settings.koppelingen[name]
    timezone = ZoneInfo(settings.app.timezone)
    runs = [NextRun(fire) for fire in next_fire_times(koppeling.schedule, settings.app.timezone, count)]
    runs += [
        NextRun(datetime.fromisoformat(retry.due_at).astimezone(timezone), retry.attempt, koppeling.retries)
        for retry in store.pending_retries(name)
    ]
    return sorted(runs, key=lambda run: run.at)[:count]


def shared_feeds(settings: Settings) -> dict[str, tuple[str, ...]]:
    """Per koppeling, the other active koppelingen that feed its source into its administratie."""
    groups: dict[tuple[str, str, str], list[str]] = {}
    for name, koppeling in settings.koppelingen.items():
        target = settings.connections.get(koppeling.target)
        if koppeling.deactivated or target is None:
            continue
        # Two connections may reach one administratie (SOAP and REST, say): the administratie counts.
        where = (target.system, target.administratie_id or f"verbinding:{koppeling.target}")
        groups.setdefault((koppeling.source, *where), []).append(name)
    return {
        name: tuple(other for other in names if other != name)
        for names in groups.values()
        if len(names) > 1
        for name in names
    }


def overview(settings: Settings, store: Store, secrets: SecretStore) -> list[KoppelingStatus]:
    shared = shared_feeds(settings)
    result = []
    for name, koppeling in settings.koppelingen.items():
        runs = store.runs(name, limit=1)
        last = runs[0] if runs else None
        state, reason = KoppelingState.ACTIEF, ""
        warning = ""
        for connection in (koppeling.source, koppeling.target):
            conn = settings.connections.get(connection)
            health = store.health(connection)
            if conn is None or not is_connected(connection, conn, secrets):
                state, reason = KoppelingState.NIET_VERBONDEN, f"{connection}: niet verbonden"
                break
            if uses_oauth(conn):
                tokens = token_status(store.path, connection, secrets)
                if tokens is None:
                    state, reason = (
                        KoppelingState.WACHT_OP_AUTORISATIE,
                        f"{connection}: autoriseer de applicatie",
                    )
                    break
                if tokens.state == "needs_reauth":
                    state, reason = KoppelingState.HERAUTORISATIE, f"{connection}: {tokens.reason}"
                    break
                days_left = tokens.days_until_refresh_expiry
                if tokens.warn and days_left is not None and not warning:
                    # Days from the vendor's idle expiry: it still works, but the keep-alive should have
                    # refreshed it; say so before it becomes a re-authorization.
                    warning = f"{connection}: {authorization_warning(days_left)}"
            if health and health[0] == "auth_failed":
                state, reason = KoppelingState.HERAUTORISATIE, f"{connection}: {health[1]}"
                break
        else:
            if koppeling.deactivated:
                state, reason = KoppelingState.GEDEACTIVEERD, "gedeactiveerd"
            elif koppeling.paused:
                state, reason = KoppelingState.GEPAUZEERD, "gepauzeerd"
            elif last is not None and last.status == "failed":
                state, reason = KoppelingState.FOUT, last.message
            if warning:
                reason = f"{reason}; {warning}" if reason else warning
        nxt = retry = None
        if not (koppeling.paused or koppeling.deactivated):
            upcoming = next_runs(settings, store, name, 1)
            if upcoming:
                nxt = upcoming[0].at.isoformat(timespec="minutes")
                if upcoming[0].retry:
                    retry = f"{upcoming[0].retry}/{upcoming[0].retries}"
        result.append(
            KoppelingStatus(
                name=name,
                source=koppeling.source,
                target=koppeling.target,
                state=state,
                reason=reason,
                last_run_at=last.started_at if last else None,
                last_run_status=last.status if last else None,
                last_run_booked=last.booked if last else 0,
                last_run_failed=last.failed if last else 0,
                next_run_at=nxt,
                next_run_retry=retry,
                open_foutmeldingen=store.open_problem_count(name),
                unmapped=len(store.unmapped_codes(name)),
                running=last is not None and last.status == "running",
                shared_with=shared.get(name, ()),
            )
        )
    return result


def authorization_warning(days_left: float) -> str:
    """The overview's words for a refresh token close to the vendor's idle expiry."""
    days = max(1, math.ceil(days_left))
    if days_left <= 0:
        return "autorisatie verlopen (te lang niet vernieuwd)"
    return f"autorisatie verloopt over {days} {'dag' if days == 1 else 'dagen'}"


def reconnect_hint(connection: str) -> str:
    """Where a refused connection is entered again. The vendor's advice says what to create; it cannot
    say where to enter it (in the console's connect wizard, or on the command line)."""
    return (
        f"Opnieuw verbinden: toets v op het tabblad Status van de koppeling, of op de opdrachtregel "
        f"koppelaar connect {connection}."
    )


def with_reconnect_hint(problem: Foutmelding) -> Foutmelding:
    """A foutmelding about refused credentials ('authenticatie:<verbinding>') says where to reconnect."""
    kind, _, connection = problem.origin.partition(":")
    if kind != "authenticatie" or not connection:
        return problem
    return replace(
        problem, advice=" ".join(part for part in (problem.advice, reconnect_hint(connection)) if part)
    )


NOBODY = "niemand (geen daemon of console plant de runs)"

# A run's state as a person reads it (the store keeps 'partial', 'failed', 'dry_run').
RUN_STATES = {
    "ok": "ok",
    "partial": "gedeeltelijk",
    "failed": "mislukt",
    "busy": "bezig",
    "running": "bezig",
    "dry_run": "proefrun",
}

PROBLEM_STATES = {"open": "open", "ignored": "genegeerd", "resolved": "opgelost"}


def run_state(status: str | None) -> str:
    return RUN_STATES.get(status or "", status or "")


def local_text(iso: str | None, timezone: str) -> str:
    """'2026-01-21 03:15' in app.timezone: the store keeps UTC, a person reads local time."""
    if not iso:
        return "—"
    moment = datetime.fromisoformat(iso)
    if moment.tzinfo is not None:
        moment = moment.astimezone(ZoneInfo(timezone))
    return f"{moment:%Y-%m-%d %H:%M}"


@dataclass(frozen=True)
class SchedulerHolder:
    """The process that plans the runs: a daemon or a console, since `since` (ISO, UTC)."""

    role: str
    pid: int
    host: str
    since: str


def scheduler_lease(store: Store) -> SchedulerHolder | None:
    lease = store.lease(LEASE)
    if lease is None:
        return None
    return SchedulerHolder(lease.owner.split(":", 1)[0], lease.pid, lease.host, lease.acquired_at)


def scheduler_holder(store: Store, timezone: str | None = None) -> str:
    """Who plans the runs, in words; with `timezone` the time as a person reads it, without (--json)
    ISO in UTC."""
    holder = scheduler_lease(store)
    if holder is None:
        return NOBODY
    since = local_text(holder.since, timezone) if timezone else holder.since
    return f"{holder.role} (pid {holder.pid} op {holder.host}, sinds {since})"
