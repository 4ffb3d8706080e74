"""Benchmark 1 — throughput: 10,000 invoices FactuurSturen → e-Boekhouden through the simulators.

Every e-Boekhouden request gets 50 ms of injected latency and the e-Boekhouden simulator enforces a
token bucket of CEILING requests/second (429 + Retry-After beyond it). The koppeling's connection is
configured with that same ceiling and max_concurrency 32, so the engine's ConcurrencyGovernor chooses
the concurrency. Simulators and koppeling each run in their own process.

``python -m bench.throughput [--api rest|soap|both] [--invoices N] [--ceiling R]``
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from bench.common import (
    Api,
    RequestRateSampler,
    Sandbox,
    log,
    machine,
    machine_busy_seconds,
    make_home,
    request_summary,
    run_driver,
    table,
    wait_for_quiet,
    workdir,
    write_results,
)

INVOICES = 10_000
CEILING = 180.0  # e-Boekhouden requests/second: about a minute for 10,000 invoices
LATENCY_MS = 50
MAX_CONCURRENCY = 32


def measure(
    api: Api,
    *,
    invoices: int = INVOICES,
    ceiling: float = CEILING,
    latency_ms: int = LATENCY_MS,
    max_concurrency: int = MAX_CONCURRENCY,
    profile: Path | None = None,
) -> dict[str, Any]:
    started = time.monotonic()
    with workdir(f"throughput-{api}") as wd, Sandbox(invoices, rate_limit=ceiling, workdir=wd) as sandbox:
        sandbox.add_fault("eboekhouden", kind="latency", ms=latency_ms)
        home = make_home(
            wd / "home", sandbox, api=api, rate_limit_per_second=ceiling, max_concurrency=max_concurrency
        )
        waited = wait_for_quiet()
        eb_before = sandbox.request_count("eboekhouden")
        fs_before = sandbox.request_count("factuursturen")
        sim_cpu_before = sandbox.cpu_seconds()
        busy_before = machine_busy_seconds()
        log(f"throughput {api}: {invoices} invoices, ceiling {ceiling:g}/s, {latency_ms} ms latency")
        with RequestRateSampler(sandbox, "eboekhouden") as sampler:
            run = run_driver(home, trace=profile is None, profile=profile, log_file=wd / "driver.log")
        sim_cpu = sandbox.cpu_seconds() - sim_cpu_before
        busy = machine_busy_seconds() - busy_before
        eb = sandbox.requests("eboekhouden")[eb_before:]
        fs = sandbox.requests("factuursturen")[fs_before:]
    r = run.report
    seconds = r["run_seconds"]
    throttled = sum(1 for x in eb if x["status"] == 429)
    served = len(eb) - throttled
    steady = sampler.steady_rate()
    limits = [
        (g["t"], g["limit_after"]) for g in r.get("governor", []) if g["limit_after"] != g["limit_before"]
    ]
    result = {
        "api": api,
        "invoices": invoices,
        "ceiling_per_second": ceiling,
        "latency_ms": latency_ms,
        "max_concurrency": max_concurrency,
        "status": r["status"],
        "booked": r["booked"],
        "skipped": r["skipped"],
        "failed": r["failed"] + r["parked"],
        "uncertain": r["uncertain"],
        "run_seconds": seconds,
        "process_seconds": round(run.process_wall_seconds, 2),
        "bookings_per_second": round(r["booked"] / seconds, 1),
        "eb_requests": len(eb),
        "eb_requests_429": throttled,
        "eb_served_per_second": round(served / seconds, 1),
        "fraction_of_ceiling": round(served / seconds / ceiling, 3),
        "eb_steady_per_second": round(steady, 1) if steady else None,
        "steady_fraction_of_ceiling": round(steady / ceiling, 3) if steady else None,
        "eb_requests_per_invoice": round(len(eb) / max(1, r["booked"]), 3),
        "concurrency_chosen": r["concurrency"],
        "concurrency_changes": limits,
        "client_cpu_seconds": r["run_cpu_seconds"],
        "client_cpu_utilisation": round(r["run_cpu_seconds"] / seconds, 2),
        # Less sensitive to other load than the wall-clock rate: what one dedicated core could sustain.
        "client_cpu_ms_per_request": round(1000 * r["run_cpu_seconds"] / max(1, len(eb)), 2),
        "client_peak_rss_kib": run.peak_rss_kib,
        "sandbox_cpu_seconds": round(sim_cpu, 1),
        # Everything else that ran on the machine meanwhile (other users, the parent's polling).
        "other_cpu_seconds": round(max(0.0, busy - sim_cpu - run.cpu_seconds), 1),
        "fs_requests": len(fs),
        "eb_request_kinds": request_summary(eb),
        "eb_per_second_timeline": sampler.per_second(),
        "governor": r.get("governor", []),
        "timeline": r.get("timeline", []),
        "loop_lag_ms": r.get("loop_lag_ms", []),
        "waited_for_quiet_seconds": round(waited, 1),
        "benchmark_seconds": round(time.monotonic() - started, 1),
    }
    log(
        f"throughput {api}: {result['booked']} booked in {seconds:.1f} s, "
        f"{result['eb_served_per_second']}/s = {result['fraction_of_ceiling']:.2f} of the ceiling "
        f"(steady {result['steady_fraction_of_ceiling']}), concurrency {result['concurrency_chosen']}, "
        f"429s {throttled}"
    )
    return result


ROWS: list[tuple[str, str]] = [
    ("invoices booked", "booked"),
    ("wall time of the run (s)", "run_seconds"),
    ("bookings/s", "bookings_per_second"),
    ("e-Boekhouden requests (incl. 429)", "eb_requests"),
    ("achieved e-Boekhouden requests/s (served)", "eb_served_per_second"),
    ("… as a fraction of the ceiling (goal ≥ 0.9)", "fraction_of_ceiling"),
    ("steady-state requests/s (10–90 % of the run)", "eb_steady_per_second"),
    ("… as a fraction of the ceiling", "steady_fraction_of_ceiling"),
    ("requests per invoice", "eb_requests_per_invoice"),
    ("concurrency chosen by the engine", "concurrency_chosen"),
    ("429s received", "eb_requests_429"),
    ("client CPU (s) / utilisation of one core", "client_cpu"),
    ("client CPU per e-Boekhouden request (ms)", "client_cpu_ms_per_request"),
    ("simulator CPU (s)", "sandbox_cpu_seconds"),
    ("CPU used by other processes meanwhile (s)", "other_cpu_seconds"),
    ("FactuurSturen requests", "fs_requests"),
    ("benchmark duration incl. set-up (s)", "benchmark_seconds"),
]


def markdown(results: list[dict[str, Any]]) -> str:
    if not results:
        return ""
    first = results[0]
    head = (
        f"### Throughput: {first['invoices']:,} invoices, e-Boekhouden ceiling {first['ceiling_per_second']:g}"
        f" req/s, {first['latency_ms']} ms latency per e-Boekhouden request, max_concurrency"
        f" {first['max_concurrency']}\n\n"
    )
    rows = []
    for label, key in ROWS:
        cells: list[Any] = []
        for res in results:
            if key == "client_cpu":
                cells.append(f"{res['client_cpu_seconds']:.1f} / {res['client_cpu_utilisation']:.2f}")
            else:
                cells.append(res.get(key))
        rows.append([label, *cells])
    changes = "\n".join(
        f"- {res['api']}: concurrency over time (s → limit): "
        + ", ".join(f"{t:.0f}→{limit}" for t, limit in res["concurrency_changes"])
        for res in results
    )
    return head + table(["", *(r["api"].upper() for r in results)], rows) + "\n\n" + changes


def run(apis: list[Api], **kwargs: Any) -> dict[str, Any]:
    results = [measure(api, **kwargs) for api in apis]
    data = {"machine": machine(), "results": results}
    write_results("throughput", data, markdown(results))
    return data


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.throughput")
    parser.add_argument("--api", choices=["rest", "soap", "both"], default="both")
    parser.add_argument("--invoices", type=int, default=INVOICES)
    parser.add_argument("--ceiling", type=float, default=CEILING)
    parser.add_argument("--max-concurrency", type=int, default=MAX_CONCURRENCY)
    args = parser.parse_args()
    apis: list[Api] = ["rest", "soap"] if args.api == "both" else [args.api]
    data = run(apis, invoices=args.invoices, ceiling=args.ceiling, max_concurrency=args.max_concurrency)
    print(markdown(data["results"]))


if __name__ == "__main__":
    main()
