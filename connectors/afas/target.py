"""AFAS Profit as a booking target: masters through GetConnectors, entries through UpdateConnector FiEntries.

Vendor choices kept here: which connectors a koppeling needs (NEEDED_*), the debit/credit sides of an
entry, the explicit VAT line per btw-code, and how a relation is found (our code in the organisation's
BcCo, then VAT number, name, KvK number).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import httpx
from pydantic import SecretStr

from connectors import vatnumber
from connectors.afas.client import (
    APP_CONNECTOR_PATH,
    AfasClient,
    Filter,
    amsterdam_time,
    field,
)
from connectors.contract import (
    BookingTargetBase,
    CheckResult,
    CreateResult,
    Health,
    RateLimit,
    RemoteBooking,
)
from connectors.errors import AuthError, ConnectorError, Origin, RejectedError, TransientError, UncertainError
from connectors.http import Sleep
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
from connectors.relations import By, Relation, Relations

SALES, PURCHASE = InvoiceKind.SALES, InvoiceKind.PURCHASE
DEFAULT_RATE_LIMIT = RateLimit(per_second=20.0, max_concurrency=5)

# GetConnectors and UpdateConnectors a koppeling uses, with what each is for (the check names them).
NEEDED_GET: dict[str, str] = {
    "Profit_Administrations": "administraties",
    "Profit_Accounts": "grootboekrekeningen",
    "Profit_VAT_code": "btw-codes",
    "Profit_Journals": "dagboeken",
    "Profit_Allocation_Assigments": "kostenplaatsen (toewijzing as type)",
    "Profit_Debtor": "debiteuren",
    "Profit_Creditor": "crediteuren",
    "Precal_Valuta": "valuta",
    "CaseWare_Periods": "perioden",
    "Profit_Transactions_Allocated": "factuurgeschiedenis (dubbele boekingen voorkomen)",
}
NEEDED_UPDATE: dict[str, str] = {
    "FiEntries": "boekingen",
    "KnSalesRelationOrg": "debiteuren aanmaken",
    "KnPurchaseRelationOrg": "crediteuren aanmaken",
}
ATTACHMENT_UPDATE = ("KnSubject", "factuur-pdf als dossieritem")
# Seed 002 §1.2.9: what an admin does when the dossier-item type refuses the invoice as destination.
DESTINATION_ADVICE = (
    "De boeking staat; alleen de pdf ging niet mee. Ga in AFAS naar CRM > Dossier > Configuratie >"
    " Dossieritemtype, open de eigenschappen van het dossieritemtype van deze koppeling, tabblad"
    " Bestemming, en zet 'Aankoopcontact + aankoopfactuur' en 'Verkoopcontact + verkoopfactuur' op"
    " Optioneel (in elke AFAS-organisatie die gekoppeld is). Kies daarna 'opnieuw proberen'."
)
TRANSACTIONS = "Profit_Transactions_Allocated"
# VaAs: what AcNr is on an entry line.
GL, DEBTOR, CREDITOR = "1", "2", "3"
RELATION_CONNECTOR = {SALES: "KnSalesRelationOrg", PURCHASE: "KnPurchaseRelationOrg"}
# How Profit_Debtor / Profit_Creditor name their fields.
RELATION_LIST = {
    SALES: ("Profit_Debtor", "DebtorId", "DebtorName"),
    PURCHASE: ("Profit_Creditor", "CreditorId", "CreditorName"),
}
INVOICE_NUMBER_LIMIT = 12  # InId
JOURNAL_LIMIT = 6  # JoCo
VAT_CODE_LIMIT = 3  # VaId
DUPLICATE = "bestaat al"  # AFAS's words when an invoice number or organisation is there already
EXPIRY_WARNING_DAYS = 30


@dataclass(frozen=True)
class Period:
    year: int
    number: int
    start: date
    end: date


class Afas(BookingTargetBase):
    """Books journal entries into one AFAS administratie (UnId) of one environment."""

    system = "afas"

    def __init__(
        self,
        url: str,
        token: SecretStr,
        *,
        administratie: str = "",
        verkoopboek: str = "",
        inkoopboek: str = "",
        integration_id: str = "",
        dossieritemtype: int = 0,
        rate_limit: RateLimit = DEFAULT_RATE_LIMIT,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: httpx.Timeout | None = None,
        sleep: Sleep | None = None,
        max_pause: float = 120.0,
    ) -> None:
        self.rate_limit = RateLimit(rate_limit.per_second, min(5, rate_limit.max_concurrency))
        self.administratie = administratie
        self.dossieritemtype = dossieritemtype  # StId of the invoice PDF's dossier item; 0: none sent
        self.carries_attachments = bool(dossieritemtype)
        self.journals_by_kind = {SALES: verkoopboek, PURCHASE: inkoopboek}
        self.client = AfasClient(
            url,
            token,
            integration_id=integration_id,
            rate_limit=self.rate_limit,
            transport=transport,
            timeout=timeout,
            sleep=sleep,
            max_pause=max_pause,
        )
        self.relations = Relations(
            self._search_relations,
            self._create_relation,
            exchange=lambda: self.client.last_exchange,
            per_kind=True,  # a debtor and a creditor are two relations in AFAS
        )
        self._vat: dict[str, Mapping[str, Any]] | None = None
        self._periods: list[Period] | None = None

    def __repr__(self) -> str:
        return f"Afas({str(self.client.http.base_url)!r}, administratie={self.administratie!r})"

    async def aclose(self) -> None:
        await self.client.aclose()

    # --- health

    async def check(self) -> CheckResult:
        """GET /MetaInfo: the token works, and the App Connector holds every connector we use."""
        try:
            meta = await self.client.get("/metainfo")
        except AuthError as exc:
            return CheckResult(Health.AUTH_FAILED, exc.message, exc.advice)
        except TransientError as exc:
            return CheckResult(Health.UNREACHABLE, exc.message, exc.advice)
        except ConnectorError as exc:
            return CheckResult(Health.MISCONFIGURED, exc.message, exc.advice)
        return self.judge(meta if isinstance(meta, Mapping) else {})

    def judge(self, meta: Mapping[str, Any], today: date | None = None) -> CheckResult:
        """What MetaInfo says about this koppeling, in the words of AFAS's own screens."""
        info = meta.get("info") if isinstance(meta.get("info"), Mapping) else {}
        assert isinstance(info, Mapping)
        app = str(info.get("appName") or "Koppelaar")
        missing = [
            f"GetConnector {name} ontbreekt in de App Connector '{app}' ({what}) — "
            f"{APP_CONNECTOR_PATH} → GetConnectoren → Nieuw"
            for name, what in NEEDED_GET.items()
            if name not in _ids(meta.get("getConnectors"))
        ] + [
            f"UpdateConnector {name} ontbreekt in de App Connector '{app}' ({what}) — "
            f"{APP_CONNECTOR_PATH} → UpdateConnectoren → Nieuw"
            for name, what in self._needed_update().items()
            if name not in _ids(meta.get("updateConnectors"))
        ]
        if missing:
            return CheckResult(
                Health.MISCONFIGURED,
                "; ".join(missing),
                f"Open in AFAS {APP_CONNECTOR_PATH}, kies de App Connector '{app}' en voeg de genoemde "
                "connectoren toe (GetConnectoren of UpdateConnectoren → Nieuw). Het token blijft geldig.",
            )
        expiry = _expiry(info.get("tokenExpiry"))
        today = today or date.today()
        environment = str(info.get("envid") or "")
        reason = f"Verbonden met AFAS {environment}, App Connector '{app}'".replace("  ", " ")
        if expiry is not None:
            if expiry.date() < today:
                return CheckResult(
                    Health.AUTH_FAILED,
                    f"Het AFAS-token is verlopen op {expiry:%d-%m-%Y}",
                    f"Maak in AFAS onder {APP_CONNECTOR_PATH} → Gebruikerstokens een nieuw token aan.",
                )
            if (expiry.date() - today).days <= EXPIRY_WARNING_DAYS:
                reason += f"; let op: het token verloopt op {expiry:%d-%m-%Y}"
        return CheckResult(Health.OK, reason)

    # --- masters for the mapping editors

    async def _rows(
        self, connector: str, order: str, filters: Sequence[Filter] = ()
    ) -> list[Mapping[str, Any]]:
        return await self.client.rows(connector, order=order, filters=filters)

    def _in_administratie(self) -> list[Filter]:
        return [("UnitId", 1, self.administratie)] if self.administratie else []

    async def administraties(self) -> list[Administratie]:
        return [
            Administratie(id=str(row.get("UnitId", "")), name=str(row.get("Description") or ""))
            for row in await self._rows("Profit_Administrations", "UnitId")
            if row.get("UnitId") is not None
        ]

    async def ledger_accounts(self) -> list[LedgerAccount]:
        rows = await self._rows("Profit_Accounts", "AccountNr", self._in_administratie())
        return [
            LedgerAccount(
                code=str(row["AccountNr"]),
                name=str(row.get("Description") or ""),
                category=str(row.get("AccountType") or ""),
                # Debtors and creditors are booked through VaAs 2/3, never on their collective account.
                tegenrekening=not row.get("CollectAccount") and not row.get("Blocked"),
            )
            for row in rows
            if row.get("AccountNr") is not None
        ]

    async def _vat_table(self) -> dict[str, Mapping[str, Any]]:
        if self._vat is None:
            rows = await self._rows("Profit_VAT_code", "VatCode")
            self._vat = {str(row["VatCode"]): row for row in rows if row.get("VatCode") is not None}
        return self._vat

    async def vat_codes(self) -> list[VatCode]:
        codes = []
        for code, row in (await self._vat_table()).items():
            if row.get("Blocked"):
                continue
            kind = {"verkoop": SALES, "inkoop": PURCHASE}.get(str(row.get("VatType") or "").casefold())
            rate = row.get("VatPerc")
            codes.append(
                VatCode(
                    code=code,
                    description=str(row.get("Description") or ""),
                    rate=parse_amount(rate, field="VatPerc")
                    if isinstance(rate, int | str | Decimal)
                    else None,
                    kind=kind,
                )
            )
        return codes

    def default_vat_code(self, kind: InvoiceKind, rate: Decimal, reverse_charge: bool) -> str | None:
        """The one btw-code of this kind and rate, once vat_codes() has been read (AFAS codes are the
        administratie's own, so there is no fixed default)."""
        if self._vat is None or reverse_charge:
            return None
        wanted = {SALES: "verkoop", PURCHASE: "inkoop"}[kind]
        matches = [
            code
            for code, row in self._vat.items()
            if str(row.get("VatType") or "").casefold() == wanted
            and not row.get("Blocked")
            and isinstance(row.get("VatPerc"), int | str | Decimal)
            and parse_amount(row["VatPerc"], field="VatPerc") == rate
        ]
        return matches[0] if len(matches) == 1 else None

    async def journals(self) -> list[Journal]:
        kinds = {"verkoop": SALES, "inkoop": PURCHASE}
        return [
            Journal(
                code=str(row["JournalId"]),
                name=str(row.get("Description") or ""),
                kind=kinds[str(row.get("JournalType") or "").casefold()],
            )
            for row in await self._rows("Profit_Journals", "JournalId", self._in_administratie())
            if str(row.get("JournalType") or "").casefold() in kinds and not row.get("Blocked")
        ]

    async def cost_centers(self) -> list[CostCenter]:
        """Kostenplaatsen: the codes of verbijzonderingsas 1 (a line carries them as DiC1)."""
        return [
            CostCenter(code=str(row["AllocationCode"]), name=str(row.get("Description") or ""))
            for row in await self._rows(
                "Profit_Allocation_Assigments", "AllocationCode", [("AxisId", 1, "1")]
            )
            if row.get("AllocationCode") is not None and not row.get("Blocked")
        ]

    async def currencies(self) -> list[str]:
        return [str(row["CurrencyId"]) for row in await self._rows("Precal_Valuta", "CurrencyId")]

    async def periods(self) -> list[Period]:
        if self._periods is None:
            found = []
            for row in await self._rows("CaseWare_Periods", "Year,PeriodNo", self._in_administratie()):
                start, end = amsterdam_time(row.get("StartDate")), amsterdam_time(row.get("EndDate"))
                if start is not None and end is not None:
                    found.append(Period(int(row["Year"]), int(row["PeriodNo"]), start.date(), end.date()))
            self._periods = found
        return self._periods

    async def relation_list(self, kind: InvoiceKind) -> list[Relation]:
        """Debiteuren or crediteuren, for the mapping editors."""
        return await self._relations(kind, [])

    # --- relations

    async def ensure_relation(self, party: Party, kind: InvoiceKind, code: str) -> str:
        return await self.relations.ensure(party, kind, code)

    async def _relations(self, kind: InvoiceKind, filters: list[Filter]) -> list[Relation]:
        connector, id_field, name_field = RELATION_LIST[kind]
        return [
            Relation(
                id=str(row[id_field]),
                code=str(row.get("BcCo") or ""),
                name=str(row.get(name_field) or ""),
                vat_number=str(row.get("VatNr") or ""),
            )
            for row in await self._rows(connector, id_field, filters)
            if row.get(id_field) is not None
        ]

    async def _search_relations(self, by: By, value: str, kind: InvoiceKind) -> list[Relation]:
        name_field = RELATION_LIST[kind][2]
        column = {By.CODE: "BcCo", By.VAT_NUMBER: "VatNr", By.NAME: name_field}[by]
        return await self._relations(kind, [(column, 1, value)])

    async def _create_relation(self, party: Party, kind: InvoiceKind, code: str) -> str | None:
        """The debtor/creditor for `party`: one with its KvK number when AFAS has it, else a new one
        whose organisation carries our code (BcCo)."""
        kvk = party.coc_number.strip()
        if kvk:
            by_kvk = await self._rows(
                RELATION_LIST[kind][0], RELATION_LIST[kind][1], [("ChOfCommNr", 1, kvk)]
            )
            if by_kvk:
                return str(by_kvk[0][RELATION_LIST[kind][1]])
        connector = RELATION_CONNECTOR[kind]
        try:
            result = await self.client.post(connector, relation_body(party, kind, code))
        except RejectedError as exc:
            if DUPLICATE in exc.message:
                return None  # made by an earlier, uncertain run: the kit looks it up by our code
            raise
        except UncertainError:
            return None
        return field(result, "DbId" if kind is SALES else "CrId") or None

    # --- bookings

    async def find_booking(self, entry: JournalEntry, relation_id: str | None = None) -> RemoteBooking | None:
        """Our entry by invoice number in the administratie, narrowed to its relation's line."""
        filters: list[Filter] = [*self._in_administratie(), ("InvoiceId", 1, entry.invoice_number)]
        rows = await self._rows(TRANSACTIONS, "EntryNo,SeqNo", filters)
        entries: dict[str, list[Mapping[str, Any]]] = {}
        for row in rows:
            if str(row.get("InvoiceId") or "") == entry.invoice_number:
                entries.setdefault(str(row.get("EntryNo")), []).append(row)
        candidates = list(entries.items())
        relation = relation_id or await self.relations.find(entry.relation, entry.kind)
        if relation is not None:
            # Purchase numbers are unique per supplier only: ours is the entry with our relation's line.
            candidates = [c for c in candidates if any(_account(row) == relation for row in c[1])]
        if not candidates:
            return None
        if len(candidates) > 1:
            raise UncertainError(
                f"Factuur {entry.invoice_number} staat {len(candidates)} keer in AFAS",
                advice="Controleer in AFAS welke boeking bij deze factuur hoort.",
                code="AMBIGUOUS",
                exchange=self.client.last_exchange,
            )
        number, lines = candidates[0]
        return RemoteBooking(
            remote_id=number, invoice_number=entry.invoice_number, gross=_gross(lines, entry, relation)
        )

    async def create_booking(self, entry: JournalEntry, relation_id: str) -> CreateResult:
        body = await self.entry_body(entry, relation_id)
        try:
            result = await self.client.post("FiEntries", body)
        except RejectedError as exc:
            if DUPLICATE not in exc.message:
                raise
            found = await self.find_booking(entry, relation_id)
            if found is None:
                raise
            return CreateResult(remote_id=found.remote_id, already_existed=True)
        number = field(result, "EnNo")
        if not number:
            # Booked, but we cannot tell which entry it is: the lookup by invoice number finds it.
            raise UncertainError(
                f"AFAS boekte factuur {entry.invoice_number} maar noemde geen journaalpostnummer",
                advice="De koppeling zoekt de boeking op voordat ze opnieuw iets verstuurt.",
                code="UNCERTAIN",
                exchange=self.client.last_exchange,
            )
        return CreateResult(remote_id=number)

    # --- the invoice's PDF as a dossier item on the invoice

    attach_looks_up = False  # our App Connector reads no dossier items: a crash halfway is for a person

    def _needed_update(self) -> dict[str, str]:
        return {**NEEDED_UPDATE, **(dict([ATTACHMENT_UPDATE]) if self.dossieritemtype else {})}

    async def attach(self, remote_id: str, entry: JournalEntry, relation_id: str) -> None:
        """One KnSubject of the connection's dossier-item type, linked to the purchase or sales invoice
        (and through DoCRM to the relation), with the files as KnSubjectAttachment."""
        files = [a for a in entry.attachments if a.content is not None]
        if not files or not self.dossieritemtype:
            return
        sales = entry.kind is SALES
        link: dict[str, Any] = {"DoCRM": True, "SfTp": 4 if sales else 11, "SfId": relation_id}
        prefix = "Si" if sales else "Pi"  # verkoopfactuur / aankoopfactuur
        link |= {f"{prefix}Un": self.administratie, f"{prefix}Tp": 1, f"{prefix}Id": entry.invoice_number}
        soort = "Creditnota" if entry.credit_note else "Factuur"
        body = {
            "KnSubject": {
                "Element": {
                    "Fields": {
                        "StId": self.dossieritemtype,
                        "Ds": f"{soort} {entry.invoice_number} {entry.relation.name}"[:255],
                        "Da": f"{entry.date.isoformat()}T00:00:00",
                    },
                    "Objects": [
                        {"KnSubjectLink": {"Element": {"Fields": link}}},
                        {
                            "KnSubjectAttachment": {
                                "Element": [
                                    {
                                        "Fields": {
                                            "FileName": f.filename,
                                            "FileStream": base64.b64encode(f.content or b"").decode("ascii"),
                                        }
                                    }
                                    for f in files
                                ]
                            }
                        },
                    ],
                }
            }
        }
        try:
            await self.client.post("KnSubject", body)
        except RejectedError as exc:
            if "bestemming" not in exc.message.lower():
                raise
            raise RejectedError(
                f"AFAS staat de pdf van factuur {entry.invoice_number} niet toe als dossieritem bij de"
                f" {'verkoop' if sales else 'aankoop'}factuur: {exc.message}",
                advice=DESTINATION_ADVICE,
                code="bestemming",
                exchange=exc.exchange,
            ) from None

    async def entry_body(self, entry: JournalEntry, relation_id: str) -> dict[str, Any]:
        """FiEntryPar with the relation line, one line per tegenrekening and an explicit VAT line per
        btw-code (AFAS does not split VAT off), checked to balance to the cent before it is sent."""
        self._refuse_unfit(entry)
        journal = entry.journal or self.journals_by_kind[entry.kind]
        if not journal or len(journal) > JOURNAL_LIMIT:
            raise RejectedError(
                f"Boeking {entry.invoice_number}: geen geldig dagboek ('{journal}')",
                advice="Kies het verkoop- en inkoopboek bij de verbinding (koppelaar connect).",
                code="JOURNAL",
                origin=Origin.MAPPING,
            )
        year, period = await self._period(entry.date)
        sales = entry.kind is SALES
        relation_line = {
            "VaAs": DEBTOR if sales else CREDITOR,
            "AcNr": relation_id,
            **self._common(entry),
            **_sides(entry.total_gross, debit=sales),
        }
        if entry.due_date is not None:
            relation_line["DaEx"] = entry.due_date.isoformat()
        if entry.payment_reference:
            relation_line["PaId"] = entry.payment_reference[:30]
        lines: list[dict[str, Any]] = [self._foreign(relation_line, entry, entry.total_gross, whole=True)]
        for line in entry.lines:
            gl = {
                "VaAs": GL,
                "AcNr": line.account_code,
                **self._common(entry, line.description),
                **_sides(line.net_amount, debit=not sales),
                **({"VaId": line.vat_code} if line.vat_code else {}),
            }
            item: dict[str, Any] = {"Fields": self._foreign(gl, entry, line.net_amount)}
            if line.cost_center:
                dim = {"DiC1": line.cost_center, **_sides(line.net_amount, debit=not sales)}
                item["Objects"] = [{"FiDimEntries": {"Element": [{"Fields": dim}]}}]
            lines.append(item)
        for vat_code, amount in _vat_per_code(entry.lines):
            account = await self._vat_account(vat_code, entry)
            vat = {
                "VaAs": GL,
                "AcNr": account,
                **self._common(entry, f"Btw {vat_code}"),
                **_sides(amount, debit=not sales),
                "VaId": vat_code,
            }
            lines.append({"Fields": self._foreign(vat, entry, amount)})
        lines[0] = {"Fields": lines[0]}
        _balanced(lines, entry.invoice_number)
        header = {"Year": year, "Peri": period, "UnId": self.administratie, "JoCo": journal}
        return {"FiEntryPar": {"Element": {"Fields": header, "Objects": [{"FiEntries": {"Element": lines}}]}}}

    def _refuse_unfit(self, entry: JournalEntry) -> None:
        if len(entry.invoice_number) > INVOICE_NUMBER_LIMIT:
            raise RejectedError(
                f"Factuurnummer {entry.invoice_number} is langer dan {INVOICE_NUMBER_LIMIT} tekens, het "
                "maximum van AFAS (InId)",
                advice="Boek deze factuur handmatig in AFAS; een ingekort nummer zou een andere factuur kunnen zijn.",
                code="INVOICE_NUMBER",
            )
        for line in entry.lines:
            if len(line.vat_code) > VAT_CODE_LIMIT:
                raise RejectedError(
                    f"Btw-code {line.vat_code} is geen AFAS btw-code (hoogstens {VAT_CODE_LIMIT} tekens)",
                    advice="Kies de btw-code opnieuw onder Mapping.",
                    code="VAT_MAPPING",
                    origin=Origin.MAPPING,
                )

    def _common(self, entry: JournalEntry, description: str = "") -> dict[str, Any]:
        return {
            "EnDa": entry.date.isoformat(),
            "BpDa": entry.date.isoformat(),
            "InId": entry.invoice_number,
            "Ds": (description or entry.description)[:100],
        }

    def _foreign(
        self, fields: dict[str, Any], entry: JournalEntry, eur: Decimal, whole: bool = False
    ) -> dict[str, Any]:
        """The amounts as issued in the invoice's currency (CuId, Rate, AmDc/AmCc) beside the euros."""
        f = entry.foreign
        if f is None:
            return fields
        amount = f.gross if whole and eur == entry.total_gross else quantize(eur * f.rate, f.currency)
        foreign_debit = "AmDe" in fields and fields["AmDe"] != ZERO
        fields.update(
            {
                "CuId": f.currency,
                "Rate": f.rate,
                "AmDc": abs(amount) if foreign_debit else ZERO,
                "AmCc": ZERO if foreign_debit else abs(amount),
            }
        )
        return fields

    async def _vat_account(self, vat_code: str, entry: JournalEntry) -> str:
        row = (await self._vat_table()).get(vat_code)
        account = str(row.get("AccountNr") or "") if row is not None else ""
        if not account:
            raise RejectedError(
                f"Boeking {entry.invoice_number}: btw-code {vat_code} bestaat niet in AFAS of heeft geen "
                "btw-rekening",
                advice="Kies een bestaande btw-code onder Mapping, of vul in AFAS de btw-rekening van deze code in.",
                code="VAT_MAPPING",
                origin=Origin.MAPPING,
            )
        return account

    async def _period(self, day: date) -> tuple[int, int]:
        """The administratie's own period of the day (CaseWare_Periods), else the calendar month."""
        for period in await self.periods():
            if period.start <= day <= period.end:
                return period.year, period.number
        return day.year, day.month


