"""The vendor harness of the contract suite: per vendor, how to start its simulator, build its connector,
inject a fault, and read what the simulator really holds (bookings, relations).

Every connector is built the way a run builds it (sync.service from koppelaar.toml and the secret store
of a sandbox world, tests/world.py), with two things swapped in so no test waits for real: the pause a
connector takes (Retry-After, backoff) moves the world's clock instead of sleeping, and the Exact and
Twinfield token vaults read that same clock. When connectors come from a registry, this file changes
and the tests do not.
"""

from __future__ import annotations

import functools
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import connectors.accountview.spec
import connectors.afas.spec
import connectors.eboekhouden.spec
import connectors.exact.spec
import connectors.factuursturen.spec
import connectors.twinfield.spec
import sync.service
from connectors.accountview import AccountView
from connectors.afas import Afas
from connectors.contract import BookingTarget, Source
from connectors.eboekhouden import EBoekhoudenRest, EBoekhoudenSoap
from connectors.exact import ExactOnline
from connectors.factuursturen import FactuurSturenSource
from connectors.model import JournalEntry
from connectors.twinfield import Twinfield
from connectors.twinfield.target import Outcome
from sandbox import seed
from sandbox.base import SimBase
from sandbox.faults import FaultKind
from sandbox.twinfield import Office
from state.config import load_settings
from state.secrets import open_secret_store
from state.tokens import TokenVault
from tests.world import (
    ACCOUNTVIEW_DATA,
    AFAS_ENTRIES,
    EXACT_SALES_ENTRIES,
    TWINFIELD_PROCESSXML,
    Api,
    OffsetClock,
    World,
    sandbox_world,
)
from tui.demo import Target

EXACT_ENTRIES = f"/api/v1/{seed.EXACT_DIVISION}/"  # sales and purchase entries, not the accounts
TWINFIELD_POST = Twinfield._post  # unarmed


class Pauses:
    """Every pause a connector asks for, taken on the world's clock instead of the wall clock."""

    def __init__(self, clock: OffsetClock) -> None:
        self.clock = clock
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.clock.advance(seconds)


@dataclass(frozen=True)
class SimRelation:
    """A relation as the simulator holds it; `id` is what ensure_relation returns for it."""

    id: str
    code: str  # our code (FS42), wherever the vendor keeps it
    name: str
    vat_number: str


@dataclass(frozen=True)
class Line:
    account: str
    vat_code: str


