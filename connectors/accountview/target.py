"""AccountView (AccountView.Net API v3) as a booking target: one administratie per connection, chosen by
the `X-Company` header on every call.

Reads go through `GET /api/v3/accountviewdata?BusinessObject=…` (ledger GL1, VAT VA1, journals DJ1, cost
centres CC1, debtors AR1, creditors AP1, journal pages DJ2P) page by page; a table with one row may come
back as an object instead of an array. An entry is written as one journal page through the `DJ2`
business object: a `DJ_PAGE` header row and `DJ_LINE` detail rows, values by position in the order of
their field definitions, each detail row naming its header by `HeaderId`.

What the public material leaves open is decided once, here (README "AccountView"):
- amounts: debit positive, credit negative (`LINE_SIGN`); the debtor/creditor side is an explicit line
  on the connection's verzamelrekening, so a page balances to the cent by itself;
- the page number (`PAGE_NR`, mandatory in the field dictionary): ours, derived from the outbox reference
  (`page_number`), so a repeated post is refused by AccountView as a page that exists;
- our reference on a page is `INV_NR` = the invoice number (at most 12 characters) with `SUB_NR`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import httpx

from connectors import vatnumber
from connectors.accountview.oauth import HOST
from connectors.contract import BookingTargetBase, CheckResult, CreateResult, Health, RateLimit, RemoteBooking
from connectors.errors import AuthError, ConnectorError, Origin, RejectedError, UncertainError
from connectors.http import Sleep, VendorClient, decode_json, require_json
from connectors.model import (
    Administratie,
    BookingLine,
    CostCenter,
    InvoiceKind,
    Journal,
    JournalEntry,
    LedgerAccount,
    Party,
    VatCode,
)
from connectors.money import ZERO, parse_amount, quantize
from connectors.oauth import TokenProvider
from connectors.relations import By, Relation, Relations

DATA = "/api/v3/accountviewdata"
COMPANIES = "/api/v3/companies"
PAGE_SIZE = 100
DEFAULT_RATE_LIMIT = RateLimit(per_second=5.0, max_concurrency=1)

# The sign convention of AMOUNT is not documented: we book debit positive, credit negative (the fact
# sheet's example). Sales revenue and its VAT are credit, purchase costs and their VAT debit; the
# verzamelrekening line takes the opposite sign. This is the only place that decides it.
LINE_SIGN = {InvoiceKind.SALES: Decimal(-1), InvoiceKind.PURCHASE: Decimal(1)}
RELATIONS = {InvoiceKind.SALES: "AR1", InvoiceKind.PURCHASE: "AP1"}  # debtors, creditors: table CONTACT
# VAT_TYPE (numeric) is not documented: 1 = verkoop, 2 = inkoop, 0 = geen (an assumption).
VAT_TYPE_KIND = {1: InvoiceKind.SALES, 2: InvoiceKind.PURCHASE}
JOURNAL_WORD = {InvoiceKind.SALES: "verkoop", InvoiceKind.PURCHASE: "inkoop"}  # in DJ_TYPEV

# Field lengths from AccountView's field dictionary (dct_fld).
SUB_NR_LIMIT = 10
NAME_LIMIT = 40
INV_NR_LIMIT = 12
DESCRIPTION_LIMIT = 40
PAGE_NR_LIMIT = 10


def _fields(spec: str) -> tuple[tuple[str, str], ...]:
    """ "NAME:TYPE …" → the (Name, FieldType) pairs of a table definition, in order."""
    return tuple((name, kind) for name, _, kind in (word.partition(":") for word in spec.split()))


PAGE_FIELDS = _fields("RowId:C DJ_CODE:C PAGE_NR:C HDR_DESC:C SUB_NR:C INV_NR:C TRN_DATE:T")
# HeaderId last, as the public client appends it.
LINE_FIELDS = _fields(
    "RowId:C ACCT_NR:C TRN_DESC:C AMOUNT:N VAT_CODE:C VAT_AMT:N COST_CODE:C SUB_NR:C INV_NR:C TRN_DATE:T HeaderId:C"
)
CONTACT_FIELDS = _fields(
    "RowId:C SUB_NR:C ACCT_NAME:C SRC_CODE:C ACCT_NR:C VAT_NR:C COC_CODE:C ADDRESS1:C POST_CODE:C CITY:C "
    "CNT_CODE:C MAIL_BUS:C"
)

Row = Mapping[str, Any]


def rows_of(body: object, table: str) -> list[Row]:
    """The rows of `table` in a read answer: an array, or one row as an object."""
    value = body.get(table) if isinstance(body, Mapping) else None
    if isinstance(value, Mapping):
        return [value]
    if isinstance(value, list):
        return [r for r in value if isinstance(r, Mapping)]
    return []


def page_number(reference: str) -> str:
    """Our page number for an entry: stable for its outbox reference, within PAGE_NR's 10 characters."""
    digest = base64.b32encode(hashlib.sha256(reference.encode()).digest()).decode()
    return "K" + digest[: PAGE_NR_LIMIT - 1]


