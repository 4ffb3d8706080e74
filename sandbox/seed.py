"""Named seeds: the demo (``koppelaar demo``) and benchmark set-ups with fixed credentials."""

from __future__ import annotations

from dataclasses import dataclass

from sandbox._util import Clock
from sandbox.accountview import AccountViewSim
from sandbox.data import make_demo_invoices
from sandbox.eboekhouden import EBoekhoudenSim
from sandbox.exact import ExactSim
from sandbox.factuursturen import FactuurSturenSim
from sandbox.twinfield import TwinfieldSim

# Fixed demo credentials (not secrets: they only open the local sandbox).
FS_LOGIN = "demo"
FS_API_KEY = "fs-demo-key-0001"
EB_API_TOKEN = "eb-demo-token-0001"
EB_SOURCE = "Koppelaar"
EB_SOAP_USER = "demo"
EB_SOAP_CODE1 = "0123456789ABCDEF0123456789ABCDEF"
EB_SOAP_CODE2 = "6F1D2C3B-4A5E-4F60-8A7B-9C0D1E2F3A4B"
EXACT_CLIENT_ID = "3f8c1d2e-demo-4b5a-9c6d-koppelaar001"
EXACT_CLIENT_SECRET = "exact-demo-secret-0001"
EXACT_REDIRECT_URI = "http://127.0.0.1:8765/exact/callback"  # pasted back over SSH; nothing listens
EXACT_DIVISION = 1234567
TWINFIELD_CLIENT_ID = "koppelaar-demo-twinfield"
TWINFIELD_CLIENT_SECRET = "twinfield-demo-secret-0001"
TWINFIELD_REDIRECT_URI = "http://127.0.0.1:8765/twinfield/callback"
TWINFIELD_ORGANISATION = "DEMO-ORG"
TWINFIELD_OFFICE = "001"
ACCOUNTVIEW_CLIENT_ID = "koppelaar-demo-accountview"
ACCOUNTVIEW_CLIENT_SECRET = "accountview-demo-secret-0001"
ACCOUNTVIEW_REDIRECT_URI = "http://127.0.0.1:8765/accountview/callback"
ACCOUNTVIEW_COMPANY = "5b7e0c52-demo-4c1a-9e21-accountview01"
ACCOUNTVIEW_COMPANY_2 = "5b7e0c52-demo-4c1a-9e21-accountview02"
SEEDS = ("demo", "bench", "empty")


@dataclass
class SeededSims:
    factuursturen: FactuurSturenSim
    eboekhouden: EBoekhoudenSim


def make_sims(
    seed: str = "demo",
    *,
    invoices: int | None = None,
    data_seed: int = 42,
    quota_per_hour: int | None = None,
    rate_limit: float | None = None,
    clock: Clock | None = None,
) -> SeededSims:
    """``demo``: 150 invoices; ``bench``: 100,000 invoices, no quota; ``empty``: accounts only."""
    if seed not in SEEDS:
        raise ValueError(f"unknown seed {seed!r}; one of {', '.join(SEEDS)}")
    count = invoices if invoices is not None else {"demo": 150, "bench": 100_000, "empty": 0}[seed]
    quota = quota_per_hour if quota_per_hour is not None else (None if seed == "bench" else 1000)
    fs = FactuurSturenSim({FS_LOGIN: FS_API_KEY}, quota_per_hour=quota, clock=clock)
    if count:
        fs.load(make_demo_invoices(count, data_seed))
    eb = EBoekhoudenSim(rate_limit=rate_limit, clock=clock)
    eb.add_api_token(EB_API_TOKEN)
    eb.add_soap_user(EB_SOAP_USER, EB_SOAP_CODE1, EB_SOAP_CODE2)
    return SeededSims(fs, eb)


def make_exact(clock: Clock | None = None) -> ExactSim:
    """An Exact Online NL host with the demo app registered (division ``EXACT_DIVISION``)."""
    sim = ExactSim(divisions=(EXACT_DIVISION,), clock=clock)
    sim.add_app(EXACT_CLIENT_ID, EXACT_CLIENT_SECRET, EXACT_REDIRECT_URI)
    return sim


def make_accountview(clock: Clock | None = None, *, rate_per_second: int = 20) -> AccountViewSim:
    """AccountView.Net with the demo app and two administraties (``ACCOUNTVIEW_COMPANY`` first), each with
    the chart of sandbox/accountview.py (8000/8010/8100/4000, VAT 1/2/4/5, journals VK/IK)."""
    sim = AccountViewSim(
        companies=(
            (ACCOUNTVIEW_COMPANY, "Bakkerij De Vries B.V.", "BAKKERIJ"),
            (ACCOUNTVIEW_COMPANY_2, "De Vries Holding B.V.", "HOLDING"),
        ),
        rate_per_second=rate_per_second,
        clock=clock,
    )
    sim.add_app(ACCOUNTVIEW_CLIENT_ID, ACCOUNTVIEW_CLIENT_SECRET, ACCOUNTVIEW_REDIRECT_URI)
    return sim


def make_twinfield(clock: Clock | None = None, *, credits_per_minute: int = 1000) -> TwinfieldSim:
    """A Twinfield with the demo app, one organisation on cluster ``accounting2`` and office ``001``
    with the standard Dutch chart (PNL 8000/8010/8100, VAT VH/VL/VN, daybooks VRK/INK)."""
    sim = TwinfieldSim(clock=clock, credits_per_minute=credits_per_minute)
    sim.add_client(TWINFIELD_CLIENT_ID, TWINFIELD_CLIENT_SECRET, TWINFIELD_REDIRECT_URI)
    sim.add_organisation(TWINFIELD_ORGANISATION, cluster="accounting2")
    sim.add_office(TWINFIELD_ORGANISATION, TWINFIELD_OFFICE, "Bakkerij De Vries B.V.")
    return sim
