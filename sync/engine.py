"""One run of one koppeling: preflight, reconcile, fetch, map, outbox, push, foutmeldingen, cursors.

A koppeling is a flow: one stream of the source (read per partition, each since its own cursor), a
mapping strategy (sync.mapping.BookingFlow) and the target. Nothing is lost: every fetched record ends
booked, parked as a foutmelding, or still unfinished in the outbox (and then its partition's cursor
stays before it). Nothing is booked twice: a row is marked SENDING before its request leaves, and a
row that may have reached the target is looked up by reference before it is ever posted again.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from connectors.contract import (
    BookingTarget,
    CheckResult,
    CreateOutcome,
    Health,
    Payload,
    RecordOutcome,
    Source,
    SourceRecord,
    Stream,
)
from connectors.errors import AuthError, ConnectorError, Origin, RejectedError, TransientError, UncertainError
from connectors.http import wait_listener
from connectors.model import InvoiceKind, JournalEntry
from state.settings import Koppeling
from state.store import OutboxRow, OutboxState, Store
from sync.logfile import log_path
from sync.mapping import BookingFlow, Mapper, MappingProblem

log = logging.getLogger("koppelaar.engine")

RUN_LEASE_SECONDS = 300.0
# The outcome a source hears for a record whose outbox row is final.
_SETTLED = {
    OutboxState.SENT: RecordOutcome.BOOKED,
    OutboxState.SKIPPED: RecordOutcome.SKIPPED,
    OutboxState.PARKED: RecordOutcome.PARKED,
    OutboxState.FAILED: RecordOutcome.PARKED,
}


class RunStatus(StrEnum):
    OK = "ok"
    PARTIAL = "partial"  # done, but some records are parked as foutmeldingen or still uncertain
    FAILED = "failed"  # the koppeling could not run (credentials, connection, a bug)
    BUSY = "busy"  # another process is running this koppeling


@dataclass(frozen=True)
class _Key:
    reference: str
    record_id: str
    partition: str
    cursor_key: str


@dataclass
class _Read:
    """One partition of the flow's stream in this run: its cursor before, and how far the run got."""

    partition: str
    cursor: str | None
    max_seen: str | None = None
    completed: bool = False


@dataclass(frozen=True)
class PlannedBooking:
    reference: str
    invoice_number: str
    relation: str
    gross: str
    lines: tuple[tuple[str, str, str, str], ...]  # tegenrekening, btw-code, net, vat


@dataclass
class Progress:
    phase: str = "voorbereiden"
    fetched: int = 0
    booked: int = 0  # by this run
    already_present: int = 0  # found booked at the target already (another koppeling, or by hand)
    skipped: int = 0
    failed: int = 0
    uncertain: int = 0
    parked: int = 0
    concurrency: int = 1
    waiting: str = ""  # why the run pauses now, as the connector says (a rate limit's reset, Retry-After)
    waiting_until: datetime | None = None  # local time it resumes


@dataclass
class RunReport:
    koppeling: str
    run_id: int
    dry_run: bool
    status: RunStatus = RunStatus.OK
    message: str = ""
    progress: Progress = field(default_factory=Progress)
    planned: list[PlannedBooking] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    # FAILED, but running again later may succeed without anyone acting: the scheduler retries it.
    retryable: bool = False


