"""Run simulators as real HTTP servers (uvicorn, 127.0.0.1, ephemeral ports) in a background thread."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from types import TracebackType
from typing import Any

import uvicorn

from sandbox.base import SimBase


class SandboxServer:
    """Serve each simulator on its own port (the real vendors live on different hosts).

    ``with SandboxServer(factuursturen=FactuurSturenSim(...), eboekhouden=EBoekhoudenSim(...)) as srv:``
    then ``srv.factuursturen_url`` / ``srv.eboekhouden_url`` / ``srv.url_for(name)``.
    """

    def __init__(self, host: str = "127.0.0.1", start_timeout: float = 10.0, **sims: SimBase | None) -> None:
        self.host = host
        self.start_timeout = start_timeout
        self.sims: dict[str, SimBase] = {name: sim for name, sim in sims.items() if sim is not None}
        self._servers: dict[str, uvicorn.Server] = {}
        self._ports: dict[str, int] = {}
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    # --- addresses
    def url_for(self, name: str) -> str:
        if name not in self._ports:
            raise KeyError(f"no running simulator {name!r}; have {sorted(self._ports)}")
        return f"http://{self.host}:{self._ports[name]}"

    @property
    def urls(self) -> dict[str, str]:
        return {name: self.url_for(name) for name in self._ports}

    @property
    def factuursturen_url(self) -> str:
        return self.url_for("factuursturen")

    @property
    def eboekhouden_url(self) -> str:
        return self.url_for("eboekhouden")

    def __getitem__(self, name: str) -> SimBase:
        return self.sims[name]

    # --- lifecycle
    def start(self) -> SandboxServer:
        if self._thread is not None:
            raise RuntimeError("already started")
        for name, sim in self.sims.items():
            sim._release = None  # a fresh event for this server's loop
            config = uvicorn.Config(
                sim,
                host=self.host,
                port=0,
                lifespan="off",
                access_log=False,
                log_config=None,
                log_level="warning",
                # Backstop only: hanging faults end when the server stops (release_hangs).
                timeout_graceful_shutdown=2,
                timeout_keep_alive=30,
            )
            self._servers[name] = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name="sandbox-server", daemon=True)
        self._thread.start()
        # The loop thread sets _ready once every server reports `started` (or one failed).
        if not self._ready.wait(self.start_timeout):
            self.stop()
            raise RuntimeError("sandbox servers did not start in time")
        if self._error is not None:
            self.stop()
            raise RuntimeError(f"sandbox server failed to start: {self._error!r}") from self._error
        return self

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported to start(); the thread must not die silently
            self._error = exc
        finally:
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        tasks = {name: asyncio.create_task(srv.serve()) for name, srv in self._servers.items()}
        while not all(srv.started for srv in self._servers.values()):
            done = [t for t in tasks.values() if t.done()]
            if done:  # serve() returned before start: port bind failure etc.
                for t in done:
                    t.result()
                raise RuntimeError("a sandbox server exited during startup")
            await asyncio.sleep(0.005)
        for name, srv in self._servers.items():
            self._ports[name] = srv.servers[0].sockets[0].getsockname()[1]
        self._ready.set()
        await asyncio.gather(*tasks.values())

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is not None and not loop.is_closed():

            def _shutdown() -> None:
                for sim in self.sims.values():
                    sim.release_hangs()
                for srv in self._servers.values():
                    srv.should_exit = True

            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(_shutdown)
        if thread is not None:
            thread.join(timeout=10)
        self._thread = None
        self._loop = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"SandboxServer({self._ports or 'stopped'})"


def run_forever(server: SandboxServer, stop: threading.Event, **_: Any) -> None:
    """Block until ``stop`` is set, then stop the servers (used by the CLI)."""
    with server:
        stop.wait()
