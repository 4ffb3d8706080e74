"""Everything the console does, without Textual: read state, run, edit mappings, manage foutmeldingen.

Blocking calls (SQLite, the secret store) are plain methods: the console calls them from thread workers.
Network calls are coroutines: the console awaits them in async workers. Each call opens its own Store,
so calls from different threads never share a SQLite connection.
"""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from connectors.contract import BookingTarget, CheckResult, Health
from connectors.model import CostCenter, InvoiceKind, Journal, LedgerAccount, VatCode
from state.config import ConfigError, ConfigFile, load_settings
from state.home import Home
from state.secrets import SecretStore, open_secret_store
from state.settings import CurrencyPolicy, Mapping, Settings
from state.store import Foutmelding, RunRow, Store
from sync.connect import (
    Candidate,
    Discovery,
    LoopbackListener,
    Word,
    disconnect,
    discover,
    open_listener,
    save_connection,
    supports,
    vendor_name,
)
from sync.connect_steps import (
    AskFields,
    Choose,
    Connected,
    ConnectRunner,
    OpenUrl,
    Place,
    Question,
    StepFailed,
    Words,
)
from sync.engine import Progress, RunReport
from sync.runs import ActiveRun, AlreadyRunning, RunService
from sync.scheduler import LEASE
from sync.service import build_connector, build_target, is_connected, run_koppeling, token_status
from sync.status import (
    KoppelingState,
    KoppelingStatus,
    NextRun,
    SchedulerHolder,
    next_runs,
    overview,
    reconnect_hint,
    scheduler_lease,
    with_reconnect_hint,
)

# The console's screens and widgets import from here only, never from state/ or connectors/
# (tests/test_layering.py): these are the types they show.
__all__ = [
    "ActiveRun",
    "AlreadyRunning",
    "AskFields",
    "CheckResult",
    "Choose",
    "ConfigError",
    "ConnectRunner",
    "Connected",
    "CurrencyPolicy",
    "Directory",
    "Foutmelding",
    "Health",
    "InvoiceKind",
    "Journal",
    "KoppelingState",
    "KoppelingStatus",
    "LedgerAccount",
    "LoopbackListener",
    "Mapping",
    "OpenUrl",
    "Place",
    "ProblemWindow",
    "Progress",
    "Question",
    "ReadOnlyError",
    "RunReport",
    "RunRequested",
    "RunRow",
    "SchedulerHolder",
    "StepFailed",
    "VatCode",
    "Words",
    "Workspace",
    "open_listener",
    "token_status",
    "vendor_name",
]


class ReadOnlyError(PermissionError):
    """The console runs in read-only mode (support staff): nothing may be written or run."""

    def __init__(self, what: str) -> None:
        super().__init__(f"Alleen-lezen: {what} is niet toegestaan (start zonder --read-only).")


@dataclass(frozen=True)
class Directory:
    """The target's live chart of accounts, VAT codes, kostenplaatsen and dagboeken, for the mapping
    editor. `journals` is empty for a target without dagboeken (one that books per soort mutatie)."""

    ledger_accounts: list[LedgerAccount]
    vat_codes: list[VatCode]
    cost_centers: list[CostCenter]
    journals: list[Journal]


@dataclass(frozen=True)
class RunRequested:
    """The daemon holds the scheduler lease: the run was queued for it instead of run here."""

    request_id: int
    holder: str


@dataclass(frozen=True)
class ProblemWindow:
    """A slice of a koppeling's foutmeldingen; counts only on a fresh list (None when continuing one)."""

    rows: list[Foutmelding]
    total: int | None
    open_count: int | None
    scan: bool