# --- targets ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TargetVendor:
    """What the contract tests need from one bookkeeping target; one subclass per vendor."""

    id: str
    target: Target
    sales_line: Line  # a 21 % line in the seeded chart
    purchase_line: Line
    pages_ledger_accounts: bool  # the vendor's API pages its grootboek listing
    api: Api = "soap"

    @contextmanager
    def world(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, invoices: int) -> Iterator[World]:
        with sandbox_world(tmp_path, target=self.target, api=self.api, invoices=invoices) as world:
            assert world.clock is not None or self.target == "eboekhouden"
            clock = world.clock or OffsetClock()
            world.clock = clock
            pauses = Pauses(clock)
            monkeypatch.setattr(sync.service, "TokenVault", functools.partial(TokenVault, clock=clock))
            monkeypatch.setattr(
                connectors.factuursturen.spec,
                "FactuurSturenSource",
                functools.partial(FactuurSturenSource, sleep=pauses),
            )
            self.patch_builder(monkeypatch, pauses)
            yield world

    def patch_builder(self, monkeypatch: pytest.MonkeyPatch, pauses: Pauses) -> None:
        raise NotImplementedError

    @asynccontextmanager
    async def connector(self, world: World) -> AsyncIterator[BookingTarget]:
        """A fresh connector, as a new run gets it (nothing cached from an earlier one)."""
        settings = load_settings(world.home.config)
        secrets = open_secret_store(settings.app, world.home.root)
        target = sync.service.build_target(
            "boekhouding", settings.connections["boekhouding"], secrets, home=world.home
        )
        try:
            yield target
        finally:
            await target.aclose()

    def fail_creates(
        self, world: World, monkeypatch: pytest.MonkeyPatch, kind: FaultKind, times: int | None, **how: Any
    ) -> None:
        """The next `times` create calls meet this fault (None: every one)."""
        raise NotImplementedError

    def disarm(self, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
        """No more faults: the network is healthy again."""
        self.sim(world).faults.clear()

    def sim(self, world: World) -> SimBase:
        raise NotImplementedError

    def revoke(self, world: World) -> None:
        """The user withdrew our access in the vendor's own screens."""
        raise NotImplementedError

    def bookings(self, world: World) -> Counter[str]:
        return world.bookings_per_invoice()

    def relations(self, world: World) -> list[SimRelation]:
        raise NotImplementedError

    def add_relation(self, world: World, code: str, name: str, vat_number: str = "") -> str:
        """A debtor entered by hand in the vendor's screens, before Koppelaar came."""
        raise NotImplementedError

    def add_ledger_accounts(self, world: World, count: int) -> None:
        raise NotImplementedError

    def ledger_codes(self, world: World) -> set[str]:
        raise NotImplementedError


@dataclass(frozen=True)
class EBoekhouden(TargetVendor):
    def sim(self, world: World) -> SimBase:
        return world.eb

    def patch_builder(self, monkeypatch: pytest.MonkeyPatch, pauses: Pauses) -> None:
        monkeypatch.setattr(
            connectors.eboekhouden.spec, "EBoekhoudenRest", functools.partial(EBoekhoudenRest, sleep=pauses)
        )
        monkeypatch.setattr(
            connectors.eboekhouden.spec, "EBoekhoudenSoap", functools.partial(EBoekhoudenSoap, sleep=pauses)
        )

    def fail_creates(
        self, world: World, monkeypatch: pytest.MonkeyPatch, kind: FaultKind, times: int | None, **how: Any
    ) -> None:
        if self.api == "soap":
            world.eb.faults.add(
                kind, method="POST", path="/soap.asmx", action="AddMutatie", times=times, **how
            )
        else:
            world.eb.faults.add(kind, method="POST", path="/v1/mutation", times=times, **how)

    def revoke(self, world: World) -> None:
        if self.api == "soap":
            world.eb.change_password(seed.EB_SOAP_USER)  # beveiligingscode 1 changes with it
        else:
            world.eb.revoke_token(seed.EB_API_TOKEN)

    def relations(self, world: World) -> list[SimRelation]:
        return [SimRelation(str(r.id), r.code, r.name, r.vat_number) for r in world.eb.relations]

    def add_relation(self, world: World, code: str, name: str, vat_number: str = "") -> str:
        return str(world.eb.add_relation(code, name, vat_number=vat_number).id)

    def add_ledger_accounts(self, world: World, count: int) -> None:
        with world.eb.lock:
            for n in range(count):
                world.eb.default.add_ledger(f"9{n:03d}", f"Kostenrekening {n}", "VW")

    def ledger_codes(self, world: World) -> set[str]:
        with world.eb.lock:
            return {ledger.code for ledger in world.eb.default.ledgers.values()}


@dataclass(frozen=True)
class Exact(TargetVendor):
    def sim(self, world: World) -> SimBase:
        return world.ex

    def patch_builder(self, monkeypatch: pytest.MonkeyPatch, pauses: Pauses) -> None:
        monkeypatch.setattr(
            connectors.exact.spec,
            "ExactOnline",
            functools.partial(ExactOnline, clock=pauses.clock, sleep=pauses),
        )

    def fail_creates(
        self, world: World, monkeypatch: pytest.MonkeyPatch, kind: FaultKind, times: int | None, **how: Any
    ) -> None:
        # Sales and purchase entries; relations (crm/Accounts) are POSTed too and stay unharmed.
        for path in (EXACT_SALES_ENTRIES, f"{EXACT_ENTRIES}purchaseentry/PurchaseEntries"):
            world.ex.faults.add(kind, method="POST", path=path, times=times, **how)

    def revoke(self, world: World) -> None:
        assert world.clock is not None
        world.ex.revoke_all()
        world.clock.advance(601)  # the access token in hand has expired too: the refresh is refused

    def relations(self, world: World) -> list[SimRelation]:
        return [
            SimRelation(
                str(a["ID"]),
                str(a.get("SearchCode") or "").strip(),
                str(a["Name"]),
                str(a.get("VATNumber") or ""),
            )
            for a in world.ex.accounts()
        ]

    def add_relation(self, world: World, code: str, name: str, vat_number: str = "") -> str:
        # Our code lives in the search code; Exact numbers the account itself.
        return world.ex.add_account(name, SearchCode=code, VATNumber=vat_number, IsSales=True, Status="C")

    def add_ledger_accounts(self, world: World, count: int) -> None:
        pass  # the seeded division has 100 filler accounts beyond Exact's page of 60 already

    def ledger_codes(self, world: World) -> set[str]:
        with world.ex.lock:
            return {str(row["Code"]).strip() for row in world.ex.division().gl_accounts.values()}


@dataclass(frozen=True)
class TwinfieldVendor(TargetVendor):
    def sim(self, world: World) -> SimBase:
        return world.twf

    def disarm(self, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(Twinfield, "_post", TWINFIELD_POST)
        world.twf.faults.clear()

    def patch_builder(self, monkeypatch: pytest.MonkeyPatch, pauses: Pauses) -> None:
        monkeypatch.setattr(
            connectors.twinfield.spec, "Twinfield", functools.partial(Twinfield, sleep=pauses)
        )

    def office(self, world: World) -> Office:
        return world.twf.organisations[seed.TWINFIELD_ORGANISATION].offices[seed.TWINFIELD_OFFICE]

    def fail_creates(
        self, world: World, monkeypatch: pytest.MonkeyPatch, kind: FaultKind, times: int | None, **how: Any
    ) -> None:
        # ProcessXml carries the reads too, so the fault is armed right before each post of transactions.
        armed: list[int] = []
        post = Twinfield._post

        async def armed_post(
            self: Twinfield, chunk: list[tuple[int, JournalEntry, ET.Element]]
        ) -> list[Outcome]:
            if times is None or len(armed) < times:
                armed.append(len(chunk))
                world.twf.faults.add(kind, method="POST", path=TWINFIELD_PROCESSXML, times=1, **how)
            return await post(self, chunk)

        monkeypatch.setattr(Twinfield, "_post", armed_post)

    def revoke(self, world: World) -> None:
        assert world.clock is not None
        for grant in world.twf.refresh_tokens.values():
            grant.revoked = True  # the user withdrew the consent in Twinfield
        world.clock.advance(3601)  # and the access token in hand has expired

    def relations(self, world: World) -> list[SimRelation]:
        with world.twf.lock:
            debtors = list(self.office(world).dimensions.get("DEB", {}).values())
        return [SimRelation(d.code, d.shortname, d.name, d.fields.get("field4", "")) for d in debtors]

    def add_relation(self, world: World, code: str, name: str, vat_number: str = "") -> str:
        number = str(1900 + len(self.relations(world)))  # Twinfield numbers debtors itself
        fields = {"field4": vat_number} if vat_number else {}
        with world.twf.lock:
            self.office(world).add_dimension("DEB", number, name, shortname=code, fields=fields)
        return number

    def add_ledger_accounts(self, world: World, count: int) -> None:
        with world.twf.lock:
            for n in range(count):
                self.office(world).add_dimension("PNL", f"9{n:03d}", f"Kostenrekening {n}")

    def ledger_codes(self, world: World) -> set[str]:
        with world.twf.lock:
            office = self.office(world)
            return {code for dimtype in ("BAS", "PNL") for code in office.dimensions.get(dimtype, {})}


@dataclass(frozen=True)
class AfasVendor(TargetVendor):
    def sim(self, world: World) -> SimBase:
        return world.af

    def patch_builder(self, monkeypatch: pytest.MonkeyPatch, pauses: Pauses) -> None:
        monkeypatch.setattr(connectors.afas.spec, "Afas", functools.partial(Afas, sleep=pauses))

    def fail_creates(
        self, world: World, monkeypatch: pytest.MonkeyPatch, kind: FaultKind, times: int | None, **how: Any
    ) -> None:
        # The entries only: debtors and creditors are POSTed to their own UpdateConnectors.
        world.af.faults.add(kind, method="POST", path=AFAS_ENTRIES, times=times, **how)

    def revoke(self, world: World) -> None:
        world.af.revoke_token()  # the admin deleted the user token in the App Connector

    def relations(self, world: World) -> list[SimRelation]:
        with world.af.lock:
            debtors = list(world.af.debtors.values())
        return [SimRelation(d.id, d.code, d.name, d.vat_number) for d in debtors]

    def add_relation(self, world: World, code: str, name: str, vat_number: str = "") -> str:
        return world.af.add_relation("debiteur", code, name, vat_number).id

    def add_ledger_accounts(self, world: World, count: int) -> None:
        for n in range(count):
            world.af.add_account("1", f"9{n:03d}", f"Kostenrekening {n}")

    def ledger_codes(self, world: World) -> set[str]:
        with world.af.lock:
            return set(world.af.administrations["1"].accounts)


class AccountViewVendor(TargetVendor):
    def sim(self, world: World) -> SimBase:
        return world.av

    def patch_builder(self, monkeypatch: pytest.MonkeyPatch, pauses: Pauses) -> None:
        monkeypatch.setattr(
            connectors.accountview.spec,
            "AccountView",
            functools.partial(AccountView, clock=pauses.clock, sleep=pauses),
        )

    def fail_creates(
        self, world: World, monkeypatch: pytest.MonkeyPatch, kind: FaultKind, times: int | None, **how: Any
    ) -> None:
        # Journal pages only: relations are written to the same address as business object AR1/AP1.
        world.av.faults.add(kind, method="POST", path=ACCOUNTVIEW_DATA, action="DJ2", times=times, **how)

    def revoke(self, world: World) -> None:
        world.av.revoke_all()  # every access and refresh token of the app stops working

    def relations(self, world: World) -> list[SimRelation]:
        return [
            SimRelation(str(c["SUB_NR"]), str(c["SUB_NR"]), str(c["ACCT_NAME"]), str(c.get("VAT_NR") or ""))
            for c in world.av.contacts("AR1")
        ]

    def add_relation(self, world: World, code: str, name: str, vat_number: str = "") -> str:
        number = f"D{len(world.av.contacts('AR1')) + 9000}"  # numbered by hand, not by our code
        world.av.add_contact("AR1", number, name, SRC_CODE=code, VAT_NR=vat_number)
        return number

    def add_ledger_accounts(self, world: World, count: int) -> None:
        pass  # the seeded administratie has 150 filler accounts beyond the page of 100 already

    def ledger_codes(self, world: World) -> set[str]:
        with world.av.lock:
            return set(world.av.company().ledger)


TARGETS = (
    EBoekhouden(
        "eboekhouden-rest",
        "eboekhouden",
        Line("8000", "HOOG_VERK_21"),
        Line("7000", "HOOG_INK_21"),
        pages_ledger_accounts=True,
        api="rest",
    ),
    EBoekhouden(
        "eboekhouden-soap",
        "eboekhouden",
        Line("8000", "HOOG_VERK_21"),
        Line("7000", "HOOG_INK_21"),
        pages_ledger_accounts=False,  # GetGrootboekrekeningen answers with the whole chart at once
        api="soap",
    ),
    Exact("exact", "exact", Line("8000", "2"), Line("4000", "2"), pages_ledger_accounts=True),
    TwinfieldVendor(
        "twinfield", "twinfield", Line("8000", "VH"), Line("4000", "IH"), pages_ledger_accounts=True
    ),
    AfasVendor("afas", "afas", Line("8000", "1"), Line("4000", "5"), pages_ledger_accounts=True),
    AccountViewVendor(
        "accountview", "accountview", Line("8000", "1"), Line("4000", "4"), pages_ledger_accounts=True
    ),
)


def target_params(*xfail: tuple[str, str]) -> list[Any]:
    """Every target as a pytest param; `xfail` names (id, reason) of a known, reported bug."""
    known = dict(xfail)
    return [
        pytest.param(t, id=t.id, marks=pytest.mark.xfail(strict=True, reason=known[t.id]))
        if t.id in known
        else pytest.param(t, id=t.id)
        for t in TARGETS
    ]


@pytest.fixture(params=target_params())
def vendor(request: pytest.FixtureRequest) -> TargetVendor:
    vendor: TargetVendor = request.param
    return vendor


# --- sources ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceVendor:
    """What the contract tests need from one invoice source."""

    id: str
    connection: str
    read_path: str  # the listing that pages

    @contextmanager
    def world(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, invoices: int, page_size: int
    ) -> Iterator[World]:
        with sandbox_world(tmp_path, api="rest", invoices=invoices) as world:
            world.clock = OffsetClock()
            pauses = Pauses(world.clock)
            self.patch_builder(monkeypatch, pauses, page_size)
            monkeypatch.setattr(
                connectors.eboekhouden.spec,
                "EBoekhoudenRest",
                functools.partial(EBoekhoudenRest, sleep=pauses),
            )
            yield world

    def patch_builder(self, monkeypatch: pytest.MonkeyPatch, pauses: Pauses, page_size: int) -> None:
        raise NotImplementedError

    @asynccontextmanager
    async def connector(self, world: World) -> AsyncIterator[Source]:
        settings = load_settings(world.home.config)
        secrets = open_secret_store(settings.app, world.home.root)
        source = sync.service.build_source(self.connection, settings.connections[self.connection], secrets)
        try:
            yield source
        finally:
            await source.aclose()

    def sim(self, world: World) -> SimBase:
        raise NotImplementedError

    def fail_reads(self, world: World, kind: FaultKind, times: int, **how: Any) -> None:
        raise NotImplementedError

    def revoke(self, world: World) -> None:
        raise NotImplementedError

    def record_ids(self, world: World) -> list[str]:
        """Every record the simulator holds, as the connector names them."""
        raise NotImplementedError

    def listing_requests(self, world: World) -> int:
        raise NotImplementedError


@dataclass(frozen=True)
class FactuurSturen(SourceVendor):
    def patch_builder(self, monkeypatch: pytest.MonkeyPatch, pauses: Pauses, page_size: int) -> None:
        monkeypatch.setattr(
            connectors.factuursturen.spec,
            "FactuurSturenSource",
            functools.partial(FactuurSturenSource, sleep=pauses, page_size=page_size),
        )

    def sim(self, world: World) -> SimBase:
        return world.fs

    def fail_reads(self, world: World, kind: FaultKind, times: int, **how: Any) -> None:
        world.fs.faults.add(kind, method="GET", path=self.read_path, times=times, **how)

    def revoke(self, world: World) -> None:
        world.fs.revoke_api_key(seed.FS_LOGIN)

    def record_ids(self, world: World) -> list[str]:
        return [str(inv.id) for inv in world.fs.invoices]

    def listing_requests(self, world: World) -> int:
        return world.fs.request_count(method="GET", path_prefix=self.read_path)


SOURCES = (FactuurSturen("factuursturen", "factuursturen", "/api/v1/invoices"),)


@pytest.fixture(params=[pytest.param(s, id=s.id) for s in SOURCES])
def source_vendor(request: pytest.FixtureRequest) -> SourceVendor:
    vendor: SourceVendor = request.param
    return vendor