def relation_body(party: Party, kind: InvoiceKind, code: str) -> dict[str, Any]:
    """KnSalesRelationOrg / KnPurchaseRelationOrg with the organisation; BcCo carries our code and
    MatchOga 6 matches an organisation that has it already rather than making a second one."""
    organisation: dict[str, Any] = {
        "PadAdr": True,
        "AutoNum": False,
        "MatchOga": "6",
        "BcCo": code,
        "Nm": party.name[:80],
    }
    vat = vatnumber.normalise(party.vat_number, party.country)
    if vat:
        organisation["FiNr"] = vat
    if party.coc_number.strip():
        organisation["CcNr"] = party.coc_number.strip()
    objects: list[dict[str, Any]] = []
    if party.address or party.city:
        address = {
            "CoId": party.country or "NL",
            "PbAd": False,
            "Ad": party.address,
            "ZpCd": party.postal_code,
            "Rs": party.city,
            "ResZip": False,
        }
        objects.append({"KnBasicAddressAdr": {"Element": {"Fields": address}}})
    element: dict[str, Any] = {"Fields": organisation}
    if objects:
        element["Objects"] = objects
    fields = {"IsDb": True} if kind is SALES else {"IsCr": True}
    root = RELATION_CONNECTOR[kind]
    return {
        root: {
            "Element": {
                "Fields": {**fields, "CuId": "EUR"},
                "Objects": [{"KnOrganisation": {"Element": element}}],
            }
        }
    }


