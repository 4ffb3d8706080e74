"""e-Boekhouden REST v1 as a booking target: API token → session token, relations and mutations."""

from __future__ import annotations

import time
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import httpx
from pydantic import SecretStr

from connectors import vatnumber
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
from connectors.http import Sleep, VendorClient, decode_json, require_json
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
from connectors.money import parse_amount
from connectors.relations import By, Relation, Relations

HOSTS: dict[str, str] = {"NL": "https://api.e-boekhouden.nl", "BE": "https://api.e-boekhouden.be"}
# MutationType is an integer enum in the OpenAPI (2 FactuurVerstuurd, 1 FactuurOntvangen).
MUTATION_TYPE = {InvoiceKind.SALES: 2, InvoiceKind.PURCHASE: 1}
PAGE = 500
DEFAULT_RATE_LIMIT = RateLimit(per_second=5.0, max_concurrency=2)


class EBoekhoudenRest(BookingTargetBase):
    """Books journal entries as e-Boekhouden mutations over the REST API."""

    system = "eboekhouden"

    def __init__(
        self,
        api_token: SecretStr,
        *,
        country: Country = "NL",
        base_url: str | None = None,
        source: str = "Koppelaar",
        administratie: str = "",
        verify_administratie: bool = False,
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
        self.administratie = administratie
        self.verify_administratie = verify_administratie
        self.header_ledgers = {
            InvoiceKind.SALES: debiteuren_rekening,
            InvoiceKind.PURCHASE: crediteuren_rekening,
        }
        self._token = api_token
        extra: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
        self.client = VendorClient(
            (base_url or HOSTS[country]).rstrip("/"),
            vendor="e-Boekhouden",
            headers={"Accept": "application/json"},
            timeout=timeout,
            transport=transport,
            rate_limit=rate_limit,
            secrets=[api_token.get_secret_value()],
            max_pause=max_pause,
            **extra,
        )
        self._session: str | None = None
        self._session_expires = 0.0
        self._ledgers: list[LedgerAccount] | None = None
        self.relations = Relations(
            self._search_relations, self._create_relation, exchange=lambda: self.client.last_exchange
        )

    def __repr__(self) -> str:
        return f"EBoekhoudenRest({str(self.client.base_url)!r}, country={self.country!r})"

    # --- session

    async def _open_session(self) -> str:
        response = await self.client.request(
            "POST",
            "/v1/session",
            json={"accessToken": self._token.get_secret_value(), "source": self.source},
            idempotent=True,  # a second session is harmless
            check=require_json,
            reveals=_session_token_in,
        )
        if response.status_code >= 400:
            raise self._error(response)
        body = decode_json(response)
        token = str(body.get("token", "")) if isinstance(body, Mapping) else ""
        if not token:
            raise ConnectorError("e-Boekhouden gaf geen sessietoken", exchange=self.client.last_exchange)
        self.client.add_secret(token)
        expires = body.get("expiresIn")
        lifetime = float(expires) if isinstance(expires, int | Decimal) else 1800.0
        self._session = token
        # Renew a minute early so a long run never sends a just-expired token.
        self._session_expires = time.monotonic() + max(0.0, lifetime - 60)
        return token

    async def _session_token(self) -> str:
        if self._session is None or time.monotonic() >= self._session_expires:
            return await self._open_session()
        return self._session

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json: object = None,
        idempotent: bool | None = None,
    ) -> Any:
        """One API call with the session; reopens the session once on SECURITY_010. Returns the JSON."""
        for attempt in (1, 2):
            token = await self._session_token()
            response = await self.client.request(
                method,
                path,
                params=params,
                json=json,
                headers={"Authorization": token},
                idempotent=idempotent,
                check=require_json,
            )
            if response.status_code == 401 and attempt == 1 and _code(response) == "SECURITY_010":
                # A 401 was not processed, so even a create is safe to send again.
                self._session = None
                continue
            if response.status_code >= 400:
                raise self._error(response)
            return decode_json(response) if response.content else None
        raise AssertionError("unreachable")

    def _error(self, response: httpx.Response) -> ConnectorError:
        code = _code(response) or str(response.status_code)
        vendor_message = _vendor_message(response)
        message, advice = explain(code, vendor_message)
        if code in AUTH_CODES or response.status_code in (401, 403):
            return AuthError(message, advice=advice, code=code, exchange=self.client.last_exchange)
        origin = Origin.MAPPING if code in MAPPING_CODES else Origin.TARGET
        return RejectedError(
            message, advice=advice, code=code, exchange=self.client.last_exchange, origin=origin
        )

    async def aclose(self) -> None:
        try:
            if self._session is not None:
                await self.client.request("DELETE", "/v1/session", headers={"Authorization": self._session})
        except ConnectorError:
            pass  # the session expires by itself; closing is a courtesy
        finally:
            self._session = None
            await self.client.aclose()

    # --- health and reference data

    async def check(self) -> CheckResult:
        """Open the session (proves token and host). The administratie is verified only on request.

        A token belongs to exactly one administratie, so re-reading it on every run would only push a
        run with nothing to book past its budget of two requests (open + close).
        """
        try:
            await self._open_session()
            if self.verify_administratie and self.administratie:
                ids = {a.id for a in await self.administraties()}
                if self.administratie not in ids:
                    return CheckResult(
                        Health.MISCONFIGURED,
                        f"Administratie {self.administratie} hoort niet bij dit API-token",
                        "Maak het API-token aan in de juiste administratie, of kies die administratie.",
                    )
        except ConnectorError as exc:
            return CheckResult.failed(exc)
        return CheckResult(Health.OK, "Verbonden met e-Boekhouden")

    async def administraties(self) -> list[Administratie]:
        """The administratie of this token, by its guid (an AdministrationListItem is guid and company)."""
        body = await self._call("GET", "/v1/administration")
        return [
            Administratie(id=str(item.get("guid") or ""), name=str(item.get("company") or ""))
            for item in _items(body)
        ]

    async def _list_all(self, path: str) -> list[Mapping[str, Any]]:
        """Every item of a list endpoint, page by page (limit/offset until `count` is reached)."""
        found: list[Mapping[str, Any]] = []
        while True:
            body = await self._call("GET", path, params={"limit": PAGE, "offset": len(found)})
            items = _items(body)
            found += items
            total = body.get("count") if isinstance(body, Mapping) else None
            if not items or not isinstance(total, int) or len(found) >= total:
                return found

    async def ledger_accounts(self) -> list[LedgerAccount]:
        if self._ledgers is None:
            self._ledgers = [
                LedgerAccount(
                    code=str(item.get("code", "")),
                    name=str(item.get("description", "")),
                    category=str(item.get("category", "")),
                    id=str(item.get("id", "")),
                    tegenrekening=str(item.get("category", "")) == TEGENREKENING_CATEGORY,
                )
                for item in await self._list_all("/v1/ledger")
            ]
        return list(self._ledgers)

    async def cost_centers(self) -> list[CostCenter]:
        """The active kostenplaatsen; a booking line carries the id (`costCenterId`)."""
        return [
            CostCenter(code=str(item["id"]), name=str(item.get("description", "")))
            for item in await self._list_all("/v1/costcenter")
            if item.get("id") is not None and item.get("active") is not False
        ]

    async def journals(self) -> list[Journal]:
        """None: e-Boekhouden books by mutation type (FactuurVerstuurd/FactuurOntvangen), not in dagboeken."""
        return []

    async def _ledger_id(self, code: str, what: str) -> int:
        for ledger in await self.ledger_accounts():
            if ledger.code == code and ledger.id.isdigit():
                return int(ledger.id)
        raise RejectedError(
            f"Grootboekrekening {code} ({what}) bestaat niet in e-Boekhouden",
            advice="Controleer de tegenrekening in de mapping.",
            code="MUT_007",
            origin=Origin.MAPPING,
        )

    async def vat_codes(self) -> list[VatCode]:
        return list(vat_table(self.country))

    def default_vat_code(self, kind: InvoiceKind, rate: Decimal, reverse_charge: bool) -> str | None:
        return default_vat_code(self.country, kind, rate, reverse_charge)

    # --- relations

    async def ensure_relation(self, party: Party, kind: InvoiceKind, code: str) -> str:
        return await self.relations.ensure(party, kind, code)

    async def _search_relations(self, by: By, value: str, kind: InvoiceKind) -> list[Relation]:
        """The vendor's own filter; the kit compares exactly. The OpenAPI filters by code and name, not
        by VAT number, and its list items carry only id, type and code: a name match is read whole."""
        if by is By.VAT_NUMBER:
            return []
        field = "code" if by is By.CODE else "name"
        body = await self._call("GET", "/v1/relation", params={field: value, "limit": 100, "offset": 0})
        found = [item for item in _items(body) if item.get("id") is not None]
        if by is By.NAME:
            found = [await self._call("GET", f"/v1/relation/{int(item['id'])}") for item in found]
        return [
            Relation(
                id=str(item["id"]),
                code=str(item.get("code") or ""),
                name=str(item.get("name") or ""),
                vat_number=str(item.get("vatNumber") or ""),
            )
            for item in found
            if isinstance(item, Mapping)
        ]

    async def _create_relation(self, party: Party, kind: InvoiceKind, code: str) -> str | None:
        payload: dict[str, object] = {"type": "B", "code": code, "name": party.name}
        optional = {
            "vatNumber": vatnumber.normalise(party.vat_number, party.country),
            "companyRegistrationNumber": party.coc_number if party.coc_number.isdigit() else "",
            "address": party.address,
            "postalCode": party.postal_code,
            "city": party.city,
            "country": party.country,
            "emailAddress": party.email,
            "iban": party.iban,
        }
        payload.update({k: v for k, v in optional.items() if v})
        try:
            body = await self._call("POST", "/v1/relation", json=payload)
        except RejectedError as exc:
            if exc.code != "REL_049":
                raise
            return None  # created concurrently or by an earlier, uncertain run: use that one
        except UncertainError:
            return None
        return str(body["id"]) if isinstance(body, Mapping) and body.get("id") is not None else None

    # --- bookings

    async def find_booking(self, entry: JournalEntry, relation_id: str | None = None) -> RemoteBooking | None:
        mutation_type = MUTATION_TYPE[entry.kind]
        params: dict[str, str | int] = {
            "invoiceNumber": entry.invoice_number,
            "type": mutation_type,
            "limit": 100,
            "offset": 0,
        }
        listed = [
            item
            for item in _items(await self._call("GET", "/v1/mutation", params=params))
            if str(item.get("invoiceNumber", "")) == entry.invoice_number
            and str(item.get("type", "")) == str(mutation_type)
            and item.get("id") is not None
        ]
        # A MutationListItem names no relation: each candidate is read whole to tell suppliers apart.
        whole = [await self._call("GET", f"/v1/mutation/{int(item['id'])}") for item in listed]
        candidates = [
            (item, full) for item, full in zip(listed, whole, strict=True) if isinstance(full, Mapping)
        ]
        matches = [
            item
            for item, _ in await self.relations.narrow(
                candidates, lambda c: str(c[1].get("relationId", "")), entry, relation_id
            )
        ]
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
        gross = found.get("amount")
        return RemoteBooking(
            remote_id=str(found.get("id", "")),
            invoice_number=entry.invoice_number,
            gross=parse_amount(gross, field="amount") if isinstance(gross, int | str | Decimal) else None,
        )

    async def create_booking(self, entry: JournalEntry, relation_id: str) -> CreateResult:
        rows = []
        for line in entry.lines:
            row = vat_row(line, entry.kind, self.country, entry.invoice_number)
            item: dict[str, object] = {
                "ledgerId": await self._ledger_id(line.account_code, "tegenrekening"),
                "vatCode": row.vat_code,
                "amount": line.net_amount,
                "description": (line.description or entry.description)[:200],
            }
            if row.vat_amount is not None:
                item["vatAmount"] = row.vat_amount
            if (cost_center := cost_center_id(line, entry.invoice_number)) is not None:
                item["costCenterId"] = cost_center
            rows.append(item)
        payload: dict[str, object] = {
            "type": MUTATION_TYPE[entry.kind],
            "date": entry.date.isoformat(),
            "ledgerId": await self._ledger_id(self.header_ledgers[entry.kind], "debiteuren/crediteuren"),
            "relationId": int(relation_id) if relation_id.isdigit() else relation_id,
            "invoiceNumber": entry.invoice_number,
            "description": entry_description(entry),
            "inExVat": "EX",
            "rows": rows,
        }
        if entry.due_date is not None:
            payload["termOfPayment"] = max(0, (entry.due_date - entry.date).days)
        if entry.payment_reference:
            payload["paymentReference"] = entry.payment_reference
        try:
            body = await self._call("POST", "/v1/mutation", json=payload)
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
        if not isinstance(body, Mapping) or body.get("id") is None:
            raise UncertainError(
                "e-Boekhouden bevestigde de boeking zonder id",
                advice="De koppeling zoekt de boeking eerst op voordat ze opnieuw iets verstuurt.",
                exchange=self.client.last_exchange,
            )
        return CreateResult(remote_id=str(body["id"]))


def _session_token_in(response: httpx.Response) -> list[str]:
    body = decode_json(response)
    token = body.get("token") if isinstance(body, Mapping) else None
    return [str(token)] if token else []


def _items(body: object) -> list[Mapping[str, Any]]:
    if isinstance(body, Mapping):
        body = body.get("items", [])
    return [item for item in body if isinstance(item, Mapping)] if isinstance(body, list) else []


def _error_body(response: httpx.Response) -> Mapping[str, Any]:
    try:
        body = decode_json(response)
    except ValueError:
        return {}
    return body if isinstance(body, Mapping) else {}


def _code(response: httpx.Response) -> str:
    return str(_error_body(response).get("code") or "")


def _vendor_message(response: httpx.Response) -> str:
    body = _error_body(response)
    text = str(body.get("message") or body.get("title") or "")
    return text or response.text[:200]
