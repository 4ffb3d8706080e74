"""The nightly schedule: one scheduling process, one run per night, missed nights caught up, DST-safe,
and a night that failed for a reason that may pass retried a few times."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from connectors.contract import (
    BookingTarget,
    CheckResult,
    Health,
    RateLimit,
    Source,
    SourceBase,
    SourceRecord,
    Stream,
)
from connectors.errors import AuthError, ConnectorError, TransientError
from state.cron import day_of_week
from state.settings import Koppeling, Settings
from state.store import Store
from sync.engine import Engine, RunReport, RunStatus
from sync.scheduler import (
    LEASE,
    RETRY_TRIGGER,
    NightlyScheduler,
    next_fire_times,
    previous_fire_time,
    worth_retrying,
)

AMS = ZoneInfo("Europe/Amsterdam")


def settings(schedule: str = "15 3 * * *", *, retries: int = 2, delay: int = 30) -> Settings:
    return Settings.model_validate(
        {
            "connections": {
                "factuursturen": {"system": "factuursturen"},
                "boekhouding": {"system": "eboekhouden"},
            },
            "koppelingen": {
                "facturen": {
                    "source": "factuursturen",
                    "target": "boekhouding",
                    "schedule": schedule,
                    "retries": retries,
                    "retry_delay_minutes": delay,
                }
            },
        }
    )


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "koppelaar.db")


@pytest.mark.parametrize(
    "schedule", ["30 2 * * *", "0 1-3 * * *", "0 */2 * * *", "15 * * * *", "0 0,2 * * 1-5"]
)
def test_a_schedule_inside_the_dst_hour_is_refused_with_a_reason(schedule: str) -> None:
    with pytest.raises(ValidationError, match="02:00-02:59"):
        Koppeling(source="a", target="b", schedule=schedule)


@pytest.mark.parametrize(
    "schedule", ["15 3 * * *", "0 12 * * *", "0 3-5 * * 1-5", "0 */3 * * *", "0 22,23 * * *"]
)
def test_a_schedule_outside_the_dst_hour_is_accepted(schedule: str) -> None:
    assert Koppeling(source="a", target="b", schedule=schedule).schedule == schedule


def test_default_nightly_time_fires_once_on_both_dst_nights() -> None:
    for start in (datetime(2026, 3, 27, 12, tzinfo=AMS), datetime(2026, 10, 23, 12, tzinfo=AMS)):
        fires = next_fire_times(
            Koppeling(source="a", target="b").schedule, "Europe/Amsterdam", 4, after=start
        )
        assert [f.date().day for f in fires] == [start.day + i for i in range(1, 5)]
        assert all((f.hour, f.minute) == (3, 15) for f in fires)


MONDAY = datetime(2026, 11, 16, 0, 0, tzinfo=AMS)  # fires are counted from a Monday at midnight


def weekdays(schedule: str, count: int = 7) -> list[int]:
    """Python's weekday (0 = Monday) of the next `count` fires of `schedule` after MONDAY."""
    return [fire.weekday() for fire in next_fire_times(schedule, "Europe/Amsterdam", count, after=MONDAY)]


def test_weekday_numbers_are_read_as_standard_cron_not_as_apscheduler_numbers() -> None:
    # APScheduler 3 alone would run '1-5' Tuesday to Saturday and refuse '7'.
    assert weekdays("15 3 * * 1-5") == [0, 1, 2, 3, 4, 0, 1]
    assert weekdays("0 4 * * 0", 3) == [6, 6, 6]
    assert weekdays("0 4 * * 7", 3) == [6, 6, 6]
    assert weekdays("15 3 * * sat,sun", 4) == [5, 6, 5, 6]
    assert weekdays("15 3 * * mon-fri", 6) == [0, 1, 2, 3, 4, 0]


