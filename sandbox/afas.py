"""AFAS Profit simulator: one environment (organisation) behind the REST App Connector.

As strict as AFAS where it hurts a client (docs/protocol-decisions.md, AFAS section): the token header
(`AfasToken <base64 of the whole token XML>`), only the connectors in the App Connector (MetaInfo lists
them), GetConnector paging that really reorders rows when no `orderbyfieldids` is given, the 2,049
character query limit (404), business errors as HTTP 500 with `externalMessage` and `profitLogReference`,
FiEntries that must balance, `Objects` as object or array, three different success bodies, 503 for
maintenance, and a dropped connection for `Connection: close`.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import random
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from sandbox._util import Clock, parse_json
from sandbox.base import ASGIApp, Receive, Scope, Send, SimBase, json_response

ROOT = "/profitrestservices"
MAX_QUERY = 2049
ENVIRONMENT = "O12345AA"
TOKEN_DATA = "949C1A9C0B3F4E7D8A6B5C4D3E2F1A0B949C1A9C0B3F4E7D8A6B5C4D3E2FE6A2"
APP_NAME = "Koppelaar"
NOT_SUPPORTED = -2147180996
BAD_PAGING = -2147180999
GENERIC = -2147220469

# Every connector a booking koppeling uses; the App Connector of the seed holds them all.
GET_CONNECTORS = (
    "Profit_Administrations",
    "Profit_Accounts",
    "Profit_VAT_code",
    "Profit_Journals",
    "Profit_Allocation_Assigments",
    "Profit_Debtor",
    "Profit_Creditor",
    "Precal_Valuta",
    "CaseWare_Periods",
    "Profit_Transactions_Allocated",
)
UPDATE_CONNECTORS = ("FiEntries", "KnSalesRelationOrg", "KnPurchaseRelationOrg", "KnSubject")
ROOT_OBJECT = {"FiEntries": "FiEntryPar"}


def token_xml(data: str) -> str:
    return f"<token><version>1</version><data>{data}</data></token>"


class AfasError(Exception):
    """A business error: HTTP 500 with AFAS's body."""

    def __init__(self, message: str, number: int = GENERIC) -> None:
        super().__init__(message)
        self.message = message
        self.number = number


@dataclass
class Relation:
    id: str
    code: str  # the organisation's BcCo
    name: str
    vat_number: str = ""
    kvk: str = ""
    created: str = "2026-01-02T09:15:00Z"


@dataclass
class Entry:
    unit: str
    number: int
    year: int
    period: int
    journal: str
    lines: list[dict[str, Any]]

    @property
    def invoice_number(self) -> str:
        return next((str(line["InId"]) for line in self.lines if line.get("InId")), "")


@dataclass
class Administration:
    id: str
    name: str
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    journals: dict[str, dict[str, Any]] = field(default_factory=dict)
    cost_centers: dict[str, str] = field(default_factory=dict)


def _amount(value: object, name: str) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise AfasError(f"De waarde bij '{name}' is geen bedrag.")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise AfasError(f"De waarde bij '{name}' is geen bedrag.") from None
    if not amount.is_finite():
        raise AfasError(f"De waarde bij '{name}' is geen bedrag.")
    return amount


