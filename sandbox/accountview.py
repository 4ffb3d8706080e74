"""AccountView.Net API v3 simulator: OAuth2 (authorization code, rotating refresh tokens), companies, the
generic `accountviewdata` reads and the positional DJ2 / CONTACT writes.

Follows ../shared/vendors/accountview.md; where the sheet marks a detail unknown the choice is written down
in docs/protocol-decisions.md ("AccountView"). Shares no code with connectors/.

What it models: tokens at `/api/v3/token` with the client's credentials in the form (a Basic header alone
is refused), single-use codes, refresh tokens that rotate and are refused once used; `X-Company` on every
data call (missing: 400, not this user's: 403); reads by business object with `PageNumber`/`PageSize`,
`Fields` and `FilterControlSourceN…` terms, a table with one row answered as an object instead of an
array; writes whose `Values` must match their `Fields` one for one (`Name` with a capital N, a detail
row's `HeaderId` naming a header `RowId`); the field dictionary's mandatory fields and lengths; a journal
page must balance (AMOUNT + VAT_AMT to zero, debit positive) with one line on the journal's
verzamelrekening for the page's relation; a page number is unique per journal; errors as
`{"ErrorType","ErrorNumbers","ErrorMessage"}` in Dutch; requests per second per company beyond the
ceiling get 429 (the real limits are not documented).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from sandbox._util import Clock, parse_json
from sandbox.base import ASGIApp, Message, Receive, Scope, Send, SimBase, json_response

ACCESS_TTL = 3600
CODE_TTL = 600
DATA = "/api/v3/accountviewdata"

# (table, column) → (field type, length, mandatory), from the public field dictionary (dct_fld).
DICTIONARY: dict[str, dict[str, tuple[str, int, bool]]] = {
    "DJ_PAGE": {
        "DJ_CODE": ("C", 3, True),
        "PAGE_NR": ("C", 10, True),
        "HDR_DESC": ("C", 40, True),
        "SUB_NR": ("C", 10, False),
        "INV_NR": ("C", 12, False),
        "TRN_DATE": ("T", 8, False),
        "PERIOD": ("N", 3, False),
    },
    "DJ_LINE": {
        "ACCT_NR": ("C", 10, True),
        "TRN_DESC": ("C", 40, False),
        "AMOUNT": ("N", 8, False),
        "VAT_CODE": ("C", 2, False),
        "VAT_AMT": ("N", 8, False),
        "COST_CODE": ("C", 10, False),
        "SUB_NR": ("C", 10, False),
        "INV_NR": ("C", 12, False),
        "TRN_DATE": ("T", 8, True),
    },
    "CONTACT": {
        "SUB_NR": ("C", 10, True),
        "ACCT_NAME": ("C", 40, True),
        "SRC_CODE": ("C", 10, True),
        "ACCT_NR": ("C", 10, False),
        "VAT_NR": ("C", 14, False),
        "COC_CODE": ("C", 20, False),
        "ADDRESS1": ("C", 50, False),
        "POST_CODE": ("C", 10, False),
        "CITY": ("C", 50, False),
        "CNT_CODE": ("C", 2, False),
        "MAIL_BUS": ("C", 80, False),
    },
}
# Business object → (main table, detail table or "", readable columns, insert allowed)
OBJECTS: dict[str, tuple[str, str, bool]] = {
    "GL1": ("LEDGER", "", False),
    "VA1": ("VAT", "", False),
    "DJ1": ("DAILY", "", False),
    "CC1": ("COST", "", False),
    "AR1": ("CONTACT", "", True),
    "AP1": ("CONTACT", "", True),
    "DJ2": ("DJ_PAGE", "DJ_LINE", True),
    "DJ2P": ("DJ_PAGE", "DJ_LINE", False),
}


class AvError(Exception):
    def __init__(self, status: int, message: str, error_type: str = "AccountViewError") -> None:
        super().__init__(message)
        self.status, self.message, self.error_type = status, message, error_type


def av_error(status: int, message: str, error_type: str = "AccountViewError", **headers: str) -> Response:
    body = {"ErrorType": error_type, "ErrorNumbers": None, "ErrorMessage": message}
    return json_response(body, status, headers or None)


def oauth_error(error: str, description: str) -> Response:
    return json_response({"error": error, "error_description": description}, 400)


@dataclass
class App:
    client_id: str
    client_secret: str
    redirect_uri: str


@dataclass
class Grant:
    """One authorization: its current refresh token and the ones it replaced."""

    client_id: str
    refresh_token: str
    used: set[str] = field(default_factory=set)
    revoked: bool = False


@dataclass
class Company:
    id: str
    code: str
    description: str
    ledger: dict[str, dict[str, Any]] = field(default_factory=dict)  # ACCT_NR → row
    vat: dict[str, dict[str, Any]] = field(default_factory=dict)
    daily: dict[str, dict[str, Any]] = field(default_factory=dict)
    cost: dict[str, dict[str, Any]] = field(default_factory=dict)
    contacts: dict[str, dict[str, dict[str, Any]]] = field(default_factory=lambda: {"AR1": {}, "AP1": {}})
    pages: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (DJ_CODE, PAGE_NR) →
    lines: list[dict[str, Any]] = field(default_factory=list)
    next_rec: int = 1

    def balance(self, account: str, sub_nr: str | None = None) -> Decimal:
        """What is booked on an account (debit positive), optionally for one relation."""
        return sum(
            (
                Decimal(line["AMOUNT"])
                for line in self.lines
                if line["ACCT_NR"] == account and (sub_nr is None or line.get("SUB_NR") == sub_nr)
            ),
            Decimal(0),
        )


def seed_company(company: Company, filler: int = 150) -> None:
    def ledger(nr: str, name: str, acct_type: int, link: int = 0) -> None:
        company.ledger[nr] = {
            "ACCT_NR": nr,
            "ACCT_NAME": name,
            "ACCT_TYPE": acct_type,
            "ACCT_LINK": link,  # type verzamelrekening: 1 debiteuren, 2 crediteuren
            "REC_BLK": False,
        }

    ledger("1300", "Debiteuren", 1, 1)
    ledger("1600", "Crediteuren", 1, 2)
    ledger("1500", "Te betalen btw", 1)
    ledger("4000", "Inkoopkosten", 2)
    ledger("7000", "Inkoopwaarde omzet", 2)
    ledger("8000", "Omzet hoog", 2)
    ledger("8010", "Omzet laag", 2)
    ledger("8100", "Omzet advies", 2)
    for i in range(filler):  # more than one page of 100
        ledger(str(5000 + i), f"Kostenrekening {i}", 2)
    for code, name, pct, vat_type, reverse in (
        ("0", "Geen btw", "0", 0, False),
        ("1", "Btw hoog verkoop 21%", "21", 1, False),
        ("2", "Btw laag verkoop 9%", "9", 1, False),
        ("3", "Btw verlegd verkoop", "0", 1, True),
        ("4", "Btw hoog inkoop 21%", "21", 2, False),
        ("5", "Btw laag inkoop 9%", "9", 2, False),
        ("6", "Btw verlegd inkoop 21%", "21", 2, True),
    ):
        company.vat[code] = {
            "VAT_CODE": code,
            "VAT_NAME": name,
            "VAT_PCT": Decimal(pct),
            "VAT_TYPE": vat_type,
            "IS_REVERSE": reverse,
        }
    for code, name, dj_type, typev in (
        ("VK", "Verkoopboek", 4, "Verkoop"),
        ("IK", "Inkoopboek", 5, "Inkoop"),
        ("BNK", "Bank", 2, "Bank"),
        ("MEM", "Memoriaal", 6, "Memoriaal"),
    ):
        company.daily[code] = {
            "DJ_CODE": code,
            "DJ_NAME": name,
            "DJ_TYPE": dj_type,
            "DJ_TYPEV": typev,
            "CLT_BLK": False,
        }
    for code, desc in (("100", "Algemeen"), ("200", "Advies"), ("300", "Projecten")):
        company.cost[code] = {"COST_CODE": code, "COST_DESC": desc, "REC_BLK": False}


class AccountViewSim(SimBase):
    """accountview.net with apps, one user, companies and OAuth grants."""

    name = "accountview"

    def __init__(
        self,
        *,
        companies: Iterable[tuple[str, str, str]] = ((str(uuid.uuid4()), "Demo B.V.", "DEMO"),),
        rate_per_second: int = 20,
        clock: Clock | None = None,
    ) -> None:
        self.rate_per_second = rate_per_second
        self.apps: dict[str, App] = {}
        self.codes: dict[str, tuple[str, str, float, bool]] = {}  # code → client, redirect, issued, used
        self.grants: list[Grant] = []
        self.access_tokens: dict[str, tuple[Grant, float]] = {}
        self.companies: dict[str, Company] = {}
        self.token_requests: list[tuple[str, str]] = []  # (grant_type, outcome)
        self._calls: dict[str, list[float]] = {}  # company → request times in the last second
        super().__init__(clock)
        for company_id, description, code in companies:
            company = Company(company_id, code, description)
            seed_company(company)
            self.companies[company.id] = company

    # --- seeding and inspection (tests)
    def add_app(self, client_id: str, client_secret: str, redirect_uri: str) -> None:
        with self.lock:
            self.apps[client_id] = App(client_id, client_secret, redirect_uri)

    def company(self, code: str | None = None) -> Company:
        with self.lock:
            if code is None:
                return next(iter(self.companies.values()))
            return next(c for c in self.companies.values() if c.code == code)

    def pages(self, code: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.company(code).pages.values())

    def contacts(self, business_object: str = "AR1", code: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.company(code).contacts[business_object].values())

    def add_contact(self, business_object: str, sub_nr: str, name: str, **fields: Any) -> None:
        with self.lock:
            row = {"SUB_NR": sub_nr, "ACCT_NAME": name, "SRC_CODE": sub_nr, "VAT_NR": "", **fields}
            self.company().contacts[business_object][sub_nr] = row

    def refreshes(self, outcome: str | None = None) -> int:
        with self.lock:
            return sum(1 for g, o in self.token_requests if g == "refresh_token" and outcome in (None, o))

    def revoke_all(self) -> None:
        """The user withdrew the app's access: every refresh and access token stops working."""
        with self.lock:
            for grant in self.grants:
                grant.revoked = True
            self.access_tokens.clear()

    def expire_access_tokens(self) -> None:
        with self.lock:
            self.access_tokens.clear()

    def state_summary(self) -> dict[str, Any]:
        return {
            "companies": [
                {"id": c.id, "code": c.code, "pages": len(c.pages), "debtors": len(c.contacts["AR1"])}
                for c in self.companies.values()
            ],
            "refreshes": self.refreshes(),
        }

    # --- OAuth
    def authorize(self, client_id: str, redirect_uri: str) -> str:
        with self.lock:
            app = self.apps.get(client_id)
            if app is None or app.redirect_uri != redirect_uri:
                raise ValueError("unknown app or redirect URI")
            code = secrets.token_urlsafe(24)
            self.codes[code] = (client_id, redirect_uri, self.clock(), False)
            return code

    async def _authorize(self, request: Request) -> Response:
        q = request.query_params
        if q.get("response_type") != "code":
            return Response("response_type must be code", 400)
        try:
            code = self.authorize(q.get("client_id", ""), q.get("redirect_uri", ""))
        except ValueError:
            return Response("Unknown client_id or redirect_uri", 400)
        params = {"code": code, **({"state": q["state"]} if "state" in q else {})}
        return RedirectResponse(f"{q['redirect_uri']}?{urlencode(params)}", status_code=302)

    async def _token(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode("utf-8"), keep_blank_values=True))
        with self.lock:
            response, outcome = self._grant(form)
            self.token_requests.append((form.get("grant_type", ""), outcome))
            return response

    def _new_tokens(self, grant: Grant) -> dict[str, Any]:
        access = secrets.token_urlsafe(32)
        grant.refresh_token = secrets.token_urlsafe(32)
        self.access_tokens[access] = (grant, self.clock() + ACCESS_TTL)
        return {
            "access_token": access,
            "token_type": "bearer",
            "expires_in": ACCESS_TTL,
            "refresh_token": grant.refresh_token,
        }

    def _grant(self, form: dict[str, str]) -> tuple[Response, str]:
        # Client credentials only in the form: the token endpoint does not read a Basic header.
        app = self.apps.get(form.get("client_id", ""))
        if app is None or not secrets.compare_digest(app.client_secret, form.get("client_secret", "")):
            return oauth_error("invalid_client", "Client authentication failed"), "invalid_client"
        grant_type = form.get("grant_type", "")
        if grant_type == "authorization_code":
            entry = self.codes.get(form.get("code", ""))
            if entry is None or entry[3] or entry[0] != app.client_id or self.clock() > entry[2] + CODE_TTL:
                return oauth_error(
                    "invalid_grant", "Authorization code is invalid or expired"
                ), "invalid_grant"
            if entry[1] != form.get("redirect_uri"):
                return oauth_error("invalid_grant", "Redirect URI does not match"), "invalid_grant"
            self.codes[form["code"]] = (*entry[:3], True)
            new = Grant(app.client_id, "")
            self.grants.append(new)
            return json_response(self._new_tokens(new)), "ok"
        if grant_type == "refresh_token":
            token = form.get("refresh_token", "")
            grant = next(
                (
                    g
                    for g in self.grants
                    if g.client_id == app.client_id and token in (g.refresh_token, *g.used)
                ),
                None,
            )
            if grant is None or grant.revoked or token in grant.used:
                return oauth_error("invalid_grant", "Refresh token is invalid"), "invalid_grant"
            grant.used.add(token)
            return json_response(self._new_tokens(grant)), "ok"
        return oauth_error("unsupported_grant_type", f"grant_type {grant_type!r}"), "unsupported"

    # --- faults per business object: a write's object is in its body, so the body is read first
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != DATA:
            await super().__call__(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            chunks.append(bytes(message.get("body", b"")))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        try:
            parsed = parse_json(body)
        except ValueError:
            parsed = None
        business_object = parsed.get("BusinessObject") if isinstance(parsed, dict) else None
        scope = {**scope, "accountview.object": business_object if isinstance(business_object, str) else None}
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await super().__call__(scope, replay, send)

    def soap_action(self, scope: Scope) -> str | None:
        """The business object of a write (DJ2, AR1, …), so a fault can pick journal pages out."""
        value = scope.get("accountview.object")
        return value if isinstance(value, str) else None

    # --- the API
    def error_response(self, status: int, retry_after: int, scope: Scope) -> Response:
        headers = {"Retry-After": str(retry_after)} if status == 429 else {}
        return av_error(
            status, f"HTTP {status}", "ServerError" if status >= 500 else "AccountViewError", **headers
        )

    def _user(self, request: Request) -> Grant | None:
        header = request.headers.get("authorization", "")
        if header[:7].lower() != "bearer ":
            return None
        found = self.access_tokens.get(header[7:].strip())
        if found is None or found[1] <= self.clock() or found[0].revoked:
            return None
        return found[0]

    def _company_of(self, request: Request) -> Company:
        company_id = request.headers.get("x-company", "")
        if not company_id:
            raise AvError(400, "Er is geen administratie opgegeven (X-Company ontbreekt)")
        company = self.companies.get(company_id)
        if company is None:
            raise AvError(403, f"Geen toegang tot administratie {company_id}")
        return company

    def _limited(self, key: str) -> Response | None:
        now = self.clock()
        times = [t for t in self._calls.get(key, []) if t > now - 1.0]
        if len(times) >= self.rate_per_second:
            self._calls[key] = times
            return av_error(429, "Te veel verzoeken; probeer het later opnieuw", **{"Retry-After": "1"})
        times.append(now)
        self._calls[key] = times
        return None

    async def _companies(self, request: Request) -> Response:
        with self.lock:
            if self._user(request) is None:
                return av_error(401, "Het toegangstoken is ongeldig of verlopen", "AuthenticationError")
            listed = [
                {"Id": c.id, "Description": c.description, "Code": c.code} for c in self.companies.values()
            ]
            return json_response(listed)

    async def _data(self, request: Request) -> Response:
        body = await request.body()
        with self.lock:
            if self._user(request) is None:
                return av_error(401, "Het toegangstoken is ongeldig of verlopen", "AuthenticationError")
            try:
                company = self._company_of(request)
                limited = self._limited(company.id)
                if limited is not None:
                    return limited
                if request.method == "GET":
                    return json_response(self._read(company, dict(request.query_params)))
                return json_response(self._write(company, body))
            except AvError as exc:
                return av_error(exc.status, exc.message, exc.error_type)

    # --- reads
    def _read(self, company: Company, query: dict[str, str]) -> dict[str, Any]:
        business_object = query.get("BusinessObject", "")
        if business_object not in OBJECTS:
            raise AvError(400, f"Onbekend bedrijfsobject '{business_object}'")
        table, detail, _insert = OBJECTS[business_object]
        rows = self._rows(company, business_object)
        for column, value in _filter_terms(query):
            if rows and column not in rows[0]:
                raise AvError(400, f"Onbekend veld '{column}' in het filter")
            rows = [r for r in rows if str(r.get(column, "")).strip().casefold() == value.strip().casefold()]
        try:
            size = int(query.get("PageSize", "100"))
            number = int(query.get("PageNumber", "1"))
        except ValueError:
            raise AvError(400, "PageSize en PageNumber zijn getallen") from None
        if not 1 <= size <= 1000 or number < 1:
            raise AvError(400, "PageSize moet tussen 1 en 1000 liggen")
        rows = rows[(number - 1) * size : number * size]
        fields = [f.strip() for f in query.get("Fields", "").split(",") if f.strip()]
        if fields:
            unknown = [f for f in fields if rows and f not in rows[0]]
            if unknown:
                raise AvError(400, f"Onbekend veld '{unknown[0]}'")
            rows = [{f: r.get(f) for f in fields} for r in rows]
        # One row comes back as an object, not an array (the pitfall every client meets).
        answer: dict[str, Any] = {table: rows[0] if len(rows) == 1 else rows}
        if detail:
            keys = {(r.get("DJ_CODE"), r.get("PAGE_NR")) for r in rows}
            lines = [ln for ln in company.lines if (ln["DJ_CODE"], ln["PAGE_NR"]) in keys]
            answer |= {detail: lines[0] if len(lines) == 1 else lines, "USR_LINK": [], "PAGE_WF": []}
        return answer

    def _rows(self, company: Company, business_object: str) -> list[dict[str, Any]]:
        source = {
            "GL1": company.ledger,
            "VA1": company.vat,
            "DJ1": company.daily,
            "CC1": company.cost,
            "AR1": company.contacts["AR1"],
            "AP1": company.contacts["AP1"],
        }.get(business_object)
        if source is not None:
            return list(source.values())
        return [dict(page) for page in company.pages.values()]

    # --- writes
    def _write(self, company: Company, raw: bytes) -> dict[str, Any]:
        try:
            body = parse_json(raw)
        except ValueError:
            raise AvError(400, "De aanvraag is geen geldige JSON") from None
        if not isinstance(body, dict) or set(body) != {"BookDate", "BusinessObject", "Table", "TableData"}:
            raise AvError(400, "De aanvraag moet BookDate, BusinessObject, Table en TableData bevatten")
        business_object = body["BusinessObject"]
        if business_object not in OBJECTS or not OBJECTS[business_object][2]:
            raise AvError(400, f"Bedrijfsobject '{business_object}' staat geen invoer toe")
        table, detail, _insert = OBJECTS[business_object]
        headers, details = _rows_of(body, table, detail)
        if business_object == "DJ2":
            for header in headers:
                self._book(company, header, [d for d in details if d.get("HeaderId") == header.get("RowId")])
        else:
            for header in headers:
                self._contact(company, business_object, header)
        return {}

    def _contact(self, company: Company, business_object: str, row: dict[str, Any]) -> None:
        contacts = company.contacts[business_object]
        if row["SUB_NR"] in contacts:
            raise AvError(400, f"Debiteur-/crediteurnummer {row['SUB_NR']} bestaat al")
        collective = row.get("ACCT_NR")
        if collective:
            wanted = 1 if business_object == "AR1" else 2
            ledger = company.ledger.get(collective)
            if ledger is None or ledger["ACCT_LINK"] != wanted:
                raise AvError(400, f"Rekening {collective} is geen verzamelrekening voor deze relatie")
        stored = {k: v for k, v in row.items() if k != "RowId"}
        stored.setdefault("VAT_NR", "")
        contacts[row["SUB_NR"]] = stored

    def _book(self, company: Company, page: dict[str, Any], lines: list[dict[str, Any]]) -> None:
        journal = company.daily.get(page["DJ_CODE"])
        if journal is None or journal["CLT_BLK"]:
            raise AvError(400, f"Dagboek {page['DJ_CODE']} bestaat niet")
        key = (page["DJ_CODE"], page["PAGE_NR"])
        if key in company.pages:
            raise AvError(400, f"Bladzijde {page['PAGE_NR']} bestaat al in dagboek {page['DJ_CODE']}")
        kind = {"Verkoop": ("AR1", 1), "Inkoop": ("AP1", 2)}.get(journal["DJ_TYPEV"])
        if kind is None:
            raise AvError(400, f"Dagboek {page['DJ_CODE']} is geen verkoop- of inkoopboek")
        sub_nr = page.get("SUB_NR") or ""
        if sub_nr not in company.contacts[kind[0]]:
            raise AvError(400, f"Debiteur-/crediteurnummer {sub_nr or '(leeg)'} bestaat niet")
        if not lines:
            raise AvError(400, "Een dagboekbladzijde heeft minstens één regel nodig")
        total = Decimal(0)
        collective = []
        for line in lines:
            ledger = company.ledger.get(line["ACCT_NR"])
            if ledger is None or ledger["REC_BLK"]:
                raise AvError(400, f"Rekening {line['ACCT_NR']} bestaat niet of is geblokkeerd")
            amount = _amount(line.get("AMOUNT"), "AMOUNT")
            vat_amount = _amount(line.get("VAT_AMT"), "VAT_AMT")
            vat_code = line.get("VAT_CODE") or ""
            if vat_code and vat_code not in company.vat:
                raise AvError(400, f"BTW-code {vat_code} bestaat niet")
            if vat_amount and not vat_code:
                raise AvError(400, f"Rekening {line['ACCT_NR']}: BTW-bedrag zonder BTW-code")
            if vat_amount and amount and (vat_amount > 0) != (amount > 0):
                raise AvError(
                    400, f"Rekening {line['ACCT_NR']}: BTW-bedrag en mutatiebedrag hebben een ander teken"
                )
            cost = line.get("COST_CODE") or ""
            if cost and cost not in company.cost:
                raise AvError(400, f"Kostenplaats {cost} bestaat niet")
            if ledger["ACCT_LINK"]:
                if ledger["ACCT_LINK"] != kind[1] or vat_code or (line.get("SUB_NR") or sub_nr) != sub_nr:
                    raise AvError(400, f"Verzamelrekening {line['ACCT_NR']} past niet bij deze bladzijde")
                collective.append(line)
            total += amount + vat_amount
        if len(collective) != 1:
            raise AvError(400, "Een bladzijde heeft precies één regel op de verzamelrekening van de relatie")
        if total != 0:
            raise AvError(400, f"De bladzijde is niet in evenwicht (verschil {total})")
        stored_page = {k: v for k, v in page.items() if k != "RowId"}
        company.pages[key] = stored_page
        for line in lines:
            stored = {k: v for k, v in line.items() if k not in ("RowId", "HeaderId")}
            stored |= {
                "DJ_CODE": page["DJ_CODE"],
                "PAGE_NR": page["PAGE_NR"],
                "REC_ID": str(company.next_rec),
            }
            stored["AMOUNT"] = _amount(line.get("AMOUNT"), "AMOUNT")
            stored["VAT_AMT"] = _amount(line.get("VAT_AMT"), "VAT_AMT")
            stored.setdefault("SUB_NR", sub_nr)
            company.next_rec += 1
            company.lines.append(stored)

    def build_app(self) -> ASGIApp:
        return Starlette(
            routes=[
                Route("/api/v3/authorize", self._authorize, methods=["GET"]),
                Route("/api/v3/token", self._token, methods=["POST"]),
                Route("/api/v3/companies", self._companies, methods=["GET"]),
                Route(DATA, self._data, methods=["GET", "POST"]),
            ]
        )


def _filter_terms(query: dict[str, str]) -> list[tuple[str, str]]:
    """(column, value) per complete `FilterControlSourceN` set; an incomplete set is refused."""
    terms = []
    n = 1
    while f"FilterControlSource{n}" in query:
        parts = [
            f"{p}{n}" for p in ("FilterOperator", "FilterValueType", "FilterValue", "FilterIsListOfValues")
        ]
        missing = [p for p in parts if p not in query]
        if missing:
            raise AvError(400, f"Filter {n} is onvolledig: {', '.join(missing)} ontbreekt")
        if query[f"FilterOperator{n}"] != "Equal" or query[f"FilterIsListOfValues{n}"] != "false":
            raise AvError(400, f"Filter {n}: de sandbox kent alleen Equal op één waarde")
        terms.append((query[f"FilterControlSource{n}"], query[f"FilterValue{n}"]))
        n += 1
    return terms


def _definition(raw: Any, expected: str) -> list[tuple[str, str]]:
    if not isinstance(raw, dict) or raw.get("Name") != expected or not isinstance(raw.get("Fields"), list):
        raise AvError(400, f"Tabeldefinitie {expected} ontbreekt of is onvolledig")
    fields = []
    for f in raw["Fields"]:
        if not isinstance(f, dict) or set(f) != {"Name", "FieldType"}:
            raise AvError(400, "Een velddefinitie heeft precies Name en FieldType")
        fields.append((str(f["Name"]), str(f["FieldType"])))
    return fields


def _rows_of(
    body: dict[str, Any], table: str, detail: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The header and detail rows as dicts, checked against the definitions and the field dictionary."""
    spec, data = body["Table"], body["TableData"]
    if not isinstance(spec, dict) or not isinstance(data, dict):
        raise AvError(400, "Table en TableData zijn objecten")
    header_fields = _definition(spec.get("Definition"), table)
    definitions = spec.get("DetailDefinitions") or []
    detail_data = data.get("DetailData") or []
    if (
        not isinstance(definitions, list)
        or not isinstance(detail_data, list)
        or len(definitions) != len(detail_data)
    ):
        raise AvError(400, "Er hoort één DetailData bij elke DetailDefinition")
    if detail and len(definitions) != 1:
        raise AvError(400, f"Bedrijfsobject met {table} verwacht de detailtabel {detail}")
    headers = _values(header_fields, (data.get("Data") or {}).get("Rows"), table)
    if not headers:
        raise AvError(400, "Er zijn geen rijen om in te voeren")
    details: list[dict[str, Any]] = []
    if detail:
        detail_fields = _definition(definitions[0], detail)
        details = _values(detail_fields, detail_data[0].get("Rows"), detail)
        row_ids = {h.get("RowId") for h in headers}
        if any(d.get("HeaderId") not in row_ids for d in details):
            raise AvError(400, "Een detailregel verwijst met HeaderId naar een onbekende kopregel")
    return headers, details


def _values(fields: list[tuple[str, str]], rows: Any, table: str) -> list[dict[str, Any]]:
    dictionary = DICTIONARY[table]
    names = [name for name, _type in fields]
    for name, field_type in fields:
        known = dictionary.get(name)
        if name in ("RowId", "HeaderId"):
            continue
        if known is None:
            raise AvError(400, f"Onbekend veld {table}.{name}")
        if known[0] != field_type:
            raise AvError(400, f"Veld {table}.{name} heeft FieldType {known[0]}, niet {field_type}")
    if "RowId" not in names:
        raise AvError(400, f"{table}: RowId ontbreekt")
    out = []
    for row in rows if isinstance(rows, list) else []:
        values = row.get("Values") if isinstance(row, dict) else None
        if not isinstance(values, list) or len(values) != len(fields):
            raise AvError(
                400, f"{table}: het aantal Values past niet bij de velddefinitie ({len(fields)} velden)"
            )
        record = dict(zip(names, values, strict=True))
        for name, (field_type, length, mandatory) in dictionary.items():
            value = record.get(name)
            if mandatory and (value is None or value == ""):
                raise AvError(400, f"Veld {table}.{name} is verplicht")
            if value is None:
                continue
            if field_type == "C" and (not isinstance(value, str) or len(value) > length):
                raise AvError(400, f"Veld {table}.{name} is tekst van hoogstens {length} tekens")
            if field_type == "N" and (isinstance(value, bool | str) or not isinstance(value, int | Decimal)):
                raise AvError(400, f"Veld {table}.{name} is een getal")
            if field_type == "T" and not (isinstance(value, str) and len(value) >= 10 and value[4] == "-"):
                raise AvError(400, f"Veld {table}.{name} is een datum (ISO 8601)")
        out.append(record)
    return out


def _amount(value: Any, name: str) -> Decimal:
    if value is None:
        return Decimal(0)
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise AvError(400, f"{name} is geen bedrag") from None
    if amount != amount.quantize(Decimal("0.01")):
        raise AvError(400, f"{name} heeft meer dan twee decimalen")
    return amount