@pytest.mark.parametrize(
    ("field", "days"),
    [
        ("1,3,5", "mon,wed,fri"),
        ("5-7", "fri,sat,sun"),
        ("sat-sun", "sat,sun"),  # the weekend: Sunday ends the range
        ("*/2", "tue,thu,sat,sun"),  # cron counts the step from Sunday (0, 2, 4, 6)
        ("1-5/2", "mon,wed,fri"),
        ("mon-fri/2", "mon,wed,fri"),  # APScheduler would ignore a step after day names
        ("0-7", "mon,tue,wed,thu,fri,sat,sun"),
        ("*", "*"),
    ],
)
def test_day_of_week_ranges_lists_and_steps(field: str, days: str) -> None:
    assert day_of_week(field) == days


@pytest.mark.parametrize(
    ("schedule", "reason"),
    [
        ("15 3 * * 8", "onbekende weekdag '8'"),
        ("15 3 * * 5-1", "loopt achteruit"),
        ("15 3 * * */0", "ongeldige stap"),
        ("15 25 * * *", "ongeldige cron-planning"),
        ("elke nacht", "5 velden"),
    ],
)
def test_a_schedule_that_cron_would_not_read_is_refused_when_the_config_is_read(
    schedule: str, reason: str
) -> None:
    with pytest.raises(ValidationError, match=reason):
        Koppeling(source="a", target="b", schedule=schedule)


def test_previous_fire_time_is_last_night() -> None:
    now = datetime(2026, 11, 21, 9, 0, tzinfo=AMS)
    assert previous_fire_time("15 3 * * *", "Europe/Amsterdam", now) == datetime(
        2026, 11, 21, 3, 15, tzinfo=AMS
    )


async def test_only_one_process_holds_the_scheduler_lease(store: Store, tmp_path: Path) -> None:
    other = Store(tmp_path / "koppelaar.db")
    runs: list[str] = []

    async def run(name: str, trigger: str) -> None:
        runs.append(trigger)

    daemon = NightlyScheduler(store, settings(), run, role="daemon")
    console = NightlyScheduler(other, settings(), run, role="console")
    await daemon.tick()
    await console.tick()
    assert daemon.holding and not console.holding
    lease = store.lease(LEASE)
    assert lease is not None and lease.owner.startswith("daemon:")
    daemon.shutdown()
    await console.tick()
    assert console.holding
    console.shutdown()


async def test_a_duplicate_fire_on_the_same_night_is_a_no_op(store: Store) -> None:
    runs: list[str] = []

    async def run(name: str, trigger: str) -> None:
        runs.append(name)

    scheduler = NightlyScheduler(store, settings(), run, role="daemon")
    await scheduler.fire("facturen")
    await scheduler.fire("facturen")
    assert runs == ["facturen"]


async def test_a_missed_night_is_caught_up_once(store: Store) -> None:
    runs: list[str] = []

    async def run(name: str, trigger: str) -> None:
        runs.append(trigger)

    store.start_run("facturen", "schedule", False)  # it ran before, so a missed night is real
    scheduler = NightlyScheduler(store, settings(), run, role="daemon")
    morning = (datetime.now(AMS) + timedelta(days=2)).replace(hour=9, minute=0)
    assert await scheduler.catch_up(morning) == ["facturen"]
    assert await scheduler.catch_up(morning) == []
    assert runs == ["catch_up"]
    assert store.business_date_done("facturen", morning.date().isoformat())


async def test_a_koppeling_that_ran_after_last_nights_slot_is_not_caught_up(store: Store) -> None:
    async def run(name: str, trigger: str) -> None:
        raise AssertionError("must not run")

    store.start_run("facturen", "manual", False)  # e.g. set up and run by hand this afternoon
    scheduler = NightlyScheduler(store, settings(), run, role="daemon")
    assert await scheduler.catch_up(datetime.now(AMS) + timedelta(minutes=1)) == []


async def test_a_koppeling_that_never_ran_is_not_caught_up(store: Store) -> None:
    async def run(name: str, trigger: str) -> None:
        raise AssertionError("must not run")

    scheduler = NightlyScheduler(store, settings(), run, role="daemon")
    assert await scheduler.catch_up(datetime(2026, 11, 21, 9, 0, tzinfo=AMS)) == []


# -- retries of a failed night ------------------------------------------------------------------------

# Far ahead, so APScheduler's own (real) clock never fires the retry timers: the tests fire them.
NIGHT = datetime(2099, 11, 20, 3, 15, tzinfo=AMS)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)


