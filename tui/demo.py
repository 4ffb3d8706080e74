"""`koppelaar demo`: sandbox koppelingen with realistic data, some of it failing, in a temporary home."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Coroutine
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import httpx
from pydantic import SecretStr

from connectors.registry import spec_for
from sandbox import seed
from sandbox.afas import TOKEN_DATA, AfasSim, make_afas, token_xml
from sandbox.eboekhouden import EBoekhoudenSim
from sandbox.factuursturen import FactuurSturenSim
from sandbox.server import SandboxServer
from state.config import ConfigFile, load_settings, write_new
from state.home import Home
from state.secrets import open_secret_store
from state.settings import AppSettings, SecretBackendName
from state.tokens import TokenVault, vault_key

Target = Literal["eboekhouden", "exact", "twinfield", "afas", "accountview"]

HEADER = "Koppelaar demo: sandbox koppelingen (alles lokaal, niets gaat naar echte leveranciers)."
# The demo's key stays in its temporary home, so removing that home leaves nothing behind (a real home
# keeps its key outside, README "Geheimen"). The same in koppelaar.toml for the console and the runs.
DEMO_APP = AppSettings(secret_backend=SecretBackendName.FILE, secret_key_file="secrets.key")


def prepare_home(
    home: Home,
    factuursturen_url: str,
    eboekhouden_url: str,
    *,
    api: Literal["soap", "rest"] = "soap",
    rate_limit_per_second: float = 50.0,
    max_concurrency: int = 8,
    extra_koppelingen: bool = False,
    target: Target = "eboekhouden",
) -> None:
    """Write koppelaar.toml and the secrets for koppelingen against the sandbox's demo accounts.

    `target` picks the bookkeeping simulator that `eboekhouden_url` points at: e-Boekhouden (the
    default), or Exact Online / Twinfield, whose connection is then also authorized against the
    simulator (authorize → code → exchange → token vault), as `koppelaar connect` would.
    """
    if target == "afas":
        _prepare_afas_home(home, factuursturen_url, eboekhouden_url, rate_limit_per_second, max_concurrency)
        return
    if target != "eboekhouden":
        _prepare_oauth_home(
            home,
            factuursturen_url,
            eboekhouden_url,
            target=target,
            rate_limit_per_second=rate_limit_per_second,
            max_concurrency=max_concurrency,
        )
        return
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
    config = _demo_config(
        factuursturen_url,
        boekhouding,
        {
            "tegenrekening_verkoop": "8000",
            "tegenrekening_inkoop": "7000",
            "tegenrekening": {"verkoop:9": "8010", "verkoop:0": "8020"},
        },
    )
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
    secrets = open_secret_store(DEMO_APP, home.root)
    secrets.set("factuursturen:api_key", SecretStr(seed.FS_API_KEY))
    if api == "soap":
        secrets.set("boekhouding:beveiligingscode_1", SecretStr(seed.EB_SOAP_CODE1))
        secrets.set("boekhouding:beveiligingscode_2", SecretStr(seed.EB_SOAP_CODE2))
    else:
        secrets.set("boekhouding:api_token", SecretStr(seed.EB_API_TOKEN))
    if extra_koppelingen:
        secrets.set("boekhouding-rest:api_token", SecretStr("eb-demo-token-revoked"))


def _demo_config(
    factuursturen_url: str, boekhouding: dict[str, object], mapping: dict[str, object]
) -> dict[str, object]:
    """Koppeling 'facturen': the sandbox's FactuurSturen account into connection 'boekhouding'."""
    return {
        "app": {"secret_backend": DEMO_APP.secret_backend.value, "secret_key_file": DEMO_APP.secret_key_file},
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
                "mapping": mapping,
            }
        },
    }


