"""What is special to AccountView, against its simulator over real HTTP: refresh tokens that rotate (kept
by the token vault), the administratie in `X-Company`, journal pages as positional DJ2 rows with debit
positive, error bodies as foutmeldingen, and `koppelaar connect` in AccountView's words. The contract suite
(tests/contract/) covers the rest."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import date
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

import tests.test_connect_oauth
from connectors.accountview import AccountView, AccountViewOAuth
from connectors.accountview.target import page_number
from connectors.contract import Health
from connectors.errors import Origin, RejectedError
from connectors.http import encode_json
from connectors.model import BookingLine, InvoiceKind, JournalEntry, Party
from connectors.oauth import InvalidGrant
from sandbox import seed
from state.config import ConfigFile, load_settings
from state.secrets import open_secret_store
from sync.connect import forget_tokens
from tests.contract.conftest import TARGETS
from tests.test_connect_oauth import Terminal, config_of
from tests.world import ACCOUNTVIEW_DATA, World, sandbox_world
from tui.cli import connect

D = Decimal
BAKKERIJ = Party(source_id="42", name="Bakkerij De Vries B.V.", vat_number="NL004495445B01", city="Oudewater")
MOLENAAR = Party(source_id="7", name="Meelhandel Molenaar B.V.", vat_number="NL810433941B01", city="Zaandam")


class StaticTokens:
    """An access token exchanged from a fresh authorization code (no vault: one test, one token)."""

    def __init__(self, token: str) -> None:
        self.token = token

    async def access_token(self, *, force: bool = False) -> SecretStr:
        return SecretStr(self.token)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with sandbox_world(tmp_path, target="accountview", invoices=0) as w:
        yield w


def url(world: World) -> str:
    return world.server.url_for("bookkeeping")


async def authorized_tokens(world: World) -> StaticTokens:
    oauth = AccountViewOAuth(
        seed.ACCOUNTVIEW_CLIENT_ID,
        SecretStr(seed.ACCOUNTVIEW_CLIENT_SECRET),
        seed.ACCOUNTVIEW_REDIRECT_URI,
        base_url=url(world),
    )
    try:
        code = world.av.authorize(seed.ACCOUNTVIEW_CLIENT_ID, seed.ACCOUNTVIEW_REDIRECT_URI)
        pair = await oauth.exchange_code(code)
    finally:
        await oauth.aclose()
    return StaticTokens(pair.access_token.get_secret_value())


@asynccontextmanager
async def target(world: World, company: str = seed.ACCOUNTVIEW_COMPANY) -> AsyncIterator[AccountView]:
    av = AccountView(await authorized_tokens(world), company=company, base_url=url(world))
    try:
        yield av
    finally:
        await av.aclose()


def entry(
    number: str, party: Party, net: str, kind: InvoiceKind = InvoiceKind.SALES, **line: str
) -> JournalEntry:
    amount = D(net)
    sales = kind is InvoiceKind.SALES
    return JournalEntry(
        reference=f"factuursturen:{party.source_id}:{number}",
        kind=kind,
        credit_note=amount < 0,
        date=date(2026, 1, 14),
        invoice_number=number,
        description=f"Factuur {number}",
        relation=party,
        lines=(
            BookingLine(
                account_code="8000" if sales else "4000",
                vat_code="1" if sales else "4",
                vat_rate=D(21),
                net_amount=amount,
                vat_amount=(amount * D("0.21")).quantize(D("0.01")),
                **line,
            ),
        ),
    )


def page_lines(world: World, number: str) -> dict[str, tuple[Decimal, Decimal]]:
    """ACCT_NR → (AMOUNT, VAT_AMT) of the page booked for invoice `number`."""
    company = world.av.company("BAKKERIJ")
    [page] = [p for p in company.pages.values() if p["INV_NR"] == number]
    return {
        ln["ACCT_NR"]: (ln["AMOUNT"], ln["VAT_AMT"])
        for ln in company.lines
        if ln["PAGE_NR"] == page["PAGE_NR"]
    }


# --- OAuth: rotating refresh tokens, kept by the vault -------------------------------------------------


async def test_each_run_rotates_the_refresh_token_and_the_vault_always_presents_the_latest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vendor = next(t for t in TARGETS if t.id == "accountview")  # the vault on the simulator's clock
    with vendor.world(tmp_path, monkeypatch, invoices=0) as fresh:
        before = fresh.av.grants[0].refresh_token
        for _run in range(3):  # a run is a new process: no access token in memory, so it refreshes
            async with vendor.connector(fresh) as run:
                assert (await run.check()).ok

        # Every rotated pair was persisted before use: no run ever presented a replaced refresh token.
        assert fresh.av.refreshes("ok") == 3 and fresh.av.refreshes("invalid_grant") == 0
        oauth = AccountViewOAuth(
            seed.ACCOUNTVIEW_CLIENT_ID,
            SecretStr(seed.ACCOUNTVIEW_CLIENT_SECRET),
            seed.ACCOUNTVIEW_REDIRECT_URI,
            base_url=url(fresh),
        )
        try:
            with pytest.raises(InvalidGrant) as refused:
                await oauth.refresh(SecretStr(before))  # rotated: presenting it again is refused
        finally:
            await oauth.aclose()
        assert before not in refused.value.exchange


# --- X-Company ------------------------------------------------------------------------------------------


async def test_every_data_call_names_the_administratie_and_books_only_there(world: World) -> None:
    async with target(world, seed.ACCOUNTVIEW_COMPANY_2) as av:
        relation = await av.ensure_relation(BAKKERIJ, InvoiceKind.SALES, "FS42")
        await av.create_booking(entry("F-1", BAKKERIJ, "100.00"), relation)

    assert len(world.av.pages("HOLDING")) == 1 and world.av.pages("BAKKERIJ") == []
    token = (await authorized_tokens(world)).token
    async with httpx.AsyncClient(base_url=url(world)) as http:
        bare = await http.get(
            ACCOUNTVIEW_DATA, params={"BusinessObject": "GL1"}, headers={"Authorization": f"Bearer {token}"}
        )
    assert bare.status_code == 400 and "X-Company" in bare.json()["ErrorMessage"]


async def test_the_companies_are_the_administraties_and_a_foreign_one_is_misconfigured(world: World) -> None:
    async with target(world) as av:
        names = {a.id: a.name for a in await av.administraties()}
    assert names == {
        seed.ACCOUNTVIEW_COMPANY: "Bakkerij De Vries B.V.",
        seed.ACCOUNTVIEW_COMPANY_2: "De Vries Holding B.V.",
    }
    async with target(world, "4f1b-someone-elses") as av:
        result = await av.check()
    assert result.health is Health.MISCONFIGURED and "4f1b-someone-elses" in result.reason


# --- DJ2 rows: debit positive ---------------------------------------------------------------------------


async def test_a_sales_invoice_is_revenue_and_vat_credit_and_the_debtor_debit(world: World) -> None:
    async with target(world) as av:
        relation = await av.ensure_relation(BAKKERIJ, InvoiceKind.SALES, "FS42")
        created = await av.create_booking(entry("F-100", BAKKERIJ, "100.00"), relation)
        found = await av.find_booking(entry("F-100", BAKKERIJ, "100.00"), relation)

    assert page_lines(world, "F-100") == {"8000": (D("-100.00"), D("-21.00")), "1300": (D("121.00"), D(0))}
    company = world.av.company("BAKKERIJ")
    assert company.balance("1300", "FS42") == D("121.00")  # the debtor owes us
    assert found is not None and found.gross == D("121.00") and found.remote_id == created.remote_id
    [page] = company.pages.values()
    assert page["PAGE_NR"] == page_number("factuursturen:42:F-100") and page["SUB_NR"] == "FS42"


async def test_a_purchase_invoice_and_a_credit_note_take_the_opposite_signs(world: World) -> None:
    async with target(world) as av:
        supplier = await av.ensure_relation(MOLENAAR, InvoiceKind.PURCHASE, "FS7")
        debtor = await av.ensure_relation(BAKKERIJ, InvoiceKind.SALES, "FS42")
        await av.create_booking(entry("I-7", MOLENAAR, "200.00", InvoiceKind.PURCHASE), supplier)
        await av.create_booking(entry("C-1", BAKKERIJ, "-50.00"), debtor)
        credit = await av.find_booking(entry("C-1", BAKKERIJ, "-50.00"), debtor)

    assert page_lines(world, "I-7") == {"4000": (D("200.00"), D("42.00")), "1600": (D("-242.00"), D(0))}
    assert page_lines(world, "C-1") == {"8000": (D("50.00"), D("10.50")), "1300": (D("-60.50"), D(0))}
    assert [c["SUB_NR"] for c in world.av.contacts("AP1", "BAKKERIJ")] == ["FS7"]  # a creditor, not a debtor
    assert credit is not None and credit.gross == D("-60.50")


async def test_a_page_posted_again_is_recognised_as_ours_not_doubled(world: World) -> None:
    async with target(world) as av:
        relation = await av.ensure_relation(BAKKERIJ, InvoiceKind.SALES, "FS42")
        first = await av.create_booking(entry("F-2", BAKKERIJ, "10.00"), relation)
        again = await av.create_booking(entry("F-2", BAKKERIJ, "10.00"), relation)

    assert again.already_existed and again.remote_id == first.remote_id
    assert len(world.av.pages()) == 1


async def test_a_relation_found_by_vat_number_comes_back_as_one_object(world: World) -> None:
    world.av.add_contact("AR1", "D1001", "Bakkerij De Vries", VAT_NR="NL004495445B01")
    async with target(world) as av:
        assert await av.ensure_relation(BAKKERIJ, InvoiceKind.SALES, "FS42") == "D1001"
    token = (await authorized_tokens(world)).token
    async with httpx.AsyncClient(base_url=url(world)) as http:
        one = await http.get(
            ACCOUNTVIEW_DATA,
            params={
                "BusinessObject": "AR1",
                "FilterControlSource1": "SUB_NR",
                "FilterOperator1": "Equal",
                "FilterValueType1": "C",
                "FilterValue1": "D1001",
                "FilterIsListOfValues1": "false",
            },
            headers={"Authorization": f"Bearer {token}", "X-Company": seed.ACCOUNTVIEW_COMPANY},
        )
    assert isinstance(one.json()["CONTACT"], dict)  # the single result as an object, not an array


# --- errors ---------------------------------------------------------------------------------------------


async def test_an_error_body_becomes_a_foutmelding_with_accountviews_words(world: World) -> None:
    async with target(world) as av:
        relation = await av.ensure_relation(BAKKERIJ, InvoiceKind.SALES, "FS42")
        with pytest.raises(RejectedError) as refused:
            await av.create_booking(entry("F-3", BAKKERIJ, "10.00", cost_center="999"), relation)
        with pytest.raises(RejectedError) as too_long:
            await av.create_booking(entry("F-2026-000123", BAKKERIJ, "10.00"), relation)

    assert refused.value.message == "AccountView weigert het verzoek: Kostenplaats 999 bestaat niet"
    assert refused.value.code == "AccountViewError" and refused.value.origin is Origin.MAPPING
    assert '"ErrorMessage":"Kostenplaats 999 bestaat niet"' in refused.value.exchange
    assert too_long.value.code == "INV_NR_LENGTH"
    assert world.av.pages() == []


async def test_the_simulator_refuses_what_accountview_refuses(world: World) -> None:
    token = (await authorized_tokens(world)).token
    headers = {"Authorization": f"Bearer {token}", "X-Company": seed.ACCOUNTVIEW_COMPANY}
    world.av.add_contact("AR1", "FS42", "Bakkerij De Vries")

    def page(fields: list[dict[str, str]], amount: Decimal, lines: int = 2) -> dict[str, object]:
        rows = [["1", "8000", "Omzet", amount, "1", D("-21.00"), "2026-01-14T00:00:00Z", "1"]]
        rows.append(["2", "1300", "Debiteur", D("121.00"), None, D(0), "2026-01-14T00:00:00Z", "1"])
        line_fields = [
            "RowId",
            "ACCT_NR",
            "TRN_DESC",
            "AMOUNT",
            "VAT_CODE",
            "VAT_AMT",
            "TRN_DATE",
            "HeaderId",
        ]
        types = ["C", "C", "C", "N", "C", "N", "T", "C"]
        return {
            "BookDate": "2026-01-14T00:00:00Z",
            "BusinessObject": "DJ2",
            "Table": {
                "Definition": {"Name": "DJ_PAGE", "Fields": fields},
                "DetailDefinitions": [
                    {
                        "Name": "DJ_LINE",
                        "Fields": [
                            {"Name": n, "FieldType": t} for n, t in zip(line_fields, types, strict=True)
                        ],
                    }
                ],
            },
            "TableData": {
                "Data": {"Rows": [{"Values": ["1", "VK", "P1", "Factuur", "FS42", "F-9"]}]},
                "DetailData": [{"Rows": [{"Values": r} for r in rows[:lines]]}],
            },
        }

    good = [
        {"Name": n, "FieldType": "C"} for n in ("RowId", "DJ_CODE", "PAGE_NR", "HDR_DESC", "SUB_NR", "INV_NR")
    ]
    lowercase = [{"name": f["Name"], "FieldType": "C"} for f in good]

    async with httpx.AsyncClient(base_url=url(world), headers=headers) as http:

        async def post(body: dict[str, object]) -> str:
            response = await http.post(ACCOUNTVIEW_DATA, content=encode_json(body))
            return str(response.json().get("ErrorMessage", "")) if response.status_code != 200 else ""

        assert "Name en FieldType" in await post(page(lowercase, D("-100.00")))
        assert "niet in evenwicht" in await post(page(good, D("-90.00")))
        assert "verzamelrekening" in await post(page(good, D("-100.00"), lines=1))
        assert await post(page(good, D("-100.00"))) == ""
        assert "bestaat al" in await post(page(good, D("-100.00")))
        wrong_count = page(good, D("-100.00"))
        wrong_count["TableData"]["Data"]["Rows"][0]["Values"].append("extra")  # type: ignore[index]
        assert "aantal Values" in await post(wrong_count)
        read_object = {**page(good, D("-100.00")), "BusinessObject": "DJ2P"}
        assert "staat geen invoer toe" in await post(read_object)
    assert len(world.av.pages()) == 1


# --- koppelaar connect ----------------------------------------------------------------------------------


async def test_connect_in_accountviews_words_then_a_run_books(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        tests.test_connect_oauth, "AUTH_URL", re.compile(r"https?://\S+/api/v3/authorize\?\S+")
    )
    with sandbox_world(tmp_path, target="accountview", invoices=6) as world:
        settings = load_settings(world.home.config)
        secrets = open_secret_store(settings.app, world.home.root)
        forget_tokens("boekhouding", world.home.database, secrets)
        secrets.delete("boekhouding:client_secret")
        config = ConfigFile.open(world.home.config)
        config.set(("connections", "boekhouding", "company"), "")
        config.save()
        admin = Terminal(
            capsys,
            {"Client secret": seed.ACCOUNTVIEW_CLIENT_SECRET, "Bedrijf": seed.ACCOUNTVIEW_COMPANY_2},
        )

        code = await connect(world.home, "boekhouding", admin.ask, admin.secret)

        out = admin.output()
        assert code == 0, out
        assert "Ontwikkelaar" in out and "Autoriseer applicatie" in out
        assert "Bakkerij De Vries B.V." in out and "De Vries Holding B.V." in out
        verkoopboeken = out.split("Verkoopboek:\n", 1)[1].split("Inkoopboek:", 1)[0]
        assert "VK" in verkoopboeken and "IK" not in verkoopboeken  # only sales journals offered
        boekhouding = config_of(world)["connections"]["boekhouding"]
        assert boekhouding["company"] == seed.ACCOUNTVIEW_COMPANY_2
        assert (boekhouding["verkoopboek"], boekhouding["inkoopboek"]) == ("VK", "IK")
        assert seed.ACCOUNTVIEW_CLIENT_SECRET not in world.home.config.read_text()

        report = await world.run()
        assert report.progress.booked > 0, report.message
        assert len(world.av.pages("HOLDING")) == report.progress.booked and world.av.pages("BAKKERIJ") == []
