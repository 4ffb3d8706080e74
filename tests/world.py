"""A sandbox world for engine and CLI tests: FactuurSturen and a bookkeeping simulator (e-Boekhouden,
Exact Online or Twinfield) behind real HTTP, and a Koppelaar home whose koppeling 'facturen' couples them.

For Exact and Twinfield the home's connection 'boekhouding' is authorized against the simulator the
way `koppelaar connect` does it (authorize → code → exchange → token vault)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sandbox import seed
from sandbox.accountview import AccountViewSim
from sandbox.afas import AfasSim, make_afas
from sandbox.data import make_demo_invoices
from sandbox.eboekhouden import EBoekhoudenSim
from sandbox.exact import ExactSim
from sandbox.factuursturen import FactuurSturenSim
from sandbox.faults import FaultKind
from sandbox.server import SandboxServer
from sandbox.twinfield import TwinfieldSim
from state.home import Home
from state.store import Store
from sync.engine import Progress, RunReport
from sync.service import run_koppeling
from tui.demo import Target, prepare_home

Api = Literal["soap", "rest"]
EXACT_SALES_ENTRIES = f"/api/v1/{seed.EXACT_DIVISION}/salesentry/SalesEntries"
TWINFIELD_PROCESSXML = "/accounting2/webservices/processxml.asmx"
AFAS_ENTRIES = "/ProfitRestServices/connectors/FiEntries"
ACCOUNTVIEW_DATA = "/api/v3/accountviewdata"


class OffsetClock:
    """Real time plus an offset that a test moves forward: the simulators' idea of 'now'."""

    def __init__(self) -> None:
        self.offset = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.offset += seconds


@dataclass
class World:
    home: Home
    fs: FactuurSturenSim
    eb: EBoekhoudenSim
    server: SandboxServer
    api: Api
    target: Target = "eboekhouden"
    exact: ExactSim | None = None
    twinfield: TwinfieldSim | None = None
    clock: OffsetClock | None = None  # the Exact/Twinfield simulator's clock
    afas: AfasSim | None = None
    accountview: AccountViewSim | None = None

    @property
    def av(self) -> AccountViewSim:
        assert self.accountview is not None, "not an AccountView world"
        return self.accountview

    @property
    def ex(self) -> ExactSim:
        assert self.exact is not None, "not an Exact world"
        return self.exact

    @property
    def twf(self) -> TwinfieldSim:
        assert self.twinfield is not None, "not a Twinfield world"
        return self.twinfield

    @property
    def af(self) -> AfasSim:
        assert self.afas is not None, "not an AFAS world"
        return self.afas

    def fail_creates(self, kind: FaultKind, times: int) -> None:
        """Inject a fault into the next `times` bookings, in whichever dialect this world speaks."""
        if self.target == "afas":
            self.af.faults.add(method="POST", path=AFAS_ENTRIES, kind=kind, times=times)
        elif self.target == "exact":  # the entries only: relations are POSTed too
            self.ex.faults.add(method="POST", path=EXACT_SALES_ENTRIES, kind=kind, times=times)
        elif self.target == "accountview":  # journal pages (DJ2), not relations (AR1/AP1) at the same address
            self.av.faults.add(method="POST", path=ACCOUNTVIEW_DATA, action="DJ2", kind=kind, times=times)
        elif self.target == "twinfield":
            # ProcessXml carries reads too; the sandbox cannot tell a post from a read by path, so
            # the fault lands on whichever ProcessXml call comes next (posts, after the first run's reads).
            self.twf.faults.add(method="POST", path=TWINFIELD_PROCESSXML, kind=kind, times=times)
        elif self.api == "soap":
            self.eb.faults.add(method="POST", path="/soap.asmx", action="AddMutatie", kind=kind, times=times)
        else:
            self.eb.faults.add(method="POST", path="/v1/mutation", kind=kind, times=times)

    async def run(
        self,
        name: str = "facturen",
        *,
        dry_run: bool = False,
        retry: bool = False,
        on_progress: Callable[[Progress], None] | None = None,
    ) -> RunReport:
        return await run_koppeling(self.home, name, dry_run=dry_run, retry=retry, on_progress=on_progress)

    def bookings_per_invoice(self) -> Counter[str]:
        if self.target == "afas":
            return Counter(self.af.bookings_per_invoice())
        if self.target == "exact":
            entries = self.ex.sales_entries() + self.ex.purchase_entries()
            return Counter(str(e["YourRef"]).strip() for e in entries)
        if self.target == "twinfield":
            return Counter(t.invoicenumber for t in self.twf.transactions())
        if self.target == "accountview":
            return Counter(str(p["INV_NR"]) for p in self.av.pages())
        return Counter(m.invoice_number for m in self.eb.mutations)

    def booking_count(self) -> int:
        return sum(self.bookings_per_invoice().values())

    def target_requests(self) -> int:
        sim = self.exact or self.twinfield or self.afas or self.accountview or self.eb
        return sim.request_count()

    def store(self) -> Store:
        return Store(self.home.database)

    def bookable_invoice_numbers(self) -> set[str]:
        """Invoices that should end up in the target: all but zero-amount legacy ones."""
        return {inv.invoicenr_full for inv in self.fs.invoices if inv.lines}


@contextmanager
def sandbox_world(
    tmp_path: Path,
    *,
    api: Api = "soap",
    invoices: int = 30,
    data_seed: int = 7,
    target: Target = "eboekhouden",
    exact_minutely_limit: int = 100_000,
    twinfield_credits_per_minute: int = 1000,
    rate_limit_per_second: float = 50.0,
    max_concurrency: int = 8,
) -> Iterator[World]:
    sims = seed.make_sims("empty")
    if invoices:
        sims.factuursturen.load(make_demo_invoices(invoices, data_seed))
    if target == "eboekhouden":
        with SandboxServer(factuursturen=sims.factuursturen, eboekhouden=sims.eboekhouden) as server:
            home = Home(tmp_path / "home")
            prepare_home(home, server.factuursturen_url, server.eboekhouden_url, api=api)
            yield World(home, sims.factuursturen, sims.eboekhouden, server, api)
        return
    clock = OffsetClock()
    if target == "afas":
        afas = make_afas(clock)
        with SandboxServer(factuursturen=sims.factuursturen, bookkeeping=afas) as server:
            home = Home(tmp_path / "home")
            prepare_home(
                home,
                server.factuursturen_url,
                server.url_for("bookkeeping"),
                target="afas",
                rate_limit_per_second=rate_limit_per_second,
                max_concurrency=max_concurrency,
            )
            yield World(
                home, sims.factuursturen, sims.eboekhouden, server, api, "afas", clock=clock, afas=afas
            )
        return
    exact = twinfield = accountview = None
    if target == "exact":
        exact = seed.make_exact(clock)
        exact.minutely_limit = exact_minutely_limit
    elif target == "accountview":
        accountview = seed.make_accountview(clock, rate_per_second=100_000)
    else:
        twinfield = seed.make_twinfield(clock, credits_per_minute=twinfield_credits_per_minute)
    with SandboxServer(
        factuursturen=sims.factuursturen, bookkeeping=exact or twinfield or accountview
    ) as server:
        home = Home(tmp_path / "home")
        prepare_home(
            home,
            server.factuursturen_url,
            server.url_for("bookkeeping"),
            target=target,
            rate_limit_per_second=rate_limit_per_second,
            max_concurrency=max_concurrency,
        )
        yield World(
            home,
            sims.factuursturen,
            sims.eboekhouden,
            server,
            api,
            target,
            exact,
            twinfield,
            clock,
            accountview=accountview,
        )
