"""Where the client's time goes in the throughput scenario: the koppeling run under cProfile.

cProfile slows Python code down (roughly 1.5–2×) and so inflates pure-Python layers against C calls
(SQLite, sockets); read the shares as a ranking, not as exact fractions. The raw statistics are kept in
bench/results/profile-<api>.pstats (``python -m pstats``).

``python -m bench.profile [--api rest|soap] [--invoices N]``
"""

from __future__ import annotations

import argparse
import pstats
from collections import Counter
from pathlib import Path
from typing import Any

from bench import throughput
from bench.common import RESULTS, Api, machine, table, write_results

INVOICES = 2_000

# Functions whose cumulative time tells the story (file suffix, function name).
KEY_FUNCTIONS = [
    ("sync/engine.py", "_push"),
    ("sync/engine.py", "_prepare"),
    ("connectors/http.py", "request"),
    ("httpcore/_async/connection_pool.py", "_assign_requests_to_connections"),
    ("httpcore/_async/http11.py", "has_expired"),
    ("httpcore/_synchronization.py", "current_async_library"),
    ("connectors/factuursturen.py", "read"),
    ("sync/mapping.py", "to_entry"),
    ("state/store.py", "outbox_put"),
    ("state/store.py", "outbox_transition"),
    ("state/store.py", "outbox_sending"),
    ("state/store.py", "outbox_get"),
    ("state/store.py", "record_outcome"),
    ("state/store.py", "resolve_records"),
]


def _package(filename: str, function: str) -> str:
    if "site-packages/" in filename:
        return filename.split("site-packages/", 1)[1].split("/", 1)[0]
    if filename.startswith("~"):
        return "C: " + function.split(" of ")[0].strip("<>")
    if "/work/" in filename or not filename.startswith("/"):
        parts = Path(filename).parts
        for anchor in ("sync", "connectors", "state", "sandbox", "tui", "bench"):
            if anchor in parts:
                return "/".join(parts[parts.index(anchor) :])
    return "stdlib " + Path(filename).name


def analyse(path: Path) -> dict[str, Any]:
    stats = pstats.Stats(str(path))
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(tt for (_, _, tt, _, _) in raw.values())
    by_package: Counter[str] = Counter()
    by_function: Counter[str] = Counter()
    cumulative: dict[str, float] = {}
    for (filename, line, function), (_, _, tt, ct, _) in raw.items():
        by_package[_package(filename, function)] += tt
        short = filename.split("site-packages/")[-1].split("/work/main/")[-1]
        by_function[f"{short}:{line} {function}"] += tt
        for suffix, name in KEY_FUNCTIONS:
            if function == name and filename.endswith(suffix):
                key = f"{suffix} {name}"
                cumulative[key] = max(cumulative.get(key, 0.0), ct)
    return {
        "profiled_seconds": round(total, 2),
        "by_package": [(k, round(v, 2), round(v / total, 3)) for k, v in by_package.most_common(20)],
        "by_function": [(k, round(v, 2), round(v / total, 3)) for k, v in by_function.most_common(20)],
        "cumulative": {k: (round(v, 2), round(v / total, 3)) for k, v in cumulative.items()},
    }


def measure(api: Api = "rest", invoices: int = INVOICES) -> dict[str, Any]:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"profile-{api}.pstats"
    run = throughput.measure(api, invoices=invoices, profile=path)
    return {"api": api, "invoices": invoices, "run": run} | analyse(path)


def markdown(data: dict[str, Any]) -> str:
    run = data["run"]
    text = (
        f"### Profile ({data['api'].upper()}, {data['invoices']:,} invoices, throughput scenario under cProfile:"
        f" {run['eb_served_per_second']} req/s, concurrency {run['concurrency_chosen']})\n\n"
    )
    text += table(
        ["package (own time)", "s", "share"],
        [[k, s, f"{f:.0%}"] for k, s, f in data["by_package"][:12]],
    )
    text += "\n\n" + table(
        ["function (cumulative, incl. callees)", "s", "share"],
        [[k, s, f"{f:.0%}"] for k, (s, f) in sorted(data["cumulative"].items(), key=lambda kv: -kv[1][0])],
    )
    return text


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile")
    parser.add_argument("--api", choices=["rest", "soap"], default="rest")
    parser.add_argument("--invoices", type=int, default=INVOICES)
    args = parser.parse_args()
    data = measure(args.api, args.invoices)
    write_results(f"profile-{args.api}", {"machine": machine()} | data, markdown(data))
    print(markdown(data))


if __name__ == "__main__":
    main()