# GL accounts and VAT codes of the simulators' seeded charts (sandbox/exact.py seed_division,
# sandbox/twinfield.py add_office): 8000 omzet hoog, 8010 omzet laag, 8100 omzet advies, 4000 inkoop.
OAUTH_MAPPING: dict[str, dict[str, object]] = {
    "exact": {
        "tegenrekening_verkoop": "8000",
        "tegenrekening_inkoop": "4000",
        "tegenrekening": {"verkoop:9": "8010", "verkoop:0": "8100"},
        "btw_codes": {
            "verkoop:21": "2",
            "verkoop:9": "4",
            "verkoop:0": "0",
            "verkoop:0:verlegd": "5",
            "inkoop:21": "2",
            "inkoop:9": "4",
            "inkoop:0": "0",
        },
    },
    "accountview": {
        "tegenrekening_verkoop": "8000",
        "tegenrekening_inkoop": "4000",
        "tegenrekening": {"verkoop:9": "8010", "verkoop:0": "8100"},
        "btw_codes": {
            "verkoop:21": "1",
            "verkoop:9": "2",
            "verkoop:0": "0",
            "verkoop:0:verlegd": "3",
            "inkoop:21": "4",
            "inkoop:9": "5",
            "inkoop:0": "0",
        },
    },
    "twinfield": {
        "tegenrekening_verkoop": "8000",
        "tegenrekening_inkoop": "4000",
        "tegenrekening": {"verkoop:9": "8010", "verkoop:0": "8100"},
        "btw_codes": {
            "verkoop:21": "VH",
            "verkoop:9": "VL",
            "verkoop:0": "VN",
            "verkoop:0:verlegd": "VN",
            "inkoop:21": "IH",
            "inkoop:9": "IL",
            "inkoop:0": "IN",
        },
    },
}


AFAS_MAPPING: dict[str, object] = {
    "tegenrekening_verkoop": "8000",
    "tegenrekening_inkoop": "4000",
    "tegenrekening": {"verkoop:9": "8010", "verkoop:0": "8100"},
    "btw_codes": {
        "verkoop:21": "1",
        "verkoop:9": "2",
        "verkoop:0": "0",
        "verkoop:0:verlegd": "4",
        "inkoop:21": "5",
        "inkoop:9": "6",
        "inkoop:0": "7",
    },
}


def _prepare_afas_home(
    home: Home, factuursturen_url: str, afas_url: str, rate_limit_per_second: float, max_concurrency: int
) -> None:
    """Koppeling 'facturen' into administratie 1 of the AFAS simulator's organisation, with its token."""
    home.ensure()
    boekhouding: dict[str, object] = {
        "system": "afas",
        "omgeving": "O12345AA",
        "base_url": afas_url + "/ProfitRestServices",
        "administratie": "1",
        "verkoopboek": "70",
        "inkoopboek": "60",
        "rate_limit_per_second": rate_limit_per_second,
        "max_concurrency": min(max_concurrency, 5),
    }
    write_new(home.config, _demo_config(factuursturen_url, boekhouding, AFAS_MAPPING), HEADER)
    secrets = open_secret_store(DEMO_APP, home.root)
    secrets.set("factuursturen:api_key", SecretStr(seed.FS_API_KEY))
    secrets.set("boekhouding:token", SecretStr(TOKEN_DATA))  # the bare data part, as many admins copy it


def _prepare_oauth_home(
    home: Home,
    factuursturen_url: str,
    target_url: str,
    *,
    target: Target,
    rate_limit_per_second: float,
    max_concurrency: int,
) -> None:
    home.ensure()
    boekhouding: dict[str, object]
    if target == "exact":
        boekhouding = {
            "system": "exact",
            "base_url": target_url,
            "client_id": seed.EXACT_CLIENT_ID,
            "redirect_uri": seed.EXACT_REDIRECT_URI,
            "division": seed.EXACT_DIVISION,
            "rate_limit_per_second": rate_limit_per_second,
            "max_concurrency": min(max_concurrency, 8),
        }
        client_secret = seed.EXACT_CLIENT_SECRET
    elif target == "accountview":
        boekhouding = {
            "system": "accountview",
            "base_url": target_url,
            "client_id": seed.ACCOUNTVIEW_CLIENT_ID,
            "redirect_uri": seed.ACCOUNTVIEW_REDIRECT_URI,
            "company": seed.ACCOUNTVIEW_COMPANY,
            "rate_limit_per_second": rate_limit_per_second,
            "max_concurrency": min(max_concurrency, 4),
        }
        client_secret = seed.ACCOUNTVIEW_CLIENT_SECRET
    else:
        boekhouding = {
            "system": "twinfield",
            "login_url": target_url,
            "client_id": seed.TWINFIELD_CLIENT_ID,
            "redirect_uri": seed.TWINFIELD_REDIRECT_URI,
            "office": seed.TWINFIELD_OFFICE,
        }
        client_secret = seed.TWINFIELD_CLIENT_SECRET
    write_new(home.config, _demo_config(factuursturen_url, boekhouding, OAUTH_MAPPING[target]), HEADER)
    secrets = open_secret_store(DEMO_APP, home.root)
    secrets.set("factuursturen:api_key", SecretStr(seed.FS_API_KEY))
    secrets.set("boekhouding:client_secret", SecretStr(client_secret))
    authorize_sandbox(home, "boekhouding", target, target_url)


