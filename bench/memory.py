"""Benchmark 3 — peak memory of a first run over 1,000 vs 100,000 invoices (goal: within 1.3×).

Each run is `bench.driver` (what `koppelaar run` does) in its own process against simulators in
another; its peak RSS is the child's ``ru_maxrss`` from ``wait4``. The run books everything: no
latency, no simulator rate limit.

``python -m bench.memory [--sizes 1000,100000]``
"""

from __future__ import annotations

import argparse
from typing import Any

from bench.common import machine, mib, table, write_results
from bench.history import HISTORY_MAX_CONCURRENCY, HISTORY_RATE, History, booked_history

SIZES = (1_000, 100_000)
GOAL = 1.3


def from_history(history: History) -> dict[str, Any]:
    run = history.first_run
    r = run.report
    return {
        "invoices": history.size,
        "status": r["status"],
        "booked": r["booked"],
        "skipped": r["skipped"],
        "failed": r["failed"] + r["parked"],
        "uncertain": r["uncertain"],
        "peak_rss_kib": run.peak_rss_kib,
        "run_seconds": r["run_seconds"],
        "process_seconds": round(run.process_wall_seconds, 1),
        "client_cpu_seconds": round(run.cpu_seconds, 1),
        "eb_requests": history.first_run_eb_requests,
        "fs_requests": history.first_run_fs_requests,
        "concurrency_chosen": r["concurrency"],
        "sandbox_cpu_seconds": round(history.sandbox_cpu_seconds, 1),
        "other_cpu_seconds": round(history.other_cpu_seconds, 1),
    }


def summarise(results: list[dict[str, Any]]) -> dict[str, Any]:
    data: dict[str, Any] = {
        "machine": machine(),
        "rate_limit_per_second": HISTORY_RATE,
        "max_concurrency": HISTORY_MAX_CONCURRENCY,
        "results": results,
    }
    if len(results) >= 2:
        small, large = results[0], results[-1]
        data["ratio"] = round(large["peak_rss_kib"] / small["peak_rss_kib"], 3)
        data["goal"] = GOAL
    return data


def markdown(data: dict[str, Any]) -> str:
    results = data["results"]
    rows = [
        [
            f"{r['invoices']:,}",
            r["booked"],
            mib(r["peak_rss_kib"]),
            f"{r['run_seconds']:.1f}",
            r["client_cpu_seconds"],
            r["eb_requests"],
            r["fs_requests"],
            r["sandbox_cpu_seconds"],
            r["other_cpu_seconds"],
        ]
        for r in results
    ]
    text = "### Peak memory of a first run (everything booked; no latency, no simulator rate limit)\n\n"
    text += table(
        [
            "invoices",
            "booked",
            "peak RSS",
            "run (s)",
            "client CPU (s)",
            "e-Boekhouden req.",
            "FactuurSturen req.",
            "simulator CPU (s)",
            "other processes' CPU (s)",
        ],
        rows,
    )
    if "ratio" in data:
        text += f"\n\nPeak RSS ratio {results[-1]['invoices']:,} / {results[0]['invoices']:,}: **{data['ratio']}×** (goal ≤ {GOAL}×)"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.memory")
    parser.add_argument("--sizes", default=",".join(str(s) for s in SIZES))
    args = parser.parse_args()
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        with booked_history(size) as history:
            results.append(from_history(history))
    data = summarise(results)
    write_results("memory", data, markdown(data))
    print(markdown(data))


if __name__ == "__main__":
    main()
