"""The nightly schedule: APScheduler 3.x jobs rebuilt from koppelaar.toml, owned by one process at a time.

The lease row in the database decides which process schedules (the daemon, or the console when no
daemon runs). A `job_runs` row per koppeling and business date makes a duplicate fire (DST, two
processes racing at the lease boundary) a no-op and lets a restarted process catch up a missed night.

A scheduled run that fails as a whole for a reason that may pass (RunReport.retryable: the target
unreachable, say) is run again `retry_delay_minutes` later, at most `retries` times for that night. Each
retry is a row in the database before it is a timer, so the lease holder of the moment arms it, and it is
claimed once, so it never runs twice when the lease moves.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger

from state.cron import cron_trigger
from state.settings import Settings
from state.store import Store
from sync.engine import RunStatus
from sync.service import uses_oauth

LEASE = "scheduler"
LEASE_SECONDS = 60.0
RENEW_SECONDS = 20.0

RETRY_TRIGGER = "retry"  # runs.trigger of a retry of a failed scheduled run

RunFunction = Callable[[str, str], Awaitable[object]]  # (koppeling, trigger) -> report
KeepAliveFunction = Callable[[], Awaitable[object]]  # refreshes OAuth tokens that are getting old


def trigger_for(schedule: str, timezone: str) -> CronTrigger:
    """Read as standard cron: '1-5' is Monday to Friday, not APScheduler's Tuesday to Saturday."""
    return cron_trigger(schedule, timezone)


def next_fire_times(
    schedule: str, timezone: str, count: int, after: datetime | None = None
) -> list[datetime]:
    trigger = trigger_for(schedule, timezone)
    moment = after or datetime.now(ZoneInfo(timezone))
    times: list[datetime] = []
    previous = None
    while len(times) < count:
        fire = trigger.get_next_fire_time(previous, moment)
        if fire is None:
            break
        times.append(fire)
        previous, moment = fire, fire + timedelta(seconds=1)
    return times


def previous_fire_time(schedule: str, timezone: str, now: datetime) -> datetime | None:
    """The last time the schedule should have fired at or before `now` (looking back 8 days)."""
    fires = next_fire_times(schedule, timezone, 200, after=now - timedelta(days=8))
    past = [fire for fire in fires if fire <= now]
    return past[-1] if past else None


def worth_retrying(report: object) -> bool:
    """A run that failed as a whole for a reason that may pass. Not a partial run (the next run takes up
    its parked and unfinished records anyway), nor a busy one (another run is doing the work)."""
    return (
        str(getattr(report, "status", "")) == RunStatus.FAILED and getattr(report, "retryable", False) is True
    )