def sub_nr(code: str) -> str:
    """A relation's number in AccountView: our code, or a stable short form of a longer one."""
    if len(code) <= SUB_NR_LIMIT:
        return code
    digest = base64.b32encode(hashlib.sha256(code.encode()).digest()).decode()
    return code[:3] + digest[: SUB_NR_LIMIT - 3]


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else "" if value is None else str(value)


def _number(value: object) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        return None
    try:
        return parse_amount(value, field="AccountView")
    except ValueError:
        return None


def _filters(*terms: tuple[str, str]) -> dict[str, str | int]:
    """`FilterControlSourceN` … for each (field, value): character fields, equal, combined with and."""
    params: dict[str, str | int] = {}
    for n, (field, value) in enumerate(terms, start=1):
        params |= {
            f"FilterControlSource{n}": field,
            f"FilterOperator{n}": "Equal",
            f"FilterValueType{n}": "C",
            f"FilterValue{n}": value,
            f"FilterIsListOfValues{n}": "false",
        }
    return params


def _definition(name: str, fields: Sequence[tuple[str, str]]) -> dict[str, object]:
    return {"Name": name, "Fields": [{"Name": f, "FieldType": t} for f, t in fields]}


def _iso(day: object) -> str:
    return f"{day}T00:00:00Z"


