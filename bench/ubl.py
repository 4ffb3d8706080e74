"""Benchmark — the UBL inbox: parse rate, peak memory over 1,000 vs 10,000 files, end-to-end rate.

1. parse rate: `parse_document` over UBL documents already in memory (SI-UBL 2.0, UBL.BE, credit notes;
   three to four lines each), in this process, one core; then the inbox's own `read` over a folder of
   1,000 files (scandir, stat, read, parse);
2. peak memory: a whole run (`bench.driver`, what `koppelaar run` does) over an inbox of 1,000 and of
   10,000 files into the e-Boekhouden simulator (REST, no latency, no rate limit): peak RSS from wait4;
3. end to end: a 1,000-document inbox into the e-Boekhouden simulator with CEILING requests/second
   (429 beyond it) and LATENCY_MS per request, the koppeling configured with that ceiling.

Documents come from `sandbox/ubl.py` (25 Dutch suppliers and a Belgian one). Nothing is asserted.

``python -m bench.ubl [--quick]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from stdnum.nl import btw

from bench.common import (
    RequestRateSampler,
    Sandbox,
    log,
    machine,
    machine_busy_seconds,
    make_home,
    mib,
    run_driver,
    table,
    wait_for_quiet,
    workdir,
    write_results,
)
from connectors.contract import Stream
from connectors.ubl.inbox import ARCHIVE, UblInbox
from connectors.ubl.parse import parse_document
from sandbox import ubl
from state.config import ConfigFile
from state.home import Home

PARSE_DOCUMENTS = 2_000
READ_FILES = 1_000
SIZES = (1_000, 10_000)
E2E_DOCUMENTS = 1_000
CEILING = 180.0  # as bench/throughput.py: e-Boekhouden requests/second
LATENCY_MS = 50
MAX_CONCURRENCY = 32


def _suppliers(count: int) -> list[ubl.Org]:
    """Dutch suppliers with VAT numbers whose check digit python-stdnum accepts."""
    found: list[ubl.Org] = []
    n = 100_000_000
    while len(found) < count:
        n += 1
        vat = f"NL{n:09d}B01"
        if btw.is_valid(vat):
            found.append(ubl.Org(f"Leverancier {len(found) + 1} B.V.", "NL", vat=vat))
    return found


def documents(count: int) -> Iterator[tuple[str, bytes]]:
    """(file name, UBL bytes): a mix of Dutch 21/9 % invoices, credit notes and BE reverse charge."""
    suppliers = _suppliers(25)
    for i in range(count):
        number = f"B-{i:06d}"
        if i % 10 == 9:
            doc = ubl.be_nl_reverse_charge(number)
        elif i % 10 == 8:
            doc = ubl.nl_21_9(number, root="CreditNote", supplier=suppliers[i % 25])
        else:
            doc = ubl.nl_21_9(number, supplier=suppliers[i % 25])
        yield f"{number}.xml", ubl.build(doc)


def fill(folder: Path, count: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    arrived = time.time() - 600  # settled long ago: nothing waits for settle_seconds
    for name, data in documents(count):
        path = folder / name
        path.write_bytes(data)
        os.utime(path, (arrived, arrived))


def add_inbox(home: Home, folder: Path) -> None:
    """Koppeling 'inkoop': the folder into the home's e-Boekhouden connection 'boekhouding'."""
    config = ConfigFile.open(home.config)
    config.set(("connections", "inbox", "system"), "ubl-inbox")
    config.set(("connections", "inbox", "path"), str(folder))
    config.set(("connections", "inbox", "settle_seconds"), 0.0)
    config.set(("koppelingen", "inkoop", "source"), "inbox")
    config.set(("koppelingen", "inkoop", "target"), "boekhouding")
    config.set(("koppelingen", "inkoop", "mapping", "tegenrekening_inkoop"), "7000")
    config.set(("koppelingen", "inkoop", "mapping", "btw_codes", "inkoop:0:AE:BE"), "BI_EU_INK")
    config.save()


# --- 1. parse rate ---------------------------------------------------------------------------------


