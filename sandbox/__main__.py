"""``python -m sandbox --seed demo --port-file FILE``: run the simulators in the foreground.

Writes ``{"factuursturen": url, "eboekhouden": url, "credentials": {...}}`` to FILE once every port
accepts connections, and stops cleanly on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from sandbox import seed as seeds
from sandbox.afas import ENVIRONMENT, TOKEN_DATA, make_afas
from sandbox.server import SandboxServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--seed", choices=seeds.SEEDS, default="demo")
    parser.add_argument("--invoices", type=int, default=None, help="number of FactuurSturen invoices")
    parser.add_argument("--port-file", type=Path, default=None, help="write the URLs here as JSON")
    parser.add_argument("--rate-limit", type=float, default=None, help="e-Boekhouden requests/second")
    parser.add_argument("--quota", type=int, default=None, help="FactuurSturen calls per hour")
    args = parser.parse_args(argv)

    sims = seeds.make_sims(
        args.seed, invoices=args.invoices, quota_per_hour=args.quota, rate_limit=args.rate_limit
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    exact = seeds.make_exact()
    afas = make_afas()
    accountview = seeds.make_accountview()
    with SandboxServer(
        factuursturen=sims.factuursturen,
        eboekhouden=sims.eboekhouden,
        exact=exact,
        afas=afas,
        accountview=accountview,
    ) as srv:
        info = {
            **srv.urls,
            "pid": os.getpid(),
            "credentials": {
                "factuursturen": {"login": seeds.FS_LOGIN, "api_key": seeds.FS_API_KEY},
                "eboekhouden": {
                    "api_token": seeds.EB_API_TOKEN,
                    "source": seeds.EB_SOURCE,
                    "soap_username": seeds.EB_SOAP_USER,
                    "soap_code1": seeds.EB_SOAP_CODE1,
                    "soap_code2": seeds.EB_SOAP_CODE2,
                },
                "exact": {
                    "client_id": seeds.EXACT_CLIENT_ID,
                    "client_secret": seeds.EXACT_CLIENT_SECRET,
                    "redirect_uri": seeds.EXACT_REDIRECT_URI,
                    "division": seeds.EXACT_DIVISION,
                },
                "afas": {"omgeving": ENVIRONMENT, "token": TOKEN_DATA, "path": "/ProfitRestServices"},
                "accountview": {
                    "client_id": seeds.ACCOUNTVIEW_CLIENT_ID,
                    "client_secret": seeds.ACCOUNTVIEW_CLIENT_SECRET,
                    "redirect_uri": seeds.ACCOUNTVIEW_REDIRECT_URI,
                    "company": seeds.ACCOUNTVIEW_COMPANY,
                },
            },
        }
        text = json.dumps(info, indent=2)
        if args.port_file is not None:
            # Write then rename, so a reader polling for the file never sees half of it.
            tmp = args.port_file.with_suffix(args.port_file.suffix + ".tmp")
            tmp.write_text(text)
            tmp.replace(args.port_file)
        print(text, flush=True)
        while not stop.wait(0.5):  # wake up regularly so signals are handled promptly
            pass
    print("sandbox stopped", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
