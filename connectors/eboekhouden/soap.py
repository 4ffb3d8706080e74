"""e-Boekhouden SOAP (legacy) as a booking target, for customers who cannot create an API token."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Union
from urllib.parse import urlsplit, urlunsplit

import httpx
from pydantic import SecretStr

from connectors import vatnumber, xmlsafe
from connectors.contract import BookingTargetBase, CheckResult, CreateResult, Health, RateLimit, RemoteBooking
from connectors.eboekhouden.common import (
    AUTH_CODES,
    DUPLICATE_CODES,
    MAPPING_CODES,
    TEGENREKENING_CATEGORY,
    Country,
    cost_center_id,
    default_vat_code,
    entry_description,
    explain,
    vat_row,
    vat_table,
)
from connectors.errors import AuthError, ConnectorError, Origin, RejectedError, UncertainError
from connectors.http import Reveals, Sleep, VendorClient
from connectors.model import (
    Administratie,
    CostCenter,
    InvoiceKind,
    Journal,
    JournalEntry,
    LedgerAccount,
    Party,
    VatCode,
)
from connectors.money import ZERO, parse_amount
from connectors.relations import By, Relation, Relations

NS = "http://www.e-boekhouden.nl/soap"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
DEFAULT_URL = "https://soap.e-boekhouden.nl/soap.asmx"
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
SOORT = {InvoiceKind.SALES: "FactuurVerstuurd", InvoiceKind.PURCHASE: "FactuurOntvangen"}
DEFAULT_RATE_LIMIT = RateLimit(per_second=5.0, max_concurrency=1)
SESSION_EXPIRED = "ERR_SESSION"
# GetMutaties answers at most 500 mutations (well under 1 MB); anything near this cap is not an answer.
RESPONSE_LIMIT = 4 * 1024 * 1024

ET.register_namespace("soap", SOAP_ENV)

# A SOAP argument: text, or a nested element given as (name, value) pairs.
Value = Union[str, Decimal, int, "Fields"]
Fields = Sequence[tuple[str, Value]]


def secure_url(url: str) -> str:
    """Force https for the vendor (its WSDL advertises http); plain http only for a local sandbox."""
    parts = urlsplit(url)
    if parts.scheme == "http" and (parts.hostname or "") not in LOCAL_HOSTS:
        parts = parts._replace(scheme="https")
    return urlunsplit(parts)


def envelope(operation: str, fields: Fields) -> bytes:
    """A SOAP 1.1 request built with ElementTree, so every value is escaped."""
    root = ET.Element(f"{{{SOAP_ENV}}}Envelope")
    body = ET.SubElement(root, f"{{{SOAP_ENV}}}Body")
    _add(ET.SubElement(body, f"{{{NS}}}{operation}"), fields)
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True, default_namespace=NS)
    return data


def _add(parent: ET.Element, fields: Fields) -> None:
    for name, value in fields:
        child = ET.SubElement(parent, f"{{{NS}}}{name}")
        if isinstance(value, str | int | Decimal):
            child.text = format(value, "f") if isinstance(value, Decimal) else str(value)
        else:
            _add(child, value)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(element: ET.Element, name: str) -> ET.Element | None:
    """A direct child by local name: the vendor's namespaces are not relied upon."""
    return next((c for c in element if _local(c.tag) == name), None)


def _text(element: ET.Element, name: str) -> str:
    found = _child(element, name)
    return (found.text or "").strip() if found is not None else ""


def _all(element: ET.Element, name: str) -> list[ET.Element]:
    return [e for e in element.iter() if _local(e.tag) == name]


def _parse(response: httpx.Response) -> ET.Element:
    """The response envelope, read by the hardened parser (no DTD or entities, size-capped)."""
    return xmlsafe.parse(response.content, limit=RESPONSE_LIMIT)


def _check_xml(response: httpx.Response) -> None:
    _parse(response)


def _session_id_in(response: httpx.Response) -> list[str]:
    return [e.text.strip() for e in _all(_parse(response), "SessionID") if e.text and e.text.strip()]


