"""What every benchmark shares: simulators in their own process, a Koppelaar home, a measured run.

The simulators run as ``python -m sandbox`` in a separate process and the koppeling runs in another
one (``python -m bench.driver``), so the client's CPU time and peak memory are its own: the parent
only starts processes, polls the simulators' request counters and writes the figures.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from state.home import Home
from tui.demo import prepare_home

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
Api = Literal["soap", "rest"]
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of a running process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_busy_seconds() -> float:
    """CPU time spent by everything on the machine (all cores, excluding idle and iowait)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def wait_for_quiet(max_wait: float = 120.0, threshold: float = 0.25, window: float = 2.0) -> float:
    """Wait (at most `max_wait` s) until other processes use under `threshold` cores; returns the wait.

    The machine may be shared: a timing taken while something else runs measures that too. Call it
    while none of the benchmark's own processes is busy.
    """
    started = time.monotonic()
    while True:
        before = machine_busy_seconds()
        time.sleep(window)
        load = (machine_busy_seconds() - before) / window
        waited = time.monotonic() - started
        if load < threshold or waited >= max_wait:
            if waited > window + 0.5:
                log(f"waited {waited:.0f} s for the machine to quieten (other load now {load:.2f} cores)")
            return waited


def proc_status_kb(pid: int, key: str) -> int | None:
    """A ``VmHWM``/``VmRSS``-style line of /proc/<pid>/status, in KiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


# --- the simulators, in their own process -----------------------------------------------------------


class Sandbox:
    """``python -m sandbox --seed bench`` in a child process, controlled over its HTTP endpoints."""

    def __init__(self, invoices: int, *, rate_limit: float | None = None, workdir: Path) -> None:
        self.invoices = invoices
        self.rate_limit = rate_limit
        self.workdir = workdir
        self.urls: dict[str, str] = {}
        self.pid = 0
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Sandbox:
        port_file = self.workdir / "sandbox-ports.json"
        port_file.unlink(missing_ok=True)
        cmd = [sys.executable, "-m", "sandbox", "--seed", "bench", "--invoices", str(self.invoices)]
        cmd += ["--port-file", str(port_file)]
        if self.rate_limit is not None:
            cmd += ["--rate-limit", str(self.rate_limit)]
        started = time.monotonic()
        with open(self.workdir / "sandbox.log", "ab") as out:
            self._proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        self.pid = self._proc.pid
        while not port_file.exists():
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"sandbox exited ({self._proc.returncode}); see {self.workdir}/sandbox.log"
                )
            if time.monotonic() - started > 300:
                self.__exit__()
                raise RuntimeError("sandbox did not start within 300 s")
            time.sleep(0.05)
        info = json.loads(port_file.read_text())
        self.urls = {"factuursturen": info["factuursturen"], "eboekhouden": info["eboekhouden"]}
        self.startup_seconds = time.monotonic() - started
        return self

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(15)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    @property
    def fs_url(self) -> str:
        return self.urls["factuursturen"]

    @property
    def eb_url(self) -> str:
        return self.urls["eboekhouden"]

    def _http(self, sim: str, path: str, body: object = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.urls[sim] + path,
            data=data,
            method="GET" if body is None else "POST",
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.loads(response.read())

    def add_fault(self, sim: str, **spec: Any) -> None:
        self._http(sim, "/_sandbox/faults", spec)

    def request_count(self, sim: str) -> int:
        return int(self._http(sim, "/_sandbox/state")["requests"])

    def requests(self, sim: str) -> list[dict[str, Any]]:
        return list(self._http(sim, "/_sandbox/requests"))

    def cpu_seconds(self) -> float:
        return proc_cpu_seconds(self.pid)


def request_summary(records: list[dict[str, Any]]) -> dict[str, int]:
    """``"POST /v1/mutation 200": n`` (SOAP: the operation instead of the path)."""
    counts: Counter[str] = Counter(
        f"{r['method']} {r.get('action') or r['path']} {r['status']}" for r in records
    )
    return dict(counts.most_common())


class RequestRateSampler:
    """Polls a simulator's request counter at a fixed interval, in a thread of the parent process."""

    def __init__(self, sandbox: Sandbox, sim: str, interval: float = 1.0) -> None:
        self.sandbox, self.sim, self.interval = sandbox, sim, interval
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> RequestRateSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while True:
            with suppress(OSError):
                self.samples.append((time.monotonic(), self.sandbox.request_count(self.sim)))
            if self._stop.wait(self.interval):
                return

    def steady_rate(self, low: float = 0.1, high: float = 0.9) -> float | None:
        """Requests/second between the moments the counter passed `low` and `high` of its final value."""
        if len(self.samples) < 3:
            return None
        start_count = self.samples[0][1]
        total = self.samples[-1][1] - start_count
        if total <= 0:
            return None
        first = next(s for s in self.samples if s[1] - start_count >= low * total)
        last = next(s for s in self.samples if s[1] - start_count >= high * total)
        if last[0] <= first[0]:
            return None
        return (last[1] - first[1]) / (last[0] - first[0])

    def per_second(self) -> list[tuple[float, float]]:
        """(seconds since the first sample, requests/second in the interval ending there)."""
        if not self.samples:
            return []
        t0 = self.samples[0][0]
        return [
            (round(b[0] - t0, 1), round((b[1] - a[1]) / (b[0] - a[0]), 1))
            for a, b in zip(self.samples, self.samples[1:], strict=False)
            if b[0] > a[0]
        ]


