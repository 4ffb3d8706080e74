"""FactuurSturen.nl REST v1 as an invoice source: sales invoices and credit notes, parsed defensively."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx
from babel.numbers import is_currency
from pydantic import SecretStr, ValidationError

from connectors.contract import (
    CheckResult,
    Health,
    RateLimit,
    SourceBase,
    SourceProblem,
    SourceRecord,
    Stream,
)
from connectors.errors import AuthError, ConnectorError, Origin, RejectedError
from connectors.factuursturen.countries import iso_code, names_by_id
from connectors.http import Sleep, VendorClient, decode_json, require_json
from connectors.model import Invoice, InvoiceKind, InvoiceLine, Party, VatCategory, VatSubtotal
from connectors.money import ZERO, parse_amount, quantize

DEFAULT_BASE_URL = "https://www.factuursturen.nl"
NEW_KEY_ADVICE = (
    "Maak in FactuurSturen onder Instellingen → Verbindingen een nieuwe API-sleutel en vul die in bij de "
    "verbinding (controleer ook de inlognaam)."
)
# 146 = Nederland is documented (api docs, client examples); every other id comes from `countrylist`.
DOCUMENTED_COUNTRIES = {"146": "Nederland"}
# A page of 250 invoices is well under 1 MB; a body near this cap is not an answer we can trust.
RESPONSE_LIMIT = 5 * 1024 * 1024
# No invoice is a hundred billion euros: such a number is a broken field, not an amount to book.
MAX_AMOUNT = Decimal(10) ** 11
# The hourly quota is undocumented; stay gentle and let x-ratelimit-remaining pause us at 0.
DEFAULT_RATE_LIMIT = RateLimit(per_second=2.0)


class _Problem(Exception):
    """A field of one record we cannot read; becomes a SourceProblem."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class FactuurSturenSource(SourceBase):
    """Reads sent invoices from FactuurSturen. It has no purchase-invoice endpoint, so only sales."""

    system = "factuursturen"
    streams = frozenset({Stream.INVOICES})

    def __init__(
        self,
        username: str,
        api_key: SecretStr,
        *,
        base_url: str = DEFAULT_BASE_URL,
        page_size: int = 100,
        rate_limit: RateLimit = DEFAULT_RATE_LIMIT,
        timeout: httpx.Timeout | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep | None = None,
        max_pause: float = 120.0,
    ) -> None:
        if not 1 <= page_size <= 250:
            raise ValueError("page_size must be 1..250 (the FactuurSturen maximum)")
        root = base_url.rstrip("/")
        if not root.endswith("/api/v1"):
            root += "/api/v1"
        key = api_key.get_secret_value()
        extra: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
        self.page_size = page_size
        self.client = VendorClient(
            root + "/",
            vendor="FactuurSturen",
            headers={"Accept": "application/json"},  # the BE default is XML
            auth=(username, key),
            timeout=timeout,
            transport=transport,
            rate_limit=rate_limit,
            secrets=[key],
            max_pause=max_pause,
            hourly_quota_header="x-ratelimit-remaining",
            **extra,
        )
        self._clients: dict[str, Mapping[str, Any]] | None = None
        self._country_names: dict[str, str] | None = None

    def __repr__(self) -> str:
        return f"FactuurSturenSource({str(self.client.base_url)!r})"

    async def aclose(self) -> None:
        await self.client.aclose()

    # --- health

    async def check(self) -> CheckResult:
        """One cheap GET: the first invoice, which proves the login and the key."""
        try:
            await self._get_json("invoices", params={"count": 1, "offset": 0})
        except ConnectorError as exc:
            return CheckResult.failed(exc)
        return CheckResult(Health.OK, "Verbonden met FactuurSturen")

    # --- invoices

    async def read(
        self,
        stream: Stream,
        partition: str,
        cursor: str | None,
        known: Callable[[str], bool] = lambda record_id: False,
    ) -> AsyncIterator[list[SourceRecord]]:
        """Pages of invoices sent on or after `cursor` (YYYY-MM-DD), oldest first. One partition ("")."""
        if stream not in self.streams or partition:
            raise ValueError(f"FactuurSturen biedt geen stroom {stream!r} (deel {partition!r})")
        offset = 0
        while True:
            params: dict[str, str | int] = {"count": self.page_size, "offset": offset}
            if cursor:
                params["since"] = cursor[:10]
            page = await self._get_json("invoices", params=params)
            if isinstance(page, Mapping):  # tolerate a wrapped list
                page = page.get("invoices", [])
            if not isinstance(page, list):
                raise ConnectorError(
                    "FactuurSturen gaf geen lijst met facturen terug",
                    exchange=self.client.last_exchange,
                    origin=Origin.SOURCE,
                )
            if page:
                records = [await self._record(item, offset + i, known) for i, item in enumerate(page)]
                yield records
            if len(page) < self.page_size:
                return
            offset += len(page)

    async def _record(self, raw: object, position: int, known: Callable[[str], bool]) -> SourceRecord:
        if not isinstance(raw, Mapping):
            return _problem_record(
                f"#{position}", "", "", f"geen factuurobject maar {type(raw).__name__}", raw
            )
        record_id = _text(raw.get("id")) or _text(raw.get("invoicenr")) or f"#{position}"
        number = _text(raw.get("invoicenr_full")) or _text(raw.get("invoicenr")) or record_id
        # Only a real date may move the cursor: a mangled `sent` ("zzz") would sort after every date.
        sent = _text(raw.get("sent"))
        cursor_key = sent if re.fullmatch(r"\d{4}-\d{2}-\d{2}.*", sent) else ""
        if known(record_id):
            # Already in the engine's outbox: skip the parsing and the client lookups it would need.
            return SourceRecord(Stream.INVOICES, record_id, cursor_key)
        try:
            invoice = await self._invoice(raw, record_id, number)
        except _Problem as exc:
            return _problem_record(record_id, cursor_key, exc.field, f"Factuur {number}: {exc.message}", raw)
        except ValidationError as exc:
            field, message = _validation_message(exc)
            if field == "totalen":
                message = f"{message}. {_totals_in_source(raw)}"
            # The model's own totals message already names the invoice.
            prefixed = message if message.startswith(f"Factuur {number}") else f"Factuur {number}: {message}"
            return _problem_record(record_id, cursor_key, field, prefixed, raw)
        return SourceRecord(Stream.INVOICES, record_id, cursor_key, payload=invoice)

    async def _invoice(self, raw: Mapping[str, Any], record_id: str, number: str) -> Invoice:
        issue = _date(raw.get("sent"), "sent")
        if issue is None:
            raise _Problem("sent", "geen verzenddatum (nog niet verstuurd?)")
        reverse_charge = _flag(raw.get("tax_shifted"), "tax_shifted")
        lines = tuple(_line(item, i, reverse_charge) for i, item in enumerate(_keyed_list(raw, "lines"), 1))
        vat = tuple(_subtotal(item, i, reverse_charge) for i, item in enumerate(_keyed_list(raw, "taxes"), 1))
        gross = _amount(raw, "totalintax")
        total_vat = _amount(raw, "tax")
        # No ex-VAT total is published: derive it, so "lines add up" still checks against the vendor's totals.
        total_net = gross - total_vat
        currency = (_text(raw.get("currency")) or "EUR").upper()
        if not is_currency(currency):
            raise _Problem("currency", f"onbekende valuta {raw.get('currency')!r} (geen ISO 4217-code)")
        reference = raw.get("reference")
        description = ""
        if isinstance(reference, Mapping):
            description = " ".join(_text(v) for _, v in _ordered(reference) if _text(v))
        return Invoice(
            source=self.system,
            source_id=record_id,
            number=number,
            kind=InvoiceKind.SALES,
            credit_note=gross < ZERO,
            issue_date=issue,
            due_date=_date(raw.get("duedate"), "duedate"),
            currency=currency,
            party=await self._party(raw),
            lines=lines,
            vat=vat,
            total_net=total_net,
            total_vat=total_vat,
            total_gross=gross,
            description=description,
        )

    # --- parties and countries, loaded lazily once per instance

    async def _party(self, raw: Mapping[str, Any]) -> Party:
        clientnr = _text(raw.get("clientnr"))
        client = await self._client_details(clientnr) if clientnr else None
        data: Mapping[str, Any] = client or raw
        name = _text(data.get("company")) or _text(data.get("contact")) or _text(raw.get("company"))
        if not name:
            raise _Problem("clientnr", f"klant {clientnr or '(geen)'} heeft geen naam")
        return Party(
            source_id=clientnr or name,
            name=name,
            vat_number=_text(data.get("taxnumber")),
            address=_text(data.get("address")),
            postal_code=_text(data.get("zipcode")),
            city=_text(data.get("city")),
            country=await self._country(data.get("country") or raw.get("country")),
            email=_text(data.get("email")),
            # The API model has no KvK field, and keeps the IBAN under `bankcode` (public clients).
            iban=_text(data.get("bankcode")),
        )

    async def _client_details(self, clientnr: str) -> Mapping[str, Any] | None:
        if self._clients is None:
            found = await self._get_json("clients")
            items = found if isinstance(found, list) else []
            self._clients = {
                _text(c.get("clientnr")): c for c in items if isinstance(c, Mapping) and c.get("clientnr")
            }
        if clientnr not in self._clients:
            # The list may be paged or stale: ask for this one client before falling back to the invoice.
            try:
                one = await self._get_json(f"clients/{clientnr}")
            except RejectedError:
                return None
            client = one.get("client") if isinstance(one, Mapping) else None
            if not isinstance(client, Mapping):
                return None
            self._clients[clientnr] = client
        return self._clients[clientnr]

    async def _country(self, value: object) -> str:
        """ISO code for the numeric id FactuurSturen sends (a name or ISO code is taken as it is)."""
        text = _text(value)
        if not text:
            return "NL"
        if re.fullmatch(r"[A-Za-z]{2}", text):
            return text.upper()
        if not text.isdigit():
            name = text
        else:
            if self._country_names is None:
                self._country_names = DOCUMENTED_COUNTRIES | names_by_id(await self._get_json("countrylist"))
            if text not in self._country_names:
                raise _Problem("country", f"land-id {text} staat niet in de landenlijst van FactuurSturen")
            name = self._country_names[text]
        code = iso_code(name)
        if code is None:
            raise _Problem("country", f"land {name!r} is geen landnaam die we kennen (geen ISO-landcode)")
        return code

    # --- HTTP

    async def _get_json(self, path: str, params: Mapping[str, str | int] | None = None) -> Any:
        response = await self.client.request("GET", path, params=params, check=require_json)
        if response.status_code == 401:
            raise AuthError(
                "FactuurSturen weigert de inlognaam of API-sleutel (401)",
                advice=NEW_KEY_ADVICE,
                code="401",
                exchange=self.client.last_exchange,
            )
        if response.status_code >= 400:
            message = _error_text(response)
            raise RejectedError(
                f"FactuurSturen weigert het verzoek ({response.status_code}): {message}",
                advice="Neem contact op met de beheerder van de koppeling; dit verzoek hoort te werken.",
                code=str(response.status_code),
                exchange=self.client.last_exchange,
                origin=Origin.SOURCE,
            )
        if len(response.content) > RESPONSE_LIMIT:
            raise ConnectorError(
                f"FactuurSturen stuurde een antwoord van {len(response.content):,} bytes op {path}; "
                f"meer dan {RESPONSE_LIMIT:,} is geen lijst facturen. Niets van deze pagina is verwerkt.",
                advice="Probeer het later opnieuw; blijft het, meld het dan bij FactuurSturen.",
                exchange=self.client.last_exchange,
                origin=Origin.SOURCE,
            )
        return decode_json(response)


