"""Twinfield as a booking target: ProcessXml over SOAP on the organisation's cluster.

Bookings are sales (``VRK``-like) and purchase (``INK``-like) transactions: one ``total`` line on the
debtors/creditors control account with the relation as ``dim2``, one ``detail`` line per booking line
(net amount + VAT code) and one explicit ``vat`` line per VAT code carrying our VAT cents, so the
transaction equals the invoice to the cent whatever Twinfield's own (half-to-even, per line) rounding
would give. Our reference: the invoice number (header ``invoicenumber``) on the entry's journal (the
koppeling's own dagboek, else the connection's for the invoice's kind), narrowed by relation (``dim2``)
and the reference text on the total line. A detail line's kostenplaats is its ``dim2`` (a ``KPL``
dimension); Twinfield itself refuses an unknown one, per transaction.
"""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Literal

import httpx

from connectors import vatnumber
from connectors.contract import BookingTargetBase, CheckResult, CreateResult, Health, RateLimit, RemoteBooking
from connectors.errors import (
    AuthError,
    ConnectorError,
    Origin,
    RejectedError,
    TransientError,
    UncertainError,
)
from connectors.http import Sleep, VendorClient
from connectors.model import (
    Administratie,
    CostCenter,
    InvoiceKind,
    Journal,
    JournalEntry,
    LedgerAccount,
    Party,
    VatCategory,
    VatCode,
)
from connectors.money import ZERO, parse_amount
from connectors.relations import By, Relation, Relations
from connectors.twinfield.auth import RECONSENT_ADVICE, AccessTokens, TokenInfo, TwinfieldOAuth
from connectors.twinfield.xml import (
    PROCESS_ACTION,
    SEARCH_ACTION,
    TOKEN_INVALID,
    Message,
    check_envelope,
    child,
    descendants,
    element,
    fault_of,
    inner_result,
    is_client_fault,
    messages,
    parse_response,
    parse_text,
    process_envelope,
    search_envelope,
    sub,
    text,
)

Destiny = Literal["temporary", "final"]
PROCESS_PATH = "/webservices/processxml.asmx"
FINDER_PATH = "/webservices/finder.asmx"
# Fair use: 1,000 credits a minute, a post costs 3: 5 requests a second stays under it even if all
# are posts; one request in flight per organisation.
DEFAULT_RATE_LIMIT = RateLimit(per_second=5.0, max_concurrency=1)
MAX_BATCH = 25  # children per parent per request (fair use)
MAX_LINES = 1000  # lines per transaction
DESCRIPTION_LIMIT = 40
NAME_LIMIT = 80
FINDER_PAGE = 100
DIMTYPE = {InvoiceKind.SALES: "DEB", InvoiceKind.PURCHASE: "CRD"}
KIND_WORD = {InvoiceKind.SALES: "verkoop", InvoiceKind.PURCHASE: "inkoop"}
# The TRS finder's `category` option: the transaction types (dagboeken) of one kind.
TRS_CATEGORY = {InvoiceKind.SALES: "sales", InvoiceKind.PURCHASE: "purchase"}

# Where a vendor message sits says what to fix, in any language (texts are never matched).
ADVICE_BY_FIELD = {
    "dim1": "Controleer de grootboekrekening (tegenrekening) in de mapping en de debiteuren-/"
    "crediteurenrekening in de verbinding.",
    "dim2": "Controleer de relatie (debiteur/crediteur) in Twinfield, of de kostenplaats in de mapping: "
    "bestaat ze in deze administratie?",
    "vatcode": "Controleer de btw-code in de mapping: bestaat ze in deze administratie en past ze bij "
    "verkoop/inkoop?",
    "code": "Controleer het dagboek (verkoop/inkoop) in de mapping van de koppeling of in de verbinding.",
    "date": "Controleer of de periode van de factuurdatum in Twinfield open is.",
    "period": "Controleer of de periode van de factuurdatum in Twinfield open is.",
    "office": "Controleer de gekozen administratie.",
}
DEFAULT_ADVICE = (
    "Lees de melding van Twinfield; pas de mapping of de factuur aan en probeer het daarna opnieuw "
    "(`koppelaar run --retry`)."
)
Outcome = CreateResult | ConnectorError


