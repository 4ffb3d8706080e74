"""The SQLite store: runs, outbox, foutmeldingen, audit log, cursors, leases and scheduled-run records.

One file in WAL mode so the console can read while the daemon writes. Writers use BEGIN IMMEDIATE so
two processes never interleave a read-modify-write. Migrations are numbered and tracked in
PRAGMA user_version.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        koppeling TEXT NOT NULL,
        trigger TEXT NOT NULL,
        dry_run INTEGER NOT NULL DEFAULT 0,
        status TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        fetched INTEGER NOT NULL DEFAULT 0,
        booked INTEGER NOT NULL DEFAULT 0,
        skipped INTEGER NOT NULL DEFAULT 0,
        failed INTEGER NOT NULL DEFAULT 0,
        uncertain INTEGER NOT NULL DEFAULT 0,
        concurrency INTEGER NOT NULL DEFAULT 0,
        message TEXT NOT NULL DEFAULT '',
        pid INTEGER NOT NULL
    );
    CREATE INDEX runs_by_koppeling ON runs (koppeling, id);

    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        koppeling TEXT NOT NULL,
        reference TEXT NOT NULL,
        record_id TEXT NOT NULL,
        cursor_key TEXT NOT NULL,
        invoice_number TEXT NOT NULL DEFAULT '',
        invoice_json TEXT,
        entry_json TEXT,
        entry_sha256 TEXT,
        state TEXT NOT NULL CHECK (state IN ('PENDING','SENDING','SENT','FAILED','UNKNOWN','PARKED')),
        remote_id TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT NOT NULL DEFAULT '',
        run_id INTEGER,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        UNIQUE (koppeling, reference)
    );
    CREATE INDEX outbox_unfinished ON outbox (koppeling, state, cursor_key);

    CREATE TABLE run_records (
        run_id INTEGER NOT NULL,
        reference TEXT NOT NULL,
        outcome TEXT NOT NULL,
        message TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (run_id, reference)
    );

    CREATE TABLE foutmeldingen (
        id INTEGER PRIMARY KEY,
        koppeling TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        origin TEXT NOT NULL,
        code TEXT NOT NULL DEFAULT '',
        title TEXT NOT NULL,
        advice TEXT NOT NULL DEFAULT '',
        retryable INTEGER NOT NULL DEFAULT 0,
        status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open','ignored','resolved')),
        first_seen TEXT NOT NULL,
        last_seen TEXT NOT NULL,
        count INTEGER NOT NULL DEFAULT 1,
        UNIQUE (koppeling, fingerprint)
    );
    CREATE INDEX foutmeldingen_open ON foutmeldingen (koppeling, status, last_seen);

    CREATE TABLE foutmelding_records (
        foutmelding_id INTEGER NOT NULL REFERENCES foutmeldingen (id),
        reference TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '',
        exchange TEXT NOT NULL DEFAULT '',
        seen_at TEXT NOT NULL,
        PRIMARY KEY (foutmelding_id, reference)
    );

    CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        koppeling TEXT NOT NULL DEFAULT '',
        detail TEXT NOT NULL DEFAULT ''
    );

    CREATE TABLE cursors (
        koppeling TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );

    CREATE TABLE leases (
        name TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        pid INTEGER NOT NULL,
        host TEXT NOT NULL,
        acquired_at TEXT NOT NULL,
        expires_at REAL NOT NULL
    );

    CREATE TABLE job_runs (
        koppeling TEXT NOT NULL,
        business_date TEXT NOT NULL,
        status TEXT NOT NULL,
        run_id INTEGER,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        PRIMARY KEY (koppeling, business_date)
    );

    CREATE TABLE connection_health (
        connection TEXT PRIMARY KEY,
        health TEXT NOT NULL,
        reason TEXT NOT NULL,
        checked_at TEXT NOT NULL,
        last_ok_at TEXT
    );

    CREATE TABLE run_requests (
        id INTEGER PRIMARY KEY,
        koppeling TEXT NOT NULL,
        dry_run INTEGER NOT NULL DEFAULT 0,
        requested_by TEXT NOT NULL,
        requested_at TEXT NOT NULL,
        claimed_by TEXT,
        run_id INTEGER
    );
    """,
    # 2: OAuth tokens (state/tokens.py). Both tokens AES-GCM encrypted; never plaintext in this file.
    """
    CREATE TABLE oauth_tokens (
        connection TEXT PRIMARY KEY,
        access_enc BLOB NOT NULL,
        refresh_enc BLOB NOT NULL,
        access_expires_at REAL NOT NULL,
        refresh_obtained_at REAL NOT NULL,
        authorized_at REAL NOT NULL,
        refreshed_at REAL,
        version INTEGER NOT NULL DEFAULT 1,
        state TEXT NOT NULL DEFAULT 'ok' CHECK (state IN ('ok','needs_reauth')),
        reason TEXT NOT NULL DEFAULT '',
        host TEXT NOT NULL DEFAULT ''
    );
    """,
    # 3: the overview counts open problems and unmapped values every few seconds; with 100,000
    # foutmeldingen that must not scan the table.
    """
    CREATE INDEX foutmeldingen_by_origin ON foutmeldingen (koppeling, status, origin, code);
    """,
    # 4: SKIPPED rows (zero invoices, before the start date): remembered, so a record on the cursor
    # day is recognised without being parsed again (and without the extra lookups that would cost).
    # SQLite cannot change a CHECK constraint in place: the table is rebuilt.
    """
    CREATE TABLE outbox_new (
        id INTEGER PRIMARY KEY,
        koppeling TEXT NOT NULL,
        reference TEXT NOT NULL,
        record_id TEXT NOT NULL,
        cursor_key TEXT NOT NULL,
        invoice_number TEXT NOT NULL DEFAULT '',
        invoice_json TEXT,
        entry_json TEXT,
        entry_sha256 TEXT,
        state TEXT NOT NULL
            CHECK (state IN ('PENDING','SENDING','SENT','FAILED','UNKNOWN','PARKED','SKIPPED')),
        remote_id TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT NOT NULL DEFAULT '',
        run_id INTEGER,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        UNIQUE (koppeling, reference)
    );
    INSERT INTO outbox_new SELECT * FROM outbox;
    DROP TABLE outbox;
    ALTER TABLE outbox_new RENAME TO outbox;
    CREATE INDEX outbox_unfinished ON outbox (koppeling, state, cursor_key);
    """,
    # 5: retries of a failed scheduled run (sync/scheduler.py), one row per attempt of a night. The
    # row exists before its timer does, so whichever process holds the scheduler lease can arm it,
    # and it is claimed once ('pending' -> 'running'), so two processes never both run it.
    """
    CREATE TABLE scheduled_retries (
        koppeling TEXT NOT NULL,
        business_date TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        due_at TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',
        run_id INTEGER,
        finished_at TEXT,
        PRIMARY KEY (koppeling, business_date, attempt)
    );
    """,
    # 6: streams. A row says which stream (kind) and partition its record came from, keeps the
    # source's payload, what goes to the target, a display label and the relation id the engine
    # resolved, instead of invoice columns. A cursor per (koppeling, stream, partition): the old
    # per-koppeling cursor was the invoices'. References stay as they were, so old rows still match.
    """
    CREATE TABLE outbox_new (
        id INTEGER PRIMARY KEY,
        koppeling TEXT NOT NULL,
        reference TEXT NOT NULL,
        record_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        partition_key TEXT NOT NULL DEFAULT '',
        cursor_key TEXT NOT NULL,
        label TEXT NOT NULL DEFAULT '',
        payload TEXT,
        outgoing TEXT,
        outgoing_sha256 TEXT,
        relation_id TEXT,
        state TEXT NOT NULL
            CHECK (state IN ('PENDING','SENDING','SENT','FAILED','UNKNOWN','PARKED','SKIPPED')),
        remote_id TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT NOT NULL DEFAULT '',
        run_id INTEGER,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        UNIQUE (koppeling, reference)
    );
    INSERT INTO outbox_new (id, koppeling, reference, record_id, kind, partition_key, cursor_key, label,
        payload, outgoing, outgoing_sha256, state, remote_id, attempts, last_error, run_id, created_at,
        updated_at)
    SELECT id, koppeling, reference, record_id, 'invoices', '', cursor_key, invoice_number, invoice_json,
        entry_json, entry_sha256, state, remote_id, attempts, last_error, run_id, created_at, updated_at
    FROM outbox;
    DROP TABLE outbox;
    ALTER TABLE outbox_new RENAME TO outbox;
    CREATE INDEX outbox_unfinished ON outbox (koppeling, state, cursor_key);

    CREATE TABLE cursors_new (
        koppeling TEXT NOT NULL,
        stream TEXT NOT NULL,
        partition_key TEXT NOT NULL DEFAULT '',
        value TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (koppeling, stream, partition_key)
    );
    INSERT INTO cursors_new SELECT koppeling, 'invoices', '', value, updated_at FROM cursors;
    DROP TABLE cursors;
    ALTER TABLE cursors_new RENAME TO cursors;
    """,
    # 7: how long a refresh token lives unused is the vendor's rule (connectors' OAuthSpec), given when
    # the tokens are stored; NULL: it does not expire unused. Rows from before knew only 30 days.
    """
    ALTER TABLE oauth_tokens ADD COLUMN refresh_idle_seconds REAL DEFAULT 2592000;
    """,
    # 8: whether a booked row's attachments (the invoice PDF) went along: NULL owed (or none to send),
    # 'bezig' requested (a crash here: done or not is unknown), 'ja', 'mislukt' (a foutmelding says so),
    # 'onzeker' (a person checks; never sent twice), 'niet' (the target carries no files).
    """
    ALTER TABLE outbox ADD COLUMN attached TEXT;
    """,
)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class OutboxState(StrEnum):
    PENDING = "PENDING"
    SENDING = "SENDING"
    SENT = "SENT"
    FAILED = "FAILED"  # the target refused it: parked as a foutmelding
    UNKNOWN = "UNKNOWN"  # sent, outcome unknown: look it up before anything else
    PARKED = "PARKED"  # never sent: a source or mapping problem, parked as a foutmelding
    SKIPPED = "SKIPPED"  # nothing to book: a zero invoice, or dated before the koppeling's start date