def authorize_sandbox(home: Home, connection: str, target: Target, url: str) -> None:
    """Authorize an OAuth connection against a simulator, the steps `koppelaar connect` takes: open the
    authorization URL (the simulator consents at once), take the code from the redirect, exchange it
    and keep the pair in the token vault. Callable from inside a running event loop (tests)."""
    secrets = open_secret_store(DEMO_APP, home.root)
    client_secret = secrets.get(f"{connection}:client_secret")
    if client_secret is None:
        raise ValueError(f"{connection}: geen client secret in de geheimenopslag")

    settings = load_settings(home.config).connections[connection]
    oauth_spec = spec_for(settings.system).oauth
    assert oauth_spec is not None, f"{connection} autoriseert niet in de browser"

    async def exchange() -> None:
        from connectors.oauth import code_from_redirect

        # The client as koppelaar.toml configures it (the simulator's URL): the steps `koppelaar connect` takes.
        oauth = oauth_spec.client(settings, client_secret)
        try:
            state = "koppelaar-sandbox"
            async with httpx.AsyncClient() as browser:
                consent = await browser.get(oauth.authorization_url(state, "demo"), follow_redirects=False)
            location = consent.headers.get("location", "")
            code = code_from_redirect(location, state=state, vendor=f"{target}-simulator")
            tokens = await oauth.exchange_code(code)
        finally:
            await oauth.aclose()
        vault = TokenVault(home.database, vault_key(secrets))
        try:
            vault.store_initial(
                connection, tokens, host=oauth_spec.host(settings), idle_expiry=oauth_spec.refresh_idle_expiry
            )
        finally:
            vault.close()

    _in_thread(exchange())