# --- a Koppelaar home and a run in its own process ---------------------------------------------------


@contextmanager
def workdir(prefix: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=f"koppelaar-bench-{prefix}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def make_home(
    root: Path, sandbox: Sandbox, *, api: Api, rate_limit_per_second: float, max_concurrency: int
) -> Home:
    home = Home(root)
    prepare_home(
        home,
        sandbox.fs_url,
        sandbox.eb_url,
        api=api,
        rate_limit_per_second=rate_limit_per_second,
        max_concurrency=max_concurrency,
    )
    return home


def copy_home(source: Home, root: Path, sandbox: Sandbox, *, api: Api) -> Home:
    """A home for the other dialect with the same outbox and cursor (same sandbox administratie)."""
    home = make_home(root, sandbox, api=api, rate_limit_per_second=1000.0, max_concurrency=8)
    src = sqlite3.connect(source.database)
    dst = sqlite3.connect(home.database)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
    return home


@dataclass
class RunResult:
    """What `bench.driver` reported, plus what the kernel says about the child process."""

    report: dict[str, Any]
    exit_code: int
    process_wall_seconds: float
    cpu_seconds: float  # user + system of the child, from wait4
    peak_rss_kib: int  # ru_maxrss of the child, from wait4
    extra: dict[str, Any] = field(default_factory=dict)


def run_driver(
    home: Home,
    *,
    trace: bool = False,
    profile: Path | None = None,
    log_file: Path | None = None,
    koppeling: str = "facturen",
) -> RunResult:
    """Run the koppeling once in a child process; wait4 gives that child's own CPU time and peak RSS."""
    cmd = [sys.executable, "-m", "bench.driver", str(home.root), "--koppeling", koppeling]
    if trace:
        cmd.append("--trace")
    if profile is not None:
        cmd += ["--profile", str(profile)]
    errors = open(log_file or os.devnull, "ab")  # noqa: SIM115 - closed below, after wait4
    started = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=errors)
    assert proc.stdout is not None
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stdout.close()
    errors.close()
    lines = output.decode().strip().splitlines()
    if not lines:
        raise RuntimeError(f"bench.driver printed nothing (exit {proc.returncode}); see {log_file}")
    return RunResult(
        report=json.loads(lines[-1]),
        exit_code=proc.returncode,
        process_wall_seconds=wall,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        peak_rss_kib=usage.ru_maxrss,
    )


# --- results -----------------------------------------------------------------------------------------


def write_results(name: str, data: dict[str, Any], markdown: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    (RESULTS / f"{name}.md").write_text(markdown + "\n")


def table(header: list[str], rows: list[list[Any]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def mib(kib: int | float) -> str:
    return f"{kib / 1024:.1f} MiB"