FINISHED = (OutboxState.SENT, OutboxState.FAILED, OutboxState.PARKED, OutboxState.SKIPPED)
UNFINISHED = (OutboxState.PENDING, OutboxState.SENDING, OutboxState.UNKNOWN)


@dataclass(frozen=True)
class OutboxRow:
    id: int
    reference: str
    record_id: str
    kind: str  # the source stream the record came from
    partition: str
    cursor_key: str
    label: str  # what a person calls the record, e.g. an invoice number
    payload: str | None  # the source record, JSON; None when the source could not read it
    outgoing: str | None  # what the target receives (a journal entry), JSON
    relation_id: str | None  # the target's relation, resolved before the row was sent
    state: OutboxState
    remote_id: str | None
    attempts: int
    last_error: str
    attached: str | None = None  # how far its attachments got (migration 8)


@dataclass(frozen=True)
class Foutmelding:
    id: int
    koppeling: str
    origin: str
    code: str
    title: str
    advice: str
    retryable: bool
    status: str
    first_seen: str
    last_seen: str
    count: int


@dataclass(frozen=True)
class RunRow:
    id: int
    koppeling: str
    trigger: str
    dry_run: bool
    status: str
    started_at: str
    finished_at: str | None
    fetched: int
    booked: int
    skipped: int
    failed: int
    uncertain: int
    concurrency: int
    message: str