class EBoekhoudenSoap(BookingTargetBase):
    """Books journal entries through the SOAP API (AddMutatie)."""

    system = "eboekhouden"

    def __init__(
        self,
        username: str,
        security_code_1: SecretStr,
        security_code_2: SecretStr,
        *,
        country: Country = "NL",
        base_url: str = "",
        source: str = "Koppelaar",
        administratie: str = "",
        debiteuren_rekening: str = "1300",
        crediteuren_rekening: str = "1600",
        rate_limit: RateLimit = DEFAULT_RATE_LIMIT,
        timeout: httpx.Timeout | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep | None = None,
        max_pause: float = 120.0,
    ) -> None:
        self.country: Country = country
        self.rate_limit = rate_limit
        self.source = source
        # Kept for the settings screen; the session opens the login's own administratie (OpenSession).
        self.administratie = administratie
        self.header_ledgers = {
            InvoiceKind.SALES: debiteuren_rekening,
            InvoiceKind.PURCHASE: crediteuren_rekening,
        }
        self._username = username
        self._code1 = security_code_1
        self._code2 = security_code_2
        extra: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
        self.url = secure_url(base_url or DEFAULT_URL)
        self.client = VendorClient(
            self.url,
            vendor="e-Boekhouden",
            headers={"Content-Type": "text/xml; charset=utf-8"},
            timeout=timeout,
            transport=transport,
            rate_limit=rate_limit,
            secrets=[security_code_1.get_secret_value(), security_code_2.get_secret_value()],
            max_pause=max_pause,
            **extra,
        )
        self._session: str | None = None
        self._ledgers: list[LedgerAccount] | None = None
        self._relation_list: list[Relation] | None = None
        self._code_of: dict[str, str] = {}  # Rel_ID → the relation's code in e-Boekhouden
        self.relations = Relations(
            self._search_relations, self._create_relation, exchange=lambda: self.client.last_exchange
        )

    def __repr__(self) -> str:
        return f"EBoekhoudenSoap({self.url!r}, country={self.country!r})"

    # --- transport

    async def _call(
        self, operation: str, fields: Fields, *, idempotent: bool = True, reveals: Reveals | None = None
    ) -> ET.Element:
        """POST one operation; returns its `<Operation>Result`. Business errors arrive in HTTP 200."""
        # The exact endpoint URL: httpx would add a slash to a base URL ("soap.asmx/"), which ASMX
        # does not serve.
        response = await self.client.request(
            "POST",
            self.url,
            content=envelope(operation, fields),
            headers={"SOAPAction": f'"{NS}/{operation}"'},
            idempotent=idempotent,
            check=_check_xml,
            reveals=reveals,
        )
        if not 200 <= response.status_code < 300:
            fault = ""
            try:
                fault = " ".join(e.text or "" for e in _all(_parse(response), "faultstring"))
            except ValueError:
                fault = response.text[:200]
            raise RejectedError(
                f"e-Boekhouden weigert {operation} ({response.status_code}): {fault.strip()}",
                advice="Meld dit bij Koppelaar; dit verzoek hoort te werken.",
                code=str(response.status_code),
                exchange=self.client.last_exchange,
            )
        root = _parse(response)
        result = next(iter(_all(root, f"{operation}Result")), None)
        if result is None:
            if not idempotent:
                raise UncertainError(
                    f"onleesbaar antwoord op {operation}; onbekend of het is verwerkt",
                    advice="De koppeling zoekt de boeking eerst op voordat ze opnieuw iets verstuurt.",
                    exchange=self.client.last_exchange,
                )
            raise ConnectorError(
                f"e-Boekhouden gaf geen {operation}Result", exchange=self.client.last_exchange
            )
        error = _child(result, "ErrorMsg")
        code = _text(error, "LastErrorCode") if error is not None else ""
        if code:
            raise self._error(code, _text(error, "LastErrorDescription") if error is not None else "")
        return result

    def _error(self, code: str, description: str) -> ConnectorError:
        message, advice = explain(code, description)
        if code in AUTH_CODES:
            return AuthError(message, advice=advice, code=code, exchange=self.client.last_exchange)
        origin = Origin.MAPPING if code in MAPPING_CODES else Origin.TARGET
        return RejectedError(
            message, advice=advice, code=code, exchange=self.client.last_exchange, origin=origin
        )

    async def _session_fields(self) -> list[tuple[str, Value]]:
        if self._session is None:
            result = await self._call(
                "OpenSession",
                [
                    ("Username", self._username),
                    ("SecurityCode1", self._code1.get_secret_value()),
                    ("SecurityCode2", self._code2.get_secret_value()),
                    ("Source", self.source),
                ],
                reveals=_session_id_in,
            )
            session = _text(result, "SessionID")
            if not session:
                raise ConnectorError("e-Boekhouden gaf geen SessionID", exchange=self.client.last_exchange)
            self.client.add_secret(session)
            self._session = session
        return [("SessionID", self._session), ("SecurityCode2", self._code2.get_secret_value())]

    async def _op(self, operation: str, fields: Fields = (), *, idempotent: bool = True) -> ET.Element:
        """One call in the session; an expired session (ERR_SESSION) is re-opened once.

        ERR_SESSION is refused before anything is processed, so even AddMutatie is safe to resend.
        """
        try:
            return await self._call(
                operation, [*await self._session_fields(), *fields], idempotent=idempotent
            )
        except RejectedError as exc:
            if exc.code != SESSION_EXPIRED:
                raise
        self._session = None
        return await self._call(operation, [*await self._session_fields(), *fields], idempotent=idempotent)

    async def aclose(self) -> None:
        try:
            if self._session is not None:
                await self._call("CloseSession", [("SessionID", self._session)])
        except ConnectorError:
            pass  # sessions time out on their own
        finally:
            self._session = None
            await self.client.aclose()

    # --- health and reference data

    async def check(self) -> CheckResult:
        """Open a new session: that proves gebruikersnaam and both codes now, not when we last looked."""
        self._session = None
        try:
            await self._session_fields()
        except ConnectorError as exc:
            return CheckResult.failed(exc)
        return CheckResult(Health.OK, "Verbonden met e-Boekhouden (SOAP)")

    async def administraties(self) -> list[Administratie]:
        result = await self._op("GetAdministraties")
        return [
            Administratie(id=_text(a, "Guid"), name=_text(a, "Bedrijf"))
            for a in _all(result, "cAdministratie")
        ]

    async def ledger_accounts(self) -> list[LedgerAccount]:
        if self._ledgers is None:
            result = await self._op(
                "GetGrootboekrekeningen", [("cFilter", [("ID", 0), ("Code", ""), ("Categorie", "")])]
            )
            self._ledgers = [
                LedgerAccount(
                    code=_text(g, "Code"),
                    name=_text(g, "Omschrijving"),
                    category=_text(g, "Categorie"),
                    id=_text(g, "ID"),
                    tegenrekening=_text(g, "Categorie") == TEGENREKENING_CATEGORY,
                )
                for g in _all(result, "cGrootboekrekening")
            ]
        return list(self._ledgers)

    async def _require_ledger(self, code: str, what: str) -> str:
        if any(ledger.code == code for ledger in await self.ledger_accounts()):
            return code
        raise RejectedError(
            f"Grootboekrekening {code} ({what}) bestaat niet in e-Boekhouden",
            advice="Controleer de tegenrekening in de mapping.",
            code="MUT_007",
            origin=Origin.MAPPING,
        )

    async def cost_centers(self) -> list[CostCenter]:
        """The kostenplaatsen (GetKostenplaatsen); a booking line carries the id (`KostenplaatsID`)."""
        result = await self._op(
            "GetKostenplaatsen",
            # The filter spells it "ID", the answer "Id": both as in the vendor's WSDL.
            [("cFilter", [("KostenplaatsID", 0), ("KostenplaatsParentID", 0), ("Omschrijving", "")])],
        )
        return [
            CostCenter(code=_text(k, "KostenplaatsId"), name=_text(k, "Omschrijving"))
            for k in _all(result, "cKostenplaats")
            if _text(k, "KostenplaatsId") not in ("", "0")
        ]

    async def journals(self) -> list[Journal]:
        """None: e-Boekhouden books by Soort (FactuurVerstuurd/FactuurOntvangen), not in dagboeken."""
        return []

    async def vat_codes(self) -> list[VatCode]:
        return list(vat_table(self.country, soap=True))

    def default_vat_code(self, kind: InvoiceKind, rate: Decimal, reverse_charge: bool) -> str | None:
        return default_vat_code(self.country, kind, rate, reverse_charge)

    # --- relations

    async def ensure_relation(self, party: Party, kind: InvoiceKind, code: str) -> str:
        return await self.relations.ensure(party, kind, code)

    async def _search_relations(self, by: By, value: str, kind: InvoiceKind) -> list[Relation]:
        """By code the vendor filters; SOAP has no VAT/name filter: one full list per instance."""
        if by is By.CODE:
            result = await self._op(
                "GetRelaties", [("cFilter", [("Trefwoord", ""), ("Code", value), ("ID", 0)])]
            )
            return self._seen(_all(result, "cRelatie"))
        if self._relation_list is None:
            result = await self._op(
                "GetRelaties", [("cFilter", [("Trefwoord", ""), ("Code", ""), ("ID", 0)])]
            )
            self._relation_list = self._seen(_all(result, "cRelatie"))
        return self._relation_list

    def _seen(self, found: list[ET.Element]) -> list[Relation]:
        relations = [
            Relation(
                id=_text(r, "ID"),
                code=_text(r, "Code"),
                name=_text(r, "Bedrijf"),
                vat_number=_text(r, "BTWNummer"),
            )
            for r in found
        ]
        # SOAP books by the relation's own code, which need not be ours (found by VAT number or name).
        self._code_of.update((r.id, r.code) for r in relations if r.code)
        return relations

    async def _create_relation(self, party: Party, kind: InvoiceKind, code: str) -> str | None:
        fields: list[tuple[str, Value]] = [
            ("ID", 0),
            ("Code", code),
            ("Bedrijf", party.name),
            ("Adres", party.address),
            ("Postcode", party.postal_code),
            ("Plaats", party.city),
            ("Land", party.country),
            ("Email", party.email),
            ("BTWNummer", vatnumber.normalise(party.vat_number, party.country)),
            ("KvkNummer", party.coc_number),
            ("IBAN", party.iban),
            ("BP", "B"),
        ]
        try:
            result = await self._op("AddRelatie", [("oRel", fields)], idempotent=False)
        except RejectedError as exc:
            if exc.code != "REL_049":
                raise
            return None  # the code exists (created concurrently or by an uncertain run): look it up
        except UncertainError:
            return None
        finally:
            # The list changed (or may have): a later party must see this relation, not a stale list.
            self._relation_list = None
        rel_id = _text(result, "Rel_ID")
        if rel_id:
            self._code_of[rel_id] = code
        return rel_id or None

    async def _relation_code(self, relation_id: str) -> str:
        """SOAP books by relation code while the contract hands us the id: map back, asking if needed."""
        if relation_id in self._code_of:
            return self._code_of[relation_id]
        result = await self._op(
            "GetRelaties", [("cFilter", [("Trefwoord", ""), ("Code", ""), ("ID", relation_id)])]
        )
        found = [r for r in self._seen(_all(result, "cRelatie")) if r.id == relation_id and r.code]
        if not found:
            raise RejectedError(
                f"Relatie {relation_id} bestaat niet (meer) in e-Boekhouden",
                advice="Controleer of de relatie in e-Boekhouden is verwijderd; de koppeling maakt haar dan "
                "bij de volgende run opnieuw aan.",
                code="MUT_013",
            )
        return found[0].code

    # --- bookings

    async def find_booking(self, entry: JournalEntry, relation_id: str | None = None) -> RemoteBooking | None:
        result = await self._op(
            "GetMutaties",
            [
                (
                    "cFilter",
                    [
                        # xs:long in the WSDL: 0 means "no bound" (an empty element is unreadable).
                        ("MutatieNr", 0),
                        ("MutatieNrVan", 0),
                        ("MutatieNrTm", 0),
                        ("Factuurnummer", entry.invoice_number),
                        ("DatumVan", "1990-01-01T00:00:00"),
                        ("DatumTm", "2099-12-31T00:00:00"),
                    ],
                )
            ],
        )
        # GetMutaties answers with cMutatieList items (rows: cMutatieListRegel), not AddMutatie's cMutatie.
        matches = [
            m
            for m in [*_all(result, "cMutatieList"), *_all(result, "cMutatie")]
            if _text(m, "Factuurnummer") == entry.invoice_number and _text(m, "Soort") == SOORT[entry.kind]
        ]
        matches = await self.relations.narrow(
            matches, lambda m: _text(m, "RelatieCode"), entry, relation_id, booked_as=self._relation_code
        )
        if not matches:
            return None
        if len(matches) > 1:
            raise UncertainError(
                f"Factuur {entry.invoice_number} staat {len(matches)} keer in e-Boekhouden",
                advice="Controleer in e-Boekhouden welke boeking bij deze factuur hoort.",
                code="AMBIGUOUS",
                exchange=self.client.last_exchange,
            )
        found = matches[0]
        gross: Decimal | None = None
        rows = [*_all(found, "cMutatieListRegel"), *_all(found, "cMutatieRegel")]
        amounts = [_text(r, "BedragInclBTW") for r in rows]
        if amounts and all(amounts):
            gross = sum((parse_amount(a, field="BedragInclBTW") for a in amounts), ZERO)
        return RemoteBooking(
            remote_id=_text(found, "MutatieNr"), invoice_number=entry.invoice_number, gross=gross
        )

    async def create_booking(self, entry: JournalEntry, relation_id: str) -> CreateResult:
        code = await self._relation_code(relation_id)
        regels: list[tuple[str, Value]] = []
        for line in entry.lines:
            row = vat_row(line, entry.kind, self.country, entry.invoice_number)
            gross = line.net_amount + line.vat_amount
            regels.append(
                (
                    "cMutatieRegel",
                    [
                        ("BedragInvoer", line.net_amount),
                        ("BedragExclBTW", line.net_amount),
                        ("BedragBTW", line.vat_amount),
                        ("BedragInclBTW", gross),
                        ("BTWCode", row.vat_code),
                        ("BTWPercentage", line.vat_rate),
                        ("TegenrekeningCode", await self._require_ledger(line.account_code, "tegenrekening")),
                        ("KostenplaatsID", cost_center_id(line, entry.invoice_number) or 0),
                    ],
                )
            )
        header = self.header_ledgers[entry.kind]
        mutatie: list[tuple[str, Value]] = [
            ("MutatieNr", 0),
            ("Soort", SOORT[entry.kind]),
            ("Datum", f"{entry.date.isoformat()}T00:00:00"),
            ("Rekening", await self._require_ledger(header, "debiteuren/crediteuren")),
            ("RelatieCode", code),
            ("Factuurnummer", entry.invoice_number),
            ("Boekstuk", ""),
            ("Omschrijving", entry_description(entry)),
            ("Betalingstermijn", max(0, (entry.due_date - entry.date).days) if entry.due_date else 0),
            ("Betalingskenmerk", entry.payment_reference),
            ("InExBTW", "EX"),
            ("MutatieRegels", regels),
        ]
        try:
            result = await self._op("AddMutatie", [("oMut", mutatie)], idempotent=False)
        except RejectedError as exc:
            if exc.code not in DUPLICATE_CODES:
                raise
            existing = await self.find_booking(entry, relation_id)
            if existing is None:
                raise RejectedError(
                    f"{exc.message}; maar die boeking is niet van deze factuur terug te vinden",
                    advice="Het factuurnummer is al gebruikt in e-Boekhouden. Controleer daar de bestaande "
                    "boeking en boek deze factuur zo nodig handmatig.",
                    code=exc.code,
                    exchange=exc.exchange,
                ) from None
            return CreateResult(remote_id=existing.remote_id, already_existed=True)
        number = _text(result, "Mutatienummer")
        if not number:
            raise UncertainError(
                "e-Boekhouden bevestigde de boeking zonder mutatienummer",
                advice="De koppeling zoekt de boeking eerst op voordat ze opnieuw iets verstuurt.",
                exchange=self.client.last_exchange,
            )
        return CreateResult(remote_id=number)
