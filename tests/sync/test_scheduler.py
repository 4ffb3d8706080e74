"""The nightly schedule: one scheduling process, one run per night, missed nights caught up, DST-safe."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from state.cron import day_of_week
from state.settings import Koppeling, Settings
from state.store import Store
from sync.scheduler import LEASE, NightlyScheduler, next_fire_times, previous_fire_time

AMS = ZoneInfo("Europe/Amsterdam")


def settings(schedule: str = "15 3 * * *") -> Settings:
    return Settings.model_validate(
        {
            "connections": {
                "factuursturen": {"system": "factuursturen"},
                "boekhouding": {"system": "eboekhouden"},
            },
            "koppelingen": {
                "facturen": {"source": "factuursturen", "target": "boekhouding", "schedule": schedule}
            },
        }
    )


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "koppelaar.db")


def test_a_schedule_inside_the_dst_hour_is_refused_with_a_reason() -> None:
    with pytest.raises(ValidationError, match="02:00-02:59"):
        Koppeling(source="a", target="b", schedule="30 2 * * *")


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