class ConcurrencyGovernor:
    """How many creates may be in flight: grows while throughput is below the target's ceiling.

    The rate limiter in the HTTP layer enforces the ceiling; this only makes sure latency does not
    keep us under it, without flooding a vendor that asks for one request at a time.
    """

    def __init__(self, per_second: float, max_concurrency: int) -> None:
        self.per_second = per_second
        self.max = max(1, max_concurrency)
        self.limit = 1
        self._active = 0
        self._cond = asyncio.Condition()
        self._window_start = time.monotonic()
        self._window_done = 0

    async def __aenter__(self) -> None:
        async with self._cond:
            await self._cond.wait_for(lambda: self._active < self.limit)
            self._active += 1

    async def __aexit__(self, *exc: object) -> None:
        async with self._cond:
            self._active -= 1
            self._window_done += 1
            elapsed = time.monotonic() - self._window_start
            if elapsed >= 1.0:
                achieved = self._window_done / elapsed
                if achieved < 0.9 * self.per_second and self.limit < self.max:
                    self.limit = min(self.max, self.limit * 2)
                self._window_start, self._window_done = time.monotonic(), 0
            self._cond.notify_all()

    async def throttled(self) -> None:
        async with self._cond:
            self.limit = max(1, self.limit // 2)


class _Abort(Exception):
    """Stop the run: nothing after this can succeed (e.g. the target rejected our credentials)."""


class _Stopped(_Abort):
    """Stop the run because someone asked (the console is quitting): what is in flight settles first."""


class Engine:
    def __init__(
        self,
        store: Store,
        name: str,
        koppeling: Koppeling,
        source: Source,
        target: BookingTarget,
        *,
        on_progress: Callable[[Progress], None] | None = None,
        flow: BookingFlow | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> None:
        self.store = store
        self.name = name
        self.koppeling = koppeling
        self.source = source
        self.target = target
        self.flow: BookingFlow = flow or Mapper(koppeling, target)
        self.on_progress = on_progress
        self._stop = stop  # asked between records: no new booking starts once it says True
        self._owner = f"run-{uuid.uuid4().hex[:12]}"
        self._relation_locks: dict[str, asyncio.Lock] = {}
        self._abort: _Abort | None = None
        self._retry: bool | frozenset[str] = False
        self._queued: set[str] = set()  # references this run put in the push queue
        self._pauses: dict[int, tuple[str, float]] = {}  # pauses under way, by their task

    # -- the run ------------------------------------------------------------------------------------

    async def run(
        self, *, dry_run: bool = False, trigger: str = "manual", retry: bool | frozenset[str] = False
    ) -> RunReport:
        """One run. `retry` also re-maps parked records (all, or these references) after a fix."""
        self._retry = retry
        self._queued = set()
        lease = f"run:{self.name}"
        if not self.store.acquire_lease(lease, self._owner, RUN_LEASE_SECONDS):
            holder = self.store.lease(lease)
            who = f"proces {holder.pid} op {holder.host}" if holder else "een ander proces"
            return RunReport(self.name, 0, dry_run, RunStatus.BUSY, f"{self.name} draait al ({who})")
        self.store.close_stale_runs()
        run_id = self.store.start_run(self.name, trigger, dry_run)
        report = RunReport(self.name, run_id, dry_run)
        listening = wait_listener.set(lambda why, until: self._pausing(report.progress, why, until))
        try:
            await self._run(report)
        except Exception as exc:  # a bug of ours: record it, never lose the run's trace
            error = f"{type(exc).__name__}: {str(exc)[:300]}"
            report.status, report.message = RunStatus.FAILED, f"Interne fout: {error}"
            # Often the surroundings (a locked database, a full disk) rather than a bug that repeats;
            # a run is safe to repeat, and the scheduler bounds how often.
            report.retryable = True
            # The traceback goes to the log; the foutmelding says what happened, in which run, and where
            # that log is, so support can act on it without a debugger.
            log.exception("run %s van %s: interne fout", run_id, self.name)
            self.store.report_problem(
                self.name,
                origin=Origin.OURS,
                code=type(exc).__name__,
                title=f"Interne fout in Koppelaar: {error}",
                advice=(
                    f"Run {run_id} stopte hierdoor; een volgende run is veilig. De volledige foutmelding"
                    f" (traceback) staat in {log_path(self.store.path.parent)}. Meld dit bij de leverancier"
                    " van Koppelaar met dat bestand en het tijdstip van de run."
                ),
                retryable=True,
                detail=error,
            )
        finally:
            wait_listener.reset(listening)
            p = report.progress
            self.store.update_run(
                run_id,
                fetched=p.fetched,
                booked=p.booked,
                skipped=p.skipped,
                failed=p.failed + p.parked,
                uncertain=p.uncertain,
                concurrency=p.concurrency,
            )
            self.store.finish_run(
                run_id,
                "dry_run" if dry_run and report.status is RunStatus.OK else report.status.value,
                report.message,
            )
            self.store.release_lease(lease, self._owner)
        return report

    async def _run(self, report: RunReport) -> None:
        self._phase(report, "verbinding controleren")
        if not await self._preflight(report):
            report.status = RunStatus.FAILED
            return
        if not report.dry_run:
            self._phase(report, "onzekere boekingen opzoeken")
            await self._reconcile(report)
            await self._attach_owed(report)
        self._phase(report, "ophalen en boeken")
        reads = await self._pipeline(report)
        if not report.dry_run:
            if self._abort is None:
                self._phase(report, "onzekere boekingen opzoeken")
                await self._reconcile(report, only_unknown=True)
                await self._attach_owed(report)
            for read in reads:
                self._move_cursor(read)
        p = report.progress
        if isinstance(self._abort, _Stopped):
            report.status = RunStatus.PARTIAL
            report.message = f"{p.booked} geboekt; gestopt op verzoek, de rest volgt bij de volgende run"
        elif self._abort is not None:  # refused credentials mid-run: a retry would be refused too
            report.status, report.message = RunStatus.FAILED, str(self._abort)
        elif p.failed or p.parked or p.uncertain:
            report.status = RunStatus.PARTIAL
            report.message = f"{p.booked} geboekt{_present(p)}, {p.failed + p.parked} foutmelding(en), {p.uncertain} onzeker"
        else:
            report.message = f"{p.booked} geboekt{_present(p)}, {p.skipped} al verwerkt"
        self._phase(report, "klaar")

    def _pausing(self, progress: Progress, why: str, until: float | None) -> None:
        """A connector pauses (until a time) or resumes (None); progress shows the pause that ends last."""
        task = id(asyncio.current_task())
        if until is None:
            self._pauses.pop(task, None)
        else:
            self._pauses[task] = (why, until)
        latest = max(self._pauses.values(), key=lambda pause: pause[1], default=None)
        progress.waiting = latest[0] if latest else ""
        progress.waiting_until = datetime.fromtimestamp(latest[1]).astimezone() if latest else None
        if self.on_progress:
            self.on_progress(progress)

    def _phase(self, report: RunReport, phase: str) -> None:
        report.progress.phase = phase
        if self.on_progress:
            self.on_progress(report.progress)

    # -- preflight ----------------------------------------------------------------------------------

    async def _preflight(self, report: RunReport) -> bool:
        ok = True
        # Only an unreachable connection (network, 5xx, timeouts) may come back by itself; refused
        # credentials, a disabled API module or a wrong setting wait for an admin, however often we try.
        unreachable_only = True
        for role, connector, connection in (
            (Origin.SOURCE, self.source, self.koppeling.source),
            (Origin.TARGET, self.target, self.koppeling.target),
        ):
            try:
                result = await connector.check()
            except ConnectorError as exc:
                result = CheckResult(Health.UNREACHABLE, exc.message, exc.advice)
            last_ok = self.store.record_health(connection, result.health.value, result.reason)
            if result.ok:
                self.store.resolve_problems(self.name, f"{Origin.AUTH.value}:{connection}")
                continue
            ok = False
            unreachable_only = unreachable_only and result.health is Health.UNREACHABLE
            advice = result.advice
            if result.health is Health.AUTH_FAILED and last_ok:
                advice = (
                    f"Deze inloggegevens werkten nog op {last_ok[:16].replace('T', ' ')} (UTC):"
                    f" ze zijn sindsdien gewijzigd of ingetrokken. {advice}"
                )
            origin = (
                f"{Origin.AUTH.value}:{connection}" if result.health is Health.AUTH_FAILED else role.value
            )
            title = f"{connection}: {result.reason}"
            self.store.report_problem(
                self.name,
                origin=origin,
                code=result.health.value,
                title=title,
                advice=advice,
                retryable=result.health is Health.UNREACHABLE,
            )
            report.problems.append(f"{title} — {advice}")
            report.message = title
        report.retryable = not ok and unreachable_only
        return ok

    # -- reconcile ----------------------------------------------------------------------------------

    async def _reconcile(self, report: RunReport, *, only_unknown: bool = False) -> None:
        """Look up every booking that may have reached the target before anything is posted again."""
        states = (OutboxState.UNKNOWN,) if only_unknown else (OutboxState.SENDING, OutboxState.UNKNOWN)
        for row in self.store.outbox_rows(self.name, states):
            assert row.outgoing is not None
            entry = JournalEntry.model_validate_json(row.outgoing)
            try:
                # The relation resolved before the row was sent: the target narrows duplicates to it.
                found = await self.target.find_booking(entry, row.relation_id or None)
            except AuthError as exc:
                self._abort = _Abort(exc.message)
                return
            except ConnectorError:
                continue  # still unknown: the cursor stays before it and the next run looks again
            if found is not None:
                if self.store.outbox_transition(
                    row.id, OutboxState.SENT, expect=states, remote_id=found.remote_id
                ):
                    self.store.record_outcome(
                        report.run_id,
                        row.reference,
                        "booked",
                        "gevonden bij het doel na een onzekere verzending",
                    )
                    self.store.resolve_records(self.name, row.reference)
                    await self._tell(row, RecordOutcome.BOOKED)
                    if row.state is OutboxState.UNKNOWN and only_unknown:
                        report.progress.uncertain -= 1
                        report.progress.booked += 1
            # Definitely not there: safe to post again, with the same payload.
            elif self.store.outbox_transition(row.id, OutboxState.PENDING, expect=states) and only_unknown:
                report.progress.uncertain -= 1
                report.progress.failed += 1
                self.store.report_problem(
                    self.name,
                    origin=Origin.TARGET,
                    code="niet-aangekomen",
                    title="Boeking kwam niet aan bij het doel",
                    advice="Wordt bij de volgende run opnieuw verstuurd.",
                    retryable=True,
                    reference=row.reference,
                    detail=row.last_error,
                )

    # -- fetch, map, push ---------------------------------------------------------------------------

    async def _pipeline(self, report: RunReport) -> list[_Read]:
        governor = ConcurrencyGovernor(
            self.target.rate_limit.per_second, self.target.rate_limit.max_concurrency
        )
        batch_size = max(1, self.target.batch_size)
        queue: asyncio.Queue[OutboxRow | None] = asyncio.Queue(maxsize=2 * governor.max * batch_size)
        workers = [
            asyncio.create_task(self._worker(queue, governor, report, batch_size))
            for _ in range(governor.max)
        ]
        stream = self.flow.stream
        reads: list[_Read] = []
        try:
            if not report.dry_run:
                # Rows left PENDING by an earlier run (or just reconciled as "not there") go first.
                leftovers = list(self.store.outbox_rows(self.name, (OutboxState.PENDING,)))
                if self._retry:
                    leftovers += await self._retry_parked(report)
                for leftover in leftovers:
                    await self._enqueue(queue, leftover)
            for partition in await self.source.partitions(stream):
                read = _Read(partition, self.store.cursor(self.name, stream, partition))
                reads.append(read)
                since = max(filter(None, [read.cursor, self.koppeling.start_date]), default=None)
                async for page in self.source.read(stream, partition, since, self._known):
                    for record in page:
                        if self._halted():
                            return reads
                        read.max_seen = max(read.max_seen or record.cursor_key, record.cursor_key)
                        report.progress.fetched += 1
                        prepared = await self._prepare(record, partition, report)
                        if prepared is not None:
                            await self._enqueue(queue, prepared)
                    self._renew_lease()
                    p = report.progress
                    # Live progress for a console in another process (the daemon runs, the console watches).
                    self.store.update_run(
                        report.run_id,
                        fetched=p.fetched,
                        booked=p.booked,
                        skipped=p.skipped,
                        failed=p.failed + p.parked,
                        uncertain=p.uncertain,
                    )
                    if self.on_progress:
                        self.on_progress(report.progress)
                read.completed = self._abort is None
        except AuthError as exc:
            self._abort = _Abort(exc.message)
            self._report_connector_error(exc, Origin.SOURCE, "")
        except ConnectorError as exc:
            report.problems.append(exc.message)
            self._report_connector_error(exc, Origin.SOURCE, "")
            report.progress.failed += 1
        finally:
            for _ in workers:
                await queue.put(None)
            await asyncio.gather(*workers)
            report.progress.concurrency = governor.limit
        return reads

    async def _enqueue(self, queue: asyncio.Queue[OutboxRow | None], row: OutboxRow) -> None:
        self._queued.add(row.reference)
        await queue.put(row)

    async def _prepare(self, record: SourceRecord, partition: str, report: RunReport) -> OutboxRow | None:
        """Decide what to do with a fetched record; returns an outbox row to push, or None."""
        key = _Key(self._reference(record.record_id), record.record_id, partition, record.cursor_key)
        existing = self.store.outbox_get(self.name, key.reference)
        if existing is not None:
            if existing.reference in self._queued:
                # Queued by this run (a leftover): the source reads it again while it may be in flight,
                # SENDING or already settled; its push reports its outcome, not this read.
                report.progress.skipped += 1
                return None
            if existing.state in (OutboxState.SENDING, OutboxState.UNKNOWN):
                report.progress.uncertain += 1  # could not be looked up: never post blindly
                return None
            if existing.state in (OutboxState.PARKED, OutboxState.FAILED) and record.payload is not None:
                # A known record comes back with a payload only when the source has it anew (a file put
                # back into a folder inbox from its quarantaine): map it again, as a retry would.
                return await self._map(report, key, record.payload)
            report.progress.skipped += 1  # booked, parked, or already queued in this run
            outcome = _SETTLED.get(existing.state)
            still_held = record.payload is not None or record.problem is not None
            if outcome is not None and still_held and not report.dry_run:
                # A known record not bare: the source still holds it (a folder inbox killed between the
                # booking and moving the file). Told again, it finishes its housekeeping now.
                await self._tell_source(self.flow.stream, key, outcome)
            return None
        payload = record.payload
        if payload is None:
            problem = record.problem
            assert problem is not None
            title, advice = self.flow.unreadable(problem)
            await self._park(
                report,
                key,
                label="",
                payload=None,
                origin=Origin.SOURCE,
                # One foutmelding per kind of defect: a field, and what the source says to do about it.
                code=f"bron:{problem.field}" + (f":{_digest(problem.advice)}" if problem.advice else ""),
                title=title,
                advice=advice,
                detail=f"{problem.message}\nbrongegevens: {problem.raw_excerpt}",
            )
            return None
        skip_reason = self.flow.skip_reason(payload)
        if skip_reason is not None:
            report.progress.skipped += 1  # nothing to book
            if not report.dry_run:
                self.store.outbox_put(
                    self.name,
                    reference=key.reference,
                    record_id=key.record_id,
                    kind=self.flow.stream,
                    partition=key.partition,
                    cursor_key=key.cursor_key,
                    label=self.flow.label(payload),
                    payload=None,
                    outgoing=None,
                    state=OutboxState.SKIPPED,
                    run_id=report.run_id,
                    error=skip_reason,
                )
                await self._tell_source(self.flow.stream, key, RecordOutcome.SKIPPED)
            return None
        return await self._map(report, key, payload)

    def _reference(self, record_id: str) -> str:
        return f"{self.source.system}:{record_id}"

    def _known(self, record_id: str) -> bool:
        return self.store.outbox_get(self.name, self._reference(record_id)) is not None

    async def _map(self, report: RunReport, key: _Key, payload: Payload) -> OutboxRow | None:
        """Map to a booking and commit it to the outbox as PENDING, or park it with a foutmelding."""
        label = self.flow.label(payload)
        try:
            entry = self.flow.to_entry(payload, key.reference)
        except MappingProblem as problem:
            await self._park(
                report,
                key,
                label=label,
                payload=payload.model_dump_json(),
                origin=Origin.MAPPING,
                code=problem.key,
                title=problem.title,
                advice=problem.advice,
                detail=self.flow.describe(payload),
            )
            return None
        if report.dry_run:
            report.planned.append(_plan(entry))
            return None
        return self.store.outbox_put(
            self.name,
            reference=key.reference,
            record_id=key.record_id,
            kind=self.flow.stream,
            partition=key.partition,
            cursor_key=key.cursor_key,
            label=label,
            payload=payload.model_dump_json(),
            outgoing=entry.model_dump_json(),
            state=OutboxState.PENDING,
            run_id=report.run_id,
        )

    async def _park(
        self,
        report: RunReport,
        key: _Key,
        *,
        label: str,
        payload: str | None,
        origin: Origin,
        code: str,
        title: str,
        advice: str,
        detail: str,
    ) -> None:
        report.progress.parked += 1
        report.problems.append(f"{label or key.record_id}: {title}: {detail.splitlines()[0]}")
        if report.dry_run:
            return
        self.store.outbox_put(
            self.name,
            reference=key.reference,
            record_id=key.record_id,
            kind=self.flow.stream,
            partition=key.partition,
            cursor_key=key.cursor_key,
            label=label,
            payload=payload,
            outgoing=None,
            state=OutboxState.PARKED,
            run_id=report.run_id,
            error=title,
        )
        self.store.report_problem(
            self.name,
            origin=origin,
            code=code,
            title=title,
            advice=advice,
            retryable=False,
            reference=key.reference,
            detail=detail,
        )
        self.store.record_outcome(report.run_id, key.reference, "failed", title)
        await self._tell_source(self.flow.stream, key, RecordOutcome.PARKED)

    async def _retry_parked(self, report: RunReport) -> list[OutboxRow]:
        """Map parked and refused records again (the mapping or the target was fixed); never re-fetch."""
        rows = []
        for row in self.store.outbox_rows(self.name, (OutboxState.PARKED, OutboxState.FAILED)):
            if isinstance(self._retry, frozenset) and row.reference not in self._retry:
                continue
            if row.payload is None:
                continue  # unreadable at the source: only a corrected source record can fix it
            key = _Key(row.reference, row.record_id, row.partition, row.cursor_key)
            prepared = await self._map(report, key, self.flow.parse(row.payload))
            if prepared is not None:
                rows.append(prepared)
        return rows

    async def _worker(
        self,
        queue: asyncio.Queue[OutboxRow | None],
        governor: ConcurrencyGovernor,
        report: RunReport,
        batch_size: int,
    ) -> None:
        """Push rows in batches of up to `batch_size`: whatever is queued, never waiting for more."""
        while (row := await queue.get()) is not None:
            if self._halted():
                continue  # drain: the row stays PENDING for the next run
            rows, last = [row], False
            while len(rows) < batch_size and not queue.empty():
                more = queue.get_nowait()
                if more is None:  # this worker's end: finish the batch, then stop
                    last = True
                    break
                rows.append(more)
            # The relations outside the governor's slots: a row waiting for another row's slow lookup
            # of the same relation must not hold a slot the creates of other rows could use.
            ready = await self._with_relations(rows, report)
            if ready:
                async with governor:
                    await self._push(ready, report, governor)
            if last:
                return

    async def _with_relations(
        self, rows: list[OutboxRow], report: RunReport
    ) -> list[tuple[OutboxRow, JournalEntry, str]]:
        """Each row with its entry and the target's relation id; a row whose relation fails stays PENDING."""
        ready: list[tuple[OutboxRow, JournalEntry, str]] = []
        for row in rows:
            assert row.outgoing is not None
            entry = JournalEntry.model_validate_json(row.outgoing)
            try:
                ready.append((row, entry, await self._relation(entry)))
            except AuthError as exc:
                self._abort = _Abort(exc.message)
                self._report_connector_error(exc, Origin.TARGET, row.reference)
                return []  # nothing was sent: every row stays PENDING
            except ConnectorError as exc:
                # Relations are looked up before they are created: nothing is half-done, the row stays PENDING.
                report.progress.failed += 1
                self._report_connector_error(exc, Origin.TARGET, row.reference)
        return ready

    async def _push(
        self,
        ready: list[tuple[OutboxRow, JournalEntry, str]],
        report: RunReport,
        governor: ConcurrencyGovernor,
    ) -> None:
        """Rows in one create call: all SENDING in one transaction before it, then each row moves by
        its own outcome (a refused booking does not take the others down)."""
        sending = self.store.outbox_sending({row.id: relation_id for row, _, relation_id in ready})
        ready = [item for item in ready if item[0].id in sending]
        if not ready:
            return
        try:
            outcomes = await self.target.create_bookings(
                [(entry, relation_id) for _, entry, relation_id in ready]
            )
        except ConnectorError as exc:  # the call as a whole: every row gets its verdict
            outcomes = [exc] * len(ready)
        for (row, _, _), outcome in zip(ready, outcomes, strict=True):
            await self._settle(row, outcome, report, governor)

    async def _settle(
        self,
        row: OutboxRow,
        outcome: CreateOutcome,
        report: RunReport,
        governor: ConcurrencyGovernor,
    ) -> None:
        """Move a SENDING row by the outcome of its create."""
        p = report.progress
        if isinstance(outcome, UncertainError):
            self.store.outbox_transition(
                row.id, OutboxState.UNKNOWN, expect=(OutboxState.SENDING,), error=outcome.message
            )
            p.uncertain += 1
            self.store.record_outcome(report.run_id, row.reference, "uncertain", outcome.message)
        elif isinstance(outcome, AuthError | TransientError):
            # Refused before processing (credentials, rate limit): it did not land, it may go again.
            self.store.outbox_transition(
                row.id, OutboxState.PENDING, expect=(OutboxState.SENDING,), error=outcome.message
            )
            p.failed += 1
            self._report_connector_error(outcome, Origin.TARGET, row.reference)
            if isinstance(outcome, AuthError):
                self._abort = _Abort(outcome.message)
            else:
                await governor.throttled()
        elif isinstance(outcome, RejectedError):
            self.store.outbox_transition(
                row.id, OutboxState.FAILED, expect=(OutboxState.SENDING,), error=outcome.message
            )
            p.failed += 1
            self._report_connector_error(outcome, Origin.TARGET, row.reference)
            self.store.record_outcome(report.run_id, row.reference, "failed", outcome.message)
            await self._tell(row, RecordOutcome.PARKED)
        elif isinstance(outcome, ConnectorError):
            self.store.outbox_transition(
                row.id, OutboxState.UNKNOWN, expect=(OutboxState.SENDING,), error=outcome.message
            )
            p.uncertain += 1
            self.store.record_outcome(report.run_id, row.reference, "uncertain", outcome.message)
        else:
            self.store.outbox_transition(
                row.id, OutboxState.SENT, expect=(OutboxState.SENDING,), remote_id=outcome.remote_id
            )
            if outcome.already_existed:
                p.already_present += 1
            else:
                p.booked += 1
            result = "duplicate" if outcome.already_existed else "booked"
            self.store.record_outcome(report.run_id, row.reference, result, outcome.remote_id)
            self.store.resolve_records(self.name, row.reference)
            await self._tell(row, RecordOutcome.BOOKED)
            await self._attach(row, outcome.remote_id, report)
        if self.on_progress and (p.booked + p.already_present + p.failed + p.uncertain) % 25 == 0:
            self.on_progress(p)

    # -- attachments --------------------------------------------------------------------------------

    async def _attach_owed(self, report: RunReport) -> None:
        """Attachments of booked rows that did not (surely) go along: a crash after the booking, a
        booking found by the lookup, or (on "opnieuw proberen") one that failed."""
        for row in self.store.outbox_attachments_owed(self.name, again=bool(self._retry)):
            failed_before = row.attached in ("mislukt", "onzeker")
            if failed_before and isinstance(self._retry, frozenset) and row.reference not in self._retry:
                continue
            if self._halted():
                return
            assert row.remote_id is not None
            await self._attach(row, row.remote_id, report)

    async def _attach(self, row: OutboxRow, remote_id: str, report: RunReport) -> None:
        """The booking's files go along. Only after it is SENT: whatever happens here, it stays booked."""
        fresh = self.store.outbox_get(self.name, row.reference)  # with the relation it was booked on
        assert fresh is not None and fresh.outgoing is not None
        row, entry = fresh, JournalEntry.model_validate_json(fresh.outgoing)
        if not entry.attachments or row.payload is None:
            return
        if not self.target.carries_attachments:
            self.store.outbox_attached(row.id, "niet")  # the PDF stays at the source (README: per target)
            return
        if row.attached == "bezig" and not self.target.attach_looks_up:
            # A crash while attaching: the target cannot tell whether it has the file; never twice.
            self._attach_uncertain(row, report, "Koppelaar stopte tijdens het meesturen van de pdf.")
            return
        wanted = {a.sha256 for a in entry.attachments}
        files = tuple(a for a in self.flow.attachments(self.flow.parse(row.payload)) if a.sha256 in wanted)
        self.store.outbox_attached(row.id, "bezig")
        try:
            await self.target.attach(
                remote_id, entry.model_copy(update={"attachments": files}), row.relation_id or ""
            )
        except ConnectorError as exc:
            # Not processed (credentials, rate limit, maintenance), or lost where the target looks up
            # before it attaches: owed still, the next run tries again. Lost elsewhere: a person checks.
            not_processed = isinstance(exc, AuthError | TransientError) or (
                isinstance(exc, UncertainError) and self.target.attach_looks_up
            )
            if isinstance(exc, UncertainError) and not not_processed:
                self._attach_uncertain(row, report, f"{exc.message}.", exc.exchange)
                return
            self.store.outbox_attached(row.id, None if not_processed else "mislukt")
            self._attach_problem(
                row,
                report,
                code=f"bijlage:{exc.code}" if exc.code else "bijlage",
                title=f"Geboekt, maar de bijlage ging niet mee: {exc.message}",
                advice=exc.advice
                or "De boeking staat; voeg de pdf zelf toe in het doelpakket of kies 'opnieuw proberen'.",
                retryable=not_processed or exc.retryable,
                exchange=exc.exchange,
            )
            return
        self.store.outbox_attached(row.id, "ja")
        self.store.resolve_records(self.name, row.reference)  # an earlier failed attempt is settled

    def _attach_uncertain(self, row: OutboxRow, report: RunReport, what: str, exchange: str = "") -> None:
        self.store.outbox_attached(row.id, "onzeker")
        self._attach_problem(
            row,
            report,
            code="bijlage-onzeker",
            title="Geboekt; onbekend of de pdf bij de boeking is aangekomen",
            advice=f"{what} Kijk bij de boeking in het doelpakket; ontbreekt de pdf, kies dan"
            " 'opnieuw proberen' (Koppelaar stuurt hem niet uit zichzelf nog eens, om hem niet dubbel"
            " te zetten).",
            retryable=False,
            exchange=exchange,
        )

    def _attach_problem(
        self,
        row: OutboxRow,
        report: RunReport,
        *,
        code: str,
        title: str,
        advice: str,
        retryable: bool,
        exchange: str = "",
    ) -> None:
        report.problems.append(f"{row.label or row.reference}: {title}")
        self.store.report_problem(
            self.name,
            origin=Origin.TARGET,
            code=code,
            title=title,
            advice=advice,
            retryable=retryable,
            reference=row.reference,
            exchange=exchange,
        )

    async def _relation(self, entry: JournalEntry) -> str:
        code = self.flow.party_code(self.source.system, entry)
        lock = self._relation_locks.setdefault(code, asyncio.Lock())
        async with lock:  # two invoices of one new customer must not create it twice
            return await self.target.ensure_relation(entry.relation, entry.kind, code)

    async def _tell(self, row: OutboxRow, outcome: RecordOutcome) -> None:
        key = _Key(row.reference, row.record_id, row.partition, row.cursor_key)
        await self._tell_source(Stream(row.kind), key, outcome)

    async def _tell_source(self, stream: Stream, key: _Key, outcome: RecordOutcome) -> None:
        """The source hears a record's final outcome (a folder inbox archives or quarantines it)."""
        try:
            await self.source.settled(stream, key.partition, key.record_id, outcome)
        except ConnectorError as exc:  # the outcome stands; only the source's housekeeping failed
            self._report_connector_error(exc, Origin.SOURCE, key.reference)

    def _report_connector_error(self, exc: ConnectorError, where: Origin, reference: str) -> None:
        origin: str = exc.origin if exc.origin is not Origin.TARGET else where
        if isinstance(exc, AuthError):
            connection = self.koppeling.source if where is Origin.SOURCE else self.koppeling.target
            origin = f"{Origin.AUTH.value}:{connection}"
        self.store.report_problem(
            self.name,
            origin=origin,
            code=exc.code or type(exc).__name__,
            title=exc.message,
            advice=exc.advice,
            retryable=exc.retryable,
            reference=reference,
            exchange=exc.exchange,
        )

    # -- cursor -------------------------------------------------------------------------------------

    def _move_cursor(self, read: _Read) -> None:
        """Past booked and parked records only: an unfinished row holds the cursor at its position."""
        stream, old = self.flow.stream, read.cursor
        earliest_open = self.store.earliest_unfinished_cursor(self.name, stream, read.partition)
        candidates = [c for c in (old, read.max_seen if read.completed else None) if c is not None]
        new = max(candidates) if candidates else None
        if earliest_open is not None and (new is None or earliest_open < new):
            new = earliest_open
        if new is not None and new != old:
            self.store.set_cursor(self.name, stream, new, read.partition)

    def _halted(self) -> bool:
        """Aborted, or asked to stop (then no new booking starts; those in flight settle)."""
        if self._abort is None and self._stop is not None and self._stop():
            self._abort = _Stopped()
        return self._abort is not None

    def _renew_lease(self) -> None:
        self.store.acquire_lease(f"run:{self.name}", self._owner, RUN_LEASE_SECONDS)


def _present(p: Progress) -> str:
    """Bookings the target already had, said apart: 'geboekt' counts only what this run booked."""
    return f", {p.already_present} al aanwezig bij het doel" if p.already_present else ""


def _plan(entry: JournalEntry) -> PlannedBooking:
    kind = "verkoop" if entry.kind is InvoiceKind.SALES else "inkoop"
    return PlannedBooking(
        reference=entry.reference,
        invoice_number=f"{entry.invoice_number} ({kind})",
        relation=entry.relation.name,
        gross=f"{entry.total_gross:.2f}",
        lines=tuple(
            (ln.account_code, ln.vat_code, f"{ln.net_amount:.2f}", f"{ln.vat_amount:.2f}")
            for ln in entry.lines
        ),
    )


def _digest(text: str) -> str:
    """A short stable key for a text (foutmelding codes stay short)."""
    return hashlib.sha256(text.encode()).hexdigest()[:8]
