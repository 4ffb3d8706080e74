"""Exact Online as a booking target: REST/OData v2 per division, sales and purchase entries.

Our reference on a booking is `YourRef` = the invoice number (the sheet's own example), narrowed by
journal and, when known, by the customer/supplier GUID (purchase numbers repeat across suppliers).
Every line carries `VATAmountFC`, our VAT cents: Exact would otherwise recalculate VAT from the code
per line and drift a cent from the invoice, and `CostCenter` (the kostenplaats code) when mapped. A
koppeling's own dagboek (`JournalEntry.journal`) wins over the connection's default everywhere. Relations carry our relation code in `SearchCode`
(`Code` is numeric in Exact and assigned by it), and are found by code, VAT number or name first
(connectors.relations).
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx

from connectors import vatnumber
from connectors.contract import BookingTargetBase, CheckResult, CreateResult, Health, RateLimit, RemoteBooking
from connectors.errors import (
    AuthError,
    ConnectorError,
    Origin,
    RejectedError,
    UncertainError,
)
from connectors.exact.governor import Governor
from connectors.exact.oauth import HOSTS, Country
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
from connectors.money import parse_amount, quantize
from connectors.oauth import TokenProvider
from connectors.relations import By, Relation, Relations

DEFAULT_RATE_LIMIT = RateLimit(per_second=1.0, max_concurrency=2)  # 60 calls a minute per division
ENTITY = {InvoiceKind.SALES: "salesentry/SalesEntries", InvoiceKind.PURCHASE: "purchaseentry/PurchaseEntries"}
PARTY = {InvoiceKind.SALES: "Customer", InvoiceKind.PURCHASE: "Supplier"}
LINES = {InvoiceKind.SALES: "SalesEntryLines", InvoiceKind.PURCHASE: "PurchaseEntryLines"}
JOURNAL_TYPE = {InvoiceKind.SALES: 20, InvoiceKind.PURCHASE: 22}
# documents/DocumentTypes: 10 sales invoice, 20 purchase invoice (20 as the public clients send it;
# docs/protocol-decisions.md, attachments).
DOCUMENT_TYPE = {InvoiceKind.SALES: 10, InvoiceKind.PURCHASE: 20}
SUBJECT_LIMIT = 200
SEARCH_CODE_LIMIT = 10
NAME_LIMIT = 50
YOUR_REF_LIMIT = 30
DESCRIPTION_LIMIT = 60
# Exact's standard Dutch VAT codes (exclusive): offered as mapping defaults, checked against the
# division's own VATCodes before anything is booked.
STANDARD_VAT = {Decimal(21): "2", Decimal(9): "4", Decimal(0): "0"}
MAPPING_WORDS = (
    "grootboek",
    "btw",
    "dagboek",
    "journal",
    "glaccount",
    "vatcode",
    "kostenplaats",
    "cost center",
)
VALIDATION_PREFIXES = ("verplicht", "ongeldig", "mandatory", "invalid")


def parse_odata_date(value: object) -> datetime | None:
    """`/Date(1351209600000)/` (epoch ms, UTC) → datetime; None for anything else."""
    if not isinstance(value, str) or not value.startswith("/Date(") or not value.endswith(")/"):
        return None
    inner = value[6:-2]
    for sign in ("+", "-"):
        head, sep, _ = inner[1:].partition(sign)  # an offset suffix (+0100) is ignored
        if sep:
            inner = inner[0] + head
            break
    try:
        return datetime.fromtimestamp(int(inner) / 1000, UTC)
    except (ValueError, OverflowError):
        return None


def odata_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def results(body: object) -> list[Mapping[str, Any]]:
    """Rows of any of the three envelopes: `{"d":{"results":[…]}}`, `{"d":[…]}`, `{"d":{…}}`."""
    d = body.get("d") if isinstance(body, Mapping) else None
    if isinstance(d, Mapping) and isinstance(d.get("results"), list):
        rows: object = d["results"]
    elif isinstance(d, list):
        rows = d
    elif isinstance(d, Mapping):
        rows = [d]
    else:
        rows = []
    return [r for r in rows if isinstance(r, Mapping)] if isinstance(rows, list) else []


def _next(body: object) -> str | None:
    d = body.get("d") if isinstance(body, Mapping) else None
    link = d.get("__next") if isinstance(d, Mapping) else None
    return link if isinstance(link, str) and link else None


def _skiptoken(link: str) -> str | None:
    """The `$skiptoken` of a `__next` link (written unencoded by Exact: `$skiptoken=guid'…'`)."""
    for part in urlsplit(link).query.split("&"):
        name, _, value = part.partition("=")
        if unquote(name) == "$skiptoken" and value:
            return unquote(value)
    return None


def _trim(value: object) -> str:
    return value.strip() if isinstance(value, str) else "" if value is None else str(value)


class ExactOnline(BookingTargetBase):
    """Books journal entries as Exact Online sales/purchase entries in one division."""

    system = "exact"

    def __init__(
        self,
        tokens: TokenProvider,
        *,
        division: int | None = None,
        country: Country = "NL",
        base_url: str | None = None,
        sales_journal: str = "70",
        purchase_journal: str = "60",
        rate_limit: RateLimit = DEFAULT_RATE_LIMIT,
        error_budget: int = 8,
        timeout: httpx.Timeout | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep | None = None,
        clock: Callable[[], float] = time.time,
        max_pause: float = 120.0,
    ) -> None:
        self.country: Country = country
        self.division = division
        self.rate_limit = rate_limit
        self.default_journals = {InvoiceKind.SALES: sales_journal, InvoiceKind.PURCHASE: purchase_journal}
        self._tokens = tokens
        self._clock = clock
        self.host = (base_url or HOSTS[country]).rstrip("/")
        extra: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
        # The governor must be able to wait for the minute's reset: without a sleep it refuses every
        # call until the reset (a TransientError per row), so each run past 60 calls left rows behind.
        self.governor = Governor(
            clock=clock, sleep=sleep or asyncio.sleep, error_budget=error_budget, max_pause=max_pause
        )
        self.client = VendorClient(
            self.host,
            vendor="Exact Online",
            headers={"Accept": "application/json"},
            timeout=timeout,
            transport=transport,
            rate_limit=rate_limit,
            clock=clock,
            max_pause=max_pause,
            observe=self.governor.observe,
            retry_wait=self.governor.retry_wait,
            **extra,
        )
        self._current_division: int | None = None
        self._ledgers: list[LedgerAccount] | None = None
        self._vat: list[Mapping[str, Any]] | None = None
        self._journal_rows: list[Mapping[str, Any]] | None = None
        self.relations = Relations(
            self._search_relations, self._create_relation, exchange=lambda: self._last, name_limit=NAME_LIMIT
        )

    def __repr__(self) -> str:
        return f"ExactOnline({self.host!r}, division={self.division!r})"

    async def aclose(self) -> None:
        await self.client.aclose()

    # --- the call --------------------------------------------------------------------------------

    async def _div(self) -> int:
        if self.division is None:
            self.division = await self._current()
        return self.division

    async def _current(self) -> int:
        """The division the authorizing user works in (`current/Me`: the one call without a division)."""
        if self._current_division is None:
            me = results(await self._call("GET", "/api/v1/current/Me", params={"$select": "CurrentDivision"}))
            value = me[0].get("CurrentDivision") if me else None
            if not isinstance(value, int):
                raise ConnectorError("Exact Online noemt geen huidige administratie", exchange=self._last)
            self._current_division = value
        return self._current_division

    @property
    def _last(self) -> str:
        return self.client.last_exchange

    async def _call(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json: object = None,
        idempotent: bool | None = None,
    ) -> Any:
        """One call with a bearer token; a 401 gets one forced refresh (a 401 was not processed, so even
        a create may go again). Returns the decoded JSON."""
        endpoint = urlsplit(url).path.split("(")[0]
        for attempt in (1, 2):
            token = (await self._tokens.access_token(force=attempt == 2)).get_secret_value()
            self.client.add_secret(token)
            await self.governor.before(endpoint)
            response = await self.client.request(
                method,
                url,
                params=params,
                json=json,
                headers={"Authorization": f"Bearer {token}", "Prefer": "return=representation"},
                idempotent=idempotent,
                check=require_json,
                definitive=_validation_500,
            )
            self.governor.count(endpoint, response)
            if response.status_code == 401 and attempt == 1:
                continue
            if response.status_code >= 400:
                raise self._error(response)
            return decode_json(response) if response.content.strip() else None
        raise AssertionError("unreachable")

    async def _get_all(self, path: str, params: Mapping[str, str | int]) -> list[Mapping[str, Any]]:
        """Every page. The next page is our own query plus the `$skiptoken` of `d.__next`, as Exact's
        .NET client pages (`Get(ref skipToken)`): that holds whether or not `__next` keeps `$filter` and
        `$select`, and the bearer token never goes to an address Exact wrote. `$skip` is unreliable."""
        body = await self._call("GET", path, params=params)
        rows = results(body)
        seen: set[str] = set()
        while (link := _next(body)) is not None:
            token = _skiptoken(link)
            if token is None:
                raise ConnectorError(
                    f"Exact Online gaf een volgende pagina zonder $skiptoken: {link}", exchange=self._last
                )
            if token in seen:
                raise ConnectorError(
                    "Exact Online geeft steeds dezelfde volgende pagina", exchange=self._last
                )
            seen.add(token)
            body = await self._call("GET", path, params={**params, "$skiptoken": token})
            rows += results(body)
        return rows

    def _error(self, response: httpx.Response) -> ConnectorError:
        status = response.status_code
        text = _vendor_message(response)
        reason = response.headers.get("reason", "")
        detail = f"{text} ({reason})" if reason and text else text or reason or f"HTTP {status}"
        exchange = self._last
        if status == 401:
            return AuthError(
                f"Exact Online weigert het toegangstoken, ook na vernieuwen: {detail}",
                advice="Autoriseer de koppeling opnieuw; blijft dit zo, controleer dan of de app in Exact nog "
                "toegang heeft.",
                code="401",
                exchange=exchange,
            )
        if status == 403:
            return AuthError(
                f"Exact Online geeft geen toegang: {detail}",
                advice=f"Controleer dat het Exact-account waarmee is geautoriseerd toegang heeft tot "
                f"administratie {self.division}, en dat de app de benodigde rechten heeft.",
                code="403",
                exchange=exchange,
            )
        lowered = detail.casefold()
        origin = Origin.MAPPING if any(w in lowered for w in MAPPING_WORDS) else Origin.TARGET
        return RejectedError(
            f"Exact Online weigert het verzoek: {detail}",
            advice="Controleer de mapping (grootboekrekening, btw-code, kostenplaats, dagboek)."
            if origin is Origin.MAPPING
            else "Bekijk de melding van Exact Online en pas de gegevens aan.",
            code=str(status),
            exchange=exchange,
            origin=origin,
        )

    # --- health and directories --------------------------------------------------------------------

    async def check(self) -> CheckResult:
        """The token works (refreshing it if due) and the division is one this account may use."""
        try:
            self._current_division = None
            current = await self._current()
            if self.division is None:
                self.division = current
            elif self.division != current:
                codes = {a.id for a in await self.administraties()}
                if str(self.division) not in codes:
                    return CheckResult(
                        Health.MISCONFIGURED,
                        f"Administratie {self.division} is niet bereikbaar met dit Exact-account",
                        f"Kies een van de administraties {', '.join(sorted(codes))}, of autoriseer met een "
                        "account dat toegang heeft.",
                    )
        except ConnectorError as exc:
            return CheckResult.failed(exc)
        return CheckResult(Health.OK, f"Verbonden met Exact Online (administratie {self.division})")

    async def administraties(self) -> list[Administratie]:
        current = await self._current()
        rows = await self._get_all(
            f"/api/v1/{current}/system/Divisions", {"$select": "Code,Description,Country,Current"}
        )
        return [Administratie(id=str(r.get("Code")), name=_trim(r.get("Description"))) for r in rows]

    async def ledger_accounts(self) -> list[LedgerAccount]:
        if self._ledgers is None:
            div = await self._div()
            rows = await self._get_all(
                f"/api/v1/{div}/financial/GLAccounts",
                {"$select": "ID,Code,Description,BalanceType,Type,IsBlocked"},
            )
            self._ledgers = [
                LedgerAccount(
                    code=_trim(r.get("Code")),
                    name=_trim(r.get("Description")),
                    category=_trim(r.get("BalanceType")),  # W: winst-en-verlies, B: balans
                    tegenrekening=_trim(r.get("BalanceType")) == "W",
                    id=_trim(r.get("ID")),
                )
                for r in rows
                if not r.get("IsBlocked")
            ]
        return list(self._ledgers)

    async def _vat_rows(self) -> list[Mapping[str, Any]]:
        if self._vat is None:
            div = await self._div()
            self._vat = await self._get_all(
                f"/api/v1/{div}/vat/VATCodes",
                {"$select": "Code,Description,Percentage,Type,VATTransactionType,IsBlocked"},
            )
        return self._vat

    async def vat_codes(self) -> list[VatCode]:
        codes = []
        for r in await self._vat_rows():
            rate = _rate(r.get("Percentage"))
            transaction = _trim(r.get("VATTransactionType"))
            kind = {"S": InvoiceKind.SALES, "P": InvoiceKind.PURCHASE}.get(transaction)
            codes.append(
                VatCode(
                    code=_trim(r.get("Code")), description=_trim(r.get("Description")), rate=rate, kind=kind
                )
            )
        return codes

    async def _journals_read(self) -> list[Mapping[str, Any]]:
        if self._journal_rows is None:
            div = await self._div()
            self._journal_rows = await self._get_all(
                f"/api/v1/{div}/financial/Journals", {"$select": "Code,Description,Type,IsBlocked"}
            )
        return self._journal_rows

    async def journal_list(self) -> list[tuple[str, str, int]]:
        """(code, description, type) of the division's journals, for the connection wizard."""
        return [
            (_trim(r.get("Code")), _trim(r.get("Description")), int(r.get("Type") or 0))
            for r in await self._journals_read()
        ]

    async def journals(self) -> list[Journal]:
        """Unblocked sales (type 20) and purchase (type 22) journals: the ones a booking may name."""
        kind_of = {journal_type: kind for kind, journal_type in JOURNAL_TYPE.items()}
        found = []
        for r in await self._journals_read():
            kind = kind_of.get(int(r.get("Type") or 0))
            if kind is not None and not r.get("IsBlocked"):
                found.append(Journal(code=_trim(r.get("Code")), name=_trim(r.get("Description")), kind=kind))
        return found

    async def cost_centers(self) -> list[CostCenter]:
        """The division's kostenplaatsen still in use: no `EndDate` on or before today. `Active` is gone
        from Exact's reference (2023-09): naming it in `$select` would fail the whole call."""
        div = await self._div()
        rows = await self._get_all(f"/api/v1/{div}/hrm/Costcenters", {"$select": "Code,Description,EndDate"})
        today = datetime.fromtimestamp(self._clock(), UTC).date()
        return [
            CostCenter(code=_trim(r.get("Code")), name=_trim(r.get("Description")))
            for r in rows
            if not _ended(r.get("EndDate"), today)
        ]

    def default_vat_code(self, kind: InvoiceKind, rate: Decimal, reverse_charge: bool) -> str | None:
        if reverse_charge:
            return None  # administration-specific in Exact: must be mapped
        if self._vat is not None:
            candidates = [
                _trim(r.get("Code"))
                for r in self._vat
                if _rate(r.get("Percentage")) == rate
                and _trim(r.get("Type")) in ("E", "N")
                and _trim(r.get("VATTransactionType")) in ("B", "S" if kind is InvoiceKind.SALES else "P")
                and not r.get("IsBlocked")
                and "verlegd" not in _trim(r.get("Description")).casefold()
            ]
            standard = STANDARD_VAT.get(rate.normalize())
            if standard in candidates:
                return standard
            return candidates[0] if len(candidates) == 1 else None
        return STANDARD_VAT.get(rate.normalize())

    # --- relations ---------------------------------------------------------------------------------

    async def ensure_relation(self, party: Party, kind: InvoiceKind, code: str) -> str:
        return await self.relations.ensure(party, kind, code)

    async def _search_relations(self, by: By, value: str, kind: InvoiceKind) -> list[Relation]:
        """One filtered read per field; our code is Exact's own `Code` when numeric, else `SearchCode`."""
        if by is By.VAT_NUMBER:
            return await self._accounts_where("VATNumber", value)
        if by is By.NAME:
            return await self._accounts_where("Name", value)
        numeric = value.isdigit() and len(value) <= 18
        if numeric and (found := await self._accounts_where("Code", value.rjust(18))):
            return found
        if len(value) <= SEARCH_CODE_LIMIT:
            return await self._accounts_where("SearchCode", value, trim=True)
        return []

    async def _accounts_where(self, field: str, value: str, *, trim: bool = False) -> list[Relation]:
        div = await self._div()
        subject = f"trim({field})" if trim else field
        rows = results(
            await self._call(
                "GET",
                f"/api/v1/{div}/crm/Accounts",
                params={
                    "$filter": f"{subject} eq {odata_string(value)}",
                    "$select": "ID,Code,SearchCode,Name,VATNumber",
                    "$top": 5,
                },
            )
        )
        code = "Code" if field == "Code" else "SearchCode"
        return [
            Relation(
                id=_trim(r.get("ID")),
                code=_trim(r.get(code)),
                name=_trim(r.get("Name")),
                vat_number=_trim(r.get("VATNumber")),
            )
            for r in rows
            if r.get("ID")
        ]

    async def _create_relation(self, party: Party, kind: InvoiceKind, code: str) -> str | None:
        div = await self._div()
        payload: dict[str, object] = {"Name": party.name[:NAME_LIMIT]}
        optional = {
            "SearchCode": code if len(code) <= SEARCH_CODE_LIMIT else "",
            "VATNumber": vatnumber.normalise(party.vat_number, party.country),
            "ChamberOfCommerce": party.coc_number,
            "AddressLine1": party.address,
            "Postcode": party.postal_code,
            "City": party.city,
            "Country": party.country,
            "Email": party.email,
        }
        payload.update({k: v for k, v in optional.items() if v})
        if kind is InvoiceKind.SALES:
            payload.update(IsSales=True, Status="C")
        else:
            payload.update(IsSupplier=True, Status="S")
        try:
            body = await self._call("POST", f"/api/v1/{div}/crm/Accounts", json=payload)
        except UncertainError:
            return None
        rows = results(body) if body is not None else []
        return _trim(rows[0]["ID"]) if rows and rows[0].get("ID") else None

    # --- bookings ----------------------------------------------------------------------------------

    async def find_booking(self, entry: JournalEntry, relation_id: str | None = None) -> RemoteBooking | None:
        div = await self._div()
        party = PARTY[entry.kind]
        ref = entry.invoice_number[:YOUR_REF_LIMIT]
        filters = f"YourRef eq {odata_string(ref)} and Journal eq {odata_string(self._journal_code(entry))}"
        rows = await self._get_all(
            f"/api/v1/{div}/{ENTITY[entry.kind]}",
            {"$filter": filters, "$select": f"EntryID,EntryNumber,YourRef,{party},AmountDC,Type"},
        )
        matches = [r for r in rows if _trim(r.get("YourRef")) == ref]
        matches = await self.relations.narrow(matches, lambda m: _trim(m.get(party)), entry, relation_id)
        if not matches:
            return None
        if len(matches) > 1:
            raise UncertainError(
                f"Factuur {entry.invoice_number} staat {len(matches)} keer in Exact Online",
                advice="Controleer in Exact Online welke boeking bij deze factuur hoort.",
                code="AMBIGUOUS",
                exchange=self._last,
            )
        found = matches[0]
        gross = found.get("AmountDC")
        return RemoteBooking(
            remote_id=_trim(found.get("EntryID")),
            invoice_number=entry.invoice_number,
            gross=quantize(parse_amount(gross, field="AmountDC"))
            if isinstance(gross, int | Decimal)
            else None,
        )

    async def create_booking(self, entry: JournalEntry, relation_id: str) -> CreateResult:
        div = await self._div()
        journal = await self._journal(entry)
        lines = [await self._line(line, entry) for line in entry.lines]
        if len(entry.invoice_number) > YOUR_REF_LIMIT:
            raise RejectedError(
                f"Factuurnummer {entry.invoice_number} is langer dan {YOUR_REF_LIMIT} tekens (Exact: Uw referentie)",
                advice="Boek deze factuur handmatig in Exact Online.",
                code="YOURREF_LENGTH",
            )
        payload: dict[str, object] = {
            "Journal": journal,
            PARTY[entry.kind]: relation_id,
            "EntryDate": f"{entry.date.isoformat()}T00:00:00",
            "Description": _description(entry),
            "YourRef": entry.invoice_number,
            LINES[entry.kind]: lines,
        }
        if entry.due_date is not None:
            payload["DueDate"] = f"{entry.due_date.isoformat()}T00:00:00"
        if entry.payment_reference:
            payload["PaymentReference"] = entry.payment_reference
        try:
            body = await self._call("POST", f"/api/v1/{div}/{ENTITY[entry.kind]}", json=payload)
        except UncertainError:
            # The booking may exist: look it up by our reference right away, never post it again blindly.
            try:
                existing = await self.find_booking(entry, relation_id)
            except ConnectorError:
                existing = None
            if existing is None:
                raise
            return CreateResult(remote_id=existing.remote_id, already_existed=True)
        rows = results(body)
        if not rows or not rows[0].get("EntryID"):
            raise UncertainError(
                "Exact Online bevestigde de boeking zonder EntryID",
                advice="De koppeling zoekt de boeking eerst op voordat ze opnieuw iets verstuurt.",
                exchange=self._last,
            )
        return CreateResult(remote_id=_trim(rows[0]["EntryID"]))

    # --- the invoice's PDF: an Exact document linked to the entry -----------------------------------

    carries_attachments = True

    async def attach(self, remote_id: str, entry: JournalEntry, relation_id: str) -> None:
        """Document, its attachments, then the entry's `Document` (Exact's three steps, reversed so the
        booking never waits on a file). Each step looks up what is there first: after a crash halfway it
        finishes the job, never makes a second document or file."""
        if not entry.attachments:
            return
        div = await self._div()
        entity = f"/api/v1/{div}/{ENTITY[entry.kind]}(guid'{remote_id}')"
        booked = results(await self._call("GET", entity))
        if not booked:
            raise ConnectorError(f"Boeking {remote_id} niet gevonden in Exact Online", exchange=self._last)
        document = _trim(booked[0].get("Document"))
        linked = bool(document)
        subject = _subject(entry)
        if not document:
            same = await self._get_all(
                f"/api/v1/{div}/documents/Documents",
                {"$filter": f"Subject eq {odata_string(subject)}", "$select": "ID"},
            )
            document = _trim(same[0]["ID"]) if same else ""
        if not document:
            made: dict[str, object] = {"Subject": subject, "Type": DOCUMENT_TYPE[entry.kind]}
            if relation_id:
                made["Account"] = relation_id
            created = results(await self._call("POST", f"/api/v1/{div}/documents/Documents", json=made))
            if not created or not created[0].get("ID"):
                raise UncertainError("Exact Online bevestigde het document zonder ID", exchange=self._last)
            document = _trim(created[0]["ID"])
        there = await self._get_all(
            f"/api/v1/{div}/documents/DocumentAttachments",
            {"$filter": f"Document eq guid'{document}'", "$select": "ID,FileName"},
        )
        names = {_trim(row.get("FileName")) for row in there}
        for file in entry.attachments:
            if file.filename in names or file.content is None:
                continue
            await self._call(
                "POST",
                f"/api/v1/{div}/documents/DocumentAttachments",
                json={
                    "Document": document,
                    "FileName": file.filename,
                    "Attachment": base64.b64encode(file.content).decode("ascii"),
                },
            )
        if not linked:
            await self._call("PUT", entity, json={"Document": document}, idempotent=True)

    def _journal_code(self, entry: JournalEntry) -> str:
        """The koppeling's own dagboek for this entry, else the connection's default for its kind."""
        return entry.journal or self.default_journals[entry.kind]

    async def _journal(self, entry: JournalEntry) -> str:
        kind, code = entry.kind, self._journal_code(entry)
        for journal_code, _description, journal_type in await self.journal_list():
            if journal_code == code:
                if journal_type != JOURNAL_TYPE[kind]:
                    break
                return code
        what = "verkoopboek" if kind is InvoiceKind.SALES else "inkoopboek"
        where = "de mapping van de koppeling" if entry.journal else "de verbinding"
        raise RejectedError(
            f"Dagboek {code} bestaat niet in Exact Online administratie {self.division} of is geen {what}",
            advice=f"Kies in {where} het juiste {what} (Exact: Financieel → Stamgegevens → Dagboeken).",
            code="JOURNAL",
            origin=Origin.MAPPING,
        )

    async def _line(self, line: BookingLine, entry: JournalEntry) -> dict[str, object]:
        ledger = next((lg for lg in await self.ledger_accounts() if lg.code == line.account_code), None)
        if ledger is None or ledger.category != "W":
            problem = (
                "bestaat niet" if ledger is None else "is een balansrekening (Exact wil winst-en-verlies)"
            )
            raise RejectedError(
                f"Boeking {entry.invoice_number}: grootboekrekening {line.account_code} {problem}",
                advice="Controleer de tegenrekening in de mapping.",
                code="GLACCOUNT",
                origin=Origin.MAPPING,
            )
        vat = next((r for r in await self._vat_rows() if _trim(r.get("Code")) == line.vat_code), None)
        rate = _rate(vat.get("Percentage")) if vat is not None else None
        problem = ""
        if vat is None or vat.get("IsBlocked"):
            problem = "bestaat niet (of is geblokkeerd)"
        elif _trim(vat.get("Type")) == "I":
            problem = "is inclusief btw; Koppelaar boekt bedragen exclusief btw"
        elif rate is not None and rate != line.vat_rate and line.vat_amount != 0:
            problem = f"is {rate.normalize()}% maar de regel heeft {line.vat_rate.normalize()}% btw"
        if problem:
            raise RejectedError(
                f"Boeking {entry.invoice_number}: btw-code {line.vat_code} {problem}",
                advice="Controleer de btw-code voor dit tarief in de mapping.",
                code="VATCODE",
                origin=Origin.MAPPING,
            )
        booked: dict[str, object] = {
            "GLAccount": ledger.id,
            "AmountFC": line.net_amount,
            "VATCode": line.vat_code,
            "VATAmountFC": line.vat_amount,  # our cents: Exact would recalculate per line otherwise
            "Description": (line.description or entry.description)[:DESCRIPTION_LIMIT],
        }
        if line.cost_center:
            # Not checked here: Exact refuses an unknown code itself (a 500 "Ongeldige referentie").
            booked["CostCenter"] = line.cost_center
        return booked