def outcome(status: RunStatus, *, retryable: bool = False) -> RunReport:
    return RunReport("facturen", 1, False, status, status.value, retryable=retryable)


UNREACHABLE = outcome(RunStatus.FAILED, retryable=True)  # as the engine reports an unreachable target
AUTH_FAILED = outcome(RunStatus.FAILED)
OK = outcome(RunStatus.OK)


class Runs:
    """The run function with scripted outcomes; remembers why each run ran."""

    def __init__(self, *outcomes: RunReport) -> None:
        self.outcomes = list(outcomes)
        self.triggers: list[str] = []

    async def __call__(self, name: str, trigger: str) -> RunReport:
        self.triggers.append(trigger)
        return self.outcomes.pop(0)


def retry_timers(scheduler: NightlyScheduler) -> list[Any]:
    jobs = scheduler._scheduler.get_jobs() if scheduler._scheduler is not None else []
    return [job for job in jobs if job.id.startswith(f"{RETRY_TRIGGER}:")]


async def fire_due_retries(scheduler: NightlyScheduler, clock: Clock) -> None:
    """What APScheduler does when its clock reaches a retry timer: drop the one-off job and run it."""
    for job in retry_timers(scheduler):
        if job.trigger.run_date <= clock.now:
            job.remove()
            await job.func(*job.args)


async def test_a_night_that_failed_on_an_unreachable_target_is_retried_after_the_delay_at_most_n_times(
    store: Store,
) -> None:
    clock = Clock(NIGHT)
    runs = Runs(UNREACHABLE, UNREACHABLE, UNREACHABLE, UNREACHABLE)
    scheduler = NightlyScheduler(store, settings(retries=2, delay=30), runs, role="daemon", clock=clock)
    await scheduler.tick()
    await scheduler.fire("facturen")
    for attempt in (1, 2):
        [timer] = retry_timers(scheduler)
        assert timer.trigger.run_date == NIGHT + timedelta(minutes=30 * attempt)
        assert str(timer.trigger.run_date.tzinfo) == "Europe/Amsterdam"
        [pending] = store.pending_retries("facturen")
        assert (pending.business_date, pending.attempt) == ("2099-11-20", attempt)
        clock.advance(29)
        await fire_due_retries(scheduler, clock)
        assert len(runs.triggers) == attempt  # not yet: the delay has not passed
        clock.advance(1)
        await fire_due_retries(scheduler, clock)
    assert runs.triggers == ["schedule", RETRY_TRIGGER, RETRY_TRIGGER]
    assert retry_timers(scheduler) == [] and store.pending_retries() == []
    scheduler.shutdown()


async def test_the_retry_delay_is_real_time_across_the_dst_change(store: Store) -> None:
    # 02:30 summer time, half an hour before the clocks go back from 03:00 to 02:00.
    failed_at = datetime(2099, 10, 25, 2, 30, tzinfo=AMS)
    scheduler = NightlyScheduler(
        store, settings(delay=60), Runs(UNREACHABLE), role="daemon", clock=Clock(failed_at)
    )
    await scheduler.tick()
    await scheduler.fire("facturen")
    [timer] = retry_timers(scheduler)
    assert timer.trigger.run_date.timestamp() - failed_at.timestamp() == 3600
    assert timer.trigger.run_date.utcoffset() == timedelta(hours=1)  # 02:30 again, now winter time
    scheduler.shutdown()


async def test_a_successful_retry_ends_the_series(store: Store) -> None:
    clock = Clock(NIGHT)
    runs = Runs(UNREACHABLE, OK)
    scheduler = NightlyScheduler(store, settings(retries=3), runs, role="daemon", clock=clock)
    await scheduler.tick()
    await scheduler.fire("facturen")
    clock.advance(30)
    await fire_due_retries(scheduler, clock)
    assert runs.triggers == ["schedule", RETRY_TRIGGER]
    assert retry_timers(scheduler) == [] and store.pending_retries() == []
    scheduler.shutdown()


