"""Benchmark — Exact Online, Twinfield and AFAS Profit as targets: 2,000 FactuurSturen invoices into each, at its
documented limits, through the real engine.

- **Exact Online**: 60 calls a minute per division (and 5,000 a day). At that pace 2,000 invoices take
  over half an hour, so the limits are scaled by SCALE (default 30: 1,800 calls a minute = 30/s, 150,000
  a day) in the simulator, and the connection's `rate_limit_per_second` is set to the same ceiling
  (max_concurrency 8, the setting's maximum). The simulator answers with `X-RateLimit-*` headers and
  429 beyond the limit; Koppelaar's governor waits for the minute's reset.
- **AFAS Profit**: no request quota is documented; the ceiling is 5 calls in flight per environment.
  The simulator takes AFAS_SERVICE_MS per call, so the ceiling is 5 / that many seconds requests a
  second; the connection runs at `max_concurrency` 5 with the rate limit at that ceiling.
- **AccountView**: no limits are documented; the simulator's assumed ceiling is ACCOUNTVIEW_CEILING
  requests a second per administratie (429 beyond it), and the connection is set to that pace.
- **Twinfield**: the fair-use policy as documented — 1,000 credits a minute per ClientId (1 per read,
  3 per post), one request in flight per organisation — unscaled; the engine batches up to 25
  transactions per ProcessXml call (`create_bookings`).

The simulators run in this process (a server thread); the koppeling runs in its own process
(`python -m bench.driver`), so its CPU time is its own. Nothing is asserted.

``.venv/bin/python -m bench.targets [--invoices N] [--scale S] [--only exact|twinfield|afas|accountview]``
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from typing import Any

from bench.common import log, machine, run_driver, table, workdir, write_results
from sandbox import seed
from sandbox.afas import make_afas
from sandbox.data import make_demo_invoices
from sandbox.exact import DAILY, MINUTELY
from sandbox.server import SandboxServer
from state.home import Home
from tui.demo import Target, prepare_home

INVOICES = 2_000
SCALE = 30
TWINFIELD_CREDITS = 1_000
ACCOUNTVIEW_CEILING = 20  # requests a second per administratie: an assumption, not documented
DATA_SEED = 5
AFAS_SERVICE_MS = 50
AFAS_IN_FLIGHT = 5


def _kinds(records: list[Any]) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for r in records:
        path = r.path
        if "/api/v1/" in path:
            path = "/api/v1/…/" + path.split("/api/v1/", 1)[1].split("/", 1)[-1]
        counts[f"{r.method} {path} {r.status}"] += 1
    return dict(counts.most_common())


def measure(target: Target, *, invoices: int = INVOICES, scale: int = SCALE) -> dict[str, Any]:
    started = time.monotonic()
    fs = seed.make_sims("empty").factuursturen
    fs.load(make_demo_invoices(invoices, DATA_SEED))
    if target == "exact":
        sim: Any = seed.make_exact()
        sim.minutely_limit, sim.daily_limit = MINUTELY * scale, DAILY * scale
        ceiling = MINUTELY * scale / 60.0
    elif target == "afas":
        sim = make_afas()
        sim.service_seconds = AFAS_SERVICE_MS / 1000
        ceiling = AFAS_IN_FLIGHT * 1000 / AFAS_SERVICE_MS
    elif target == "accountview":
        sim = seed.make_accountview(rate_per_second=ACCOUNTVIEW_CEILING)
        ceiling = float(ACCOUNTVIEW_CEILING)
    else:
        sim = seed.make_twinfield(credits_per_minute=TWINFIELD_CREDITS)
        ceiling = TWINFIELD_CREDITS / 60.0  # credits per second
    with workdir(f"targets-{target}") as wd, SandboxServer(factuursturen=fs, bookkeeping=sim) as server:
        home = Home(wd / "home")
        prepare_home(
            home,
            server.factuursturen_url,
            server.url_for("bookkeeping"),
            target=target,
            # AccountView's window is a sliding second: starts spaced at the ceiling still arrive bunched.
            rate_limit_per_second=ceiling * 0.9 if target == "accountview" else ceiling,
            max_concurrency=AFAS_IN_FLIGHT if target == "afas" else 8,
        )
        sim.clear_request_log()
        fs.clear_request_log()
        tokens_before = len(sim.token_requests) if target in ("exact", "accountview") else 0
        log(f"targets {target}: {invoices} invoices, ceiling {ceiling:g}/s")
        run = run_driver(home, trace=True, log_file=wd / "driver.log")
        records = sim.request_log
        fs_requests = fs.request_count()
    r = run.report
    seconds = r["run_seconds"]
    booked = max(1, r["booked"])
    throttled = sum(1 for x in records if x.status == 429)
    result: dict[str, Any] = {
        "target": target,
        "invoices": invoices,
        "status": r["status"],
        "message": r["message"],
        "booked": r["booked"],
        "failed": r["failed"] + r["parked"],
        "uncertain": r["uncertain"],
        "run_seconds": seconds,
        "bookings_per_second": round(r["booked"] / seconds, 2),
        "requests": len(records),
        "requests_429": throttled,
        "requests_per_invoice": round(len(records) / booked, 3),
        "fs_requests": fs_requests,
        "client_cpu_seconds": r["run_cpu_seconds"],
        "request_kinds": _kinds(records),
        "booked_timeline": r.get("booked_timeline", []),
        "benchmark_seconds": 0.0,
    }
    if target == "exact":
        served = len(records) - throttled
        result |= {
            "scale": scale,
            "ceiling_per_second": ceiling,
            "ceiling_note": f"Exact's 60 calls/minute per division × {scale}",
            "served_per_second": round(served / seconds, 2),
            "fraction_of_ceiling": round(served / seconds / ceiling, 3),
            "relations_created": sum(
                1 for x in records if x.method == "POST" and x.path.endswith("/Accounts")
            ),
            "token_requests": len(sim.token_requests) - tokens_before,
            "minutes_at_real_limit": round(served / MINUTELY, 1),
            "fraction_of_real_daily_limit": round(served / DAILY, 3),
        }
    elif target == "afas":
        result |= {
            "ceiling_per_second": ceiling,
            "served_per_second": round(len(records) / seconds, 2),
            "fraction_of_ceiling": round(len(records) / seconds / ceiling, 3),
            "peak_in_flight": sim.peak_in_flight,
            "relations_created": sum(1 for x in records if x.method == "POST" and "RelationOrg" in x.path),
            "token_requests": 0,
        }
    elif target == "accountview":
        served = len(records) - throttled
        result |= {
            "ceiling_per_second": ceiling,
            "served_per_second": round(served / seconds, 2),
            "fraction_of_ceiling": round(served / seconds / ceiling, 3),
            "relations_created": sum(1 for x in records if x.method == "POST" and x.action in ("AR1", "AP1")),
            "pages_posted": sum(1 for x in records if x.method == "POST" and x.action == "DJ2"),
            "token_requests": len(sim.token_requests) - tokens_before,
        }
    else:
        credits = sum(sim.credits_used.values())
        processxml = [x for x in records if x.path.endswith("processxml.asmx")]
        result |= {
            "ceiling_credits_per_minute": TWINFIELD_CREDITS,
            "credits_used": credits,
            "credits_per_minute": round(credits / seconds * 60, 1),
            "fraction_of_ceiling": round(credits / seconds * 60 / TWINFIELD_CREDITS, 3),
            "processxml_calls": len(processxml),
            "refused_concurrent": sim.refused_concurrent,
            "token_requests": sum(1 for x in records if x.path.endswith("/connect/token")),
            "transactions_per_processxml_call": round(r["booked"] / max(1, len(processxml)), 2),
        }
    result["benchmark_seconds"] = round(time.monotonic() - started, 1)
    log(
        f"targets {target}: {r['booked']} booked in {seconds:.1f} s, {len(records)} requests "
        f"({result['requests_per_invoice']}/invoice), {throttled} × 429, "
        f"{result['fraction_of_ceiling']} of the ceiling"
    )
    return result


ROWS = [
    ("invoices booked", "booked"),
    ("foutmeldingen / uncertain", "failed_uncertain"),
    ("wall time of the run (s)", "run_seconds"),
    ("bookings/s", "bookings_per_second"),
    ("target requests (incl. 429)", "requests"),
    ("requests per invoice", "requests_per_invoice"),
    ("429s received", "requests_429"),
    ("achieved vs ceiling", "achieved"),
    ("fraction of the ceiling", "fraction_of_ceiling"),
    ("token requests during the run", "token_requests"),
    ("client CPU (s)", "client_cpu_seconds"),
]


def markdown(results: list[dict[str, Any]]) -> str:
    rows = []
    for label, key in ROWS:
        cells: list[Any] = []
        for res in results:
            if key == "failed_uncertain":
                cells.append(f"{res['failed']} / {res['uncertain']}")
            elif key == "achieved":
                if res["target"] in ("exact", "afas", "accountview"):
                    cells.append(f"{res['served_per_second']} of {res['ceiling_per_second']:g} req/s")
                else:
                    cells.append(
                        f"{res['credits_per_minute']} of {res['ceiling_credits_per_minute']} credits/min"
                    )
            else:
                cells.append(res.get(key))
        rows.append([label, *cells])
    notes = []
    for res in results:
        if res["target"] == "exact":
            notes.append(
                f"- Exact: limits scaled ×{res['scale']} ({res['ceiling_note']}); {res['relations_created']} "
                f"relations created; at the real 60/minute this run's calls take {res['minutes_at_real_limit']} "
                f"minutes and {res['fraction_of_real_daily_limit']:.0%} of the 5,000/day."
            )
        elif res["target"] == "afas":
            notes.append(
                f"- AFAS: {AFAS_SERVICE_MS} ms per call in the simulator, at most {AFAS_IN_FLIGHT} in flight "
                f"(peak seen {res['peak_in_flight']}); {res['relations_created']} debtors created."
            )
        elif res["target"] == "accountview":
            notes.append(
                f"- AccountView: assumed ceiling {res['ceiling_per_second']:g} requests/s per administratie "
                f"(undocumented); {res['pages_posted']} DJ2 pages posted, {res['relations_created']} relations "
                "created, calls spaced evenly at 0.9 of the ceiling."
            )
        else:
            notes.append(
                f"- Twinfield: unscaled fair use; {res['processxml_calls']} ProcessXml calls, "
                f"{res['transactions_per_processxml_call']} transactions per call on average, "
                f"{res['refused_concurrent']} refused for a second request in flight."
            )
    head = (
        f"### Targets: {results[0]['invoices']:,} FactuurSturen invoices into "
        + ", ".join(r["target"] for r in results)
        + "\n\n"
    )
    return head + table(["", *(r["target"] for r in results)], rows) + "\n\n" + "\n".join(notes)


def run(targets: list[Target] | None = None, **kwargs: Any) -> dict[str, Any]:
    """For bench/run_all.py: `targets.run()` measures both and writes bench/results/targets.{json,md}."""
    results = [measure(t, **kwargs) for t in (targets or ["exact", "twinfield", "afas", "accountview"])]
    data = {"machine": machine(), "results": results}
    write_results("targets", data, markdown(results))
    return data


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.targets")
    parser.add_argument("--invoices", type=int, default=INVOICES)
    parser.add_argument("--scale", type=int, default=SCALE, help="Exact's limits × this")
    parser.add_argument("--only", choices=["exact", "twinfield", "afas", "accountview"], default=None)
    args = parser.parse_args()
    targets: list[Target] = [args.only] if args.only else ["exact", "twinfield", "afas", "accountview"]
    data = run(targets, invoices=args.invoices, scale=args.scale)
    print(markdown(data["results"]))


if __name__ == "__main__":
    main()