def _in_thread(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine to completion on its own loop, also when the caller is inside one."""
    failure: list[BaseException] = []

    def main() -> None:
        try:
            asyncio.run(coroutine)
        except BaseException as exc:  # handed to the caller below
            failure.append(exc)

    worker = threading.Thread(target=main, name="sandbox-authorize")
    worker.start()
    worker.join()
    if failure:
        raise failure[0]


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


def add_afas_demo(home: Home, afas_url: str, afas: AfasSim) -> str:
    """Koppeling 'facturen-afas' into an AFAS organisation whose App Connector lacks UpdateConnector
    FiEntries: the check names it, with where in AFAS to add it. Returns the koppeling's name."""
    afas.remove_connector("FiEntries")
    config = ConfigFile.open(home.config)
    connection = {
        "system": "afas",
        "omgeving": "O12345AA",
        "base_url": afas_url + "/ProfitRestServices",
        "administratie": "1",
        "verkoopboek": "70",
        "inkoopboek": "60",
    }
    for key, value in connection.items():
        config.set(("connections", "afas-organisatie", key), value)
    koppeling = {"source": "factuursturen", "target": "afas-organisatie", "schedule": "30 3 * * *"}
    for name, text in koppeling.items():
        config.set(("koppelingen", "facturen-afas", name), text)
    for name, mapped in AFAS_MAPPING.items():
        if isinstance(mapped, dict):
            for sub, code in mapped.items():
                config.set(("koppelingen", "facturen-afas", "mapping", name, sub), str(code))
        else:
            config.set(("koppelingen", "facturen-afas", "mapping", name), str(mapped))
    config.save()
    secrets = open_secret_store(DEMO_APP, home.root)
    secrets.set("afas-organisatie:token", SecretStr(token_xml(TOKEN_DATA)))  # the whole token, as copied
    return "facturen-afas"


def add_ubl_koppeling(home: Home, folder: Path) -> None:
    """Koppeling 'inkoop': a UBL inbox of purchase invoices as Dutch and Belgian suppliers send them over
    Peppol, into connection 'boekhouding' (e-Boekhouden). Among them trouble support staff meet: a file
    whose totals do not balance, the same invoice delivered twice, and a scanned PDF."""
    from sandbox import ubl

    groen = ubl.Org(
        "Kantoorhuis Groen B.V.", "NL", vat="NL081234569B01", registration=("0106", "81234569"), city="Zwolle"
    )
    van_looy = ubl.Org(
        "Brouwerij Van Looy NV", "BE", vat="BE0456789133", registration=("0208", "0456789133"), city="Leuven"
    )
    kantoor = (
        ubl.Line("Printpapier A4 80 g (doos 5 pakken)", Decimal(6), Decimal("27.45"), unit="BX"),
        ubl.Line("Bureaustoel Ergo 300", Decimal(2), Decimal("289.00"), allowance=Decimal("28.90")),
    )
    documents = {
        "DV-2026-0117.xml": ubl.nl_21_9(attachment=b"%PDF-1.4 factuur DV-2026-0117 (Drukkerij De Vries)"),
        # The access point delivered this one twice: booked once, both copies archived.
        "DV-2026-0117 (1).xml": ubl.nl_21_9(attachment=b"%PDF-1.4 factuur DV-2026-0117 (Drukkerij De Vries)"),
        "DV-CN-2026-0003.xml": ubl.nl_21_9("DV-CN-2026-0003", root="CreditNote"),
        "F2026-0043.xml": ubl.be_nl_reverse_charge(),
        "VL-26-1187.xml": ubl.Doc(
            "VL-26-1187",
            van_looy,
            ubl.NL_BUYER,
            (
                ubl.Line(
                    "Speciaalbier, fust 20 l", Decimal(8), Decimal("61.50"), category="K", rate=Decimal(0)
                ),
            ),
            customization=ubl.UBL_BE,
            iban="BE89735000000085",
            exemption_reason="Intracommunautaire levering, art. 138 Richtlijn 2006/112/EG",
        ),
        "GR-2026-00412.xml": ubl.Doc(
            "GR-2026-00412", groen, ubl.NL_BUYER, kantoor, iban="NL20INGB0001234567"
        ),
        # Its total incl. btw is 0.10 off from its lines: quarantined with the BT number and the difference.
        "GR-2026-00413.xml": ubl.Doc(
            "GR-2026-00413",
            groen,
            ubl.NL_BUYER,
            kantoor[:1],
            iban="NL20INGB0001234567",
            spoil={"TaxInclusiveAmount": Decimal("0.10")},
        ),
    }
    folder.mkdir(parents=True, exist_ok=True)
    arrived = time.time() - 3600  # delivered an hour ago: settled, not still being written
    for name, document in documents.items():
        (folder / name).write_bytes(ubl.build(document))
    # Not an e-invoice at all: a scan someone dropped into the inbox.
    (folder / "scan energienota maart.pdf").write_bytes(b"%PDF-1.4 scan van een papieren energienota")
    for path in folder.iterdir():
        os.utime(path, (arrived, arrived))

    config = ConfigFile.open(home.config)
    config.set(("connections", "inbox", "system"), "ubl-inbox")
    config.set(("connections", "inbox", "path"), str(folder))
    config.set(("koppelingen", "inkoop", "source"), "inbox")
    config.set(("koppelingen", "inkoop", "target"), "boekhouding")
    config.set(("koppelingen", "inkoop", "schedule"), "*/30 7-18 * * 1-5")
    mapping = ("koppelingen", "inkoop", "mapping")
    config.set((*mapping, "tegenrekening_inkoop"), "7000")
    # A supplier whose costs always go to one account, and the btw of goods and services from Belgium.
    config.set((*mapping, "tegenrekening", "inkoop:leverancier:NL081234569B01"), "4100")
    config.set((*mapping, "btw_codes", "inkoop:0:AE:BE"), "BI_EU_INK")
    config.set((*mapping, "btw_codes", "inkoop:0:K:BE"), "BI_EU_INK")
    config.save()


def run_demo(*, keep: bool = False, headless: bool = False) -> int:
    from sync.service import run_koppeling
    from tui.cli import EXIT_OK, cmd_errors_text, print_report, status_text

    root = Path(tempfile.mkdtemp(prefix="koppelaar-demo-"))
    home = Home(root)
    sims = seed.make_sims("demo")
    add_demo_failures(sims.factuursturen, sims.eboekhouden)
    afas = make_afas()
    print(f"Demo-map: {root}")
    with SandboxServer(factuursturen=sims.factuursturen, eboekhouden=sims.eboekhouden, afas=afas) as server:
        prepare_home(home, server.factuursturen_url, server.eboekhouden_url, extra_koppelingen=True)
        afas_koppeling = add_afas_demo(home, server.url_for("afas"), afas)
        print(f"Sandbox: FactuurSturen {server.factuursturen_url}, e-Boekhouden {server.eboekhouden_url}\n")
        add_ubl_koppeling(home, root / "inbox")
        for name in ("facturen", "facturen-rest", afas_koppeling, "inkoop"):
            report = asyncio.run(run_koppeling(home, name))
            print_report(report)
            print()
        if headless:
            print(status_text(home))
            print(cmd_errors_text(home, "facturen"))
            print(cmd_errors_text(home, "inkoop"))
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