def parse_rate(count: int = PARSE_DOCUMENTS) -> dict[str, Any]:
    data = [payload for _, payload in documents(count)]
    waited = wait_for_quiet()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for payload in data:
        parse_document(payload)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    result = {
        "documents": count,
        "mean_bytes": round(sum(map(len, data)) / count),
        "seconds": round(wall, 3),
        "documents_per_second": round(count / wall, 1),
        "documents_per_cpu_second": round(count / cpu, 1),
        "waited_for_quiet_seconds": round(waited, 1),
    }
    log(
        f"ubl parse: {result['documents_per_second']} documents/s ({result['documents_per_cpu_second']}/CPU s)"
    )
    return result


def read_rate(count: int = READ_FILES) -> dict[str, Any]:
    """The inbox's own read: scandir, stat, read and parse each file, in pages (nothing moved)."""
    with workdir("ubl-read") as wd:
        fill(wd / "inbox", count)
        source = UblInbox(wd / "inbox", settle_seconds=0)

        async def read_all() -> int:
            return sum([len(page) async for page in source.read(Stream.INVOICES, "", None)])

        wait_for_quiet()
        wall0, cpu0 = time.perf_counter(), time.process_time()
        records = asyncio.run(read_all())
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    result = {
        "files": count,
        "records": records,
        "documents_per_second": round(count / wall, 1),
        "documents_per_cpu_second": round(count / cpu, 1),
    }
    log(f"ubl read: {result['documents_per_second']} files/s through UblInbox.read")
    return result


# --- 2. and 3. whole runs --------------------------------------------------------------------------


def whole_run(
    count: int, *, ceiling: float | None, latency_ms: int, max_concurrency: int, name: str
) -> dict[str, Any]:
    started = time.monotonic()
    with workdir(name) as wd, Sandbox(0, rate_limit=ceiling, workdir=wd) as sandbox:
        if latency_ms:
            sandbox.add_fault("eboekhouden", kind="latency", ms=latency_ms)
        home = make_home(
            wd / "home",
            sandbox,
            api="rest",
            rate_limit_per_second=ceiling or 10_000.0,
            max_concurrency=max_concurrency,
        )
        inbox = wd / "inbox"
        fill(inbox, count)
        add_inbox(home, inbox)
        waited = wait_for_quiet()
        eb_before = sandbox.request_count("eboekhouden")
        sim_cpu_before = sandbox.cpu_seconds()
        busy_before = machine_busy_seconds()
        log(f"ubl {name}: {count:,} documents, ceiling {ceiling or 'none'}, {latency_ms} ms latency")
        with RequestRateSampler(sandbox, "eboekhouden") as sampler:
            run = run_driver(home, koppeling="inkoop", log_file=wd / "driver.log")
        sim_cpu = sandbox.cpu_seconds() - sim_cpu_before
        busy = machine_busy_seconds() - busy_before
        eb = sandbox.requests("eboekhouden")[eb_before:]
        archived = sum(1 for p in (inbox / ARCHIVE).rglob("*.xml"))
    r = run.report
    seconds = r["run_seconds"]
    throttled = sum(1 for x in eb if x["status"] == 429)
    served = len(eb) - throttled
    steady = sampler.steady_rate()
    result: dict[str, Any] = {
        "documents": count,
        "ceiling_per_second": ceiling,
        "latency_ms": latency_ms,
        "status": r["status"],
        "booked": r["booked"],
        "failed": r["failed"] + r["parked"],
        "uncertain": r["uncertain"],
        "archived": archived,
        "run_seconds": seconds,
        "documents_per_second": round(r["booked"] / seconds, 1),
        "eb_requests": len(eb),
        "eb_requests_429": throttled,
        "eb_served_per_second": round(served / seconds, 1),
        "eb_steady_per_second": round(steady, 1) if steady else None,
        "requests_per_document": round(len(eb) / max(1, r["booked"]), 3),
        "concurrency_chosen": r["concurrency"],
        "client_cpu_seconds": r["run_cpu_seconds"],
        "client_peak_rss_kib": run.peak_rss_kib,
        "sandbox_cpu_seconds": round(sim_cpu, 1),
        "other_cpu_seconds": round(max(0.0, busy - sim_cpu - run.cpu_seconds), 1),
        "waited_for_quiet_seconds": round(waited, 1),
        "benchmark_seconds": round(time.monotonic() - started, 1),
    }
    if ceiling:
        result["fraction_of_ceiling"] = round(served / seconds / ceiling, 3)
        result["steady_fraction_of_ceiling"] = round(steady / ceiling, 3) if steady else None
    log(
        f"ubl {name}: {r['booked']:,} booked in {seconds:.1f} s ({result['documents_per_second']}/s),"
        f" peak RSS {mib(run.peak_rss_kib)}, {archived:,} archived"
    )
    return result