def _list(value: object) -> list[Any]:
    """AFAS takes an object or an array wherever there may be several (Element, Objects)."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _objects(element: Mapping[str, Any]) -> dict[str, Any]:
    """`Objects` as one object with the children as keys, or as an array of such objects."""
    found: dict[str, Any] = {}
    for item in _list(element.get("Objects")):
        if not isinstance(item, Mapping):
            raise AfasError("Ongeldige structuur bij 'Objects'.")
        found.update(item)
    return found


class AfasSim(SimBase):
    """One AFAS environment with its App Connector, administraties, relations and entries."""

    name = "afas"

    def __init__(self, *, environment: str = ENVIRONMENT, clock: Clock | None = None, seed: int = 1) -> None:
        self.environment = environment
        self.app_name = APP_NAME
        self.tokens: dict[str, bool] = {}  # token XML → revoked
        self.token_expiry = "0"
        self.ip_blocked = False
        self.get_connectors = set(GET_CONNECTORS)
        self.update_connectors = set(UPDATE_CONNECTORS)
        self.administrations: dict[str, Administration] = {}
        self.vat_codes: dict[str, dict[str, Any]] = {}
        self.currencies = ["EUR", "USD", "GBP"]
        self.periods: list[dict[str, Any]] = []
        self.debtors: dict[str, Relation] = {}
        self.creditors: dict[str, Relation] = {}
        self.entries: list[Entry] = []
        self.subjects: list[dict[str, Any]] = []
        self.refused_destination = False  # the dossier-item type does not allow invoices as destination
        self._numbers = itertools.count(1)
        self._shapes = itertools.cycle(range(3))
        self._rng = random.Random(seed)
        self.headers_seen: list[dict[str, str]] = []
        self.service_seconds = 0.0  # how long AFAS takes per call (the benchmark sets it)
        self.in_flight = self.peak_in_flight = 0
        super().__init__(clock)

    # --- set-up (tests, demo)

    def add_token(self, data: str = TOKEN_DATA) -> str:
        xml = token_xml(data)
        with self.lock:
            self.tokens[xml] = False
        return xml

    def revoke_token(self, data: str = TOKEN_DATA) -> None:
        with self.lock:
            self.tokens[token_xml(data)] = True

    def remove_connector(self, connector: str) -> None:
        """The admin left this connector out of the App Connector."""
        with self.lock:
            self.get_connectors.discard(connector)
            self.update_connectors.discard(connector)

    def add_administration(self, unit: str, name: str) -> Administration:
        with self.lock:
            admin = self.administrations[unit] = Administration(unit, name)
            return admin

    def add_account(
        self, unit: str, number: str, name: str, kind: str = "Winst & verlies", **extra: Any
    ) -> None:
        with self.lock:
            self.administrations[unit].accounts[number] = {"Description": name, "AccountType": kind, **extra}

    def add_relation(self, kind: str, code: str, name: str, vat_number: str = "", kvk: str = "") -> Relation:
        """A debtor ('debiteur') or creditor entered in AFAS's own screens; AFAS numbers it."""
        with self.lock:
            table = self.debtors if kind == "debiteur" else self.creditors
            start = 10001 if kind == "debiteur" else 20001
            number = str(start + len(table))
            relation = table[number] = Relation(number, code, name, vat_number, kvk)
            return relation

    def bookings_per_invoice(self) -> dict[str, int]:
        with self.lock:
            counts: dict[str, int] = {}
            for entry in self.entries:
                counts[entry.invoice_number] = counts.get(entry.invoice_number, 0) + 1
            return counts

    # --- the app

    def build_app(self) -> ASGIApp:
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            request = Request(scope, receive)
            response = await self._handle(request, scope, send)
            if response is not None:
                await response(scope, receive, send)

        return app

    def error_response(self, status: int, retry_after: int, scope: Scope) -> Response:
        if status == 503:
            body = {
                "error": {"code": "503", "message": "AFAS Online is in onderhoud; check afasstatus.nl"},
                "retry_after": retry_after,
            }
            return json_response(body, 503, {"Retry-After": str(retry_after)})
        if status == 500:
            return _afas_error(AfasError("Er is een onverwachte fout opgetreden."))
        headers = {"Retry-After": str(retry_after)} if status == 429 else None
        return json_response({"message": f"HTTP {status}"}, status, headers)

    def state_summary(self) -> dict[str, Any]:
        return {"entries": len(self.entries), "debtors": len(self.debtors), "creditors": len(self.creditors)}

    async def _handle(self, request: Request, scope: Scope, send: Send) -> Response | None:
        if request.headers.get("connection", "").strip().lower() == "close":
            # AFAS's load balancer resets such connections ("connection reset by peer").
            await self._drop(send)
            return None
        with self.lock:
            self.headers_seen.append(dict(request.headers))
        path = request.url.path.lower()
        if not path.startswith(ROOT):
            return json_response({"message": "Not found"}, 404)
        path = path[len(ROOT) :]
        if len(request.url.query) > MAX_QUERY:
            return Response(b"", status_code=404)
        denied = self._authorise(request)
        if denied is not None:
            return denied
        with self.lock:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            if self.service_seconds:
                await asyncio.sleep(self.service_seconds)
            return await self._serve_call(request, path)
        finally:
            with self.lock:
                self.in_flight -= 1

    async def _serve_call(self, request: Request, path: str) -> Response:
        try:
            if request.method == "GET" and path == "/metainfo":
                return json_response(self._meta_info())
            if path.startswith("/connectors/"):
                name = request.url.path.split("/")[-1]  # case as sent: connector ids are
                if request.method == "GET":
                    return self._get_connector(name, request.url.query)
                if request.method == "POST":
                    return self._update_connector(name, await request.body())
            return json_response({"message": "Not found"}, 404)
        except AfasError as exc:
            return _afas_error(exc)

    def _authorise(self, request: Request) -> Response | None:
        header = request.headers.get("authorization", "")
        scheme, _, encoded = header.partition(" ")
        try:
            xml = base64.b64decode(encoded, validate=True).decode("utf-8") if scheme == "AfasToken" else ""
        except ValueError:
            xml = ""
        with self.lock:
            revoked = self.tokens.get(xml)
            blocked = self.ip_blocked
        if revoked is None or revoked:
            return Response(b"", status_code=401)
        if blocked:
            return Response(b"", status_code=403)
        return None

    def _meta_info(self) -> dict[str, Any]:
        with self.lock:
            return {
                "updateConnectors": [{"id": c, "description": c} for c in sorted(self.update_connectors)],
                "getConnectors": [{"id": c, "description": c} for c in sorted(self.get_connectors)],
                "info": {
                    "envid": self.environment,
                    "appName": self.app_name,
                    "group": "Alle beheerders (ADM)",
                    "tokenExpiry": self.token_expiry,
                },
            }

    # --- GetConnectors

    def _get_connector(self, name: str, query: str) -> Response:
        with self.lock:
            if name not in self.get_connectors:
                raise AfasError(
                    "General message: Deze GetConnector wordt niet ondersteund of de gebruiker is niet "
                    "geautoriseerd.",
                    NOT_SUPPORTED,
                )
            rows = self._rows(name)
        params = dict(parse_qsl(query, keep_blank_values=True))
        rows = [row for row in rows if _matches(row, _filters(params, rows))]
        order = params.get("orderbyfieldids", "")
        if order:
            for key in reversed(order.split(",")):
                descending = key.startswith("-")
                column = key.lstrip("-")
                if rows and column not in rows[0]:
                    raise AfasError(f"Het veld '{column}' bestaat niet in deze GetConnector.")
                rows.sort(key=lambda row: _sort_key(row.get(column)), reverse=descending)
        else:
            # Without an order the database returns whatever order it likes, differently per call.
            self._rng.shuffle(rows)
        skip, take = _paging(params)
        page = rows if take == -1 else rows[skip : skip + take]
        return json_response({"skip": skip, "take": take, "rows": page})

    def _rows(self, name: str) -> list[dict[str, Any]]:
        builders: dict[str, Callable[[], Iterable[dict[str, Any]]]] = {
            "Profit_Administrations": lambda: (
                {"UnitId": int(a.id), "Description": a.name} for a in self.administrations.values()
            ),
            "Profit_Accounts": lambda: (
                {"UnitId": int(a.id), "AccountNr": number, "Blocked": False, "CollectAccount": False, **row}
                for a in self.administrations.values()
                for number, row in a.accounts.items()
            ),
            "Profit_VAT_code": lambda: (
                {"VatCode": code, "Blocked": False, **row} for code, row in self.vat_codes.items()
            ),
            "Profit_Journals": lambda: (
                {"UnitId": int(a.id), "JournalId": code, "Blocked": False, **row}
                for a in self.administrations.values()
                for code, row in a.journals.items()
            ),
            "Profit_Allocation_Assigments": lambda: (
                {
                    "UnitId": int(a.id),
                    "AxisId": 1,
                    "AllocationCode": code,
                    "Description": text,
                    "Blocked": False,
                }
                for a in self.administrations.values()
                for code, text in a.cost_centers.items()
            ),
            "Profit_Debtor": lambda: (_relation_row(r, "Debtor") for r in self.debtors.values()),
            "Profit_Creditor": lambda: (_relation_row(r, "Creditor") for r in self.creditors.values()),
            "Precal_Valuta": lambda: ({"CurrencyId": c, "Description": c} for c in self.currencies),
            "CaseWare_Periods": lambda: (dict(p) for p in self.periods),
            "Profit_Transactions_Allocated": self._transaction_rows,
        }
        if name not in builders:
            raise AfasError(f"De GetConnector '{name}' bestaat niet.")
        return [dict(row) for row in builders[name]()]

    def _transaction_rows(self) -> Iterable[dict[str, Any]]:
        for entry in self.entries:
            for seq, line in enumerate(entry.lines, start=1):
                date = f"{line['EnDa']}T00:00:00Z"  # AFAS writes Z and means Amsterdam time
                yield {
                    "UnitId": int(entry.unit),
                    "EntryNo": entry.number,
                    "SeqNo": seq,
                    "Year": entry.year,
                    "Period": entry.period,
                    "JournalId": entry.journal,
                    "AccountNo": str(line["AcNr"]),
                    "AmtDebit": _amount(line.get("AmDe", 0), "AmDe"),
                    "AmtCredit": _amount(line.get("AmCr", 0), "AmCr"),
                    "EntryDate": date,
                    "VoucherDate": f"{line.get('BpDa') or line['EnDa']}T00:00:00Z",
                    "InvoiceId": line.get("InId") or None,
                    "Description": line.get("Ds") or None,
                    "DimAx1": line.get("_DiC1") or None,
                }

    # --- UpdateConnectors

    def _update_connector(self, name: str, raw: bytes) -> Response:
        try:
            body = parse_json(raw)
        except ValueError:
            return json_response({"message": "Invalid json"}, 400)
        with self.lock:
            if name not in self.update_connectors:
                raise AfasError(
                    "General message: Deze UpdateConnector wordt niet ondersteund of de gebruiker is niet "
                    "geautoriseerd.",
                    NOT_SUPPORTED,
                )
            root = ROOT_OBJECT.get(name, name)
            if not isinstance(body, Mapping) or root not in body:
                raise AfasError(f"Het object '{root}' ontbreekt in de aanvraag.")
            elements = _list(body[root].get("Element") if isinstance(body[root], Mapping) else None)
            if len(elements) != 1 or not isinstance(elements[0], Mapping):
                raise AfasError(f"Het object '{root}' moet één Element bevatten.")
            if name == "FiEntries":
                return self._fi_entries(elements[0])
            if name in ("KnSalesRelationOrg", "KnPurchaseRelationOrg"):
                return self._relation(name, elements[0])
            return self._subject(elements[0])

    def _fi_entries(self, element: Mapping[str, Any]) -> Response:
        header = element.get("Fields") or {}
        unit = str(header.get("UnId") or "")
        admin = self.administrations.get(unit)
        if admin is None:
            raise AfasError(f"De ingevulde waarde bij 'Administratie' ({unit}) bestaat niet.")
        journal = str(header.get("JoCo") or "")
        if journal not in admin.journals:
            raise AfasError(f"De ingevulde waarde bij 'Dagboek' ({journal}) bestaat niet.")
        try:
            year, period = int(header["Year"]), int(header["Peri"])
        except (KeyError, TypeError, ValueError):
            raise AfasError("Boekjaar en periode zijn verplicht.") from None
        if not 1 <= period <= 13:
            raise AfasError(f"Periode {period} bestaat niet in boekjaar {year}.")
        children = _objects(element).get("FiEntries")
        elements = _list(children.get("Element") if isinstance(children, Mapping) else None)
        if not elements:
            raise AfasError("De boeking heeft geen regels.")
        lines = [self._entry_line(admin, item) for item in elements]
        debit = sum((_amount(line.get("AmDe", 0), "AmDe") for line in lines), Decimal(0))
        credit = sum((_amount(line.get("AmCr", 0), "AmCr") for line in lines), Decimal(0))
        if debit != credit:
            raise AfasError(f"De boeking is niet in balans (debet {debit}, credit {credit}).")
        invoice = next((str(line["InId"]) for line in lines if line.get("InId")), "")
        relation = next((str(line["AcNr"]) for line in lines if str(line["VaAs"]) in ("2", "3")), "")
        if invoice and any(
            e.unit == unit
            and e.invoice_number == invoice
            and any(str(x["AcNr"]) == relation for x in e.lines)
            for e in self.entries
        ):
            raise AfasError(f"Factuurnummer {invoice} bestaat al bij relatie {relation}.")
        entry = Entry(unit, next(self._numbers), year, period, journal, lines)
        self.entries.append(entry)
        results = {"UnId": unit, "EnNo": str(entry.number)}
        shape = next(self._shapes)
        # The three success bodies AFAS gives for the same connector (fact sheet §7).
        if shape == 0:
            body: dict[str, Any] = {"results": {"FiEntries": {**results, "InID": invoice}}}
        elif shape == 1:
            body = {"FiEntryPar": {**results, "InId": invoice}}
        else:
            body = {"results": {"FiEntryPar": results}}
        return json_response(body, 201)

    def _entry_line(self, admin: Administration, item: object) -> dict[str, Any]:
        if not isinstance(item, Mapping) or not isinstance(item.get("Fields"), Mapping):
            raise AfasError("Een boekingsregel zonder 'Fields'.")
        line = dict(item["Fields"])
        kind, account = str(line.get("VaAs") or ""), str(line.get("AcNr") or "")
        known: set[str] | None = {
            "1": set(admin.accounts),
            "2": set(self.debtors),
            "3": set(self.creditors),
        }.get(kind)
        if known is None:
            raise AfasError(f"De ingevulde waarde bij 'Kenmerk rekening' ({kind}) is ongeldig.")
        if account not in known:
            what = {"1": "Rekeningnummer", "2": "Debiteur", "3": "Crediteur"}[kind]
            raise AfasError(f"De ingevulde waarde bij '{what}' ({account}) bestaat niet.")
        if len(str(line.get("InId") or "")) > 12:
            raise AfasError("De waarde bij 'Factuurnummer' is te lang (maximaal 12 tekens).")
        vat = line.get("VaId")
        if vat is not None and str(vat) not in self.vat_codes:
            raise AfasError(f"De ingevulde waarde bij 'Btw-code' ({vat}) bestaat niet.")
        debit, credit = _amount(line.get("AmDe", 0), "AmDe"), _amount(line.get("AmCr", 0), "AmCr")
        if line.get("CuId") is not None:
            if str(line["CuId"]) not in self.currencies:
                raise AfasError(f"De ingevulde waarde bij 'Valuta' ({line['CuId']}) bestaat niet.")
            if _amount(line.get("Rate"), "Rate") <= 0:
                raise AfasError("De waarde bij 'Koers' moet groter dan 0 zijn.")
        dims = _objects(item).get("FiDimEntries")
        for dim in _list(dims.get("Element") if isinstance(dims, Mapping) else None):
            fields = dim.get("Fields") if isinstance(dim, Mapping) else None
            if not isinstance(fields, Mapping):
                raise AfasError("Een verbijzondering zonder 'Fields'.")
            code = str(fields.get("DiC1") or "")
            if code not in admin.cost_centers:
                raise AfasError(f"De ingevulde waarde bij 'Verbijzonderingscode 1' ({code}) bestaat niet.")
            if (_amount(fields.get("AmDe", 0), "AmDe"), _amount(fields.get("AmCr", 0), "AmCr")) != (
                debit,
                credit,
            ):
                raise AfasError("Het bedrag van de verbijzondering wijkt af van het bedrag van de regel.")
            line["_DiC1"] = code
        return line

    def _relation(self, name: str, element: Mapping[str, Any]) -> Response:
        fields = element.get("Fields") or {}
        sales = name == "KnSalesRelationOrg"
        if not fields.get("IsDb" if sales else "IsCr"):
            raise AfasError(f"Het veld '{'IsDb' if sales else 'IsCr'}' is verplicht.")
        organisation = _objects(element).get("KnOrganisation")
        org_elements = _list(organisation.get("Element") if isinstance(organisation, Mapping) else None)
        if len(org_elements) != 1 or not isinstance(org_elements[0].get("Fields"), Mapping):
            raise AfasError("Het object 'KnOrganisation' ontbreekt.")
        org = org_elements[0]["Fields"]
        code, org_name = str(org.get("BcCo") or ""), str(org.get("Nm") or "")
        if not org_name:
            raise AfasError("De waarde bij 'Naam' is verplicht.")
        table = self.debtors if sales else self.creditors
        if code and any(r.code == code for r in table.values()):
            raise AfasError(f"Organisatie {code} bestaat al als {'debiteur' if sales else 'crediteur'}.")
        relation = self.add_relation(
            "debiteur" if sales else "crediteur",
            code,
            org_name,
            str(org.get("FiNr") or ""),
            str(org.get("CcNr") or ""),
        )
        key = "DbId" if sales else "CrId"
        return json_response({"results": {name: {key: relation.id, "BcCo": code}}}, 201)

    def _subject(self, element: Mapping[str, Any]) -> Response:
        fields = element.get("Fields") or {}
        children = _objects(element)
        link = _list((children.get("KnSubjectLink") or {}).get("Element"))
        files = _list((children.get("KnSubjectAttachment") or {}).get("Element"))
        if not fields.get("StId") or not link or not files:
            raise AfasError("Dossieritemtype, koppeling en bijlage zijn verplicht.")
        if self.refused_destination:
            raise AfasError("De bestemming van dit dossieritem is niet toegestaan bij het dossieritemtype.")
        for item in files:
            base64.b64decode(str(item["Fields"].get("FileStream") or ""), validate=True)
        number = str(1000 + len(self.subjects))
        self.subjects.append({"SbId": number, **dict(fields), "links": link, "files": files})
        return json_response({"results": {"KnSubject": {"SbId": number}}}, 201)