def _ids(connectors: object) -> set[str]:
    if not isinstance(connectors, list):
        return set()
    return {str(c.get("id")) for c in connectors if isinstance(c, Mapping)}


def _expiry(value: object) -> datetime | None:
    """tokenExpiry: "0" or absent means the token never expires."""
    if value in (None, "", "0", 0):
        return None
    return amsterdam_time(str(value))


def _sides(amount: Decimal, *, debit: bool) -> dict[str, Decimal]:
    """AmDe/AmCr for an amount that normally sits on `debit`; a negative one (credit note) flips side."""
    positive = amount >= ZERO
    on_debit = debit if positive else not debit
    return {"AmDe": abs(amount) if on_debit else ZERO, "AmCr": ZERO if on_debit else abs(amount)}


def _vat_per_code(lines: Sequence[BookingLine]) -> list[tuple[str, Decimal]]:
    totals: dict[str, Decimal] = {}
    for line in lines:
        if line.vat_amount != ZERO:
            if not line.vat_code:
                raise RejectedError(
                    f"Er is btw ({line.vat_amount}) maar geen btw-code voor {line.vat_rate.normalize()}%",
                    advice="Kies de btw-code voor dit tarief onder Mapping.",
                    code="VAT_MAPPING",
                    origin=Origin.MAPPING,
                )
            totals[line.vat_code] = totals.get(line.vat_code, ZERO) + line.vat_amount
    return [(code, amount) for code, amount in totals.items() if amount != ZERO]


def _balanced(lines: list[dict[str, Any]], invoice_number: str) -> None:
    debit = sum((Decimal(line["Fields"]["AmDe"]) for line in lines), ZERO)
    credit = sum((Decimal(line["Fields"]["AmCr"]) for line in lines), ZERO)
    if quantize(debit) != debit or quantize(credit) != credit or debit != credit:
        raise RejectedError(
            f"Boeking {invoice_number} is niet in balans (debet {debit}, credit {credit}); niet verstuurd",
            advice="Meld dit bij Koppelaar.",
            code="UNBALANCED",
            origin=Origin.OURS,
        )


def _account(row: Mapping[str, Any]) -> str:
    return str(row.get("AccountNo") or "")


def _gross(lines: list[Mapping[str, Any]], entry: JournalEntry, relation: str | None) -> Decimal | None:
    """The gross on the relation's line (None when the relation is not known)."""
    for row in lines:
        if relation is not None and _account(row) == relation:
            try:
                amount = parse_amount(row.get("AmtDebit") or 0, field="AmtDebit") - parse_amount(
                    row.get("AmtCredit") or 0, field="AmtCredit"
                )
            except ValueError:
                return None
            return amount if entry.kind is SALES else -amount
    return None