def run(
    *, sizes: tuple[int, ...] = SIZES, e2e_documents: int = E2E_DOCUMENTS, parse: int = PARSE_DOCUMENTS
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "machine": machine(),
        "parse": parse_rate(parse),
        "read": read_rate(min(READ_FILES, e2e_documents)),
        "memory": [
            whole_run(size, ceiling=None, latency_ms=0, max_concurrency=8, name=f"memory-{size}")
            for size in sizes
        ],
        "end_to_end": whole_run(
            e2e_documents, ceiling=CEILING, latency_ms=LATENCY_MS, max_concurrency=MAX_CONCURRENCY, name="e2e"
        ),
    }
    memory = data["memory"]
    if len(memory) >= 2:
        data["memory_ratio"] = round(memory[-1]["client_peak_rss_kib"] / memory[0]["client_peak_rss_kib"], 3)
    write_results("ubl", data, markdown(data))
    return data


def markdown(data: dict[str, Any]) -> str:
    p, rd, e = data["parse"], data["read"], data["end_to_end"]
    text = "### UBL inbox\n\n"
    text += (
        f"Parse rate (one core, documents in memory, ~{p['mean_bytes']:,} bytes each): "
        f"**{p['documents_per_second']:,} documents/s** ({p['documents_per_cpu_second']:,} per CPU second)."
        f" Through the inbox's read (scandir, stat, read, parse) over {rd['files']:,} files:"
        f" {rd['documents_per_second']:,} documents/s.\n\n"
    )
    rows = [
        [
            f"{m['documents']:,}",
            m["booked"],
            m["archived"],
            mib(m["client_peak_rss_kib"]),
            m["run_seconds"],
            m["documents_per_second"],
            m["client_cpu_seconds"],
            m["other_cpu_seconds"],
        ]
        for m in data["memory"]
    ]
    text += "Whole runs into the e-Boekhouden simulator (REST, no latency, no rate limit):\n\n"
    text += table(
        [
            "files",
            "booked",
            "archived",
            "peak RSS",
            "run (s)",
            "documents/s",
            "client CPU (s)",
            "other CPU (s)",
        ],
        rows,
    )
    if "memory_ratio" in data:
        text += f"\n\nPeak RSS ratio largest/smallest inbox: {data['memory_ratio']}."
    text += (
        f"\n\nEnd to end, {e['documents']:,} documents, ceiling {e['ceiling_per_second']:g} requests/s,"
        f" {e['latency_ms']} ms per request: {e['booked']:,} booked in {e['run_seconds']} s ="
        f" **{e['documents_per_second']} documents/s**; {e['eb_served_per_second']} requests/s served ="
        f" {e.get('fraction_of_ceiling')} of the ceiling (steady {e.get('steady_fraction_of_ceiling')}),"
        f" {e['requests_per_document']} requests per document, {e['eb_requests_429']} × 429,"
        f" concurrency {e['concurrency_chosen']}."
    )
    return text


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ubl")
    parser.add_argument("--quick", action="store_true", help="500 and 2,000 files, 500 end to end")
    args = parser.parse_args()
    kwargs: dict[str, Any] = {"sizes": (500, 2_000), "e2e_documents": 500, "parse": 500} if args.quick else {}
    print(markdown(run(**kwargs)))


if __name__ == "__main__":
    main()