class AccountView(BookingTargetBase):
    """Books journal entries as DJ2 journal pages in one AccountView administratie."""

    system = "accountview"

    def __init__(
        self,
        tokens: TokenProvider,
        *,
        company: str = "",
        base_url: str | None = None,
        sales_journal: str = "VK",
        purchase_journal: str = "IK",
        debtors_account: str = "1300",
        creditors_account: str = "1600",
        rate_limit: RateLimit = DEFAULT_RATE_LIMIT,
        timeout: httpx.Timeout | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.company = company
        self.rate_limit = rate_limit
        self.default_journals = {InvoiceKind.SALES: sales_journal, InvoiceKind.PURCHASE: purchase_journal}
        self.collective = {InvoiceKind.SALES: debtors_account, InvoiceKind.PURCHASE: creditors_account}
        self._tokens = tokens
        self._clock = clock
        self._sleep = sleep or asyncio.sleep
        self._pace = asyncio.Lock()
        self._next_start = 0.0
        self.host = (base_url or HOST).rstrip("/")
        extra: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
        self.client = VendorClient(
            self.host,
            vendor="AccountView",
            headers={"Accept": "application/json"},
            timeout=timeout,
            transport=transport,
            rate_limit=rate_limit,
            clock=clock,
            **extra,
        )
        self._companies: list[Row] | None = None
        self._ledgers: list[LedgerAccount] | None = None
        self._vat: list[Row] | None = None
        self._journal_rows: list[Row] | None = None
        self.relations = Relations(
            self._search_relations,
            self._create_relation,
            exchange=lambda: self._last,
            per_kind=True,
            name_limit=NAME_LIMIT,
        )

    def __repr__(self) -> str:
        return f"AccountView({self.host!r}, company={self.company!r})"

    async def aclose(self) -> None:
        await self.client.aclose()

    # --- the call --------------------------------------------------------------------------------

    @property
    def _last(self) -> str:
        return self.client.last_exchange

    async def _company(self) -> str:
        """The administratie: the configured one, else the only one this account has."""
        if not self.company:
            companies = await self._company_rows()
            if len(companies) != 1:
                raise RejectedError(
                    "Er is geen AccountView-administratie gekozen",
                    advice="Kies de administratie bij het koppelen (koppelaar connect).",
                    code="COMPANY",
                    origin=Origin.OURS,
                )
            self.company = _text(companies[0].get("Id"))
        return self.company

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json: object = None,
        company: bool = True,
    ) -> Any:
        """One call with a bearer token and the administratie in `X-Company`; a 401 gets one forced
        refresh (a 401 was not processed, so even a create may go again). Returns the decoded JSON."""
        headers = {"X-Company": await self._company()} if company else {}
        for attempt in (1, 2):
            token = (await self._tokens.access_token(force=attempt == 2)).get_secret_value()
            self.client.add_secret(token)
            await self._spaced()
            response = await self.client.request(
                method,
                path,
                params=params,
                json=json,
                headers={**headers, "Authorization": f"Bearer {token}"},
                check=require_json,
            )
            if response.status_code == 401 and attempt == 1:
                continue
            if response.status_code >= 400:
                raise self._error(response)
            return decode_json(response) if response.content.strip() else None
        raise AssertionError("unreachable")

    async def _spaced(self) -> None:
        """Start calls evenly, 1/per_second apart: the limit is assumed to count a sliding second, where
        a burst (as a token bucket allows) would be answered with 429s."""
        async with self._pace:
            now = self._clock()
            wait = self._next_start - now
            self._next_start = max(now, self._next_start) + 1.0 / self.rate_limit.per_second
        if wait > 0:
            await self._sleep(wait)

    async def _read(
        self, business_object: str, table: str, fields: str, *terms: tuple[str, str]
    ) -> list[Row]:
        """Every row of a business object's main table, page by page (a short page is the last)."""
        rows: list[Row] = []
        page = 1
        while True:
            params: dict[str, str | int] = {
                "BusinessObject": business_object,
                "PageNumber": page,
                "PageSize": PAGE_SIZE,
                "Fields": fields,
                **_filters(*terms),
            }
            found = rows_of(await self._call("GET", DATA, params=params), table)
            rows += found
            if len(found) < PAGE_SIZE:
                return rows
            page += 1

    def _error(self, response: httpx.Response) -> ConnectorError:
        """`{"ErrorType", "ErrorNumbers", "ErrorMessage"}` as a foutmelding; the status per kind of error
        is not documented, so the message decides where it is not plain 401/403/404."""
        status = response.status_code
        kind, message = _vendor_error(response)
        detail = message or kind or f"HTTP {status}"
        exchange = self._last
        if status == 401:
            return AuthError(
                f"AccountView weigert het toegangstoken, ook na vernieuwen: {detail}",
                advice="Autoriseer de koppeling opnieuw; blijft dit zo, controleer op accountview.net of de "
                "app nog toegang heeft.",
                code="401",
                exchange=exchange,
            )
        if status == 403:
            return AuthError(
                f"AccountView geeft geen toegang tot administratie {self.company}: {detail}",
                advice="Controleer dat de gebruiker waarmee is geautoriseerd deze administratie mag gebruiken, "
                "of kies een andere administratie.",
                code="403",
                exchange=exchange,
            )
        lowered = detail.casefold()
        mapping = any(w in lowered for w in ("rekening", "btw", "dagboek", "kostenplaats"))
        return RejectedError(
            f"AccountView weigert het verzoek: {detail}",
            advice="Controleer de mapping (grootboekrekening, btw-code, dagboek, kostenplaats)."
            if mapping
            else "Bekijk de melding van AccountView en pas de gegevens aan.",
            code=kind or str(status),
            exchange=exchange,
            origin=Origin.MAPPING if mapping else Origin.TARGET,
        )

    # --- health and directories --------------------------------------------------------------------

    async def _company_rows(self) -> list[Row]:
        if self._companies is None:
            body = await self._call("GET", COMPANIES, company=False)
            listed = [body] if isinstance(body, Mapping) else body if isinstance(body, list) else []
            self._companies = [c for c in listed if isinstance(c, Mapping) and c.get("Id")]
        return self._companies

    async def check(self) -> CheckResult:
        """The token works (refreshing it if due) and the administratie is one this user may use."""
        try:
            self._companies = None
            ids = {_text(c.get("Id")) for c in await self._company_rows()}
            if self.company and self.company not in ids:
                return CheckResult(
                    Health.MISCONFIGURED,
                    f"Administratie {self.company} is niet bereikbaar met deze AccountView-gebruiker",
                    "Kies een andere administratie (koppelaar connect), of autoriseer met een gebruiker die "
                    "er toegang toe heeft.",
                )
            await self._company()
            await self._journals_read()  # a call with X-Company: the administratie really answers
        except ConnectorError as exc:
            return CheckResult.failed(exc)
        return CheckResult(Health.OK, f"Verbonden met AccountView (administratie {self.company})")

    async def administraties(self) -> list[Administratie]:
        return [
            Administratie(id=_text(c.get("Id")), name=_text(c.get("Description")) or _text(c.get("Code")))
            for c in await self._company_rows()
        ]

    async def ledger_accounts(self) -> list[LedgerAccount]:
        if self._ledgers is None:
            rows = await self._read("GL1", "LEDGER", "ACCT_NR,ACCT_NAME,ACCT_TYPE,ACCT_LINK,REC_BLK")
            self._ledgers = [
                LedgerAccount(
                    code=_text(r.get("ACCT_NR")),
                    name=_text(r.get("ACCT_NAME")),
                    category=_text(r.get("ACCT_TYPE")),
                    # A verzamelrekening (debtors, creditors) carries the relation side, never a line.
                    tegenrekening=not _number(r.get("ACCT_LINK")),
                )
                for r in rows
                if not r.get("REC_BLK")
            ]
        return list(self._ledgers)

    async def _vat_rows(self) -> list[Row]:
        if self._vat is None:
            self._vat = await self._read("VA1", "VAT", "VAT_CODE,VAT_NAME,VAT_PCT,VAT_TYPE,IS_REVERSE")
        return self._vat

    async def vat_codes(self) -> list[VatCode]:
        return [
            VatCode(
                code=_text(r.get("VAT_CODE")),
                description=_text(r.get("VAT_NAME")),
                rate=_rate(r),
                kind=_vat_kind(r),
            )
            for r in await self._vat_rows()
        ]

    async def _journals_read(self) -> list[Row]:
        if self._journal_rows is None:
            self._journal_rows = await self._read("DJ1", "DAILY", "DJ_CODE,DJ_NAME,DJ_TYPEV,CLT_BLK")
        return self._journal_rows

    async def journals(self) -> list[Journal]:
        """Unblocked verkoop- and inkoopboeken: the ones a booking may name."""
        found = []
        for r in await self._journals_read():
            kind = _journal_kind(r)
            if kind is not None and not r.get("CLT_BLK"):
                found.append(Journal(code=_text(r.get("DJ_CODE")), name=_text(r.get("DJ_NAME")), kind=kind))
        return found

    async def cost_centers(self) -> list[CostCenter]:
        rows = await self._read("CC1", "COST", "COST_CODE,COST_DESC,REC_BLK")
        return [
            CostCenter(code=_text(r.get("COST_CODE")), name=_text(r.get("COST_DESC")))
            for r in rows
            if not r.get("REC_BLK")
        ]

    def default_vat_code(self, kind: InvoiceKind, rate: Decimal, reverse_charge: bool) -> str | None:
        """The one unreversed code of this rate and kind, when the VAT codes were read; else none."""
        if reverse_charge or self._vat is None:
            return None
        candidates = [
            _text(r.get("VAT_CODE"))
            for r in self._vat
            if _rate(r) == rate.normalize() and _vat_kind(r) in (kind, None) and not r.get("IS_REVERSE")
        ]
        return candidates[0] if len(candidates) == 1 else None

    # --- relations ---------------------------------------------------------------------------------

    async def ensure_relation(self, party: Party, kind: InvoiceKind, code: str) -> str:
        return await self.relations.ensure(party, kind, code)

    async def _search_relations(self, by: By, value: str, kind: InvoiceKind) -> list[Relation]:
        """One filtered read per field. Our code is the relation's number when we created it, or its
        zoekcode (SRC_CODE) when someone entered the relation by hand."""
        fields = "SUB_NR,SRC_CODE,ACCT_NAME,VAT_NR"
        if by is not By.CODE:
            field = "VAT_NR" if by is By.VAT_NUMBER else "ACCT_NAME"
            return [
                _relation(r, _text(r.get("SUB_NR")))
                for r in await self._read(RELATIONS[kind], "CONTACT", fields, (field, value))
            ]
        rows = await self._read(RELATIONS[kind], "CONTACT", fields, ("SUB_NR", sub_nr(value)))
        if not rows and len(value) <= SUB_NR_LIMIT:
            rows = await self._read(RELATIONS[kind], "CONTACT", fields, ("SRC_CODE", value))
        return [_relation(r, value) for r in rows]

    async def _create_relation(self, party: Party, kind: InvoiceKind, code: str) -> str | None:
        number = sub_nr(code)
        values = [
            "1",
            number,
            party.name[:NAME_LIMIT],
            number,  # zoekcode (mandatory): our number
            self.collective[kind],
            vatnumber.normalise(party.vat_number, party.country),
            party.coc_number,
            party.address,
            party.postal_code,
            party.city,
            party.country,
            party.email,
        ]
        body = {
            "BookDate": _iso(time.strftime("%Y-%m-%d")),
            "BusinessObject": RELATIONS[kind],
            "Table": {"Definition": _definition("CONTACT", CONTACT_FIELDS), "DetailDefinitions": []},
            "TableData": {"Data": {"Rows": [{"Values": values}]}, "DetailData": []},
        }
        try:
            await self._call("POST", DATA, json=body)
        except UncertainError:
            return None  # the policy looks it up
        return number

    # --- bookings ----------------------------------------------------------------------------------

    def _journal_code(self, entry: JournalEntry) -> str:
        """The koppeling's own dagboek for this entry, else the connection's default for its kind."""
        return entry.journal or self.default_journals[entry.kind]

    async def find_booking(self, entry: JournalEntry, relation_id: str | None = None) -> RemoteBooking | None:
        body = await self._call(
            "GET",
            DATA,
            params={
                "BusinessObject": "DJ2P",
                "PageNumber": 1,
                "PageSize": PAGE_SIZE,
                **_filters(("INV_NR", entry.invoice_number), ("DJ_CODE", self._journal_code(entry))),
            },
        )
        pages = [p for p in rows_of(body, "DJ_PAGE") if _text(p.get("INV_NR")) == entry.invoice_number]
        pages = await self.relations.narrow(pages, lambda p: _text(p.get("SUB_NR")), entry, relation_id)
        if not pages:
            return None
        if len(pages) > 1:
            raise UncertainError(
                f"Factuur {entry.invoice_number} staat {len(pages)} keer in AccountView",
                advice="Controleer in AccountView welke dagboekbladzijde bij deze factuur hoort.",
                code="AMBIGUOUS",
                exchange=self._last,
            )
        page = pages[0]
        collective = self.collective[entry.kind]
        lines = [
            ln
            for ln in rows_of(body, "DJ_LINE")
            if _text(ln.get("PAGE_NR")) == _text(page.get("PAGE_NR"))
            and _text(ln.get("DJ_CODE")) == _text(page.get("DJ_CODE"))
            and _text(ln.get("ACCT_NR")) == collective
        ]
        amounts = [_number(ln.get("AMOUNT")) for ln in lines]
        gross = (
            quantize(-LINE_SIGN[entry.kind] * sum((a for a in amounts if a is not None), ZERO))
            if lines and None not in amounts
            else None
        )
        return RemoteBooking(
            remote_id=f"{_text(page.get('DJ_CODE'))}/{_text(page.get('PAGE_NR'))}",
            invoice_number=entry.invoice_number,
            gross=gross,
        )

    async def create_booking(self, entry: JournalEntry, relation_id: str) -> CreateResult:
        if len(entry.invoice_number) > INV_NR_LIMIT:
            raise RejectedError(
                f"Factuurnummer {entry.invoice_number} is langer dan {INV_NR_LIMIT} tekens "
                "(AccountView: Document-/factuurnummer)",
                advice="Boek deze factuur handmatig in AccountView.",
                code="INV_NR_LENGTH",
            )
        journal = await self._journal(entry)
        for line in entry.lines:
            await self._check_line(line, entry)
        page = page_number(entry.reference)
        body = self._page(entry, relation_id, journal, page)
        try:
            await self._call("POST", DATA, json=body)
        except UncertainError:
            existing = await self._lookup_after(entry, relation_id)
            if existing is None:
                raise
            return CreateResult(remote_id=existing.remote_id, already_existed=True)
        except RejectedError as exc:
            # Our page number is taken: an earlier post of this very entry landed after all.
            if "bestaat al" not in exc.message:
                raise
            existing = await self._lookup_after(entry, relation_id)
            if existing is None:
                raise
            return CreateResult(remote_id=existing.remote_id, already_existed=True)
        return CreateResult(remote_id=f"{journal}/{page}")

    async def _lookup_after(self, entry: JournalEntry, relation_id: str) -> RemoteBooking | None:
        try:
            return await self.find_booking(entry, relation_id)
        except ConnectorError:
            return None

    def _page(self, entry: JournalEntry, relation_id: str, journal: str, page: str) -> dict[str, object]:
        """The DJ2 body: one header row, a detail row per line plus the verzamelrekening's row."""
        day = _iso(entry.date)
        sign = LINE_SIGN[entry.kind]
        details: list[list[object]] = []
        for n, line in enumerate(entry.lines, start=1):
            details.append(
                [
                    str(n),
                    line.account_code,
                    (line.description or entry.description)[:DESCRIPTION_LIMIT].rstrip(),
                    sign * line.net_amount,
                    line.vat_code or None,
                    sign * line.vat_amount,
                    line.cost_center or None,
                    relation_id,
                    entry.invoice_number,
                    day,
                    "1",
                ]
            )
        details.append(
            [
                str(len(details) + 1),
                self.collective[entry.kind],
                _description(entry),
                -sign * entry.total_gross,
                None,
                ZERO,
                None,
                relation_id,
                entry.invoice_number,
                day,
                "1",
            ]
        )
        header = ["1", journal, page, _description(entry), relation_id, entry.invoice_number, day]
        return {
            "BookDate": day,
            "BusinessObject": "DJ2",
            "Table": {
                "Definition": _definition("DJ_PAGE", PAGE_FIELDS),
                "DetailDefinitions": [_definition("DJ_LINE", LINE_FIELDS)],
            },
            "TableData": {
                "Data": {"Rows": [{"Values": header}]},
                "DetailData": [{"Rows": [{"Values": values} for values in details]}],
            },
        }

    async def _journal(self, entry: JournalEntry) -> str:
        code = self._journal_code(entry)
        if any(j.code == code and j.kind is entry.kind for j in await self.journals()):
            return code
        what = f"{JOURNAL_WORD[entry.kind]}boek"
        where = "de mapping van de koppeling" if entry.journal else "de verbinding"
        raise RejectedError(
            f"Dagboek {code} bestaat niet in AccountView-administratie {self.company} of is geen {what}",
            advice=f"Kies in {where} het juiste {what} (AccountView: Bestand → Administratie-instellingen → "
            "Dagboeken).",
            code="JOURNAL",
            origin=Origin.MAPPING,
        )

    async def _check_line(self, line: BookingLine, entry: JournalEntry) -> None:
        ledger = next((lg for lg in await self.ledger_accounts() if lg.code == line.account_code), None)
        if ledger is None or not ledger.tegenrekening:
            problem = "bestaat niet (of is geblokkeerd)" if ledger is None else "is een verzamelrekening"
            raise RejectedError(
                f"Boeking {entry.invoice_number}: grootboekrekening {line.account_code} {problem}",
                advice="Controleer de tegenrekening in de mapping.",
                code="ACCT_NR",
                origin=Origin.MAPPING,
            )
        if not line.vat_code:
            return
        vat = next((r for r in await self._vat_rows() if _text(r.get("VAT_CODE")) == line.vat_code), None)
        rate = _rate(vat) if vat is not None else None
        problem = ""
        if vat is None:
            problem = "bestaat niet"
        elif rate is not None and rate != line.vat_rate.normalize() and line.vat_amount != 0:
            problem = f"is {rate}% maar de regel heeft {line.vat_rate.normalize()}% btw"
        if problem:
            raise RejectedError(
                f"Boeking {entry.invoice_number}: btw-code {line.vat_code} {problem}",
                advice="Controleer de btw-code voor dit tarief in de mapping.",
                code="VAT_CODE",
                origin=Origin.MAPPING,
            )


