"""``make bench``: every benchmark, figures to bench/results/ (JSON + Markdown) and to stdout.

1. throughput — 10,000 invoices through the simulators, 50 ms per e-Boekhouden request, ceiling 180/s
   (REST, then SOAP); under 0.9 of the ceiling a short cProfile run shows where the client's time goes;
2. incremental — requests of a no-change run after a history of 1,000 and of 100,000 invoices;
3. memory — peak RSS of the first run over 1,000 and over 100,000 invoices;
4. the benchmarks of other parts, when their module is present: bookkeeping targets (bench/targets.py),
   console start-up (bench/console_startup.py), Foutmeldingen tab latency (bench/foutmeldingen_latency.py),
   the UBL inbox (bench/ubl.py).

2 and 3 share their set-up: the first run of benchmark 3 books the history that benchmark 2 re-runs.
Nothing is asserted: the benchmarks measure and report.

``python -m bench.run_all [--quick] [--only throughput,profile,history,targets,console,foutmeldingen,ubl]
[--no-soap] [--profile auto|always|never]``
"""

from __future__ import annotations

import argparse
import importlib
import json
import time
from typing import Any

from bench import incremental, memory, profile, throughput
from bench.common import RESULTS, Api, log, machine, table, write_results
from bench.history import booked_history

# Benchmarks of other parts of Koppelaar, run when their module is present:
# (part, module, --quick kwargs of its run(), the key of run()'s result that its markdown() takes).
OTHER_PARTS: list[tuple[str, str, dict[str, Any], str | None]] = [
    ("targets", "bench.targets", {"invoices": 500}, "results"),
    ("console", "bench.console_startup", {"repetitions": 3}, None),
    ("foutmeldingen", "bench.foutmeldingen_latency", {"problems": 10_000}, None),
    ("ubl", "bench.ubl", {"sizes": (500, 2_000), "e2e_documents": 500, "parse": 500}, None),
]
PARTS = ("throughput", "profile", "history", *(part for part, *_ in OTHER_PARTS))


def _other_part(
    part: str,
    module_name: str,
    kwargs: dict[str, Any],
    markdown_key: str | None,
    durations: dict[str, float],
    summary: dict[str, Any],
    sections: list[str],
) -> None:
    """`module.run(**kwargs)`; its `markdown` if it has one. A failure is reported, not raised."""
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError:
        return
    started = time.monotonic()
    log(f"{part}: {module_name}")
    try:
        figures = module.run(**kwargs)
    except Exception as exc:  # another part's benchmark: report it, keep the other figures
        log(f"{part} failed: {type(exc).__name__}: {exc}")
        sections.append(f"### {module_name}\n\nfailed: {type(exc).__name__}: {exc}")
    else:
        summary[part] = figures
        render = getattr(module, "markdown", None)
        if render is not None:
            sections.append(render(figures[markdown_key] if markdown_key else figures))
        else:
            sections.append(f"### {module_name}\n\n```json\n{json.dumps(figures, indent=2)}\n```")
    durations[f"{part} ({module_name})"] = time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.run_all")
    parser.add_argument("--quick", action="store_true", help="small sizes, to try the benchmarks out")
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated subset of {PARTS}")
    parser.add_argument("--no-soap", action="store_true", help="throughput over REST only")
    parser.add_argument("--profile", choices=["auto", "always", "never"], default="auto")
    args = parser.parse_args()
    parts = set(args.only.split(","))
    invoices = 2_000 if args.quick else throughput.INVOICES
    sizes = (1_000, 5_000) if args.quick else memory.SIZES
    apis: list[Api] = ["rest"] if args.no_soap else ["rest", "soap"]

    started = time.monotonic()
    durations: dict[str, float] = {}
    sections: list[str] = []
    summary: dict[str, Any] = {"machine": machine(), "quick": args.quick}

    if "throughput" in parts:
        t = time.monotonic()
        data = throughput.run(apis, invoices=invoices)
        durations["throughput"] = time.monotonic() - t
        summary["throughput"] = data
        sections.append(throughput.markdown(data["results"]))
        rest = next((r for r in data["results"] if r["api"] == "rest"), None)
        slow = rest is not None and rest["fraction_of_ceiling"] < 0.9
        if "profile" in parts and (args.profile == "always" or (args.profile == "auto" and slow)):
            t = time.monotonic()
            log("REST throughput under 0.9 of the ceiling: profiling a shorter run")
            prof = profile.measure("rest", 1_000 if args.quick else profile.INVOICES)
            durations["profile"] = time.monotonic() - t
            summary["profile"] = {k: v for k, v in prof.items() if k != "run"}
            write_results("profile-rest", {"machine": machine()} | prof, profile.markdown(prof))
            sections.append(profile.markdown(prof))

    if "history" in parts:
        mem_results, inc_results = [], []
        for size in sizes:
            t = time.monotonic()
            with booked_history(size) as history:
                mem_results.append(memory.from_history(history))
                inc_results += incremental.from_history(history)
            durations[f"history {size:,} (first run + no-change runs)"] = time.monotonic() - t
        mem = memory.summarise(mem_results)
        write_results("memory", mem, memory.markdown(mem))
        write_results(
            "incremental", {"machine": machine(), "results": inc_results}, incremental.markdown(inc_results)
        )
        summary["incremental"] = inc_results
        summary["memory"] = mem
        sections.append(incremental.markdown(inc_results))
        sections.append(memory.markdown(mem))

    for part, module_name, quick_kwargs, markdown_key in OTHER_PARTS:
        if part in parts:
            kwargs = quick_kwargs if args.quick else {}
            _other_part(part, module_name, kwargs, markdown_key, durations, summary, sections)

    durations["total"] = time.monotonic() - started
    summary["durations_seconds"] = {k: round(v, 1) for k, v in durations.items()}
    sections.append(
        "### Duration of each part\n\n"
        + table(["part", "seconds"], [[k, f"{v:.0f}"] for k, v in durations.items()])
    )
    m = summary["machine"]
    text = (
        f"## Koppelaar benchmarks\n\nMachine: {m['cpus']} cores, {m['cpu_model'] or 'unknown CPU'}, "
        f"Python {m['python']}.\n\n" + "\n\n".join(sections)
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "results.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    (RESULTS / "results.md").write_text(text + "\n")
    print(text)
    log(f"done in {durations['total']:.0f} s; figures in {RESULTS}")


if __name__ == "__main__":
    main()