class NightlyScheduler:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        run: RunFunction,
        *,
        role: str,
        keepalive: KeepAliveFunction | None = None,
        clock: Callable[[], datetime] | None = None,
        reload: Callable[[], Settings] | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        # The settings as they are now (the console's after an edit, the daemon's koppelaar.toml as it is
        # on disk): a schedule changed while this process holds the lease applies from the next tick.
        self.reload = reload
        self.run = run
        # Default: the OAuth keep-alive of the home this store belongs to (koppelaar.db lives in it).
        self.keepalive = keepalive or self._keep_alive_home
        self.owner = f"{role}:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.tz = settings.app.timezone
        self._clock = clock or (lambda: datetime.now(ZoneInfo(self.tz)))  # tests move time by hand
        self._scheduler: AsyncIOScheduler | None = None
        self._planned: dict[str, tuple[str, str]] = {}  # job id → (cron, time zone) it was planned with

    @property
    def holding(self) -> bool:
        return self._scheduler is not None

    async def tick(self) -> None:
        """Take or renew the lease; start scheduling when we get it, stop when we lose it."""
        self._follow_settings()
        if self.store.acquire_lease(LEASE, self.owner, LEASE_SECONDS):
            if self._scheduler is None:
                self._start()
                await self.catch_up()
                await self.fire_keepalive()
            self._arm_retries()  # also those a previous lease holder planned and could not run
        elif self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None

    def _follow_settings(self) -> None:
        fresh = self.reload() if self.reload is not None else self.settings
        if fresh is self.settings:
            return
        self.settings, self.tz = fresh, fresh.app.timezone
        if self._scheduler is not None:
            # Re-planned in place, not restarted: shutting the scheduler down would cancel a nightly run
            # that is busy right now. No catch-up: nothing was missed, only the plan changed.
            self._plan(self._scheduler)

    def _start(self) -> None:
        scheduler = AsyncIOScheduler(
            timezone=ZoneInfo(self.tz),
            # Library defaults skip a job that is one second late; a nightly sync must not vanish.
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
        )
        self._planned = {}
        self._plan(scheduler)
        scheduler.start()  # needs the running loop: only called from async code
        self._scheduler = scheduler

    def _plan(self, scheduler: AsyncIOScheduler) -> None:
        """One job per active koppeling (and the keep-alive); jobs of koppelingen now paused, deactivated
        or gone are removed. Pending retries keep their own jobs."""
        from sync.keepalive import KEEPALIVE_JOB, KEEPALIVE_SCHEDULE

        wanted = {
            f"koppeling:{name}": (name, koppeling.schedule)
            for name, koppeling in self.settings.koppelingen.items()
            if not (koppeling.paused or koppeling.deactivated)
        }
        if self._has_oauth():
            wanted[KEEPALIVE_JOB] = ("", KEEPALIVE_SCHEDULE)
        for job in scheduler.get_jobs():
            if (job.id.startswith("koppeling:") or job.id == KEEPALIVE_JOB) and job.id not in wanted:
                job.remove()
                self._planned.pop(job.id, None)
        for job_id, (name, schedule) in wanted.items():
            plan = (schedule, self.tz)
            if scheduler.get_job(job_id) is not None and self._planned.get(job_id) == plan:
                continue  # replaced, it would count from now: a fire due this very second would be lost
            if job_id == KEEPALIVE_JOB:
                scheduler.add_job(
                    self.fire_keepalive, trigger_for(schedule, self.tz), id=job_id, replace_existing=True
                )
            else:
                scheduler.add_job(
                    self.fire, trigger_for(schedule, self.tz), args=[name], id=job_id, replace_existing=True
                )
            self._planned[job_id] = plan

    # -- the OAuth keep-alive (a vendor may expire a refresh token left unused) -------------------------

    def _has_oauth(self) -> bool:
        return any(uses_oauth(c) for c in self.settings.connections.values())

    async def _keep_alive_home(self) -> object:
        from state.home import Home
        from sync.keepalive import keep_alive

        return await keep_alive(Home(self.store.path.parent))

    async def fire_keepalive(self) -> None:
        """Once per business date, like the koppelingen: a duplicate fire or a second process is a no-op.
        Also called at start (catch-up): a machine that is off at 04:40 still keeps its tokens alive."""
        if not self._has_oauth():
            return
        from sync.keepalive import KEEPALIVE_JOB

        business_date = self._clock().date().isoformat()
        if not self.store.claim_business_date(KEEPALIVE_JOB, business_date):
            return
        status = "done"
        try:
            results = await self.keepalive()
            if isinstance(results, list):
                status = ", ".join(
                    f"{getattr(r, 'connection', '?')}: {getattr(r, 'action', '?')}" for r in results
                )
        except Exception as exc:  # never take the scheduler down; tomorrow tries again
            status = f"fout: {exc}"
        self.store.finish_business_date(KEEPALIVE_JOB, business_date, status[:200] or "done", None)

    async def fire(self, name: str, trigger: str = "schedule") -> None:
        business_date = self._clock().date().isoformat()
        if not self.store.claim_business_date(name, business_date):
            return  # this night was already run (a duplicate fire or another process)
        await self._run_night(name, business_date, trigger)

    async def _run_night(self, name: str, business_date: str, trigger: str) -> None:
        self.store.drop_retries(name)  # tonight's run does what an earlier night's retry would have
        report = await self.run(name, trigger)
        status = getattr(report, "status", "done")
        run_id = getattr(report, "run_id", None)
        self.store.finish_business_date(name, business_date, str(status), run_id)
        self._plan_retry(name, business_date, 1, report)

    def _plan_retry(self, name: str, business_date: str, attempt: int, report: object) -> None:
        """Plan retry `attempt` of this night when the attempt before it failed in a way that may pass."""
        koppeling = self.settings.koppelingen.get(name)
        if koppeling is None or attempt > koppeling.retries or not worth_retrying(report):
            return  # a success, a failure only an admin can fix, or no retries left: the series ends
        # Added in UTC: wall-clock arithmetic would make the delay an hour off across a DST change.
        delay = timedelta(minutes=koppeling.retry_delay_minutes)
        due = (self._clock().astimezone(UTC) + delay).astimezone(ZoneInfo(self.tz))
        self.store.plan_retry(name, business_date, attempt, due.isoformat(timespec="seconds"))
        self._arm_retries()

    def _arm_retries(self) -> None:
        """A one-off timer (in the app time zone) for every planned retry that has none in this process."""
        if self._scheduler is None:
            return  # only the lease holder runs retries; the plan waits in the database
        tz, now = ZoneInfo(self.tz), self._clock()
        for retry in self.store.pending_retries():
            job_id = f"{RETRY_TRIGGER}:{retry.koppeling}:{retry.business_date}:{retry.attempt}"
            if self._scheduler.get_job(job_id) is not None:
                continue
            # Overdue (no process held the lease at the time): run it now.
            due = max(datetime.fromisoformat(retry.due_at).astimezone(tz), now)
            self._scheduler.add_job(
                self.fire_retry,
                DateTrigger(due, timezone=tz),
                args=[retry.koppeling, retry.business_date, retry.attempt],
                id=job_id,
            )

    async def fire_retry(self, name: str, business_date: str, attempt: int) -> None:
        if not self.store.claim_retry(name, business_date, attempt):
            return  # run already: by the previous lease holder, or by a second timer for it
        koppeling = self.settings.koppelingen.get(name)
        if koppeling is None or koppeling.paused or koppeling.deactivated:
            self.store.finish_retry(name, business_date, attempt, "dropped", None)
            return
        # Through the same run function as the nightly run: the engine's run lease still allows one
        # run per koppeling at a time (a run going on answers BUSY, and the series ends).
        report = await self.run(name, RETRY_TRIGGER)
        status = getattr(report, "status", "done")
        self.store.finish_retry(name, business_date, attempt, str(status), getattr(report, "run_id", None))
        self._plan_retry(name, business_date, attempt + 1, report)

    async def catch_up(self, now: datetime | None = None) -> list[str]:
        """Run each koppeling whose last scheduled night was missed (the machine was off, say)."""
        moment = now or self._clock()
        caught: list[str] = []
        for name, koppeling in self.settings.koppelingen.items():
            if koppeling.paused or koppeling.deactivated:
                continue
            fire = previous_fire_time(koppeling.schedule, self.tz, moment)
            runs = self.store.runs(name, limit=1)
            if fire is None or not runs or datetime.fromisoformat(runs[0].started_at) >= fire:
                continue  # nothing missed: it never ran before that night, or it ran since
            business_date = fire.date().isoformat()
            if self.store.business_date_done(name, business_date):
                continue
            if self.store.claim_business_date(name, business_date):
                await self._run_night(name, business_date, "catch_up")
                caught.append(name)
        return caught

    def next_run(self, name: str) -> datetime | None:
        """When the armed job of this koppeling fires next; None when this process does not plan it."""
        job = self._scheduler.get_job(f"koppeling:{name}") if self._scheduler is not None else None
        return job.next_run_time if job is not None else None

    def shutdown(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        self.store.release_lease(LEASE, self.owner)