@dataclass(frozen=True)
class PendingRetry:
    koppeling: str
    business_date: str  # the night whose scheduled run failed
    attempt: int  # 1 for the first retry
    due_at: str  # ISO, in the app's time zone


@dataclass(frozen=True)
class Lease:
    name: str
    owner: str
    pid: int
    host: str
    acquired_at: str
    expires_at: float


def fingerprint(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


class Store:
    """One connection to koppelaar.db. Not shared between threads; open one per thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute("PRAGMA busy_timeout=30000")
        self._migrate()
        os.chmod(path, 0o600)

    def close(self) -> None:
        self._db.close()

    def _migrate(self) -> None:
        with self.transaction():
            version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in script.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version={number}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE: take the write lock up front so concurrent writers queue, not deadlock."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- runs ---------------------------------------------------------------------------------------

    def start_run(self, koppeling: str, trigger: str, dry_run: bool) -> int:
        with self.transaction() as db:
            cur = db.execute(
                "INSERT INTO runs (koppeling, trigger, dry_run, status, started_at, pid)"
                " VALUES (?, ?, ?, 'running', ?, ?)",
                (koppeling, trigger, int(dry_run), now_iso(), os.getpid()),
            )
            return int(cur.lastrowid or 0)

    def update_run(self, run_id: int, **counts: int | str) -> None:
        allowed = {"status", "fetched", "booked", "skipped", "failed", "uncertain", "concurrency", "message"}
        if not counts.keys() <= allowed:
            raise ValueError(f"unknown run fields: {sorted(counts.keys() - allowed)}")
        assignments = ", ".join(f"{key} = ?" for key in counts)
        with self.transaction() as db:
            db.execute(f"UPDATE runs SET {assignments} WHERE id = ?", (*counts.values(), run_id))

    def finish_run(self, run_id: int, status: str, message: str = "") -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE runs SET status = ?, message = ?, finished_at = ? WHERE id = ?",
                (status, message, now_iso(), run_id),
            )

    def record_outcome(self, run_id: int, reference: str, outcome: str, message: str = "") -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO run_records (run_id, reference, outcome, message) VALUES (?, ?, ?, ?)",
                (run_id, reference, outcome, message),
            )

    def runs(self, koppeling: str | None = None, limit: int = 20) -> list[RunRow]:
        query = (
            "SELECT * FROM runs" + (" WHERE koppeling = ?" if koppeling else "") + " ORDER BY id DESC LIMIT ?"
        )
        params: tuple[object, ...] = (koppeling, limit) if koppeling else (limit,)
        return [_run(row) for row in self._db.execute(query, params)]

    def run_records(self, run_id: int) -> list[tuple[str, str, str]]:
        rows = self._db.execute(
            "SELECT reference, outcome, message FROM run_records WHERE run_id = ? ORDER BY reference",
            (run_id,),
        )
        return [(r["reference"], r["outcome"], r["message"]) for r in rows]

    def close_stale_runs(self) -> None:
        """Runs whose process is gone (killed) are marked as interrupted, not left 'running' forever."""
        rows = self._db.execute("SELECT id, pid FROM runs WHERE status = 'running'").fetchall()
        for row in rows:
            if not _process_alive(int(row["pid"])):
                self.finish_run(int(row["id"]), "interrupted", "het proces is gestopt tijdens de run")

    # -- outbox -------------------------------------------------------------------------------------

    def outbox_get(self, koppeling: str, reference: str) -> OutboxRow | None:
        row = self._db.execute(
            "SELECT * FROM outbox WHERE koppeling = ? AND reference = ?", (koppeling, reference)
        ).fetchone()
        return _outbox(row) if row else None

    def outbox_put(
        self,
        koppeling: str,
        *,
        reference: str,
        record_id: str,
        kind: str,
        partition: str = "",
        cursor_key: str,
        label: str,
        payload: str | None,
        outgoing: str | None,
        state: OutboxState,
        run_id: int,
        error: str = "",
    ) -> OutboxRow:
        """Insert or refresh a row that was never sent. A row that may have reached the target is kept."""
        sha = hashlib.sha256(outgoing.encode()).hexdigest() if outgoing else None
        stamp = now_iso()
        with self.transaction() as db:
            existing = db.execute(
                "SELECT state FROM outbox WHERE koppeling = ? AND reference = ?", (koppeling, reference)
            ).fetchone()
            if existing is None:
                db.execute(
                    "INSERT INTO outbox (koppeling, reference, record_id, kind, partition_key, cursor_key,"
                    " label, payload, outgoing, outgoing_sha256, state, last_error, run_id, created_at,"
                    " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        koppeling,
                        reference,
                        record_id,
                        kind,
                        partition,
                        cursor_key,
                        label,
                        payload,
                        outgoing,
                        sha,
                        state,
                        error,
                        run_id,
                        stamp,
                        stamp,
                    ),
                )
            elif existing["state"] in (OutboxState.PENDING, OutboxState.PARKED, OutboxState.FAILED):
                db.execute(
                    "UPDATE outbox SET cursor_key = ?, label = ?, payload = ?, outgoing = ?,"
                    " outgoing_sha256 = ?, state = ?, last_error = ?, run_id = ?, updated_at = ?"
                    " WHERE koppeling = ? AND reference = ?",
                    (
                        cursor_key,
                        label,
                        payload,
                        outgoing,
                        sha,
                        state,
                        error,
                        run_id,
                        stamp,
                        koppeling,
                        reference,
                    ),
                )
        row = self.outbox_get(koppeling, reference)
        assert row is not None
        return row

    def outbox_transition(
        self,
        row_id: int,
        to: OutboxState,
        *,
        expect: tuple[OutboxState, ...],
        remote_id: str | None = None,
        error: str = "",
    ) -> bool:
        """Move a row between states only from an expected state; False if someone else moved it."""
        placeholders = ",".join("?" for _ in expect)
        with self.transaction() as db:
            cur = db.execute(
                f"UPDATE outbox SET state = ?, remote_id = COALESCE(?, remote_id), last_error = ?,"
                f" attempts = attempts + ?, updated_at = ? WHERE id = ? AND state IN ({placeholders})",
                (to, remote_id, error, int(to is OutboxState.SENDING), now_iso(), row_id, *expect),
            )
            return cur.rowcount == 1

    def outbox_sending(self, relations: Mapping[int, str]) -> set[int]:
        """PENDING → SENDING for several rows in one transaction, each with the relation it is booked
        on (row id → relation id); the ids that moved (another worker may have taken one)."""
        moved = set()
        with self.transaction() as db:
            for row_id, relation_id in relations.items():
                cur = db.execute(
                    "UPDATE outbox SET state = ?, relation_id = ?, last_error = '', attempts = attempts + 1,"
                    " updated_at = ? WHERE id = ? AND state = ?",
                    (OutboxState.SENDING, relation_id, now_iso(), row_id, OutboxState.PENDING),
                )
                if cur.rowcount == 1:
                    moved.add(row_id)
        return moved

    def outbox_rows(self, koppeling: str, states: tuple[OutboxState, ...]) -> Iterator[OutboxRow]:
        placeholders = ",".join("?" for _ in states)
        rows = self._db.execute(
            f"SELECT * FROM outbox WHERE koppeling = ? AND state IN ({placeholders}) ORDER BY cursor_key, id",
            (koppeling, *states),
        ).fetchall()
        for row in rows:
            yield _outbox(row)

    def outbox_attachments_owed(self, koppeling: str, *, again: bool = False) -> Iterator[OutboxRow]:
        """Booked rows whose attachments have not (surely) gone along; `again` also those that failed."""
        owed = ("bezig", "mislukt", "onzeker") if again else ("bezig",)
        rows = self._db.execute(
            "SELECT * FROM outbox WHERE koppeling = ? AND state = ? AND outgoing IS NOT NULL"
            f" AND (attached IS NULL OR attached IN ({','.join('?' for _ in owed)}))"
            " AND json_array_length(outgoing, '$.attachments') > 0 ORDER BY id",
            (koppeling, OutboxState.SENT, *owed),
        ).fetchall()
        for row in rows:
            yield _outbox(row)

    def outbox_attached(self, row_id: int, outcome: str | None) -> None:
        """Record how far a booked row's attachments got ('bezig', 'ja', 'mislukt', 'onzeker'; None: owed)."""
        with self.transaction() as db:
            db.execute(
                "UPDATE outbox SET attached = ?, updated_at = ? WHERE id = ?", (outcome, now_iso(), row_id)
            )

    def outbox_counts(self, koppeling: str) -> dict[str, int]:
        rows = self._db.execute(
            "SELECT state, COUNT(*) AS n FROM outbox WHERE koppeling = ? GROUP BY state", (koppeling,)
        )
        return {r["state"]: int(r["n"]) for r in rows}

    def earliest_unfinished_cursor(self, koppeling: str, stream: str, partition: str = "") -> str | None:
        row = self._db.execute(
            "SELECT MIN(cursor_key) FROM outbox WHERE koppeling = ? AND state IN (?, ?, ?)"
            " AND kind = ? AND partition_key = ?",
            (koppeling, *UNFINISHED, stream, partition),
        ).fetchone()
        return str(row[0]) if row and row[0] is not None else None

    # -- cursors: one per (koppeling, stream, partition) --------------------------------------------

    def cursor(self, koppeling: str, stream: str, partition: str = "") -> str | None:
        row = self._db.execute(
            "SELECT value FROM cursors WHERE koppeling = ? AND stream = ? AND partition_key = ?",
            (koppeling, stream, partition),
        ).fetchone()
        return str(row["value"]) if row else None

    def set_cursor(self, koppeling: str, stream: str, value: str, partition: str = "") -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO cursors (koppeling, stream, partition_key, value, updated_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (koppeling, stream, partition_key) DO UPDATE SET value = excluded.value,"
                " updated_at = excluded.updated_at",
                (koppeling, stream, partition, value, now_iso()),
            )

    # -- foutmeldingen ------------------------------------------------------------------------------

    def report_problem(
        self,
        koppeling: str,
        *,
        origin: str,
        code: str,
        title: str,
        advice: str,
        retryable: bool,
        reference: str = "",
        detail: str = "",
        exchange: str = "",
    ) -> int:
        """Open or update the grouped foutmelding for this kind of problem; attach the record to it."""
        key = fingerprint(origin, code, title)
        stamp = now_iso()
        with self.transaction() as db:
            row = db.execute(
                "SELECT id, status FROM foutmeldingen WHERE koppeling = ? AND fingerprint = ?",
                (koppeling, key),
            ).fetchone()
            if row is None:
                cur = db.execute(
                    "INSERT INTO foutmeldingen (koppeling, fingerprint, origin, code, title, advice, retryable,"
                    " first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (koppeling, key, origin, code, title, advice, int(retryable), stamp, stamp),
                )
                problem_id = int(cur.lastrowid or 0)
            else:
                problem_id = int(row["id"])
                # A resolved problem that happens again is open again; an ignored one stays ignored.
                db.execute(
                    "UPDATE foutmeldingen SET last_seen = ?, count = count + 1, advice = ?,"
                    " status = CASE status WHEN 'resolved' THEN 'open' ELSE status END WHERE id = ?",
                    (stamp, advice, problem_id),
                )
            if reference:
                db.execute(
                    "INSERT OR REPLACE INTO foutmelding_records (foutmelding_id, reference, detail, exchange,"
                    " seen_at) VALUES (?, ?, ?, ?, ?)",
                    (problem_id, reference, detail, exchange, stamp),
                )
        return problem_id

    def resolve_records(self, koppeling: str, reference: str) -> None:
        """A record that got booked no longer belongs to any open foutmelding."""
        with self.transaction() as db:
            db.execute(
                "DELETE FROM foutmelding_records WHERE reference = ? AND foutmelding_id IN"
                " (SELECT id FROM foutmeldingen WHERE koppeling = ?)",
                (reference, koppeling),
            )
            db.execute(
                "UPDATE foutmeldingen SET status = 'resolved' WHERE koppeling = ? AND status = 'open'"
                " AND origin IN ('bron', 'mapping', 'doel') AND NOT EXISTS"
                " (SELECT 1 FROM foutmelding_records r WHERE r.foutmelding_id = foutmeldingen.id)",
                (koppeling,),
            )

    def resolve_problems(self, koppeling: str, origin: str) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE foutmeldingen SET status = 'resolved' WHERE koppeling = ? AND origin = ? AND status = 'open'",
                (koppeling, origin),
            )

    def foutmeldingen(self, koppeling: str | None = None, status: str | None = "open") -> list[Foutmelding]:
        clauses, params = [], []
        if koppeling:
            clauses.append("koppeling = ?")
            params.append(koppeling)
        if status:
            clauses.append("status = ?")
            params.append(status)
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        rows = self._db.execute(
            f"SELECT * FROM foutmeldingen{where} ORDER BY last_seen DESC, id DESC", params
        )
        return [_foutmelding(r) for r in rows]

    def foutmeldingen_page(
        self,
        koppeling: str,
        *,
        status: str | None = "open",
        text: str = "",
        offset: int = 0,
        limit: int = 200,
    ) -> tuple[list[Foutmelding], int]:
        """One page of a koppeling's foutmeldingen, newest first, filtered in SQL; and the total matching."""
        clauses, params = ["koppeling = ?"], [koppeling]
        if status:
            clauses.append("status = ?")
            params.append(status)
        if text:
            clauses.append(
                "(title LIKE ? ESCAPE '\\' OR advice LIKE ? ESCAPE '\\' OR code LIKE ? ESCAPE '\\')"
            )
            like = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            params += [like, like, like]
        where = " AND ".join(clauses)
        total = int(
            self._db.execute(f"SELECT COUNT(*) FROM foutmeldingen WHERE {where}", params).fetchone()[0]
        )
        rows = self._db.execute(
            f"SELECT * FROM foutmeldingen WHERE {where} ORDER BY last_seen DESC, id DESC LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        return [_foutmelding(r) for r in rows], total

    def foutmeldingen_count(self, koppeling: str, *, status: str | None = "open", text: str = "") -> int:
        """How many of a koppeling's foutmeldingen match; with a text, one sequential scan of the table.

        A LIKE '%text%' must read every candidate row anyway: reading the table in order is several
        times faster than visiting 100,000 rows one by one through the status index."""
        where, params = _problem_filter(koppeling, status, text)
        hint = " NOT INDEXED" if text else ""
        return int(
            self._db.execute(f"SELECT COUNT(*) FROM foutmeldingen{hint} WHERE {where}", params).fetchone()[0]
        )

    def foutmeldingen_search(
        self, koppeling: str, *, status: str | None, text: str, limit: int = 200, few: int = 5000
    ) -> tuple[list[Foutmelding], int, bool]:
        """The first window of a text search, its total, and whether continuing it should scan.

        One sequential pass collects the matches' keys, stopping at `few` + 1: a rare text is then
        counted, ordered and windowed from those keys without a second pass; a common one stops early
        and is counted and windowed the ordinary way (its matches are dense along the index)."""
        where, params = _problem_filter(koppeling, status, text)
        keys = self._db.execute(
            f"SELECT id, last_seen FROM foutmeldingen NOT INDEXED WHERE {where} LIMIT ?", [*params, few + 1]
        ).fetchall()
        if len(keys) <= few:
            keys.sort(key=lambda k: (k["last_seen"], k["id"]), reverse=True)
            ids = [k["id"] for k in keys[:limit]]
            rows = self._db.execute(
                f"SELECT * FROM foutmeldingen WHERE id IN ({','.join('?' * len(ids))})"
                " ORDER BY last_seen DESC, id DESC",
                ids,
            )
            return [_foutmelding(r) for r in rows], len(keys), True
        total = self.foutmeldingen_count(koppeling, status=status, text=text)
        return self.foutmeldingen_window(koppeling, status=status, text=text, limit=limit), total, False

    def foutmeldingen_window(
        self,
        koppeling: str,
        *,
        status: str | None = "open",
        text: str = "",
        after: tuple[str, int] | None = None,
        before: tuple[str, int] | None = None,
        limit: int = 200,
        scan: bool = False,
    ) -> list[Foutmelding]:
        """Up to `limit` foutmeldingen, newest first, after or before a (last_seen, id) keyset.

        Keyset instead of OFFSET: the 500th page costs what the first does. Per status the index
        (koppeling, status, last_seen) delivers the rows in order; for all statuses the three ordered
        streams are merged, so nothing sorts the whole table. `scan` reads the table sequentially and
        sorts only the matches: faster when a text filter matches few rows."""
        order = "ASC" if before is not None else "DESC"
        key = before if before is not None else after

        def one(status_value: str | None) -> tuple[str, list[object]]:
            where, params = _problem_filter(koppeling, status_value, text)
            if key is not None:
                where += f" AND (last_seen, id) {'>' if before is not None else '<'} (?, ?)"
                params += [key[0], key[1]]
            hint = " NOT INDEXED" if scan else ""
            sql = f"SELECT * FROM foutmeldingen{hint} WHERE {where} ORDER BY last_seen {order}, id {order} LIMIT ?"
            return sql, [*params, limit]

        if status or scan:
            sql, params = one(status)
        else:
            parts = [one(s) for s in ("open", "ignored", "resolved")]
            sql = (
                "SELECT * FROM ("
                + " UNION ALL ".join(f"SELECT * FROM ({p})" for p, _ in parts)
                + f") ORDER BY last_seen {order}, id {order} LIMIT ?"
            )
            params = [v for _, ps in parts for v in ps] + [limit]
        rows = [_foutmelding(r) for r in self._db.execute(sql, params)]
        return rows[::-1] if before is not None else rows

    def set_problem_status(self, problem_id: int, status: str) -> None:
        with self.transaction() as db:
            db.execute("UPDATE foutmeldingen SET status = ? WHERE id = ?", (status, problem_id))

    def foutmelding(self, problem_id: int) -> Foutmelding | None:
        row = self._db.execute("SELECT * FROM foutmeldingen WHERE id = ?", (problem_id,)).fetchone()
        return _foutmelding(row) if row else None

    def problem_records(self, problem_id: int) -> list[tuple[str, str, str]]:
        rows = self._db.execute(
            "SELECT reference, detail, exchange FROM foutmelding_records WHERE foutmelding_id = ?"
            " ORDER BY reference",
            (problem_id,),
        )
        return [(r["reference"], r["detail"], r["exchange"]) for r in rows]

    def problem_records_page(
        self, problem_id: int, *, offset: int = 0, limit: int = 200
    ) -> tuple[list[tuple[str, str, str]], int]:
        """A page of a foutmelding's records (reference, detail, exchange) and how many it has in all."""
        total = int(
            self._db.execute(
                "SELECT COUNT(*) FROM foutmelding_records WHERE foutmelding_id = ?", (problem_id,)
            ).fetchone()[0]
        )
        rows = self._db.execute(
            "SELECT reference, detail, exchange FROM foutmelding_records WHERE foutmelding_id = ?"
            " ORDER BY reference LIMIT ? OFFSET ?",
            (problem_id, limit, offset),
        )
        return [(r["reference"], r["detail"], r["exchange"]) for r in rows], total

    def problem_references(self, problem_id: int) -> list[str]:
        """The references of a foutmelding's records: what a retry of just this problem re-maps."""
        rows = self._db.execute(
            "SELECT reference FROM foutmelding_records WHERE foutmelding_id = ? ORDER BY reference",
            (problem_id,),
        )
        return [r["reference"] for r in rows]

    def unmapped_codes(self, koppeling: str) -> list[str]:
        """Mapping keys that open mapping foutmeldingen are waiting for."""
        rows = self._db.execute(
            "SELECT DISTINCT code FROM foutmeldingen WHERE koppeling = ? AND status = 'open' AND origin = 'mapping'"
            " ORDER BY code",
            (koppeling,),
        )
        return [r["code"] for r in rows]

    def open_problem_count(self, koppeling: str) -> int:
        row = self._db.execute(
            "SELECT COUNT(*) FROM foutmeldingen WHERE koppeling = ? AND status = 'open'", (koppeling,)
        ).fetchone()
        return int(row[0])

    # -- connection health --------------------------------------------------------------------------

    def record_health(self, connection: str, health: str, reason: str) -> str | None:
        """Store the latest check; returns when the connection last worked (for 'worked before' advice)."""
        stamp = now_iso()
        with self.transaction() as db:
            row = db.execute(
                "SELECT last_ok_at FROM connection_health WHERE connection = ?", (connection,)
            ).fetchone()
            last_ok = row["last_ok_at"] if row else None
            db.execute(
                "INSERT INTO connection_health (connection, health, reason, checked_at, last_ok_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (connection) DO UPDATE SET health = excluded.health,"
                " reason = excluded.reason, checked_at = excluded.checked_at, last_ok_at = excluded.last_ok_at",
                (connection, health, reason, stamp, stamp if health == "ok" else last_ok),
            )
        return str(last_ok) if last_ok else None

    def health(self, connection: str) -> tuple[str, str, str | None] | None:
        row = self._db.execute(
            "SELECT health, reason, last_ok_at FROM connection_health WHERE connection = ?", (connection,)
        ).fetchone()
        return (row["health"], row["reason"], row["last_ok_at"]) if row else None

    def forget_health(self, connection: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM connection_health WHERE connection = ?", (connection,))

    # -- audit --------------------------------------------------------------------------------------

    def audit(
        self, actor: str, action: str, koppeling: str = "", detail: dict[str, object] | None = None
    ) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO audit (at, actor, action, koppeling, detail) VALUES (?, ?, ?, ?, ?)",
                (
                    now_iso(),
                    actor,
                    action,
                    koppeling,
                    json.dumps(detail or {}, ensure_ascii=False, default=str),
                ),
            )

    def audit_log(self, limit: int = 50) -> list[tuple[str, str, str, str, str]]:
        rows = self._db.execute(
            "SELECT at, actor, action, koppeling, detail FROM audit ORDER BY id DESC LIMIT ?", (limit,)
        )
        return [(r["at"], r["actor"], r["action"], r["koppeling"], r["detail"]) for r in rows]

    # -- leases -------------------------------------------------------------------------------------

    def acquire_lease(self, name: str, owner: str, ttl_seconds: float) -> bool:
        """Take or renew a lease; succeeds when it is free, expired, or already ours."""
        moment = time.time()
        with self.transaction() as db:
            row = db.execute(
                "SELECT owner, pid, host, expires_at FROM leases WHERE name = ?", (name,)
            ).fetchone()
            if (
                row is not None
                and row["owner"] != owner
                and float(row["expires_at"]) > moment
                # A holder on this machine whose process is gone (killed) cannot renew: take over now.
                and not (row["host"] == socket.gethostname() and not _process_alive(int(row["pid"])))
            ):
                return False
            db.execute(
                "INSERT INTO leases (name, owner, pid, host, acquired_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, pid = excluded.pid,"
                " host = excluded.host, expires_at = excluded.expires_at,"
                " acquired_at = CASE WHEN leases.owner = excluded.owner THEN leases.acquired_at"
                " ELSE excluded.acquired_at END",
                (name, owner, os.getpid(), socket.gethostname(), now_iso(), moment + ttl_seconds),
            )
            return True

    def release_lease(self, name: str, owner: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM leases WHERE name = ? AND owner = ?", (name, owner))

    def lease(self, name: str) -> Lease | None:
        row = self._db.execute("SELECT * FROM leases WHERE name = ?", (name,)).fetchone()
        if row is None or float(row["expires_at"]) <= time.time():
            return None
        return Lease(
            row["name"],
            row["owner"],
            int(row["pid"]),
            row["host"],
            row["acquired_at"],
            float(row["expires_at"]),
        )

    # -- scheduled runs -----------------------------------------------------------------------------

    def claim_business_date(self, koppeling: str, business_date: str) -> bool:
        """True for the first claim of (koppeling, date); a duplicate fire or a second process gets False."""
        with self.transaction() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO job_runs (koppeling, business_date, status, started_at)"
                " VALUES (?, ?, 'running', ?)",
                (koppeling, business_date, now_iso()),
            )
            return cur.rowcount == 1

    def finish_business_date(
        self, koppeling: str, business_date: str, status: str, run_id: int | None
    ) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE job_runs SET status = ?, run_id = ?, finished_at = ? WHERE koppeling = ? AND business_date = ?",
                (status, run_id, now_iso(), koppeling, business_date),
            )

    def business_date_done(self, koppeling: str, business_date: str) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM job_runs WHERE koppeling = ? AND business_date = ?", (koppeling, business_date)
        ).fetchone()
        return row is not None

    # -- retries of a failed scheduled run ----------------------------------------------------------

    def plan_retry(self, koppeling: str, business_date: str, attempt: int, due_at: str) -> bool:
        """False when this attempt of this night was planned already (by this or another process)."""
        with self.transaction() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO scheduled_retries (koppeling, business_date, attempt, due_at)"
                " VALUES (?, ?, ?, ?)",
                (koppeling, business_date, attempt, due_at),
            )
            return cur.rowcount == 1

    def claim_retry(self, koppeling: str, business_date: str, attempt: int) -> bool:
        """True for one caller only: a second timer (the lease moved meanwhile) gets False."""
        with self.transaction() as db:
            cur = db.execute(
                "UPDATE scheduled_retries SET status = 'running' WHERE koppeling = ? AND business_date = ?"
                " AND attempt = ? AND status = 'pending'",
                (koppeling, business_date, attempt),
            )
            return cur.rowcount == 1

    def finish_retry(
        self, koppeling: str, business_date: str, attempt: int, status: str, run_id: int | None
    ) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE scheduled_retries SET status = ?, run_id = ?, finished_at = ?"
                " WHERE koppeling = ? AND business_date = ? AND attempt = ?",
                (status, run_id, now_iso(), koppeling, business_date, attempt),
            )

    def pending_retries(self, koppeling: str | None = None) -> list[PendingRetry]:
        rows = self._db.execute(
            "SELECT koppeling, business_date, attempt, due_at FROM scheduled_retries"
            " WHERE status = 'pending' AND (? IS NULL OR koppeling = ?) ORDER BY due_at",
            (koppeling, koppeling),
        )
        return [
            PendingRetry(r["koppeling"], r["business_date"], int(r["attempt"]), r["due_at"]) for r in rows
        ]

    def drop_retries(self, koppeling: str) -> None:
        """Pending retries of earlier nights are void once a new scheduled run starts."""
        with self.transaction() as db:
            db.execute(
                "UPDATE scheduled_retries SET status = 'dropped', finished_at = ?"
                " WHERE koppeling = ? AND status = 'pending'",
                (now_iso(), koppeling),
            )

    # -- run requests (console → daemon) ------------------------------------------------------------

    def request_run(self, koppeling: str, dry_run: bool, requested_by: str) -> int:
        with self.transaction() as db:
            cur = db.execute(
                "INSERT INTO run_requests (koppeling, dry_run, requested_by, requested_at) VALUES (?, ?, ?, ?)",
                (koppeling, int(dry_run), requested_by, now_iso()),
            )
            return int(cur.lastrowid or 0)

    def claim_run_requests(self, owner: str) -> list[tuple[int, str, bool]]:
        with self.transaction() as db:
            rows = db.execute(
                "SELECT id, koppeling, dry_run FROM run_requests WHERE claimed_by IS NULL"
            ).fetchall()
            db.execute("UPDATE run_requests SET claimed_by = ? WHERE claimed_by IS NULL", (owner,))
        return [(int(r["id"]), r["koppeling"], bool(r["dry_run"])) for r in rows]


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _outbox(row: sqlite3.Row) -> OutboxRow:
    return OutboxRow(
        id=int(row["id"]),
        reference=row["reference"],
        record_id=row["record_id"],
        kind=row["kind"],
        partition=row["partition_key"],
        cursor_key=row["cursor_key"],
        label=row["label"],
        payload=row["payload"],
        outgoing=row["outgoing"],
        relation_id=row["relation_id"],
        state=OutboxState(row["state"]),
        remote_id=row["remote_id"],
        attempts=int(row["attempts"]),
        last_error=row["last_error"],
        attached=row["attached"],
    )