@pytest.mark.parametrize(
    "night",
    [
        AUTH_FAILED,  # refused credentials: only an admin can fix them
        outcome(RunStatus.PARTIAL),  # parked records: the next run takes them up anyway
        outcome(RunStatus.BUSY),  # another run (a manual one, say) is doing the work
        OK,
    ],
    ids=lambda report: report.message,
)
async def test_only_a_night_that_failed_for_a_reason_that_may_pass_is_retried(
    store: Store, night: RunReport
) -> None:
    runs = Runs(night)
    scheduler = NightlyScheduler(store, settings(), runs, role="daemon", clock=Clock(NIGHT))
    await scheduler.tick()
    await scheduler.fire("facturen")
    assert retry_timers(scheduler) == [] and store.pending_retries() == []
    scheduler.shutdown()


async def test_no_retries_when_the_koppeling_allows_none(store: Store) -> None:
    scheduler = NightlyScheduler(
        store, settings(retries=0), Runs(UNREACHABLE), role="daemon", clock=Clock(NIGHT)
    )
    await scheduler.tick()
    await scheduler.fire("facturen")
    assert retry_timers(scheduler) == [] and store.pending_retries() == []
    scheduler.shutdown()


async def test_only_the_lease_holder_runs_a_retry_and_it_runs_once_when_the_lease_moves(
    store: Store, tmp_path: Path
) -> None:
    clock = Clock(NIGHT)
    daemon_runs, console_runs = Runs(UNREACHABLE), Runs(OK)
    daemon = NightlyScheduler(store, settings(), daemon_runs, role="daemon", clock=clock)
    console = NightlyScheduler(
        Store(tmp_path / "koppelaar.db"), settings(), console_runs, role="console", clock=clock
    )
    await daemon.tick()
    await console.tick()
    await daemon.fire("facturen")
    [stale] = retry_timers(daemon)
    await console.tick()
    assert not console.holding and retry_timers(console) == []  # the non-holder schedules nothing

    daemon.shutdown()  # the daemon stops before the retry is due; the console takes the lease
    clock.advance(45)
    await console.tick()
    [timer] = retry_timers(console)
    assert timer.trigger.run_date == clock.now  # overdue: run at once
    await fire_due_retries(console, clock)
    await stale.func(*stale.args)  # the old holder's timer, had it still fired
    assert daemon_runs.triggers == ["schedule"]
    assert console_runs.triggers == [RETRY_TRIGGER]
    console.shutdown()


async def test_a_new_night_drops_a_retry_still_pending_from_the_night_before(store: Store) -> None:
    clock = Clock(NIGHT)
    scheduler = NightlyScheduler(
        store, settings(delay=240), Runs(UNREACHABLE, OK), role="daemon", clock=clock
    )
    await scheduler.fire("facturen")  # not holding: nothing is armed, the plan waits in the database
    assert len(store.pending_retries("facturen")) == 1
    clock.advance(24 * 60)
    await scheduler.fire("facturen")
    assert store.pending_retries() == []


class FakeConnector(SourceBase):
    """Just enough of a source and a target for a run that stops at its preflight or first page."""

    system = "nep"
    rate_limit = RateLimit(10.0)
    batch_size = 1

    def __init__(self, health: Health = Health.OK, error: Exception | None = None) -> None:
        self.health = health
        self.error = error

    async def check(self) -> CheckResult:
        return CheckResult(self.health, f"nep: {self.health.value}")

    async def read(
        self, stream: Stream, partition: str, cursor: str | None, known: Callable[[str], bool]
    ) -> AsyncIterator[list[SourceRecord]]:
        if self.error is not None:
            raise self.error
        yield []

    async def aclose(self) -> None:
        pass