@dataclass(frozen=True)
class Daybook:
    code: str
    name: str


@dataclass(frozen=True)
class _Vat:
    code: str
    name: str
    kind: InvoiceKind | None
    rates: tuple[tuple[str, Decimal], ...]  # (YYYYMMDD from, percentage), ascending

    def rate_on(self, on: date) -> Decimal | None:
        day = on.strftime("%Y%m%d")
        valid = [pct for since, pct in self.rates if since <= day]
        return valid[-1] if valid else None


def _money(amount: Decimal) -> str:
    return f"{abs(amount):.2f}"


def _side(amount: Decimal, positive: str) -> str:
    other = "credit" if positive == "debit" else "debit"
    return positive if amount >= 0 else other


class Twinfield(BookingTargetBase):
    """Books journal entries as Twinfield sales/purchase transactions in one office (administratie)."""

    system = "twinfield"

    def __init__(
        self,
        oauth: TwinfieldOAuth,
        tokens: AccessTokens,
        *,
        office: str,
        sales_journal: str = "VRK",
        purchase_journal: str = "INK",
        debiteuren_rekening: str = "1300",
        crediteuren_rekening: str = "1600",
        destiny: Destiny = "temporary",
        autobalance_vat: bool = False,
        batch_size: int = MAX_BATCH,
        rate_limit: RateLimit = DEFAULT_RATE_LIMIT,
        timeout: httpx.Timeout | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep | None = None,
        max_pause: float = 120.0,
        today: Callable[[], date] = date.today,
    ) -> None:
        self.oauth = oauth
        self.office = office
        self.default_journals = {InvoiceKind.SALES: sales_journal, InvoiceKind.PURCHASE: purchase_journal}
        self.control_accounts = {
            InvoiceKind.SALES: debiteuren_rekening,
            InvoiceKind.PURCHASE: crediteuren_rekening,
        }
        self.destiny: Destiny = destiny
        self.autobalance_vat = autobalance_vat
        self.batch_size = max(1, min(MAX_BATCH, batch_size))
        self.rate_limit = rate_limit
        self._tokens = tokens
        self._today = today
        self._client_args: dict[str, Any] = {
            "timeout": timeout,
            "transport": transport,
            "rate_limit": rate_limit,
            "max_pause": max_pause,
            **({"sleep": sleep} if sleep is not None else {}),
        }
        self._cluster: VendorClient | None = None
        self._discovery = asyncio.Lock()
        self.token_info: TokenInfo | None = None
        self._dimensions: dict[str, list[tuple[str, str, str]]] = {}  # dimtype → (code, name, shortname)
        self._vat: dict[str, _Vat] | None = None
        self.relations = Relations(
            self._search_relations,
            self._create_relation,
            exchange=lambda: self.client.last_exchange,
            per_kind=True,  # a debtor and a creditor are two dimensions (DEB, CRD)
            name_limit=NAME_LIMIT,
        )

    def __repr__(self) -> str:
        cluster = self.token_info.cluster_url if self.token_info else "?"
        return f"Twinfield(office={self.office!r}, cluster={cluster!r})"

    @property
    def client(self) -> VendorClient:
        """The cluster's HTTP client (after the first call: the cluster comes from the token)."""
        if self._cluster is None:
            raise RuntimeError("Twinfield: nog geen cluster bekend (eerst check() of een andere aanroep)")
        return self._cluster

    @property
    def request_count(self) -> int:
        cluster = self._cluster.request_count if self._cluster else 0
        return cluster + self.oauth.client.request_count

    def exchanges(self) -> list[str]:
        """Every kept exchange, login host and cluster (redacted)."""
        return [*self.oauth.client.exchanges, *(self._cluster.exchanges if self._cluster else ())]

    async def aclose(self) -> None:
        if self._cluster is not None:
            await self._cluster.aclose()
        await self.oauth.aclose()

    # --- transport -------------------------------------------------------------------------------

    async def _token(self, *, force: bool = False) -> str:
        token = (await self._tokens.access_token(force=force)).get_secret_value()
        self.oauth.client.add_secret(token)
        async with self._discovery:  # one cluster client (one limiter, one slot) per connection
            if self._cluster is None:
                info = await self.oauth.validate(token)
                self.token_info = info
                self._cluster = VendorClient(
                    info.cluster_url,
                    vendor="Twinfield",
                    headers={"Content-Type": "text/xml; charset=utf-8"},
                    secrets=[token],
                    **self._client_args,
                )
        self._cluster.add_secret(token)
        return token

    async def _soap(
        self, action: str, path: str, build: Callable[[str], bytes], *, idempotent: bool
    ) -> ET.Element:
        """POST one SOAP call; a refused token (fault 354) is refreshed once: it was not processed."""
        token = await self._token()
        for attempt in (1, 2):
            client = self.client
            response = await client.request(
                "POST",
                f"{client.base_url}".rstrip("/") + path,
                content=build(token),
                headers={"SOAPAction": f'"{action}"'},
                idempotent=idempotent,
                check=check_envelope,
                definitive=is_client_fault,
            )
            if response.status_code >= 500:
                fault = fault_of(response)
                if fault is not None and fault.number == TOKEN_INVALID and attempt == 1:
                    token = await self._token(force=True)
                    continue
                raise AuthError(
                    f"Twinfield weigert de toegang: {fault.message if fault else response.status_code}",
                    advice=RECONSENT_ADVICE
                    if fault is not None and fault.number == TOKEN_INVALID
                    else f"Controleer of de gebruiker van de toestemming toegang heeft tot administratie "
                    f"{self.office}; geef anders opnieuw toestemming.",
                    code=f"fault_{fault.number}" if fault and fault.number else "soap_fault",
                    exchange=client.last_exchange,
                )
            if response.status_code >= 400:
                raise RejectedError(
                    f"Twinfield weigert het verzoek (HTTP {response.status_code})",
                    advice="Meld dit bij Koppelaar; dit verzoek hoort te werken.",
                    code=str(response.status_code),
                    exchange=client.last_exchange,
                )
            return parse_response(response)
        raise AssertionError("unreachable")

    async def _process(
        self, request: ET.Element, *, company: bool = True, idempotent: bool = True
    ) -> ET.Element:
        """One ProcessXml document; returns the response document (its `result` is the caller's)."""
        office = self.office if company else None
        envelope = await self._soap(
            PROCESS_ACTION,
            PROCESS_PATH,
            lambda token: process_envelope(token, office, request),
            idempotent=idempotent,
        )
        inner = inner_result(envelope, "ProcessXmlString")
        try:
            if inner is None:
                raise ValueError("geen ProcessXmlStringResult")
            return parse_text(inner)
        except ValueError as exc:
            if not idempotent:
                raise UncertainError(
                    f"onleesbaar antwoord van Twinfield ({exc}); onbekend of het is verwerkt",
                    advice="De koppeling zoekt de boeking eerst op voordat ze opnieuw iets verstuurt.",
                    code="UNCERTAIN",
                    exchange=self.client.last_exchange,
                ) from None
            raise TransientError(
                f"Twinfield gaf een onleesbaar antwoord ({exc})",
                advice="Tijdelijk probleem: de koppeling probeert het later opnieuw.",
                exchange=self.client.last_exchange,
            ) from None

    async def _read(self, request: ET.Element, *, company: bool = True) -> ET.Element:
        result = await self._process(request, company=company)
        if result.get("result") == "0":
            raise self._rejected("Twinfield weigert de opvraging", messages(result))
        return result

    async def _finder(self, finder_type: str, options: Sequence[tuple[str, str]] = ()) -> list[list[str]]:
        """All rows of a Finder search, page by page until TotalRows."""
        rows: list[list[str]] = []
        first = 1
        while True:

            def build(token: str, first: int = first) -> bytes:
                return search_envelope(
                    token, self.office, finder_type, first_row=first, max_rows=FINDER_PAGE, options=options
                )

            envelope = await self._soap(SEARCH_ACTION, FINDER_PATH, build, idempotent=True)
            errors = [m for m in descendants(envelope, "MessageOfErrorCodes") if text(m, "Type") == "Error"]
            if errors:
                raise RejectedError(
                    f"Twinfield Finder {finder_type}: " + "; ".join(text(m, "Text") for m in errors),
                    advice=DEFAULT_ADVICE,
                    code="finder",
                    exchange=self.client.last_exchange,
                )
            data = next(iter(descendants(envelope, "data")), None)
            total = int(text(data, "TotalRows") or "0") if data is not None else 0
            items = child(data, "Items") if data is not None else None
            page = [[(s.text or "") for s in row] for row in (items if items is not None else [])]
            rows.extend(page)
            if not page or len(rows) >= total:
                return rows
            first += len(page)

    def _rejected(self, what: str, found: list[Message], *, record: str = "") -> RejectedError:
        texts = "; ".join(f"{m.text} ({m.where})" if m.where else m.text for m in found) or "geen reden"
        fields = [m.where.rsplit(", ", 1)[-1] for m in found]
        advice = next((ADVICE_BY_FIELD[f] for f in fields if f in ADVICE_BY_FIELD), DEFAULT_ADVICE)
        return RejectedError(
            f"{what}{' ' + record if record else ''}: {texts}",
            advice=advice,
            code="twinfield",
            exchange=self.client.last_exchange if self._cluster else "",
        )

    # --- health and reference data ---------------------------------------------------------------

    async def check(self) -> CheckResult:
        """Token, cluster, office and both daybooks: each failure says what to do."""
        try:
            offices = await self.administraties()
        except ConnectorError as exc:
            return CheckResult.failed(exc)
        office = next((o for o in offices if o.id == self.office), None)
        if office is None:
            available = ", ".join(f"{o.id} ({o.name})" for o in offices) or "geen"
            return CheckResult(
                Health.MISCONFIGURED,
                f"Administratie {self.office} bestaat niet in Twinfield of deze gebruiker heeft er geen "
                f"toegang toe (beschikbaar: {available})",
                "Kies de administratie opnieuw in de verbinding.",
            )
        try:
            daybooks = {d.code for d in await self.daybooks()}
        except ConnectorError as exc:
            return CheckResult(Health.UNREACHABLE, exc.message, exc.advice)
        missing = [
            f"{KIND_WORD[k]}dagboek {c}" for k, c in self.default_journals.items() if c not in daybooks
        ]
        if missing:
            return CheckResult(
                Health.MISCONFIGURED,
                f"{', '.join(missing)} bestaat niet in administratie {self.office} "
                f"(wel: {', '.join(sorted(daybooks)) or 'geen'})",
                "Kies in de verbinding de dagboeken die in Twinfield voor verkoop en inkoop bestaan.",
            )
        return CheckResult(Health.OK, f"Verbonden met Twinfield, administratie {office.id} ({office.name})")

    async def administraties(self) -> list[Administratie]:
        """The offices this user may book in (the only call without CompanyCode)."""
        request = element("list")
        sub(request, "type", "offices")
        result = await self._read(request, company=False)
        return [
            Administratie(id=(o.text or "").strip(), name=o.get("name") or o.get("shortname") or "")
            for o in descendants(result, "office")
        ]

    async def daybooks(self) -> list[Daybook]:
        """Transaction types (dagboeken) of the office: defined per administratie, never assumed."""
        return [Daybook(row[0], row[1] if len(row) > 1 else "") for row in await self._finder("TRS") if row]

    async def journals(self) -> list[Journal]:
        """The office's sales and purchase daybooks: the TRS finder once per `category`."""
        found: list[Journal] = []
        for kind, category in TRS_CATEGORY.items():
            rows = await self._finder("TRS", (("category", category),))
            found += [
                Journal(code=row[0], name=row[1] if len(row) > 1 else "", kind=kind) for row in rows if row
            ]
        return found

    async def cost_centers(self) -> list[CostCenter]:
        """The office's kostenplaatsen: its KPL dimensions."""
        return [CostCenter(code=code, name=name) for code, name, _ in await self._dimension_list("KPL")]

    async def _dimension_list(self, dimtype: str, *, fresh: bool = False) -> list[tuple[str, str, str]]:
        if fresh or dimtype not in self._dimensions:
            request = element("list")
            sub(request, "type", "dimensions")
            sub(request, "office", self.office)
            sub(request, "dimtype", dimtype)
            result = await self._read(request)
            self._dimensions[dimtype] = [
                ((d.text or "").strip(), d.get("name") or "", d.get("shortname") or "")
                for d in descendants(result, "dimension")
            ]
        return self._dimensions[dimtype]

    async def ledger_accounts(self) -> list[LedgerAccount]:
        accounts: list[LedgerAccount] = []
        for dimtype in ("BAS", "PNL"):
            accounts += [
                LedgerAccount(code=code, name=name, category=dimtype, tegenrekening=dimtype == "PNL")
                for code, name, _ in await self._dimension_list(dimtype)
            ]
        return accounts

    async def _vat_table(self) -> dict[str, _Vat]:
        if self._vat is None:
            table: dict[str, _Vat] = {}
            for row in await self._finder("VAT"):
                if not row:
                    continue
                request = element("read")
                sub(request, "type", "vat")
                sub(request, "office", self.office)
                sub(request, "code", row[0])
                vat = await self._read(request)
                kind = {"sales": InvoiceKind.SALES, "purchase": InvoiceKind.PURCHASE}.get(text(vat, "type"))
                rates = sorted(
                    (text(p, "date"), parse_amount(text(p, "percentage"), field="percentage"))
                    for p in descendants(vat, "percentage")
                    if child(p, "date") is not None
                )
                table[row[0]] = _Vat(
                    row[0], text(vat, "name") or (row[1] if len(row) > 1 else ""), kind, tuple(rates)
                )
            self._vat = table
        return self._vat

    async def vat_codes(self) -> list[VatCode]:
        today = self._today()
        codes = []
        for vat in (await self._vat_table()).values():
            rate = vat.rate_on(today)
            category = VatCategory.STANDARD if rate else VatCategory.ZERO if rate == ZERO else None
            codes.append(
                VatCode(code=vat.code, description=vat.name, rate=rate, kind=vat.kind, category=category)
            )
        return codes

    def default_vat_code(self, kind: InvoiceKind, rate: Decimal, reverse_charge: bool) -> str | None:
        """The only code of this kind with this rate today (after vat_codes() was read); else None."""
        if reverse_charge or self._vat is None:
            return None
        today = self._today()
        matches = [v.code for v in self._vat.values() if v.kind is kind and v.rate_on(today) == rate]
        return matches[0] if len(matches) == 1 else None

    # --- relations -------------------------------------------------------------------------------

    async def ensure_relation(self, party: Party, kind: InvoiceKind, code: str) -> str:
        """The DEB/CRD dimension: found by our code (kept in `shortname`) or name, else created.

        Twinfield numbers new dimensions itself, so our code lives in the shortname.
        """
        return await self.relations.ensure(party, kind, code)

    async def _search_relations(self, by: By, value: str, kind: InvoiceKind) -> list[Relation]:
        """The kind's dimension list, read once: it has no VAT number (that is per dimension, in an
        address's field4), so a relation is found here by code or name only."""
        return [
            Relation(id=code, code=short, name=name)
            for code, name, short in await self._dimension_list(DIMTYPE[kind])
        ]

    async def _create_relation(self, party: Party, kind: InvoiceKind, code: str) -> str | None:
        dimtype = DIMTYPE[kind]
        dimension = element("dimension")
        sub(dimension, "office", self.office)
        sub(dimension, "type", dimtype)
        sub(dimension, "name", party.name[:NAME_LIMIT])
        sub(dimension, "shortname", code)
        address = sub(sub(dimension, "addresses"), "address", type="invoice", default="true")
        for tag, value in (
            ("name", party.name[:NAME_LIMIT]),
            ("country", party.country),
            ("city", party.city),
            ("postcode", party.postal_code),
            ("field2", party.address),
            ("field4", vatnumber.normalise(party.vat_number, party.country)),
            ("field5", party.coc_number),
            ("email", party.email),
        ):
            if value:
                sub(address, tag, value)
        request = element("dimensions")
        request.append(dimension)
        try:
            result = await self._process(request, idempotent=False)
        except UncertainError:
            return None  # the kit looks it up: that is what the engine would do next anyway
        finally:
            self._dimensions.pop(dimtype, None)
        created = next(iter(descendants(result, "dimension")), result)
        if created.get("result") == "0" or result.get("result") == "0":
            raise self._rejected(
                f"Twinfield weigert de relatie {party.name}", messages(result), record=f"({code})"
            )
        return text(created, "code") or None

    # --- bookings --------------------------------------------------------------------------------

    async def find_booking(self, entry: JournalEntry, relation_id: str | None = None) -> RemoteBooking | None:
        """Browse 000 by journal + invoice number; several hits are narrowed by relation and reference."""
        journal = self._journal_code(entry)
        request = element("columns", code="000")
        filters = {
            "fin.trs.head.office": self.office,
            "fin.trs.head.code": journal,
            "fin.trs.line.invnumber": entry.invoice_number,
        }
        for field in (
            "fin.trs.head.office",
            "fin.trs.head.code",
            "fin.trs.head.number",
            "fin.trs.line.invnumber",
            "fin.trs.line.dim2",
            "fin.trs.line.valuesigned",
            "fin.trs.line.description",
        ):
            # As php-twinfield's BrowseData writes a column: all seven children, and `ask=true` on a
            # filtered column; Twinfield applies a column's filter only when it is asked.
            column = sub(request, "column")
            sub(column, "field", field)
            sub(column, "label", "")
            sub(column, "visible", "true")
            sub(column, "ask", "true" if field in filters else "false")
            sub(column, "operator", "equal" if field in filters else "none")
            sub(column, "from", filters.get(field, ""))
            sub(column, "to", "")
        result = await self._read(request)
        # The total line carries the relation in dim2; a detail line with a kostenplaats carries that in
        # dim2 instead, and must not pass for the total (its relation and amount would not match ours).
        cost_centres = (
            {code for code, _name, _short in await self._dimension_list("KPL")}
            if any(line.cost_center for line in entry.lines)
            else set()
        )
        hits: dict[str, dict[str, str]] = {}
        for row in descendants(result, "tr"):
            cells = {td.get("field", ""): (td.text or "").strip() for td in row if td.tag == "td"}
            dim2 = cells.get("fin.trs.line.dim2", "")
            if (
                cells.get("fin.trs.line.invnumber") != entry.invoice_number
                or not dim2
                or dim2 in cost_centres
            ):
                continue
            key = child(row, "key")
            number = text(key, "number") if key is not None else cells.get("fin.trs.head.number", "")
            hits.setdefault(number, cells)
        matches = await self.relations.narrow(
            list(hits.items()), lambda m: m[1].get("fin.trs.line.dim2", ""), entry, relation_id
        )
        if len(matches) > 1:
            matches = [m for m in matches if entry.reference in m[1].get("fin.trs.line.description", "")]
        if not matches:
            return None
        if len(matches) > 1:
            raise UncertainError(
                f"Factuur {entry.invoice_number} staat {len(matches)} keer in dagboek {journal} van Twinfield",
                advice="Controleer in Twinfield welke boeking bij deze factuur hoort.",
                code="AMBIGUOUS",
                exchange=self.client.last_exchange,
            )
        number, cells = matches[0]
        raw = cells.get("fin.trs.line.valuesigned", "")
        gross = abs(parse_amount(raw, field="valuesigned")) if raw else None
        return RemoteBooking(
            remote_id=f"{journal}/{number}", invoice_number=entry.invoice_number, gross=gross
        )

    def _journal_code(self, entry: JournalEntry) -> str:
        """The koppeling's own dagboek for this entry, else the connection's default for its kind."""
        return entry.journal or self.default_journals[entry.kind]

    async def _transaction(self, entry: JournalEntry, relation_id: str) -> ET.Element:
        """The `<transaction>` for an entry; refused here (never sent) when Twinfield would refuse it."""
        kind = entry.kind
        detail_side = "credit" if kind is InvoiceKind.SALES else "debit"
        total_side = "debit" if kind is InvoiceKind.SALES else "credit"
        vat_table = await self._vat_table()
        vat_totals: dict[str, Decimal] = {}
        for ln in entry.lines:
            vat = vat_table.get(ln.vat_code)
            if vat is None:
                raise RejectedError(
                    f"Boeking {entry.invoice_number}: btw-code {ln.vat_code} bestaat niet in administratie "
                    f"{self.office}",
                    advice=ADVICE_BY_FIELD["vatcode"],
                    code="VAT_MAPPING",
                    origin=Origin.MAPPING,
                )
            rate = vat.rate_on(entry.date)
            if rate is not None and rate != ln.vat_rate:
                raise RejectedError(
                    f"Boeking {entry.invoice_number}: btw-code {ln.vat_code} is op {entry.date:%d-%m-%Y} "
                    f"{rate.normalize()}% maar de regel heeft {ln.vat_rate.normalize()}% btw",
                    advice="Controleer de btw-code voor dit tarief in de mapping.",
                    code="VAT_MAPPING",
                    origin=Origin.MAPPING,
                )
            vat_totals[ln.vat_code] = vat_totals.get(ln.vat_code, ZERO) + ln.vat_amount
        count = 1 + len(entry.lines) + sum(1 for v in vat_totals.values() if v)
        if count > MAX_LINES:
            raise RejectedError(
                f"Boeking {entry.invoice_number} heeft {count} regels; Twinfield neemt er hoogstens {MAX_LINES}",
                advice="Voeg in de mapping regels samen (per tegenrekening en btw-code) of boek deze factuur "
                "handmatig.",
                code="TOO_MANY_LINES",
            )
        attrs = {"destiny": self.destiny, "raisewarning": "false"}
        if self.autobalance_vat:
            attrs["autobalancevat"] = "true"
        transaction = element("transaction", **attrs)
        header = sub(transaction, "header")
        sub(header, "office", self.office)
        sub(header, "code", self._journal_code(entry))
        sub(header, "currency", "EUR")
        sub(header, "date", entry.date.strftime("%Y%m%d"))
        sub(header, "period", entry.date.strftime("%Y/%m"))
        sub(header, "invoicenumber", entry.invoice_number)
        if entry.due_date is not None:
            sub(header, "duedate", entry.due_date.strftime("%Y%m%d"))
        if entry.payment_reference:
            sub(header, "paymentreference", entry.payment_reference)
        lines = sub(transaction, "lines")
        ids = iter(range(1, count + 1))
        total = sub(lines, "line", type="total", id=str(next(ids)))
        sub(total, "dim1", self.control_accounts[kind])
        sub(total, "dim2", relation_id)
        sub(total, "debitcredit", _side(entry.total_gross, total_side))
        sub(total, "value", _money(entry.total_gross))
        sub(total, "description", entry.reference[:DESCRIPTION_LIMIT])
        for ln in entry.lines:
            detail = sub(lines, "line", type="detail", id=str(next(ids)))
            sub(detail, "dim1", ln.account_code)
            if ln.cost_center:
                sub(detail, "dim2", ln.cost_center)
            sub(detail, "debitcredit", _side(ln.net_amount, detail_side))
            sub(detail, "value", _money(ln.net_amount))
            sub(detail, "description", (ln.description or entry.description)[:DESCRIPTION_LIMIT])
            sub(detail, "vatcode", ln.vat_code)
        for code, amount in vat_totals.items():
            if not amount:
                continue
            vat_line = sub(lines, "line", type="vat", id=str(next(ids)))
            sub(vat_line, "vatcode", code)
            sub(vat_line, "debitcredit", _side(amount, detail_side))
            sub(vat_line, "value", _money(amount))
        return transaction

    async def create_booking(self, entry: JournalEntry, relation_id: str) -> CreateResult:
        outcome = (await self.create_bookings([(entry, relation_id)]))[0]
        if isinstance(outcome, ConnectorError):
            raise outcome
        return outcome

    async def create_bookings(self, items: Sequence[tuple[JournalEntry, str]]) -> list[Outcome]:
        """Post several entries, up to `batch_size` transactions per ProcessXml call.

        One outcome per item, in order: CreateResult, or the error for that item alone (a refused
        transaction does not stop the others in its call). When a call as a whole fails, every item
        in it gets that error: UncertainError (look up before re-posting), TransientError/AuthError
        (not processed: send again later).
        """
        outcomes: list[Outcome | None] = [None] * len(items)
        ready: list[tuple[int, JournalEntry, ET.Element]] = []
        for index, (entry, relation_id) in enumerate(items):
            try:
                ready.append((index, entry, await self._transaction(entry, relation_id)))
            except ConnectorError as exc:
                outcomes[index] = exc
        for start in range(0, len(ready), self.batch_size):
            chunk = ready[start : start + self.batch_size]
            for index, outcome in zip((i for i, _, _ in chunk), await self._post(chunk), strict=True):
                outcomes[index] = outcome
        return [o if o is not None else ConnectorError("geen uitkomst") for o in outcomes]

    async def _post(self, chunk: list[tuple[int, JournalEntry, ET.Element]]) -> list[Outcome]:
        request = element("transactions")
        for _, _, transaction in chunk:
            request.append(transaction)
        try:
            result = await self._process(request, idempotent=False)
        except ConnectorError as exc:
            return [exc] * len(chunk)
        answers = [t for t in result if t.tag == "transaction"] if result.tag == "transactions" else [result]
        if len(answers) != len(chunk):
            if result.get("result") == "0" and not answers:  # refused as a whole, e.g. a bad root
                return [self._rejected("Twinfield weigert de boekingen", messages(result))] * len(chunk)
            uncertain = UncertainError(
                f"Twinfield antwoordde met {len(answers)} transacties op {len(chunk)}; onbekend wat is verwerkt",
                advice="De koppeling zoekt de boekingen eerst op voordat ze opnieuw iets verstuurt.",
                code="UNCERTAIN",
                exchange=self.client.last_exchange,
            )
            return [uncertain] * len(chunk)
        outcomes: list[Outcome] = []
        for (_, entry, _), answer in zip(chunk, answers, strict=True):
            if answer.get("result") == "0":
                outcomes.append(
                    self._rejected(
                        "Twinfield weigert boeking", messages(answer), record=f"{entry.invoice_number}"
                    )
                )
                continue
            header = child(answer, "header")
            number = (text(header, "number") if header is not None else "") or text(answer, "number")
            if not number:
                outcomes.append(
                    UncertainError(
                        f"Twinfield bevestigde boeking {entry.invoice_number} zonder boekingsnummer",
                        advice="De koppeling zoekt de boeking eerst op voordat ze opnieuw iets verstuurt.",
                        code="UNCERTAIN",
                        exchange=self.client.last_exchange,
                    )
                )
                continue
            outcomes.append(CreateResult(remote_id=f"{self._journal_code(entry)}/{number}"))
        return outcomes
