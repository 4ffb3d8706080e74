"""`koppelaar demo`: sandbox koppelingen with realistic data, some of it failing, in a temporary home."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import SecretStr

from sandbox import seed
from sandbox.eboekhouden import EBoekhoudenSim
from sandbox.factuursturen import FactuurSturenSim
from sandbox.server import SandboxServer
from state.config import write_new
from state.home import Home
from state.secrets import open_secret_store
from state.settings import AppSettings, SecretBackendName

HEADER = "Koppelaar demo: sandbox koppelingen (alles lokaal, niets gaat naar echte leveranciers)."


def prepare_home(
    home: Home,
    factuursturen_url: str,
    eboekhouden_url: str,
    *,
    api: Literal["soap", "rest"] = "soap",
    rate_limit_per_second: float = 50.0,
    max_concurrency: int = 8,
    extra_koppelingen: bool = False,
) -> None:
    """Write koppelaar.toml and the secrets for koppelingen against the sandbox's demo accounts."""
    home.ensure()
    boekhouding: dict[str, object] = {
        "system": "eboekhouden",
        "api": api,
        "base_url": eboekhouden_url + ("/soap.asmx" if api == "soap" else ""),
        "administratie": "10001",
        "rate_limit_per_second": rate_limit_per_second,
        "max_concurrency": max_concurrency,
    }
    if api == "soap":
        boekhouding["username"] = seed.EB_SOAP_USER
    config: dict[str, object] = {
        "app": {"secret_backend": "file"},
        "connections": {
            "factuursturen": {
                "system": "factuursturen",
                "base_url": factuursturen_url,
                "username": seed.FS_LOGIN,
            },
            "boekhouding": boekhouding,
        },
        "koppelingen": {
            "facturen": {
                "source": "factuursturen",
                "target": "boekhouding",
                "schedule": "15 3 * * *",
                "mapping": {
                    "tegenrekening_verkoop": "8000",
                    "tegenrekening_inkoop": "4000",
                    "tegenrekening": {"verkoop:9": "8010", "verkoop:0": "8020"},
                },
            }
        },
    }
    if extra_koppelingen:
        # A second administratie over REST whose API token was revoked: "Herautorisatie nodig".
        connections = config["connections"]
        assert isinstance(connections, dict)
        connections["boekhouding-rest"] = {
            "system": "eboekhouden",
            "api": "rest",
            "base_url": eboekhouden_url,
            "administratie": "10001",
        }
        koppelingen = config["koppelingen"]
        assert isinstance(koppelingen, dict)
        koppelingen["facturen-rest"] = {
            "source": "factuursturen",
            "target": "boekhouding-rest",
            "schedule": "45 4 * * *",
            "mapping": {"tegenrekening_verkoop": "8000"},
        }
    write_new(home.config, config, HEADER)
    secrets = open_secret_store(AppSettings(secret_backend=SecretBackendName.FILE), home.root)
    secrets.set("factuursturen:api_key", SecretStr(seed.FS_API_KEY))
    if api == "soap":
        secrets.set("boekhouding:beveiligingscode_1", SecretStr(seed.EB_SOAP_CODE1))
        secrets.set("boekhouding:beveiligingscode_2", SecretStr(seed.EB_SOAP_CODE2))
    else:
        secrets.set("boekhouding:api_token", SecretStr(seed.EB_API_TOKEN))
    if extra_koppelingen:
        secrets.set("boekhouding-rest:api_token", SecretStr("eb-demo-token-revoked"))


def add_demo_failures(fs: FactuurSturenSim, eb: EBoekhoudenSim) -> None:
    """The kinds of trouble support staff meet: bad source data, an unknown VAT rate, a revoked token."""
    client = fs.add_client(
        "Drukkerij Van Dam B.V.",
        city="Haarlem",
        zipcode="2011 AB",
        address="Grote Markt 2",
        taxnumber="NL004495445B01",
        email="administratie@drukkerijvandam.nl",
    )
    # FactuurSturen rounded this total differently from its lines: parked, never booked wrong.
    broken = fs.add_invoice(client.clientnr, [(3, "33.33", 21, "Visitekaartjes")], sent="2025-12-30")
    broken.totalintax += Decimal("0.01")
    # 7% is not a Dutch VAT rate: a mapping foutmelding until someone picks a btw-code.
    fs.add_invoice(client.clientnr, [(1, "250.00", 7, "Drukwerk (buitenlands tarief)")], sent="2025-12-31")
    eb.add_api_token("eb-demo-token-revoked")
    eb.revoke_token("eb-demo-token-revoked")


def run_demo(*, keep: bool = False, headless: bool = False) -> int:
    from sync.service import run_koppeling
    from tui.cli import EXIT_OK, cmd_errors_text, print_report, status_text

    root = Path(tempfile.mkdtemp(prefix="koppelaar-demo-"))
    home = Home(root)
    sims = seed.make_sims("demo")
    add_demo_failures(sims.factuursturen, sims.eboekhouden)
    print(f"Demo-map: {root}")
    with SandboxServer(factuursturen=sims.factuursturen, eboekhouden=sims.eboekhouden) as server:
        prepare_home(home, server.factuursturen_url, server.eboekhouden_url, extra_koppelingen=True)
        print(f"Sandbox: FactuurSturen {server.factuursturen_url}, e-Boekhouden {server.eboekhouden_url}\n")
        for name in ("facturen", "facturen-rest"):
            report = asyncio.run(run_koppeling(home, name))
            print_report(report)
            print()
        if headless:
            print(status_text(home))
            print(cmd_errors_text(home, "facturen"))
            print(f"\nIn e-Boekhouden (sandbox) staan nu {len(sims.eboekhouden.mutations)} mutaties.")
        else:
            from tui.app import KoppelaarApp

            # The sandbox keeps serving while the console is open: runs, checks and mapping are live.
            KoppelaarApp(home).run()
    if keep:
        print(f"De demo-map blijft staan: koppelaar --home {root} status")
    else:
        shutil.rmtree(root, ignore_errors=True)
    return EXIT_OK