def _problem_filter(koppeling: str, status: str | None, text: str) -> tuple[str, list[object]]:
    """WHERE clause for a koppeling's foutmeldingen in a status, matching a text in title/advice/code."""
    clauses = ["koppeling = ?"]
    params: list[object] = [koppeling]
    if status:
        clauses.append("status = ?")
        params.append(status)
    if text:
        clauses.append("(title LIKE ? ESCAPE '\\' OR advice LIKE ? ESCAPE '\\' OR code LIKE ? ESCAPE '\\')")
        like = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        params += [like, like, like]
    return " AND ".join(clauses), params


def _foutmelding(row: sqlite3.Row) -> Foutmelding:
    return Foutmelding(
        id=int(row["id"]),
        koppeling=row["koppeling"],
        origin=row["origin"],
        code=row["code"],
        title=row["title"],
        advice=row["advice"],
        retryable=bool(row["retryable"]),
        status=row["status"],
        first_seen=row["first_seen"],
        last_seen=row["last_seen"],
        count=int(row["count"]),
    )


def _run(row: sqlite3.Row) -> RunRow:
    return RunRow(
        id=int(row["id"]),
        koppeling=row["koppeling"],
        trigger=row["trigger"],
        dry_run=bool(row["dry_run"]),
        status=row["status"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        fetched=int(row["fetched"]),
        booked=int(row["booked"]),
        skipped=int(row["skipped"]),
        failed=int(row["failed"]),
        uncertain=int(row["uncertain"]),
        concurrency=int(row["concurrency"]),
        message=row["message"],
    )
