"""Console start-up: from starting `koppelaar` to the first painted Overzicht with its koppelingen.

Each repetition starts a fresh interpreter (as an admin does over SSH), so imports, the stylesheet,
the first database read and the first paint are all in the figure. The console runs headless at 80x24;
a small hook in the child notes the moment the overview's rows have been painted (the refresh after
the table is filled) and exits. The same run measures `python -c "import textual.app"`: the part of
start-up that is Textual's own and that Koppelaar cannot make faster.

Reported: median, min and max over the repetitions, in milliseconds, and the difference between the
two medians (what Koppelaar adds to Textual). Nothing is asserted.

``.venv/bin/python -m bench.console_startup [--repetitions 7]``; from bench/run_all.py:
``bench.console_startup.run(repetitions=...)`` returns the figures as a dict and writes
bench/results/console-startup.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parent.parent
REPETITIONS = 7
KOPPELINGEN = 5
MARK = "KOPPELAAR_FIRST_PAINT"


def make_home(root: Path) -> Path:
    """A home with a few koppelingen and a run history; no vendor is contacted to paint the overview."""
    from state.home import Home
    from state.store import Store
    from tui.demo import prepare_home

    home = Home(root / "home")
    # Unreachable vendors on purpose: the overview reads koppelaar.toml, the secrets and the database.
    prepare_home(home, "http://127.0.0.1:9", "http://127.0.0.1:9", api="rest")
    text = home.config.read_text(encoding="utf-8")
    block = text[text.index("[koppelingen.facturen]") :]
    for n in range(2, KOPPELINGEN + 1):
        text += "\n" + block.replace("koppelingen.facturen", f"koppelingen.facturen-{n}")
    home.config.write_text(text, encoding="utf-8")
    store = Store(home.database)
    try:
        for name in ["facturen", *(f"facturen-{n}" for n in range(2, KOPPELINGEN + 1))]:
            for _night in range(30):
                run_id = store.start_run(name, "schedule", False)
                store.update_run(run_id, status="ok", fetched=40, booked=40, message="40 geboekt")
    finally:
        store.close()
    return home.root


def child(home_root: str) -> None:
    """Run the console headless until its overview is painted, then print the wall-clock moment."""
    import tui.cli  # noqa: F401  (what `koppelaar` imports before the console opens counts too)
    from state.config import load_settings
    from state.home import Home
    from tui.app import KoppelaarApp
    from tui.screens.overview import OverviewScreen

    shown = OverviewScreen._show

    def show_and_mark(self: OverviewScreen, rows: Any, holder: str) -> None:
        shown(self, rows, holder)
        if rows:

            def painted() -> None:
                print(f"{MARK} {time.time():.6f}", flush=True)
                self.app.exit()

            self.call_after_refresh(painted)

    OverviewScreen._show = show_and_mark  # type: ignore[method-assign]
    home = Home(Path(home_root))
    load_settings(home.config)  # as `koppelaar console` does before the screen opens
    app = KoppelaarApp(home, embedded_scheduler=False)
    app.run(headless=True, size=(80, 24))


def one_console(home_root: Path) -> float:
    env = dict(os.environ, TEXTUAL_ANIMATIONS="none", PYTHONPATH=str(ROOT))
    started = time.time()
    done = subprocess.run(
        [sys.executable, "-m", "bench.console_startup", "--child", str(home_root)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    for line in done.stdout.splitlines():
        if line.startswith(MARK):
            return (float(line.split()[1]) - started) * 1000
    raise RuntimeError(f"the console never painted its overview: {done.stderr[-2000:]}")


def one_import() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import textual.app"], check=True, timeout=120)
    return (time.perf_counter() - started) * 1000


def summary(samples: list[float]) -> dict[str, Any]:
    return {
        "median_ms": round(statistics.median(samples), 1),
        "min_ms": round(min(samples), 1),
        "max_ms": round(max(samples), 1),
        "samples_ms": [round(s, 1) for s in samples],
    }


def run(repetitions: int = REPETITIONS) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="koppelaar-bench-startup-") as tmp:
        home_root = make_home(Path(tmp))
        one_console(home_root)  # warm the OS file cache and __pycache__: every repetition starts alike
        one_import()
        consoles, imports = [], []
        for _ in range(repetitions):  # interleaved, so a busy moment on the machine hits both alike
            consoles.append(one_console(home_root))
            imports.append(one_import())
    console, textual = summary(consoles), summary(imports)
    result = {
        "benchmark": "console-startup",
        "what": "fresh `koppelaar` process to first painted Overzicht (headless, 80x24) vs "
        "`python -c 'import textual.app'`",
        "koppelingen": KOPPELINGEN,
        "repetitions": repetitions,
        "console_first_paint": console,
        "import_textual_app": textual,
        "koppelaar_adds_ms": round(console["median_ms"] - textual["median_ms"], 1),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "console-startup.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.console_startup")
    parser.add_argument("--repetitions", type=int, default=REPETITIONS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    result = run(args.repetitions)
    c, t = result["console_first_paint"], result["import_textual_app"]
    print(
        f"console start → first painted Overzicht: median {c['median_ms']} ms (min {c['min_ms']}, max {c['max_ms']})"
    )
    print(
        f"python -c 'import textual.app':          median {t['median_ms']} ms (min {t['min_ms']}, max {t['max_ms']})"
    )
    print(f"Koppelaar adds {result['koppelaar_adds_ms']} ms; written to {RESULTS / 'console-startup.json'}")


if __name__ == "__main__":
    main()