def _rate(value: object) -> Decimal | None:
    """Exact's `Percentage` is a fraction (0.21) → 21."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        return None
    try:
        return (parse_amount(value, field="Percentage") * 100).normalize()
    except ValueError:
        return None


def _ended(end_date: object, today: date) -> bool:
    """A cost centre's `EndDate` is the day it has to be inactive by."""
    ended = parse_odata_date(end_date)
    return ended is not None and ended.date() <= today


def _subject(entry: JournalEntry) -> str:
    """The document's subject: the invoice and our reference, so a retry finds the same document."""
    soort = "Creditnota" if entry.credit_note else "Factuur"
    return f"{soort} {entry.invoice_number} ({entry.reference})"[:SUBJECT_LIMIT]


def _description(entry: JournalEntry) -> str:
    base = entry.description or f"Factuur {entry.invoice_number}"
    if entry.foreign is None:
        return base[:DESCRIPTION_LIMIT]
    f = entry.foreign
    suffix = f" ({f.currency} {f.gross:.2f} @ {f.rate.normalize()})"
    return base[: max(0, DESCRIPTION_LIMIT - len(suffix))] + suffix


def _vendor_message(response: httpx.Response) -> str:
    """`error.message.value`, several messages joined by CRLF → "; "; HTML or empty bodies guarded."""
    try:
        body = decode_json(response)
    except ValueError:
        return ""
    error = body.get("error") if isinstance(body, Mapping) else None
    message = error.get("message") if isinstance(error, Mapping) else None
    value = message.get("value") if isinstance(message, Mapping) else message
    if not isinstance(value, str):
        return ""
    return "; ".join(part.strip() for part in value.replace("\r\n", "\n").split("\n") if part.strip())


def _validation_500(response: httpx.Response) -> bool:
    """Exact reports some validation errors as 500 (the sheet: 'Mandatory: Diary'): a refusal, not a crash."""
    text = _vendor_message(response).casefold()
    return bool(text) and text.startswith(VALIDATION_PREFIXES)
