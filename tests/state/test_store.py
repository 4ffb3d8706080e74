"""The SQLite store: outbox state machine, grouped foutmeldingen, leases across processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from state.store import OutboxState, Store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "koppelaar.db")


def put(
    store: Store, reference: str, state: OutboxState = OutboxState.PENDING, cursor: str = "2026-03-12"
) -> int:
    row = store.outbox_put(
        "facturen",
        reference=reference,
        record_id=reference.split(":")[-1],
        kind="invoices",
        cursor_key=cursor,
        label="F2026-0013",
        payload="{}",
        outgoing='{"x": 1}',
        state=state,
        run_id=1,
    )
    return row.id


def test_reopening_a_database_keeps_its_data_and_schema(tmp_path: Path) -> None:
    first = Store(tmp_path / "koppelaar.db")
    put(first, "factuursturen:1")
    first.close()
    again = Store(tmp_path / "koppelaar.db")
    assert again.outbox_get("facturen", "factuursturen:1") is not None
    assert (tmp_path / "koppelaar.db").stat().st_mode & 0o777 == 0o600


def test_a_row_moves_only_from_the_expected_state(store: Store) -> None:
    row_id = put(store, "factuursturen:1")
    assert store.outbox_transition(row_id, OutboxState.SENDING, expect=(OutboxState.PENDING,))
    # A second worker that saw the same PENDING row loses: the create is never sent twice.
    assert not store.outbox_transition(row_id, OutboxState.SENDING, expect=(OutboxState.PENDING,))
    assert store.outbox_transition(row_id, OutboxState.SENT, expect=(OutboxState.SENDING,), remote_id="31")
    row = store.outbox_get("facturen", "factuursturen:1")
    assert row is not None and (row.state, row.remote_id, row.attempts) == (OutboxState.SENT, "31", 1)


def test_a_row_that_may_have_reached_the_target_is_never_overwritten(store: Store) -> None:
    row_id = put(store, "factuursturen:1")
    store.outbox_transition(row_id, OutboxState.SENDING, expect=(OutboxState.PENDING,))
    put(store, "factuursturen:1")  # fetched again by a resumed run
    row = store.outbox_get("facturen", "factuursturen:1")
    assert row is not None and row.state is OutboxState.SENDING


def test_the_earliest_unfinished_record_holds_the_cursor(store: Store) -> None:
    put(store, "factuursturen:1", OutboxState.PARKED, cursor="2026-03-01")
    put(store, "factuursturen:2", OutboxState.PENDING, cursor="2026-03-05")
    put(store, "factuursturen:3", OutboxState.PENDING, cursor="2026-03-09")
    assert store.earliest_unfinished_cursor("facturen", "invoices") == "2026-03-05"


def test_problems_of_one_kind_are_grouped_with_first_and_last_seen_and_count(store: Store) -> None:
    for number in ("1", "2", "3"):
        store.report_problem(
            "facturen",
            origin="mapping",
            code="verkoop:7",
            title="Onbekend btw-tarief 7% op verkoopfacturen",
            advice="Kies een btw-code",
            retryable=False,
            reference=f"factuursturen:{number}",
        )
    [problem] = store.foutmeldingen("facturen")
    assert problem.count == 3
    assert problem.first_seen <= problem.last_seen
    assert [r[0] for r in store.problem_records(problem.id)] == [f"factuursturen:{n}" for n in "123"]


def test_a_problem_is_resolved_when_its_last_record_gets_booked(store: Store) -> None:
    store.report_problem(
        "facturen",
        origin="mapping",
        code="x",
        title="t",
        advice="",
        retryable=False,
        reference="factuursturen:1",
    )
    store.resolve_records("facturen", "factuursturen:1")
    assert store.foutmeldingen("facturen") == []
    assert store.foutmeldingen("facturen", status="resolved")[0].title == "t"


def test_a_lease_is_exclusive_until_it_expires_or_its_holder_dies(store: Store, tmp_path: Path) -> None:
    assert store.acquire_lease("scheduler", "daemon-a", 60)
    assert not store.acquire_lease("scheduler", "console-b", 60)
    assert store.acquire_lease("scheduler", "daemon-a", 60)  # renewal

    # A holder process that was killed cannot renew: the next process takes over at once.
    script = (
        "import sys; from pathlib import Path; from state.store import Store;"
        "Store(Path(sys.argv[1])).acquire_lease('run:facturen', 'dead-run', 300)"
    )
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "koppelaar.db")], check=True)
    assert store.acquire_lease("run:facturen", "new-run", 300)


def test_stale_running_runs_are_marked_interrupted(store: Store, tmp_path: Path) -> None:
    script = (
        "import sys; from pathlib import Path; from state.store import Store;"
        "Store(Path(sys.argv[1])).start_run('facturen', 'manual', False)"
    )
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "koppelaar.db")], check=True)
    store.close_stale_runs()
    assert store.runs("facturen")[0].status == "interrupted"


def test_each_stream_and_partition_has_its_own_cursor(store: Store) -> None:
    store.set_cursor("facturen", "invoices", "2026-03-01")
    store.set_cursor("facturen", "balances", "2026-01-31", "bedrijf-7")
    assert store.cursor("facturen", "invoices") == "2026-03-01"
    assert store.cursor("facturen", "balances", "bedrijf-7") == "2026-01-31"
    assert store.cursor("facturen", "balances") is None and store.cursor("facturen", "entries") is None
    put(store, "factuursturen:1", OutboxState.PENDING, cursor="2026-02-01")
    # An unfinished invoice holds only the invoices' cursor.
    assert store.earliest_unfinished_cursor("facturen", "invoices") == "2026-02-01"
    assert store.earliest_unfinished_cursor("facturen", "balances", "bedrijf-7") is None
