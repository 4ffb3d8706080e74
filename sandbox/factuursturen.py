"""FactuurSturen.nl REST v1 simulator (``{base}/api/v1/…``) with the vendor's JSON quirks.

Quirks reproduced (fact sheet §5–§8, docs/protocol-decisions.md):
- HTTP Basic (login name : API key); wrong → 401 ``{"error":"Authentication failed"}``.
- XML unless ``Accept`` contains ``application/json`` (httpx's default ``*/*`` gets XML).
- Top-level numbers and booleans are strings ("10.92", "0"/"1"); line fields are JSON numbers;
  ``lines``/``taxes``/``history`` are objects keyed ``line1``/``tax1``/``item1``, or ``[]`` when
  empty; empty dates are ``""``.
- Hourly quota per login: ``x-ratelimit-remaining`` on every authenticated response; exhausted →
  429 + ``Retry-After`` (seconds to the next hour).
"""

from __future__ import annotations

import base64
import binascii
import bisect
from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox._util import Clock, RawNumber, dumps, money_str, plain_number
from sandbox.base import ASGIApp, Scope, SimBase
from sandbox.data import COUNTRIES, NL, Client, DemoData, Invoice, Line, lines_from_specs

API = "/api/v1"
MAX_COUNT = 250
DEFAULT_COUNT = 250
FILTERS = ("paid", "open", "overdue")

# `GET taxes` as served by the sandbox (shape decided in docs/protocol-decisions.md).
TAXES = [
    {"percentage": "21", "type": "high", "description": "BTW hoog", "default": "1", "country": "146"},
    {"percentage": "9", "type": "low", "description": "BTW laag", "default": "0", "country": "146"},
    {
        "percentage": "0",
        "type": "zero",
        "description": "BTW 0% / verlegd / export",
        "default": "0",
        "country": "146",
    },
]


def _bool(value: bool) -> str:
    return "1" if value else "0"


def _num(value: Decimal) -> RawNumber:
    return RawNumber(plain_number(value))