# --- parsing helpers (pure) ------------------------------------------------------------------------


def _text(value: object) -> str:
    if value is None or isinstance(value, list | dict):
        return ""
    return str(value).strip()


def _flag(value: object, field: str) -> bool:
    text = _text(value).lower()
    if text in {"", "0", "false"}:
        return False
    if text in {"1", "true"}:
        return True
    raise _Problem(field, f"{value!r} is geen ja/nee-waarde")


def _date(value: object, field: str) -> date | None:
    text = _text(value)
    if not text or text.startswith("0000-00-00"):
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        raise _Problem(field, f"{value!r} is geen datum") from None


def _amount(raw: Mapping[str, Any], field: str, *, where: str = "") -> Decimal:
    name = f"{where}{field}"
    if field not in raw or _text(raw.get(field)) == "":
        raise _Problem(name, f"{name} ontbreekt")
    try:
        amount = parse_amount(raw[field], field=name)
    except (ValueError, InvalidOperation) as exc:
        raise _Problem(name, str(exc)) from None
    if abs(amount) >= MAX_AMOUNT:
        raise _Problem(name, f"{raw[field]!r} is geen geloofwaardig bedrag (te groot)")
    return amount


def _ordered(container: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """Items of a keyed object (`line1`, `line2`, … `line10`) in numeric key order."""

    def number(key: str) -> tuple[int, str]:
        digits = re.search(r"(\d+)$", key)
        return (int(digits.group(1)) if digits else 0, key)

    return sorted(container.items(), key=lambda kv: number(str(kv[0])))


def _keyed_list(raw: Mapping[str, Any], field: str) -> list[Mapping[str, Any]]:
    """`lines`/`taxes`/`history` come as keyed objects, or `[]` when empty (legacy)."""
    value = raw.get(field)
    if value is None or value == "" or value == []:
        return []
    items: list[Any]
    if isinstance(value, Mapping):
        items = [v for _, v in _ordered(value)]
    elif isinstance(value, list):
        items = value
    else:
        raise _Problem(field, f"onverwacht formaat ({type(value).__name__})")
    for i, item in enumerate(items, 1):
        if not isinstance(item, Mapping):
            raise _Problem(f"{field}[{i}]", "geen object")
    return items


def _line(raw: Mapping[str, Any], index: int, reverse_charge: bool) -> InvoiceLine:
    where = f"lines[{index}]."
    rate = _amount(raw, "tax_rate", where=where)
    quantity = _amount(raw, "amount", where=where) if _text(raw.get("amount")) else Decimal(1)
    price = _amount(raw, "price", where=where) if _text(raw.get("price")) else ZERO
    if _text(raw.get("linetotal")):
        net = _amount(raw, "linetotal", where=where)
    else:
        discount = _amount(raw, "discount_pct", where=where) if _text(raw.get("discount_pct")) else ZERO
        net = quantize(quantity * price * (Decimal(100) - discount) / Decimal(100))
    return InvoiceLine(
        description=_text(raw.get("description")) or _text(raw.get("amount_desc")) or f"Regel {index}",
        quantity=quantity,
        unit_price=price,
        net_amount=net,
        vat_rate=rate,
        vat_category=_category(rate, reverse_charge),
    )


def _subtotal(raw: Mapping[str, Any], index: int, reverse_charge: bool) -> VatSubtotal:
    where = f"taxes[{index}]."
    rate = _amount(raw, "rate", where=where)
    return VatSubtotal(
        rate=rate,
        category=_category(rate, reverse_charge),
        taxable_amount=_amount(raw, "sum_of", where=where),
        vat_amount=_amount(raw, "sum", where=where),
    )


def _category(rate: Decimal, reverse_charge: bool) -> VatCategory:
    if rate == ZERO:
        return VatCategory.REVERSE_CHARGE if reverse_charge else VatCategory.ZERO
    return VatCategory.STANDARD


def _error_text(response: httpx.Response) -> str:
    try:
        body = decode_json(response)
    except ValueError:
        return response.text[:200]
    if isinstance(body, Mapping) and body.get("error"):
        return _text(body["error"])
    return response.text[:200]


def _validation_message(exc: ValidationError) -> tuple[str, str]:
    """The first error of a model validation, in words: the totals check or the bad field."""
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first.get("loc", ())) or "totalen"
    message = str(first.get("msg", exc))
    message = message.removeprefix("Value error, ")
    return field, message