def _relation_row(relation: Relation, kind: str) -> dict[str, Any]:
    return {
        f"{kind}Id": relation.id,
        f"{kind}Name": relation.name,
        "BcCo": relation.code,
        "VatNr": relation.vat_number or None,
        "ChOfCommNr": relation.kvk or None,
        "CreateDate": relation.created,
        "ModifiedDate": relation.created,
    }


def _afas_error(exc: AfasError) -> Response:
    body = {
        "externalMessage": exc.message,
        "errorNumber": exc.number,
        "profitLogReference": uuid.uuid4().hex.upper(),
    }
    return json_response(body, 500)


def _paging(params: Mapping[str, str]) -> tuple[int, int]:
    try:
        skip, take = int(params.get("skip", "0")), int(params.get("take", "100"))
    except ValueError:
        raise AfasError("Ongeldige waarde voor skip of take.", BAD_PAGING) from None
    if (skip == -1) != (take == -1) or skip < -1 or take < -1:
        raise AfasError("Ongeldige combinatie van skip en take.", BAD_PAGING)
    return max(skip, 0), take


def _filters(params: Mapping[str, str], rows: list[dict[str, Any]]) -> list[list[tuple[str, int, str]]]:
    """OR-groups of AND-ed (field, operator, value): from filterjson or the three parallel lists."""
    groups: list[list[tuple[str, int, str]]] = []
    if "filterjson" in params:
        try:
            spec = json.loads(params["filterjson"])
            for group in _list(spec["Filters"]["Filter"]):
                groups.append(
                    [
                        (str(f["@FieldId"]), int(f["@OperatorType"]), str(f.get("#text", "")))
                        for f in _list(group["Field"])
                    ]
                )
        except (ValueError, KeyError, TypeError):
            raise AfasError("Ongeldig filter (filterjson).") from None
    elif "filterfieldids" in params:
        ids = params["filterfieldids"].split(";")
        values = params.get("filtervalues", "").split(";")
        ops = params.get("operatortypes", "").split(";")
        if not len(ids) == len(values) == len(ops):
            raise AfasError("Filtervelden, filterwaarden en operatoren komen niet overeen.")
        for i, v, o in zip(ids, values, ops, strict=True):
            parts = (i.split(","), v.split(","), o.split(","))
            if not len(parts[0]) == len(parts[1]) == len(parts[2]):
                raise AfasError("Filtervelden, filterwaarden en operatoren komen niet overeen.")
            groups.append([(a, int(c), b) for a, b, c in zip(*parts, strict=True)])
    columns = set(rows[0]) if rows else set()
    for group in groups:
        for column, op, _ in group:
            if columns and column not in columns:
                raise AfasError(f"Het filterveld '{column}' bestaat niet in deze GetConnector.")
            if not 1 <= op <= 15:
                raise AfasError(f"Onbekend operatortype {op}.")
    return groups