class FactuurSturenSim(SimBase):
    """In-memory FactuurSturen account(s): clients, invoices, users (login → API key), hourly quota."""

    name = "factuursturen"

    def __init__(
        self,
        users: dict[str, str] | None = None,
        *,
        quota_per_hour: int | None = 1000,
        data: DemoData | None = None,
        clock: Clock | None = None,
        today: date | None = None,
    ) -> None:
        self.users: dict[str, str] = dict(users or {})
        self.quota_per_hour = quota_per_hour
        self.today = today  # for the `overdue` filter; None = clock date
        self._clients: dict[int, Client] = {}
        self._invoices: list[Invoice] = []  # sorted by (sent, id)
        self._keys: list[tuple[str, int]] = []  # parallel sort keys for bisect
        self._by_id: dict[int, Invoice] = {}
        self._usage: dict[str, tuple[int, int]] = {}  # login -> (hour window, calls used)
        self._next_id = 1_000_001
        self._next_clientnr = 100
        super().__init__(clock)
        if data is not None:
            self.load(data)

    # --- seeding and inspection (thread-safe)
    def add_user(self, login: str, api_key: str) -> None:
        with self.lock:
            self.users[login] = api_key

    def revoke_api_key(self, login: str) -> None:
        """The user deleted the key: later calls get 401."""
        with self.lock:
            self.users.pop(login, None)

    def load(self, data: DemoData) -> None:
        """Bulk-load generated clients and invoices (fast path for 100,000 invoices)."""
        with self.lock:
            for c in data.clients:
                self._clients[c.clientnr] = c
                self._next_clientnr = max(self._next_clientnr, c.clientnr + 1)
            self._invoices.extend(data.invoices)
            self._invoices.sort(key=lambda i: (i.sent, i.id))
            self._keys = [(i.sent, i.id) for i in self._invoices]
            for inv in data.invoices:
                self._by_id[inv.id] = inv
                self._next_id = max(self._next_id, inv.id + 1)

    def add_client(
        self,
        company: str = "Voorbeeld BV",
        *,
        clientnr: int | None = None,
        contact: str = "Jan de Vries",
        address: str = "Keizersgracht 123",
        zipcode: str = "1015 CJ",
        city: str = "Amsterdam",
        country: int = NL,
        email: str = "info@voorbeeld.nl",
        taxnumber: str = "NL004495445B01",
        kvk: str = "12345678",
        iban: str = "",
        phone: str = "",
    ) -> Client:
        with self.lock:
            nr = clientnr if clientnr is not None else self._next_clientnr
            self._next_clientnr = max(self._next_clientnr, nr + 1)
            client = Client(
                nr, company, contact, address, zipcode, city, country, email, taxnumber, kvk, iban, phone
            )
            self._clients[nr] = client
            return client

    def add_invoice(
        self,
        clientnr: int,
        lines: Iterable[Sequence[object] | Line],
        *,
        sent: str = "2026-01-15",
        invoicenr: str | None = None,
        id: int | None = None,
        paymentperiod: int = 14,
        paiddate: str = "",
        currency: str | None = None,
        tax_shifted: bool = False,
        legacy: bool = False,
        prefix: str = "F",
    ) -> Invoice:
        """Add a sent invoice; lines are ``(amount, price, tax_rate, description[, discount_pct])``.

        Totals are computed the FactuurSturen way (see sandbox.data). A ``legacy`` invoice must have
        no lines: it serialises ``lines``/``taxes``/``history`` as ``[]``.
        """
        built = lines_from_specs(lines)
        if legacy and built:
            raise ValueError("legacy invoices have no lines (zero amount)")
        with self.lock:
            if clientnr not in self._clients:
                raise KeyError(f"unknown clientnr {clientnr}")
            inv_id = id if id is not None else self._next_id
            self._next_id = max(self._next_id, inv_id + 1)
            year = sent[:4]
            nr = invoicenr or f"{year}{sum(1 for i in self._invoices if i.sent[:4] == year) + 1:05d}"
            due = date.fromordinal(date.fromisoformat(sent).toordinal() + paymentperiod).isoformat()
            inv = Invoice(
                id=inv_id,
                invoicenr=nr,
                clientnr=clientnr,
                sent=sent,
                duedate=due,
                lines=built,
                paiddate=paiddate,
                currency=currency,
                paymentperiod=paymentperiod,
                tax_shifted=tax_shifted,
                legacy=legacy,
                prefix=prefix,
            )
            key = (inv.sent, inv.id)
            pos = bisect.bisect_left(self._keys, key)
            self._keys.insert(pos, key)
            self._invoices.insert(pos, inv)
            self._by_id[inv.id] = inv
            return inv

    @property
    def invoices(self) -> list[Invoice]:
        with self.lock:
            return list(self._invoices)

    @property
    def clients(self) -> list[Client]:
        with self.lock:
            return list(self._clients.values())

    def get_invoice(self, invoice_id: int) -> Invoice:
        with self.lock:
            return self._by_id[invoice_id]

    def quota_remaining(self, login: str) -> int | None:
        with self.lock:
            if self.quota_per_hour is None:
                return None
            window, used = self._usage.get(login, (self._window(), 0))
            return self.quota_per_hour - (used if window == self._window() else 0)

    def state_summary(self) -> dict[str, Any]:
        return {"invoices": len(self._invoices), "clients": len(self._clients), "users": sorted(self.users)}

    # --- serialisation (the quirks live here)
    def invoice_json(self, inv: Invoice) -> dict[str, Any]:
        client = self._clients.get(inv.clientnr)
        out: dict[str, Any] = {
            "id": str(inv.id),
            "invoicenr_full": inv.invoicenr_full,
            "invoicenr": inv.invoicenr,
            "reference": {"line1": inv.reference[0], "line2": inv.reference[1], "line3": inv.reference[2]},
            "lines": {
                f"line{i}": {
                    "amount": _num(ln.amount),
                    "amount_desc": ln.amount_desc,
                    "description": ln.description,
                    "tax_rate": ln.tax_rate,
                    "price": _num(ln.price),
                    "discount_pct": _num(ln.discount_pct),
                    "linetotal": _num(ln.linetotal),
                }
                for i, ln in enumerate(inv.lines, 1)
            }
            or [],
            "profile": str(inv.profile),
            "discounttype": "percentage",
            "discount": "0",
            "paymentperiod": str(inv.paymentperiod),
            "collection": "0",
            "tax": money_str(inv.tax),
            "totalintax": money_str(inv.totalintax),
            "clientnr": str(inv.clientnr),
            "company": client.company if client else "",
            "contact": client.contact if client else "",
            "address": client.address if client else "",
            "zipcode": client.zipcode if client else "",
            "city": client.city if client else "",
            "country": str(client.country if client else NL),
            "sent": inv.sent,
            "open": money_str(inv.open),
            "paiddate": inv.paiddate,
            "duedate": inv.duedate,
            "taxes": {
                f"tax{i}": {"rate": rate, "sum": money_str(vat), "sum_of": money_str(base)}
                for i, (rate, vat, base) in enumerate(inv.taxes, 1)
            }
            or [],
            "history": {
                f"item{i}": {"date": d, "time": t, "description": desc}
                for i, (d, t, desc) in enumerate(inv.history, 1)
            }
            or [],
            "tax_type": "extax",
            "language": inv.language,
            "tax_shifted": _bool(inv.tax_shifted),
        }
        if inv.currency is not None:
            out["currency"] = inv.currency
        return out

    @staticmethod
    def client_json(c: Client) -> dict[str, Any]:
        return {
            "clientnr": str(c.clientnr),
            "company": c.company,
            "contact": c.contact,
            "address": c.address,
            "zipcode": c.zipcode,
            "city": c.city,
            "country": str(c.country),
            "phone": c.phone,
            "email": c.email,
            "taxnumber": c.taxnumber,
            "bankcode": c.iban,  # the IBAN; there is no `iban` or `kvk` field in the API model
            "biccode": "",
            "tax_shifted": _bool(c.country != NL and bool(c.taxnumber)),
            "email_reminder": "1",
            "lastinvoice": "",
        }

    # --- HTTP
    def _window(self) -> int:
        return int(self.clock() // 3600)

    def _respond(
        self, request: Request, body: Any, status: int = 200, headers: dict[str, str] | None = None
    ) -> Response:
        if "application/json" in request.headers.get("accept", ""):
            return Response(dumps(body), status, headers, media_type="application/json")
        return Response(
            _to_xml(body, _xml_root(request.url.path)), status, headers, media_type="application/xml"
        )

    def _auth(self, request: Request) -> tuple[str | None, Response | None]:
        """(login, None) when allowed; (None, error response) on bad credentials or quota."""
        header = request.headers.get("authorization", "")
        login = key = None
        if header[:6].lower() == "basic ":
            try:
                login, _, key = (
                    base64.b64decode(header[6:].strip(), validate=True).decode("utf-8").partition(":")
                )
            except (binascii.Error, UnicodeDecodeError):
                login = None
        with self.lock:
            if login is None or key is None or self.users.get(login) != key:
                return None, self._respond(request, {"error": "Authentication failed"}, 401)
            if self.quota_per_hour is None:
                return login, None
            window = self._window()
            used_window, used = self._usage.get(login, (window, 0))
            if used_window != window:
                used = 0
            if used >= self.quota_per_hour:
                retry = max(1, int((window + 1) * 3600 - self.clock() + 0.999))
                hdrs = {"x-ratelimit-remaining": "0", "Retry-After": str(retry)}
                return None, self._respond(request, {"error": "Rate limit exceeded"}, 429, hdrs)
            self._usage[login] = (window, used + 1)
        return login, None

    def _with_quota(self, login: str, response: Response) -> Response:
        remaining = self.quota_remaining(login)
        response.headers["x-ratelimit-remaining"] = str(remaining if remaining is not None else 1000)
        return response

    def error_response(self, status: int, retry_after: int, scope: Scope) -> Response:
        texts = {429: "Rate limit exceeded", 500: "Internal server error", 502: "Bad gateway"}
        headers = {"Retry-After": str(retry_after), "x-ratelimit-remaining": "0"} if status == 429 else None
        body = dumps({"error": texts.get(status, "Service unavailable")})
        return Response(body, status, headers, media_type="application/json")

    def build_app(self) -> ASGIApp:
        def endpoint(handler: Any) -> Any:
            async def wrapped(request: Request) -> Response:
                login, error = self._auth(request)
                if error is not None:
                    return error
                assert login is not None
                body, status = handler(request)
                return self._with_quota(login, self._respond(request, body, status))

            return wrapped

        routes = []
        for path, handler in (
            ("invoices", self._list_invoices),
            ("invoices/{id}", self._get_invoice),
            ("clients", self._list_clients),
            ("clients/{clientnr}", self._get_client),
            ("taxes", lambda r: (TAXES, 200)),
            ("countrylist", lambda r: (_COUNTRYLIST, 200)),
        ):
            routes.append(Route(f"{API}/{path}", endpoint(handler), methods=["GET"]))
            routes.append(Route(f"{API}/{path}/", endpoint(handler), methods=["GET"]))
        return Starlette(routes=routes)

    def _list_invoices(self, request: Request) -> tuple[Any, int]:
        q = request.query_params
        try:
            count = int(q.get("count", DEFAULT_COUNT))
            offset = int(q.get("offset", 0))
            since = q.get("since") or None
            until = q.get("until") or None
            for d in (since, until):
                if d is not None:
                    date.fromisoformat(d)
            clientnr = int(q["clientnr"]) if q.get("clientnr") else None
        except ValueError as exc:
            return {"error": f"Invalid parameter: {exc}"}, 400
        if not 1 <= count <= MAX_COUNT or offset < 0:
            return {"error": f"count must be 1..{MAX_COUNT} and offset >= 0"}, 400
        flt = q.get("filter") or None
        if flt is not None and flt not in FILTERS:
            return {"error": f"Unknown filter {flt!r}"}, 400
        today = (self.today or date.fromtimestamp(self.clock())).isoformat()
        with self.lock:
            lo = bisect.bisect_left(self._keys, (since, 0)) if since else 0
            hi = bisect.bisect_right(self._keys, (until, 1 << 62)) if until else len(self._keys)
            if flt is None and clientnr is None:
                page = self._invoices[lo + offset : min(hi, lo + offset + count)]
            else:
                page = []
                skipped = 0
                for inv in self._invoices[lo:hi]:
                    if clientnr is not None and inv.clientnr != clientnr:
                        continue
                    if flt == "paid" and inv.open:
                        continue
                    if flt == "open" and not inv.open:
                        continue
                    if flt == "overdue" and not (inv.open and inv.duedate < today):
                        continue
                    if skipped < offset:
                        skipped += 1
                        continue
                    page.append(inv)
                    if len(page) >= count:
                        break
            return [self.invoice_json(i) for i in page], 200

    def _get_invoice(self, request: Request) -> tuple[Any, int]:
        raw = request.path_params["id"]
        with self.lock:
            inv = self._by_id.get(int(raw)) if raw.isdigit() else None
            if inv is None:  # also accept the invoice number, as users quote that
                inv = next((i for i in self._invoices if raw in (i.invoicenr, i.invoicenr_full)), None)
            if inv is None:
                return {"error": "Invoice not found"}, 404
            return {"invoice": self.invoice_json(inv)}, 200

    def _list_clients(self, request: Request) -> tuple[Any, int]:
        q = request.query_params
        try:
            count = int(q["count"]) if "count" in q else None
            offset = int(q.get("offset", 0))
        except ValueError:
            return {"error": "Invalid parameter"}, 400
        with self.lock:
            items = sorted(self._clients.values(), key=lambda c: c.clientnr)
            items = items[offset : offset + count] if count is not None else items[offset:]
            return [self.client_json(c) for c in items], 200

    def _get_client(self, request: Request) -> tuple[Any, int]:
        raw = request.path_params["clientnr"]
        with self.lock:
            client = self._clients.get(int(raw)) if raw.isdigit() else None
            if client is None:
                return {"error": "Client not found"}, 404
            return {"client": self.client_json(client)}, 200


# The real list has only `id` and the Dutch `name` (about 227 entries); the sandbox serves those it uses.
_COUNTRYLIST = [{"id": str(cid), "name": name} for cid, (_iso, name) in sorted(COUNTRIES.items())]


def _xml_root(path: str) -> str:
    parts = [p for p in path.split("/") if p]
    return parts[2] if len(parts) > 2 else "response"


def _xml_item_name(root: str) -> str:
    return {"invoices": "invoice", "clients": "client", "taxes": "tax", "countrylist": "country"}.get(
        root, "item"
    )


def _to_xml(body: Any, root: str) -> bytes:
    """The XML the vendor sends when JSON was not asked for (shape approximate, on purpose)."""
    out = ['<?xml version="1.0" encoding="UTF-8"?>']

    def emit(tag: str, value: Any) -> None:
        if isinstance(value, dict):
            out.append(f"<{tag}>")
            for k, v in value.items():
                emit(k, v)
            out.append(f"</{tag}>")
        elif isinstance(value, list):
            out.append(f"<{tag}>")
            for v in value:
                emit(_xml_item_name(tag), v)
            out.append(f"</{tag}>")
        elif isinstance(value, RawNumber):
            out.append(f"<{tag}>{value.text}</{tag}>")
        else:
            out.append(f"<{tag}>{escape(str(value))}</{tag}>")

    if isinstance(body, dict) and len(body) == 1:
        (key, val), *_ = body.items()
        emit(key, val)
    else:
        emit(root, body)
    return "".join(out).encode("utf-8")