@pytest.mark.parametrize(
    ("source", "target", "retried"),
    [
        (FakeConnector(), FakeConnector(Health.UNREACHABLE), True),  # network, 5xx, timeouts
        (FakeConnector(), FakeConnector(Health.AUTH_FAILED), False),
        (FakeConnector(Health.NOT_ENABLED), FakeConnector(), False),  # e.g. the REST API module is off
        (FakeConnector(Health.UNREACHABLE), FakeConnector(Health.MISCONFIGURED), False),
        (FakeConnector(error=AuthError("sessie verlopen")), FakeConnector(), False),  # refused mid-run
        (FakeConnector(error=RuntimeError("database is locked")), FakeConnector(), True),
        (FakeConnector(error=TransientError("503")), FakeConnector(), False),  # partial, not failed
    ],
    ids=["unreachable", "auth", "not-enabled", "mixed", "auth-mid-run", "internal", "transient-mid-run"],
)
async def test_the_engine_says_which_failed_runs_a_retry_may_fix(
    store: Store, source: FakeConnector, target: FakeConnector, retried: bool
) -> None:
    koppeling = settings().koppelingen["facturen"]
    engine = Engine(store, "facturen", koppeling, cast(Source, source), cast(BookingTarget, target))
    report = await engine.run(trigger="schedule")
    assert worth_retrying(report) is retried, (report.status, report.message)
    if isinstance(source.error, ConnectorError) and not isinstance(source.error, AuthError):
        assert report.status is RunStatus.PARTIAL


async def test_a_schedule_changed_while_holding_the_lease_applies_from_the_next_tick(store: Store) -> None:
    async def run(name: str, trigger: str) -> None:
        return None

    current = settings("15 3 * * *")
    scheduler = NightlyScheduler(store, current, run, role="console", reload=lambda: current)
    await scheduler.tick()
    first = scheduler.next_run("facturen")
    assert first is not None and (first.hour, first.minute) == (3, 15)

    current = settings("45 4 * * 1-5")  # the admin moved it in Instellingen: weekdays at 04:45
    await scheduler.tick()
    moved = scheduler.next_run("facturen")
    assert moved is not None and (moved.hour, moved.minute) == (4, 45) and moved.isoweekday() <= 5

    current = current.model_copy(
        update={
            "koppelingen": {"facturen": current.koppelingen["facturen"].model_copy(update={"paused": True})}
        }
    )
    await scheduler.tick()
    assert scheduler.next_run("facturen") is None  # paused: no nightly run planned
    scheduler.shutdown()


async def test_a_nightly_run_busy_when_the_schedule_changes_is_not_cancelled(store: Store) -> None:
    started, release, finished = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def run(name: str, trigger: str) -> None:
        started.set()
        await release.wait()
        finished.set()

    current = settings("15 3 * * *")
    scheduler = NightlyScheduler(store, current, run, role="daemon", reload=lambda: current)
    await scheduler.tick()
    job = scheduler._scheduler.get_job("koppeling:facturen") if scheduler._scheduler else None
    assert job is not None
    job.modify(next_run_time=datetime.now(AMS))  # the night has come
    await asyncio.wait_for(started.wait(), timeout=10)

    current = settings("45 4 * * *")  # saved in the console while the run is busy
    await scheduler.tick()
    release.set()
    await asyncio.wait_for(finished.wait(), timeout=10)  # a cancelled run would never get here
    moved = scheduler.next_run("facturen")
    assert moved is not None and (moved.hour, moved.minute) == (4, 45)
    scheduler.shutdown()


def test_a_schedule_with_both_a_day_of_month_and_a_day_of_week_is_refused() -> None:
    with pytest.raises(ValidationError, match="dag van de maand én een dag van de week"):
        Koppeling(source="a", target="b", schedule="15 3 1 * 1")
    assert Koppeling(source="a", target="b", schedule="15 3 1 * *").schedule == "15 3 1 * *"


async def test_a_save_that_leaves_the_schedule_alone_leaves_the_planned_fire_alone(store: Store) -> None:
    async def run(name: str, trigger: str) -> None:
        return None

    current = settings("15 3 * * *")
    scheduler = NightlyScheduler(store, current, run, role="console", reload=lambda: current)
    await scheduler.tick()
    job = scheduler._scheduler.get_job("koppeling:facturen") if scheduler._scheduler else None
    assert job is not None
    due = datetime.now(AMS).replace(microsecond=0) + timedelta(seconds=30)
    job.modify(next_run_time=due)  # the night's fire, about to happen

    current = settings("15 3 * * *", retries=3)  # a save of something else: a new settings object
    await scheduler.tick()
    assert scheduler.next_run("facturen") == due  # not moved on to tomorrow
    scheduler.shutdown()