def _text(value: object) -> str:
    return "" if value is None else str(value).casefold()


def _matches(row: Mapping[str, Any], groups: list[list[tuple[str, int, str]]]) -> bool:
    if not groups:
        return True
    return any(all(_test(row.get(column), op, value) for column, op, value in group) for group in groups)


def _test(actual: object, op: int, value: str) -> bool:
    a, v = _text(actual), value.casefold()
    tests: dict[int, Callable[[], bool]] = {
        1: lambda: a == v,
        2: lambda: _sort_key(actual) >= _sort_key(value),
        3: lambda: _sort_key(actual) <= _sort_key(value),
        4: lambda: _sort_key(actual) > _sort_key(value),
        5: lambda: _sort_key(actual) < _sort_key(value),
        6: lambda: v in a,
        7: lambda: a != v,
        8: lambda: a == "",
        9: lambda: a != "",
        10: lambda: a.startswith(v),
        11: lambda: v not in a,
        12: lambda: not a.startswith(v),
        13: lambda: a.endswith(v),
        14: lambda: not a.endswith(v),
        15: lambda: v in a,
    }
    return tests[op]()


def _sort_key(value: object) -> tuple[int, Any]:
    if isinstance(value, bool) or value is None:
        return (0, str(value))
    if isinstance(value, int | Decimal):
        return (1, Decimal(value))
    try:
        return (1, Decimal(str(value)))
    except InvalidOperation:
        return (2, str(value).casefold())