class Workspace:
    def __init__(self, home: Home, *, read_only: bool = False, actor: str | None = None) -> None:
        self.home = home
        self.read_only = read_only
        self.actor = actor or getpass.getuser()
        self.settings: Settings = load_settings(home.config)
        self.secrets: SecretStore = open_secret_store(self.settings.app, home.root)
        # Runs belong to the program: they outlive the screen that started them.
        self.run_service = RunService(self.run)

    def reload(self) -> Settings:
        self.settings = load_settings(self.home.config)
        return self.settings

    @contextmanager
    def store(self) -> Iterator[Store]:
        store = Store(self.home.database)
        try:
            yield store
        finally:
            store.close()

    def _writable(self, what: str) -> None:
        if self.read_only:
            raise ReadOnlyError(what)

    # -- overview -----------------------------------------------------------------------------------

    def overview(self) -> tuple[list[KoppelingStatus], SchedulerHolder | None]:
        """Every koppeling's status; a run busy in this process shows its live counts (the database
        hears a run's counts per page, the run service after every booking)."""
        with self.store() as store:
            rows, holder = overview(self.settings, store, self.secrets), scheduler_lease(store)
        for index, row in enumerate(rows):
            run = self.run_service.current(row.name)
            if run is not None and not run.done:
                rows[index] = row.with_live_run(run.snapshot())
        return rows, holder

    def next_runs(self, koppeling: str, count: int = 5) -> list[NextRun]:
        """The schedule's next fire times, with a pending retry of a failed night among them."""
        with self.store() as store:
            return next_runs(self.settings, store, koppeling, count)

    # -- foutmeldingen ------------------------------------------------------------------------------

    def foutmeldingen(
        self,
        koppeling: str,
        *,
        status: str | None = "open",
        text: str = "",
        offset: int = 0,
        limit: int = 200,
    ) -> tuple[list[Foutmelding], int]:
        with self.store() as store:
            rows, total = store.foutmeldingen_page(
                koppeling, status=status, text=text, offset=offset, limit=limit
            )
        return [with_reconnect_hint(row) for row in rows], total

    def problem_records(self, problem_id: int) -> list[tuple[str, str, str]]:
        with self.store() as store:
            return store.problem_records(problem_id)

    def foutmeldingen_window(
        self,
        koppeling: str,
        *,
        status: str | None = "open",
        text: str = "",
        after: tuple[str, int] | None = None,
        before: tuple[str, int] | None = None,
        limit: int = 200,
        scan: bool | None = None,
        count: bool | None = None,
    ) -> ProblemWindow:
        """Rows for a scrolling list of foutmeldingen that never loads them all (100,000 stay fast).

        A fresh list (no keyset `after`/`before`, or `count=True`) is counted, with the open count for
        the tab label. A continued list is not; pass it the `scan` the fresh list chose."""
        with self.store() as store:
            total: int | None = None
            open_count: int | None = None
            if count or (count is None and after is None and before is None):
                open_count = store.open_problem_count(koppeling)
                if text and after is None and before is None:
                    # Search as you type: one pass over the table answers most keystrokes.
                    rows, total, scan = store.foutmeldingen_search(
                        koppeling, status=status, text=text, limit=limit
                    )
                    return ProblemWindow([with_reconnect_hint(r) for r in rows], total, open_count, scan)
                total = store.foutmeldingen_count(koppeling, status=status, text=text)
                if total == 0:
                    return ProblemWindow([], 0, open_count, False)
                if scan is None:
                    # A rare match is found faster by one sequential scan than through the index.
                    base = store.foutmeldingen_count(koppeling, status=status) if text else total
                    scan = bool(text) and total * 10 < base
            rows = store.foutmeldingen_window(
                koppeling, status=status, text=text, after=after, before=before, limit=limit, scan=bool(scan)
            )
            return ProblemWindow([with_reconnect_hint(r) for r in rows], total, open_count, bool(scan))

    def foutmelding(self, problem_id: int) -> Foutmelding | None:
        with self.store() as store:
            problem = store.foutmelding(problem_id)
        return None if problem is None else with_reconnect_hint(problem)

    def open_problem_count(self, koppeling: str) -> int:
        with self.store() as store:
            return store.open_problem_count(koppeling)

    def problem_records_page(
        self, problem_id: int, *, offset: int = 0, limit: int = 200
    ) -> tuple[list[tuple[str, str, str]], int]:
        """A page of a foutmelding's records (a problem can hold thousands) and the total."""
        with self.store() as store:
            return store.problem_records_page(problem_id, offset=offset, limit=limit)

    def problem_references(self, problem_id: int) -> list[str]:
        with self.store() as store:
            return store.problem_references(problem_id)

    def set_problem_status(self, problem: Foutmelding, status: str) -> None:
        self._writable("een foutmelding wijzigen")
        with self.store() as store:
            store.set_problem_status(problem.id, status)
            store.audit(self.actor, f"foutmelding {status}", problem.koppeling, {"title": problem.title})

    # -- runs ---------------------------------------------------------------------------------------

    async def run(
        self,
        koppeling: str,
        *,
        dry_run: bool = False,
        retry: bool | frozenset[str] = False,
        trigger: str = "manual",
        on_progress: Callable[[Progress], None] | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> RunReport | RunRequested:
        """Run here, unless the daemon schedules: then queue the run for it (it owns the vendors).
        The console starts runs through `run_service`, which calls this in a thread of its own."""
        if not dry_run:
            self._writable("een koppeling draaien")
        with self.store() as store:
            lease = store.lease(LEASE)
            if lease is not None and lease.owner.startswith("daemon:") and not retry:
                request_id = store.request_run(koppeling, dry_run, f"console:{self.actor}")
                return RunRequested(request_id, f"daemon (pid {lease.pid} op {lease.host})")
        return await run_koppeling(
            self.home,
            koppeling,
            dry_run=dry_run,
            retry=retry,
            trigger=trigger,
            on_progress=on_progress,
            stop=stop,
        )

    def runs(self, koppeling: str, limit: int = 50) -> list[RunRow]:
        with self.store() as store:
            return store.runs(koppeling, limit)

    def run_records(self, run_id: int) -> list[tuple[str, str, str]]:
        with self.store() as store:
            return store.run_records(run_id)

    # -- mapping ------------------------------------------------------------------------------------

    async def _target(self, koppeling: str) -> BookingTarget:
        name = self.settings.koppelingen[koppeling].target
        # In a thread: the secret may come from a slow keyring, an OAuth target opens its token vault.
        return await asyncio.to_thread(
            build_target, name, self.settings.connections[name], self.secrets, home=self.home
        )

    async def directory(self, koppeling: str) -> Directory:
        """Live ledger accounts, VAT codes, kostenplaatsen and dagboeken from the koppeling's target,
        over one connection (an OAuth target refreshes its token once, a SOAP target logs in once)."""
        target = await self._target(koppeling)
        try:
            # By code: a target may list in the order of its internal ids, which is no order a person can scan.
            return Directory(
                sorted(await target.ledger_accounts(), key=lambda a: a.code),
                await target.vat_codes(),
                sorted(await target.cost_centers(), key=lambda c: c.code),
                sorted(await target.journals(), key=lambda j: j.code),
            )
        finally:
            await target.aclose()

    async def default_vat_codes(
        self, koppeling: str, rates: dict[str, tuple[InvoiceKind, Decimal, bool]]
    ) -> dict[str, str | None]:
        """Per key, the btw-code the target picks for (soort, rate, verlegd) when the mapping names none.
        Asks no vendor, so it is known even when the vendor is unreachable."""
        target = await self._target(koppeling)
        try:
            return {key: target.default_vat_code(*rate) for key, rate in rates.items()}
        finally:
            await target.aclose()

    def target_vendor(self, koppeling: str) -> str:
        """The name of the target's vendor, as people know it (the spec's label)."""
        return vendor_name(self.settings.connections[self.settings.koppelingen[koppeling].target])

    def default_journal(self, koppeling: str, kind: InvoiceKind) -> str:
        """The dagboek the connection books this soort in when the koppeling names none ('' when the
        target has no dagboeken)."""
        connection = self.settings.connections[self.settings.koppelingen[koppeling].target]
        return connection.journal("verkoop" if kind is InvoiceKind.SALES else "inkoop")

    def unmapped_values(self, koppeling: str) -> list[str]:
        """Mapping keys that parked records are waiting for (from open mapping foutmeldingen)."""
        with self.store() as store:
            return store.unmapped_codes(koppeling)

    def save_mapping(self, koppeling: str, keys: tuple[str, ...], value: str) -> None:
        """Write one mapping value into koppelaar.toml (comments kept) and audit old → new."""
        self._writable("de mapping wijzigen")
        path = ("koppelingen", koppeling, "mapping", *keys)
        config = ConfigFile.open(self.home.config)
        old: object = config.data()
        for key in path:
            old = old.get(key, "") if isinstance(old, dict) else ""
        if value:
            config.set(path, value)
        else:
            config.delete(path)
        config.save()
        self.reload()
        with self.store() as store:
            store.audit(self.actor, "mapping", koppeling, {"key": ".".join(keys), "old": old, "new": value})

    def save_setting(self, koppeling: str, keys: tuple[str, ...], value: str | bool | int) -> None:
        """One koppeling setting into koppelaar.toml (validated before writing; audited)."""
        self._writable("instellingen wijzigen")
        config = ConfigFile.open(self.home.config)
        old: object = config.settings().koppelingen[koppeling].model_dump(mode="json")
        for key in keys:
            old = old.get(key, "") if isinstance(old, dict) else ""
        config.set(("koppelingen", koppeling, *keys), value)
        config.save()
        self.reload()
        with self.store() as store:
            store.audit(
                self.actor, "instelling", koppeling, {"key": ".".join(keys), "old": old, "new": value}
            )

    def set_flag(self, koppeling: str, flag: Literal["paused", "deactivated"], on: bool) -> None:
        """Pause/resume or deactivate/activate a koppeling."""
        self.save_setting(koppeling, (flag,), on)

    # -- connections --------------------------------------------------------------------------------

    async def check(self, connection: str) -> CheckResult:
        connector = await asyncio.to_thread(
            build_connector, connection, self.settings.connections[connection], self.secrets, home=self.home
        )
        try:
            result = await connector.check()
        finally:
            await connector.aclose()
        if result.health is Health.AUTH_FAILED:
            advice = " ".join(part for part in (result.advice, reconnect_hint(connection)) if part)
            return CheckResult(result.health, result.reason, advice)
        return result

    # -- connecting (the console's connect wizard; `koppelaar connect` takes the same steps) ---------

    def wizard_connections(self) -> dict[str, str]:
        """Connection name → vendor, for every connection the connect wizard can connect (its spec has
        connect steps)."""
        return {
            name: vendor_name(connection)
            for name, connection in self.settings.connections.items()
            if supports(connection)
        }

    def is_connected(self, connection: str) -> bool:
        """All secrets present (blocking: the secret store may be a keyring)."""
        return is_connected(connection, self.settings.connections[connection], self.secrets)

    async def discover_connection(self, chosen: Candidate) -> Discovery:
        """Check typed-in credentials against the vendor and fetch the choices; stores nothing, so it
        is allowed in read-only mode too (looking, not changing)."""
        return await discover(self.settings, self.secrets, chosen)

    def save_connection(
        self,
        chosen: Candidate,
        *,
        administratie: str | None = None,
        tegenrekeningen: dict[tuple[str, Word], str] | None = None,
    ) -> None:
        self._writable("verbinden")
        save_connection(
            self.home.config,
            self.home.database,
            self.secrets,
            chosen,
            actor=self.actor,
            administratie=administratie,
            tegenrekeningen=tegenrekeningen,
        )
        self.reload()

    def disconnect(self, connection: str) -> None:
        self._writable("een verbinding verbreken")
        disconnect(
            connection,
            self.settings.connections[connection],
            self.home.database,
            self.secrets,
            actor=self.actor,
        )