def _relation(row: Row, code: str) -> Relation:
    return Relation(
        id=_text(row.get("SUB_NR")),
        code=code,
        name=_text(row.get("ACCT_NAME")),
        vat_number=_text(row.get("VAT_NR")),
    )


def _rate(row: Row) -> Decimal | None:
    value = _number(row.get("VAT_PCT"))
    return value.normalize() if value is not None else None


def _vat_kind(row: Row) -> InvoiceKind | None:
    value = _number(row.get("VAT_TYPE"))
    return VAT_TYPE_KIND.get(int(value)) if value is not None else None


def _journal_kind(row: Row) -> InvoiceKind | None:
    word = _text(row.get("DJ_TYPEV")).casefold()
    return next((kind for kind, w in JOURNAL_WORD.items() if w in word), None)


def _description(entry: JournalEntry) -> str:
    base = entry.description or f"Factuur {entry.invoice_number}"
    if entry.foreign is None:
        return base[:DESCRIPTION_LIMIT].rstrip()
    f = entry.foreign
    suffix = f" ({f.currency} {f.gross:.2f})"
    return base[: max(0, DESCRIPTION_LIMIT - len(suffix))] + suffix


def _vendor_error(response: httpx.Response) -> tuple[str, str]:
    """(ErrorType, ErrorMessage) of an error body; empty when it is not AccountView's JSON."""
    try:
        body = decode_json(response)
    except ValueError:
        return "", ""
    if not isinstance(body, Mapping):
        return "", ""
    return _text(body.get("ErrorType")), _text(body.get("ErrorMessage"))
