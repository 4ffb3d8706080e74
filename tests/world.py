"""A sandbox world for engine and CLI tests: FactuurSturen and e-Boekhouden simulators behind real HTTP,
and a Koppelaar home whose koppeling 'facturen' couples them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sandbox import seed
from sandbox.data import make_demo_invoices
from sandbox.eboekhouden import EBoekhoudenSim
from sandbox.factuursturen import FactuurSturenSim
from sandbox.faults import FaultKind
from sandbox.server import SandboxServer
from state.home import Home
from state.store import Store
from sync.engine import RunReport
from sync.service import run_koppeling
from tui.demo import prepare_home

Api = Literal["soap", "rest"]


@dataclass
class World:
    home: Home
    fs: FactuurSturenSim
    eb: EBoekhoudenSim
    server: SandboxServer
    api: Api

    def fail_creates(self, kind: FaultKind, times: int) -> None:
        """Inject a fault into the next `times` bookings, in whichever dialect this world speaks."""
        if self.api == "soap":
            self.eb.faults.add(method="POST", path="/soap.asmx", action="AddMutatie", kind=kind, times=times)
        else:
            self.eb.faults.add(method="POST", path="/v1/mutation", kind=kind, times=times)

    async def run(self, name: str = "facturen", *, dry_run: bool = False, retry: bool = False) -> RunReport:
        return await run_koppeling(self.home, name, dry_run=dry_run, retry=retry)

    def bookings_per_invoice(self) -> Counter[str]:
        return Counter(m.invoice_number for m in self.eb.mutations)

    def store(self) -> Store:
        return Store(self.home.database)

    def bookable_invoice_numbers(self) -> set[str]:
        """Invoices that should end up in e-Boekhouden: all but zero-amount legacy ones."""
        return {inv.invoicenr_full for inv in self.fs.invoices if inv.lines}


@contextmanager
def sandbox_world(tmp_path: Path, *, api: Api = "soap", invoices: int = 30, data_seed: int = 7) -> Iterator[World]:
    sims = seed.make_sims("empty")
    if invoices:
        sims.factuursturen.load(make_demo_invoices(invoices, data_seed))
    with SandboxServer(factuursturen=sims.factuursturen, eboekhouden=sims.eboekhouden) as server:
        home = Home(tmp_path / "home")
        prepare_home(home, server.factuursturen_url, server.eboekhouden_url, api=api)
        yield World(home, sims.factuursturen, sims.eboekhouden, server, api)