def make_afas(clock: Clock | None = None) -> AfasSim:
    """The demo organisation: administratie 1 with a Dutch chart (8000 omzet hoog, 8010 omzet laag, 8100
    omzet advies, 4000 inkoop, 1510/1520 btw), btw-codes 1/2/0 (verkoop) and 5/6 (inkoop), dagboeken
    70 (verkoop) and 60 (inkoop), kostenplaatsen on axis 1, and the demo token."""
    sim = AfasSim(clock=clock)
    sim.add_token()
    sim.add_administration("1", "Bakkerij De Vries B.V.")
    for number, name, kind in (
        ("1300", "Debiteuren", "Balans"),
        ("1600", "Crediteuren", "Balans"),
        ("1510", "Af te dragen btw", "Balans"),
        ("1520", "Te vorderen btw", "Balans"),
        ("4000", "Inkoop grondstoffen", "Winst & verlies"),
        ("8000", "Omzet hoog", "Winst & verlies"),
        ("8010", "Omzet laag", "Winst & verlies"),
        ("8100", "Omzet advies", "Winst & verlies"),
    ):
        sim.add_account("1", number, name, kind, CollectAccount=number in ("1300", "1600"))
    admin = sim.administrations["1"]
    admin.journals.update(
        {
            "70": {"Description": "Verkoopboek", "JournalType": "Verkoop"},
            "60": {"Description": "Inkoopboek", "JournalType": "Inkoop"},
            "10": {"Description": "Bank", "JournalType": "Bank"},
        }
    )
    admin.cost_centers.update({"WEST": "Vestiging west", "OOST": "Vestiging oost"})
    for code, description, rate, vat_type, account in (
        ("0", "Geen btw", "0", "Verkoop", "1510"),
        ("1", "Btw hoog verkoop 21%", "21", "Verkoop", "1510"),
        ("2", "Btw laag verkoop 9%", "9", "Verkoop", "1510"),
        ("4", "Btw verlegd verkoop", "0", "Verkoop", "1510"),
        ("5", "Btw hoog inkoop 21%", "21", "Inkoop", "1520"),
        ("6", "Btw laag inkoop 9%", "9", "Inkoop", "1520"),
        ("7", "Geen btw inkoop", "0", "Inkoop", "1520"),
    ):
        sim.vat_codes[code] = {
            "Description": description,
            "VatPerc": Decimal(rate),
            "VatType": vat_type,
            "AccountNr": account,
        }
    return sim
