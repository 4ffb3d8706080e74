"""Runs of koppelingen in this process, owned by the program rather than by a screen.

A run started from the console goes on when the admin leaves the koppeling's screen: it runs in its own
thread with its own event loop (SQLite writes and HTTP never stall the interface), its live progress is
kept here for whichever screen wants to show it, and whoever quits the program can wait for it or ask it
to stop safely (the engine lets in-flight requests settle; unsent rows stay in the outbox for the next
run). No Textual here: the console polls or listens, the scheduler awaits.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from sync.engine import Progress, RunReport, RunStatus


class RunFunction(Protocol):
    def __call__(
        self,
        koppeling: str,
        *,
        dry_run: bool,
        retry: bool | frozenset[str],
        trigger: str,
        on_progress: Callable[[Progress], None],
        stop: Callable[[], bool],
    ) -> Coroutine[Any, Any, object]: ...


class AlreadyRunning(RuntimeError):
    def __init__(self, koppeling: str) -> None:
        super().__init__(f"{koppeling}: er loopt al een run.")
        self.koppeling = koppeling


@dataclass
class ActiveRun:
    """One run started by this process: live progress while it runs, its result when it ends."""

    koppeling: str
    dry_run: bool
    trigger: str
    progress: Progress = field(default_factory=Progress)
    started: float = field(default_factory=time.monotonic)
    future: Future[object] = field(default_factory=Future)
    stop_requested: threading.Event = field(default_factory=threading.Event)

    @property
    def done(self) -> bool:
        return self.future.done()

    def snapshot(self) -> Progress:
        """A copy: the engine updates the live one from the run's thread."""
        return replace(self.progress)

    def result(self) -> object | None:
        """The report (or RunRequested) once the run has ended; raises what the run raised."""
        return self.future.result() if self.future.done() else None

    def error(self) -> BaseException | None:
        return self.future.exception() if self.future.done() else None


class RunService:
    def __init__(self, run: RunFunction) -> None:
        self._run = run
        self._lock = threading.Lock()
        self._runs: dict[str, ActiveRun] = {}  # the running one, else the last one started here
        self._threads: list[threading.Thread] = []
        # Told (from the run's thread) when a run ends: the console turns it into a toast.
        self.listeners: list[Callable[[ActiveRun], None]] = []

    def start(
        self,
        koppeling: str,
        *,
        dry_run: bool = False,
        retry: bool | frozenset[str] = False,
        trigger: str = "manual",
    ) -> ActiveRun:
        with self._lock:
            current = self._runs.get(koppeling)
            if current is not None and not current.done:
                raise AlreadyRunning(koppeling)
            run = ActiveRun(koppeling, dry_run, trigger)
            self._runs[koppeling] = run
            thread = threading.Thread(
                target=self._thread, args=(run, retry), name=f"run:{koppeling}", daemon=False
            )
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()
        return run

    def _thread(self, run: ActiveRun, retry: bool | frozenset[str]) -> None:
        def progress(p: Progress) -> None:
            run.progress = p

        try:
            result: object = asyncio.run(
                self._run(
                    run.koppeling,
                    dry_run=run.dry_run,
                    retry=retry,
                    trigger=run.trigger,
                    on_progress=progress,
                    stop=run.stop_requested.is_set,
                )
            )
        except BaseException as exc:  # handed to whoever looks, never lost in a thread
            run.future.set_exception(exc)
        else:
            if isinstance(result, RunReport):
                run.progress = result.progress
            run.future.set_result(result)
        for listener in list(self.listeners):
            listener(run)

    async def run(self, koppeling: str, trigger: str) -> object:
        """For the scheduler: a run like any other (visible, stoppable), awaited in the caller's loop."""
        try:
            run = self.start(koppeling, trigger=trigger)
        except AlreadyRunning as exc:
            return RunReport(koppeling, 0, False, RunStatus.BUSY, str(exc))
        return await asyncio.wrap_future(run.future)

    def current(self, koppeling: str) -> ActiveRun | None:
        with self._lock:
            return self._runs.get(koppeling)

    def busy(self) -> list[ActiveRun]:
        with self._lock:
            return [run for run in self._runs.values() if not run.done]

    def stop_all(self) -> None:
        """Ask every run to stop safely: no new bookings start, those on their way are settled."""
        for run in self.busy():
            run.stop_requested.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every run has ended (or `timeout`); True when none is left."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not self.busy()