def _totals_in_source(raw: Mapping[str, Any]) -> str:
    """The totals as FactuurSturen shows them, by its own field names, and what to do about them: the
    model's words ('het totaal') are derived amounts a support person cannot find in FactuurSturen."""
    # Both amounts parsed before the model checked the totals.
    gross, tax = _amount(raw, "totalintax"), _amount(raw, "tax")
    return (
        f"In FactuurSturen: totalintax {gross}, tax {tax} (excl. btw dus {gross - tax}); daarop moeten de regels (lines: amount × "
        "price, of linetotal) en de btw-regels (taxes: sum_of, sum) uitkomen. Corrigeer de factuur in "
        "FactuurSturen; is hij al naar de klant verstuurd, wijzig hem dan niet maar maak een creditfactuur "
        "en een nieuwe, juiste factuur: de koppeling boekt ze allebei"
    )


def _problem_record(record_id: str, cursor_key: str, field: str, message: str, raw: object) -> SourceRecord:
    try:
        excerpt = json.dumps(raw, default=str, ensure_ascii=False)[:500]
    except (TypeError, ValueError):
        excerpt = repr(raw)[:500]
    return SourceRecord(
        Stream.INVOICES,
        record_id,
        cursor_key,
        problem=SourceProblem(record_id=record_id, message=message, field=field, raw_excerpt=excerpt),
    )
