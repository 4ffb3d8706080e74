"""Benchmark 2 — requests sent by a no-change incremental run, for histories of 1,000 and 100,000.

The history is booked by a first run (bench.history); only the second run, with nothing new in
FactuurSturen, is measured: the requests each simulator logged during it. Goal: the same for both
sizes, at most 2 per connection. The SOAP figure runs the same outbox and cursor (copied) against the
same administratie through the SOAP door.

``python -m bench.incremental [--sizes 1000,100000]``
"""

from __future__ import annotations

import argparse
from typing import Any

from bench.common import Api, copy_home, machine, request_summary, run_driver, table, write_results
from bench.history import History, booked_history
from state.home import Home

SIZES = (1_000, 100_000)
GOAL_PER_CONNECTION = 2


def no_change_run(history: History, api: Api, home: Home) -> dict[str, Any]:
    sandbox = history.sandbox
    eb0, fs0 = sandbox.request_count("eboekhouden"), sandbox.request_count("factuursturen")
    run = run_driver(home, log_file=history.workdir / f"driver-nochange-{api}.log")
    eb = sandbox.requests("eboekhouden")[eb0:]
    fs = sandbox.requests("factuursturen")[fs0:]
    r = run.report
    return {
        "invoices": history.size,
        "api": api,
        "status": r["status"],
        "fetched": r["fetched"],
        "skipped": r["skipped"],
        "booked": r["booked"],
        "fs_requests": len(fs),
        "eb_requests": len(eb),
        "fs_request_kinds": [f"{x['method']} {x['path']}?{x['query']}" for x in fs],
        "eb_request_kinds": request_summary(eb),
        "run_seconds": r["run_seconds"],
        "peak_rss_kib": run.peak_rss_kib,
    }


def from_history(history: History, apis: tuple[Api, ...] = ("rest", "soap")) -> list[dict[str, Any]]:
    results = []
    for api in apis:
        home = history.home
        if api != "rest":
            home = copy_home(history.home, history.workdir / f"home-{api}", history.sandbox, api=api)
        results.append(no_change_run(history, api, home))
    return results


def markdown(results: list[dict[str, Any]]) -> str:
    rows = [
        [
            f"{r['invoices']:,}",
            r["api"].upper(),
            r["fetched"],
            r["fs_requests"],
            r["eb_requests"],
            ", ".join(f"{k} ×{n}" for k, n in r["eb_request_kinds"].items()),
            f"{r['run_seconds']:.2f}",
        ]
        for r in results
    ]
    return (
        "### Requests of a no-change incremental run (goal: equal for both sizes, ≤ 2 per connection)\n\n"
        + table(
            [
                "history",
                "target API",
                "records re-read (cursor day)",
                "FactuurSturen req.",
                "e-Boekhouden req.",
                "e-Boekhouden requests",
                "run (s)",
            ],
            rows,
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.incremental")
    parser.add_argument("--sizes", default=",".join(str(s) for s in SIZES))
    args = parser.parse_args()
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        with booked_history(size) as history:
            results += from_history(history)
    write_results("incremental", {"machine": machine(), "results": results}, markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
