"""Exact Online simulator: OAuth2 (authorization code, rotating refresh tokens) and REST/OData v2.

Follows ../shared/vendors/exact-online.md; where the sheet is silent the choice is written down in
docs/protocol-decisions.md ("Exact Online"). Shares no code with connectors/.

What it models: per-host tokens; `expires_in` as a string; a refresh only in the last 30 s of the access
token's 600 s (`400 access_denied` + `Reason: TooEarlyToRefreshTokens`); refresh tokens that rotate on
every use and are refused once used (`invalid_grant`); 30 days unused → `invalid_request` "expired";
single-use authorization codes (3 min); OData v2 `d.results` with 60 rows a page and `__next` carrying
`$skiptoken=guid'…'` (`$skip` is ignored, as unreliable as the real one); `/Date(ms)/`; space-padded
codes; `X-RateLimit-*` per app and division (minutely/daily, resets in epoch ms) with `429` at the
limits; 10 error responses (400/401/403/404) per app, division and endpoint in an hour block that
endpoint for an hour; error bodies `{"error":{"code":"","message":{"lang":"","value":…}}}` in Dutch;
cost centres (`hrm/Costcenters`) per division, a line's unknown `CostCenter` refused with a 500 like a
bad journal.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from sandbox._util import Clock, dumps, parse_json, round_cents
from sandbox.base import ASGIApp, Scope, SimBase, json_response

ACCESS_TTL = 600
TOO_EARLY = 570  # a refresh is refused until the access token is this old
REFRESH_IDLE = 30 * 86400
CODE_TTL = 180
PAGE = 60
MINUTELY = 60
DAILY = 5000
ERROR_BUDGET = 10  # error responses per app, division and endpoint per hour; the next one blocks
BLOCK_SECONDS = 3600
COUNTED = (400, 401, 403, 404)
HOSTS = {"NL": "start.exactonline.nl", "BE": "start.exactonline.be"}


# --- small helpers (deliberately not shared with connectors/) -------------------------------------


def odata_date(day: date | datetime) -> str:
    if isinstance(day, datetime):
        return f"/Date({int(day.timestamp() * 1000)})/"
    return f"/Date({int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)})/"


def pad_left(code: str, width: int) -> str:
    return code.rjust(width)


def exact_error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    body = {"error": {"code": "", "message": {"lang": "", "value": message}}}
    return Response(dumps(body), status_code=status, headers=headers, media_type="application/json")


def oauth_error(error: str, description: str, headers: dict[str, str] | None = None) -> Response:
    return json_response({"error": error, "error_description": description}, 400, headers)


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers


# --- state -----------------------------------------------------------------------------------------


@dataclass
class App:
    client_id: str
    client_secret: str
    redirect_uri: str


@dataclass
class Chain:
    """One authorization: its current refresh token and the access tokens it issued."""

    id: int
    client_id: str
    refresh_token: str
    refresh_issued_at: float
    access_issued_at: float
    used_refresh: set[str] = field(default_factory=set)
    revoked: bool = False


@dataclass
class Division:
    code: int
    description: str
    country: str = "NL"
    gl_accounts: dict[str, dict[str, Any]] = field(default_factory=dict)  # ID → row
    vat_codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    journals: dict[str, dict[str, Any]] = field(default_factory=dict)
    cost_centers: dict[str, dict[str, Any]] = field(default_factory=dict)
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    sales_entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    purchase_entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    document_attachments: dict[str, dict[str, Any]] = field(default_factory=dict)
    next_account: int = 1000
    next_entry: int = 24700001


def _gl(division: int, code: str, description: str, balance_type: str, gl_type: int) -> dict[str, Any]:
    return {
        "ID": str(uuid.uuid4()),
        "Code": code,
        "Description": description,
        "BalanceSide": "C" if gl_type in (110, 22) else "D",
        "BalanceType": balance_type,
        "Type": gl_type,
        "SearchCode": description.split()[0].upper()[:9].ljust(9),
        "VATCode": None,
        "IsBlocked": False,
        "Division": division,
        "Created": "/Date(1382667869110)/",
    }


def _vat(
    division: int, code: str, description: str, pct: str, vat_type: str, transaction: str
) -> dict[str, Any]:
    return {
        "ID": str(uuid.uuid4()),
        "Code": code.ljust(3),
        "Description": description,
        "Percentage": Decimal(pct),
        "Type": vat_type,  # E exclusive, I inclusive, N none
        "VATTransactionType": transaction,  # S sales, P purchase, B both
        "Charged": False,
        "IsBlocked": False,
        "Division": division,
    }


def _journal(division: int, code: str, description: str, journal_type: int) -> dict[str, Any]:
    return {
        "ID": str(uuid.uuid4()),
        "Code": code,
        "Description": description,
        "Type": journal_type,
        "Currency": "EUR",
        "IsBlocked": False,
        "Division": division,
    }


def _cost_center(
    division: int, code: str, description: str, *, end_date: date | None = None
) -> dict[str, Any]:
    # No `Active`: gone from Exact's reference since 2023-09, so `$select=…,Active` fails the call.
    return {
        "ID": str(uuid.uuid4()),
        "Code": code.ljust(8),  # padded like SearchCode (a sandbox choice: trim before comparing)
        "Description": description,
        "EndDate": odata_date(end_date) if end_date is not None else None,
        "Division": division,
        "Created": "/Date(1382667869110)/",
    }


def seed_division(div: Division, filler_gl: int = 100) -> None:
    d = div.code
    for row in (
        _gl(d, "1300", "Debiteuren", "B", 20),
        _gl(d, "1600", "Crediteuren", "B", 22),
        _gl(d, "1500", "Te betalen btw", "B", 50),
        _gl(d, "4000", "Inkoopkosten", "W", 121),
        _gl(d, "4406", "Rentekosten", "W", 120),
        _gl(d, "8000", "Omzet hoog", "W", 110),
        _gl(d, "8010", "Omzet laag", "W", 110),
        _gl(d, "8100", "Omzet advies", "W", 110),
    ):
        div.gl_accounts[row["ID"]] = row
    for i in range(filler_gl):  # enough rows that a directory read needs several pages
        row = _gl(d, str(7000 + i), f"Kostenrekening {i}", "W", 120)
        div.gl_accounts[row["ID"]] = row
    for row in (
        _vat(d, "0", "Geen btw", "0", "N", "B"),
        _vat(d, "1", "BTW hoog 21% incl.", "0.21", "I", "B"),
        _vat(d, "2", "BTW hoog 21% excl.", "0.21", "E", "B"),
        _vat(d, "3", "BTW laag 9% incl.", "0.09", "I", "B"),
        _vat(d, "4", "BTW laag 9% excl.", "0.09", "E", "B"),
        _vat(d, "5", "Verlegd verkoop", "0", "E", "S"),
        _vat(d, "6", "Buiten EU verkoop", "0", "E", "S"),
        _vat(d, "9", "Verlegd inkoop 21%", "0.21", "E", "P"),
    ):
        div.vat_codes[row["ID"]] = row
    for code, description, journal_type in (
        ("10", "Kas", 10),
        ("70", "Verkoopboek", 20),
        ("60", "Inkoopboek", 22),
        ("90", "Memoriaal", 90),
    ):
        row = _journal(d, code, description, journal_type)
        div.journals[row["ID"]] = row
    for row in (
        _cost_center(d, "100", "Algemeen"),
        _cost_center(d, "200", "Advies"),
        _cost_center(d, "300", "Detachering"),
        _cost_center(d, "400", "Projecten Zuid"),
        _cost_center(d, "500", "Vestiging Breda", end_date=date(2025, 6, 30)),  # closed mid-2025
        _cost_center(d, "900", "Oude projecten", end_date=date(2019, 12, 31)),
    ):
        div.cost_centers[row["ID"]] = row


# --- OData $filter ----------------------------------------------------------------------------------

_TERM = re.compile(
    r"\s*(?:(?P<trim>trim)\((?P<tfield>\w+)\)|(?P<field>\w+))\s+eq\s+"
    r"(?:guid'(?P<guid>[0-9a-fA-F-]{36})'|'(?P<str>(?:[^']|'')*)'|(?P<num>-?\d+)|(?P<bool>true|false))\s*"
)


def parse_filter(text: str) -> list[tuple[str, bool, Any]]:
    """`A eq 'x' and trim(B) eq 'y' and C eq guid'…'` → [(field, trim, value)]. Anything else: ValueError."""
    terms: list[tuple[str, bool, Any]] = []
    rest = text
    while True:
        m = _TERM.match(rest)
        if m is None:
            raise ValueError(text)
        name = m.group("tfield") or m.group("field")
        if m.group("guid") is not None:
            value: Any = m.group("guid").lower()
        elif m.group("str") is not None:
            value = m.group("str").replace("''", "'")
        elif m.group("num") is not None:
            value = int(m.group("num"))
        else:
            value = m.group("bool") == "true"
        terms.append((name, m.group("trim") is not None, value))
        rest = rest[m.end() :]
        if not rest:
            return terms
        if not rest.startswith("and "):
            raise ValueError(text)
        rest = rest[4:]


def _matches(row: dict[str, Any], terms: list[tuple[str, bool, Any]]) -> bool:
    for name, trim, value in terms:
        if name not in row:
            raise KeyError(name)
        have = row[name]
        if isinstance(have, str) and trim:
            have = have.strip()
        if isinstance(value, str) and isinstance(have, str) and len(value) == 36 and "-" in value:
            if have.lower() != value:
                return False
        elif have != value:
            return False
    return True


# --- the simulator -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entity:
    service: str
    name: str
    collection: str  # attribute of Division
    select_required: bool = False
    postable: bool = False


ENTITIES = {
    ("system", "Divisions"): Entity("system", "Divisions", ""),
    ("financial", "GLAccounts"): Entity("financial", "GLAccounts", "gl_accounts"),
    ("vat", "VATCodes"): Entity("vat", "VATCodes", "vat_codes"),
    ("financial", "Journals"): Entity("financial", "Journals", "journals"),
    ("hrm", "Costcenters"): Entity("hrm", "Costcenters", "cost_centers"),
    ("crm", "Accounts"): Entity("crm", "Accounts", "accounts", postable=True),
    ("salesentry", "SalesEntries"): Entity(
        "salesentry", "SalesEntries", "sales_entries", select_required=True, postable=True
    ),
    ("purchaseentry", "PurchaseEntries"): Entity(
        "purchaseentry", "PurchaseEntries", "purchase_entries", select_required=True, postable=True
    ),
    ("documents", "Documents"): Entity("documents", "Documents", "documents", postable=True),
    ("documents", "DocumentAttachments"): Entity(
        "documents", "DocumentAttachments", "document_attachments", postable=True
    ),
}
# Document types a booking's file may have (documents/DocumentTypes): sales and purchase invoice.
DOCUMENT_TYPES = {10: "Verkoopfactuur", 20: "Inkoopfactuur"}
# What a PUT may change on an entry here: only the linked document (the rest is not simulated).
ENTRY_UPDATABLE = {"Document"}


class ExactSim(SimBase):
    """One Exact Online host (NL or BE) with apps, one user, divisions and OAuth chains."""

    name = "exact"

    def __init__(
        self,
        *,
        country: str = "NL",
        divisions: tuple[int, ...] = (1234567,),
        user_name: str = "Jan de Vries",
        minutely_limit: int = MINUTELY,
        daily_limit: int = DAILY,
        error_budget: int = ERROR_BUDGET,
        page_size: int = PAGE,
        allow_refresh_reuse: bool = False,
        next_keeps_query: bool = True,
        filler_gl: int = 100,
        clock: Clock | None = None,
    ) -> None:
        self.country = country
        self.user_name = user_name
        self.minutely_limit = minutely_limit
        self.daily_limit = daily_limit
        self.error_budget = error_budget
        self.page_size = page_size
        self.allow_refresh_reuse = allow_refresh_reuse
        # Exact runs on WCF Data Services, whose next link repeats $filter/$select; the one published
        # sample (no query) shows only $skiptoken. False serves that bare form, to prove a client pages
        # right either way.
        self.next_keeps_query = next_keeps_query
        self.apps: dict[str, App] = {}
        self.codes: dict[str, tuple[str, str, float, bool]] = {}  # code → client, redirect, issued, used
        self.chains: dict[int, Chain] = {}
        self.access_tokens: dict[str, tuple[int, float]] = {}  # token → chain id, expires at
        self.divisions: dict[int, Division] = {}
        self.attachment_bytes: dict[str, bytes] = {}  # DocumentAttachment ID → the file as received
        self.current_division = divisions[0]
        self.token_requests: list[tuple[str, str]] = []  # (grant_type, outcome)
        self._calls: dict[tuple[str, int], list[float]] = {}  # (client, division) → call times (24 h)
        self._errors: dict[tuple[str, int, str], list[float]] = {}
        self._blocked: dict[tuple[str, int, str], float] = {}
        super().__init__(clock)
        for code in divisions:
            div = Division(code, f"Demo B.V. ({code})", country)
            seed_division(div, filler_gl)
            self.divisions[code] = div

    # --- seeding and inspection (tests)
    def add_app(self, client_id: str, client_secret: str, redirect_uri: str) -> App:
        with self.lock:
            app = App(client_id, client_secret, redirect_uri)
            self.apps[client_id] = app
            return app

    def authorize(self, client_id: str, redirect_uri: str) -> str:
        """The user logs in and allows the app: an authorization code (valid 3 minutes, once)."""
        with self.lock:
            app = self.apps.get(client_id)
            if app is None or app.redirect_uri != redirect_uri:
                raise ValueError("unknown app or redirect URI")
            code = "stamp" + self.country + "001." + secrets.token_urlsafe(24)
            self.codes[code] = (client_id, redirect_uri, self.clock(), False)
            return code

    def division(self, code: int | None = None) -> Division:
        return self.divisions[code if code is not None else self.current_division]

    def add_account(
        self, name: str, *, code: str | None = None, division: int | None = None, **fields: Any
    ) -> str:
        with self.lock:
            return str(
                self._create_account(self.division(division), {"Name": name, "Code": code, **fields})["ID"]
            )

    def add_journal(
        self,
        code: str,
        description: str,
        journal_type: int,
        *,
        blocked: bool = False,
        division: int | None = None,
    ) -> None:
        """A further dagboek (type 20 sales, 22 purchase, 10 cash, 12 bank, 90 general)."""
        with self.lock:
            div = self.division(division)
            row = {**_journal(div.code, code, description, journal_type), "IsBlocked": blocked}
            div.journals[row["ID"]] = row

    def gl_id(self, code: str, division: int | None = None) -> str:
        with self.lock:
            for row in self.division(division).gl_accounts.values():
                if row["Code"] == code:
                    return str(row["ID"])
        raise KeyError(code)

    def sales_entries(self, division: int | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.division(division).sales_entries.values())

    def purchase_entries(self, division: int | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.division(division).purchase_entries.values())

    def accounts(self, division: int | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.division(division).accounts.values())

    def refreshes(self, outcome: str | None = None) -> int:
        with self.lock:
            return sum(
                1
                for g, o in self.token_requests
                if g == "refresh_token" and (outcome is None or o == outcome)
            )

    def errors_this_hour(self, endpoint_suffix: str = "") -> int:
        now = self.clock()
        with self.lock:
            return sum(
                len([t for t in times if t > now - 3600])
                for (_c, _d, endpoint), times in self._errors.items()
                if endpoint.endswith(endpoint_suffix)
            )

    @property
    def blocked(self) -> list[str]:
        now = self.clock()
        with self.lock:
            return [endpoint for (_c, _d, endpoint), until in self._blocked.items() if until > now]

    def revoke_all(self) -> None:
        """The user withdrew the app's access in Exact: every refresh and access token stops working."""
        with self.lock:
            for chain in self.chains.values():
                chain.revoked = True
            self.access_tokens.clear()

    def state_summary(self) -> dict[str, Any]:
        return {
            "divisions": [
                {"code": d.code, "sales_entries": len(d.sales_entries), "accounts": len(d.accounts)}
                for d in self.divisions.values()
            ],
            "refreshes": self.refreshes(),
            "now": self.clock(),
        }

    def extra_control_routes(self) -> list[Route]:
        async def clock(request: Request) -> Response:
            return json_response({"now": self.clock()})

        return [Route("/_sandbox/exact/clock", clock, methods=["GET"])]

    # --- OAuth
    def _new_tokens(self, chain: Chain, now: float) -> dict[str, Any]:
        access = f"stamp{self.country}001.gAAAA{secrets.token_urlsafe(32)}"
        refresh = f"stamp{self.country}001.jHaG!IAAAA{secrets.token_urlsafe(32)}"
        chain.refresh_token = refresh
        chain.refresh_issued_at = now
        chain.access_issued_at = now
        self.access_tokens[access] = (chain.id, now + ACCESS_TTL)
        return {
            "access_token": access,
            "token_type": "bearer",
            "expires_in": str(ACCESS_TTL),
            "refresh_token": refresh,
        }

    async def _token(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode("utf-8"), keep_blank_values=True))
        grant = form.get("grant_type", "")
        with self.lock:
            response, outcome = self._grant(form, grant)
            self.token_requests.append((grant, outcome))
            return response

    def _grant(self, form: dict[str, str], grant: str) -> tuple[Response, str]:
        now = self.clock()
        app = self.apps.get(form.get("client_id", ""))
        if app is None or not secrets.compare_digest(app.client_secret, form.get("client_secret", "")):
            return oauth_error("invalid_client", "Client authentication failed"), "invalid_client"
        if grant == "authorization_code":
            entry = self.codes.get(form.get("code", ""))
            if entry is None or entry[3] or entry[0] != app.client_id or now > entry[2] + CODE_TTL:
                return oauth_error(
                    "invalid_grant", "Authorization code is invalid or expired"
                ), "invalid_grant"
            if entry[1] != form.get("redirect_uri"):
                return oauth_error("invalid_grant", "Redirect URI does not match"), "invalid_grant"
            self.codes[form["code"]] = (*entry[:3], True)
            new = Chain(len(self.chains) + 1, app.client_id, "", now, now)
            self.chains[new.id] = new
            return json_response(self._new_tokens(new, now)), "ok"
        if grant == "refresh_token":
            token = form.get("refresh_token", "")
            chain = next(
                (
                    c
                    for c in self.chains.values()
                    if c.client_id == app.client_id and (c.refresh_token == token or token in c.used_refresh)
                ),
                None,
            )
            if chain is None or chain.revoked:
                return (
                    oauth_error("invalid_grant", "Token is not allowed, because of invalid or empty chainId"),
                    "invalid_grant",
                )
            if token in chain.used_refresh and not self.allow_refresh_reuse:
                return oauth_error("invalid_grant", "Old refresh token used."), "invalid_grant"
            if now > chain.refresh_issued_at + REFRESH_IDLE:
                expired = datetime.fromtimestamp(chain.refresh_issued_at + REFRESH_IDLE, UTC)
                text = f"The refresh token expired at {expired:%m/%d/%Y %H:%M:%S} and it is now {datetime.fromtimestamp(now, UTC):%m/%d/%Y %H:%M:%S}"
                return oauth_error("invalid_request", text), "expired"
            if now < chain.access_issued_at + TOO_EARLY:
                return (
                    oauth_error(
                        "access_denied",
                        "Rate limit exceeded: access_token not expired",
                        {"Reason": "TooEarlyToRefreshTokens"},
                    ),
                    "too_early",
                )
            chain.used_refresh.add(chain.refresh_token)
            return json_response(self._new_tokens(chain, now)), "ok"
        return oauth_error("unsupported_grant_type", f"grant_type {grant!r} is not supported"), "unsupported"

    async def _authorize(self, request: Request) -> Response:
        q = request.query_params
        if q.get("response_type") != "code":
            return Response("response_type must be code", 400)
        try:
            code = self.authorize(q.get("client_id", ""), q.get("redirect_uri", ""))
        except ValueError:
            return Response("Unknown client_id or redirect_uri", 400)
        params = {"code": code}
        if q.get("state") is not None:
            params["state"] = q["state"]
        return RedirectResponse(f"{q['redirect_uri']}?{urlencode(params)}", status_code=302)

    # --- REST: the governor in front of every call
    def error_response(self, status: int, retry_after: int, scope: Scope) -> Response:
        if status == 429:
            now = self.clock()
            reset = int((now // 60 + 1) * 60 * 1000)
            return exact_error(
                429,
                "Too many requests",
                {
                    "X-RateLimit-Minutely-Limit": str(self.minutely_limit),
                    "X-RateLimit-Minutely-Remaining": "0",
                    "X-RateLimit-Minutely-Reset": str(reset),
                },
            )
        if status >= 500:
            return Response("<html><body><h1>Server Error</h1></body></html>", status, media_type="text/html")
        return exact_error(status, f"HTTP {status}")

    def _bearer(self, request: Request) -> Chain | None:
        header = request.headers.get("authorization", "")
        if header[:7].lower() != "bearer ":
            return None
        found = self.access_tokens.get(header[7:].strip())
        if found is None or found[1] <= self.clock():
            return None
        chain = self.chains[found[0]]
        return None if chain.revoked else chain

    def _client_of(self, request: Request) -> str:
        """The app behind a bearer token, also an expired one (errors count per app)."""
        header = request.headers.get("authorization", "")
        found = self.access_tokens.get(header[7:].strip()) if header[:7].lower() == "bearer " else None
        return self.chains[found[0]].client_id if found is not None else "?"

    async def _api(self, request: Request) -> Response:
        body = await request.body()
        with self.lock:
            return self._api_locked(request, body)

    def _api_locked(self, request: Request, body: bytes) -> Response:
        now = self.clock()
        path = request.url.path
        parts = path[len("/api/v1/") :].split("/")
        me = parts[:2] == ["current", "Me"]
        division = self.current_division if me else _int(parts[0])
        chain = self._bearer(request)
        client = self._client_of(request)
        key = (client, division or 0, path.split("(")[0])
        if self._blocked.get(key, 0) > now:
            return exact_error(
                403,
                "Toegang tot dit endpoint is tijdelijk geblokkeerd wegens te veel foutieve verzoeken.",
                {"Reason": "ErrorLimitExceeded"},
            )
        if chain is None:
            return self._counted(key, now, Response(b"", 401, {"WWW-Authenticate": "Bearer"}))
        limited = self._rate(client, division or 0, now)
        if isinstance(limited, Response):
            return limited
        try:
            if me:
                result = self._me(request)
            else:
                if division not in self.divisions:
                    raise ApiError(403, "Geen toegang tot deze administratie.")
                result = self._entity(request, self.divisions[division], parts[1:], body)
        except ApiError as exc:
            response = exact_error(exc.status, exc.message, exc.headers)
        else:
            response = result
        for name, value in limited.items():
            response.headers[name] = value
        return self._counted(key, now, response)

    def _counted(self, key: tuple[str, int, str], now: float, response: Response) -> Response:
        if response.status_code in COUNTED:
            times = [t for t in self._errors.get(key, []) if t > now - 3600]
            times.append(now)
            self._errors[key] = times
            if len(times) >= self.error_budget:
                self._blocked[key] = now + BLOCK_SECONDS
        return response

    def _rate(self, client: str, division: int, now: float) -> Response | dict[str, str]:
        times = [t for t in self._calls.get((client, division), []) if t >= now - 86400]
        minute_start = now // 60 * 60
        day_start = now // 86400 * 86400
        in_minute = sum(1 for t in times if t >= minute_start)
        in_day = sum(1 for t in times if t >= day_start)
        minutely = {
            "X-RateLimit-Minutely-Limit": str(self.minutely_limit),
            "X-RateLimit-Minutely-Reset": str(int((minute_start + 60) * 1000)),
        }
        daily = {
            "X-RateLimit-Limit": str(self.daily_limit),
            "X-RateLimit-Reset": str(int((day_start + 86400) * 1000)),
        }
        if in_day >= self.daily_limit:
            return exact_error(429, "Too many requests", {**daily, "X-RateLimit-Remaining": "0"})
        if in_minute >= self.minutely_limit:
            # Only the minutely headers: a client must not read absent daily headers as "0 left".
            return exact_error(429, "Too many requests", {**minutely, "X-RateLimit-Minutely-Remaining": "0"})
        times.append(now)
        self._calls[(client, division)] = times
        return {
            **minutely,
            "X-RateLimit-Minutely-Remaining": str(self.minutely_limit - in_minute - 1),
            **daily,
            "X-RateLimit-Remaining": str(self.daily_limit - in_day - 1),
        }

    # --- REST: entities
    def _me(self, request: Request) -> Response:
        row = {
            "__metadata": {"uri": f"{request.base_url}api/v1/current/Me(guid'{uuid.UUID(int=1)}')"},
            "CurrentDivision": self.current_division,
            "UserID": str(uuid.UUID(int=1)),
            "FullName": self.user_name,
            "UserName": "jan@example.nl",
            "LanguageCode": "nl-NL",
            "Legislation": 1 if self.country == "NL" else 2,
        }
        return json_response({"d": {"results": [row]}})

    def _entity(self, request: Request, div: Division, parts: list[str], body: bytes) -> Response:
        if len(parts) != 2:
            raise ApiError(404, "De opgegeven resource bestaat niet.")
        service, name = parts[0], parts[1]
        single = None
        m = re.fullmatch(r"(\w+)\(guid'([0-9a-fA-F-]{36})'\)", name)
        if m:
            name, single = m.group(1), m.group(2).lower()
        entity = ENTITIES.get((service, name))
        if entity is None:
            raise ApiError(404, f"De resource '{service}/{name}' bestaat niet.")
        if request.method == "POST":
            if not entity.postable or single is not None:
                raise ApiError(405, "Deze methode is niet toegestaan.")
            return self._post(request, div, entity, body)
        if request.method == "PUT":
            if single is None or entity.name not in ("SalesEntries", "PurchaseEntries"):
                raise ApiError(405, "Deze methode is niet toegestaan.")
            return self._put_entry(div, entity, single, body)
        if request.method != "GET":
            raise ApiError(405, "Deze methode is niet toegestaan.")
        rows = self._rows(div, entity)
        if single is not None:
            found = next((r for r in rows if str(r["ID"]).lower() == single), None)
            if found is None:
                raise ApiError(404, "Het opgegeven object bestaat niet.")
            return json_response({"d": self._out(request, div, entity, found, None)})
        return self._list(request, div, entity, rows)

    def _rows(self, div: Division, entity: Entity) -> list[dict[str, Any]]:
        if entity.name == "Divisions":
            return [
                {
                    "ID": str(uuid.UUID(int=d.code)),
                    "Code": d.code,
                    "Description": d.description,
                    "Country": d.country.ljust(3),
                    "Currency": "EUR",
                    "VATNumber": "NL001234567B01",
                    "Current": d.code == self.current_division,
                }
                for d in self.divisions.values()
            ]
        return list(getattr(div, entity.collection).values())

    def _list(self, request: Request, div: Division, entity: Entity, rows: list[dict[str, Any]]) -> Response:
        q = request.query_params
        select = [s.strip() for s in q.get("$select", "").split(",") if s.strip()]
        top = q.get("$top")
        if entity.select_required and not select and top != "1":
            raise ApiError(400, "Please add a $select or a $top=1 statement to the query string.")
        if "$filter" in q:
            try:
                terms = parse_filter(q["$filter"])
                rows = [r for r in rows if _matches(r, terms)]
            except ValueError:
                raise ApiError(400, f"Ongeldige $filter: {q['$filter']}") from None
            except KeyError as exc:
                raise ApiError(400, f"Onbekende eigenschap in $filter: {exc.args[0]}") from None
        for name in select:
            if rows and name not in rows[0]:
                raise ApiError(400, f"Onbekende eigenschap in $select: {name}")
        rows.sort(key=lambda r: str(r["ID"]))
        skiptoken = q.get("$skiptoken")
        if skiptoken:
            m = re.fullmatch(r"guid'([0-9a-fA-F-]{36})'", skiptoken)
            if m is None:
                raise ApiError(400, "Ongeldige $skiptoken.")
            rows = [r for r in rows if str(r["ID"]) > m.group(1).lower()]
        limit = self.page_size
        if top is not None:
            try:
                limit = min(limit, max(0, int(top)))
            except ValueError:
                raise ApiError(400, "Ongeldige $top.") from None
        page = rows[:limit]
        out: dict[str, Any] = {"results": [self._out(request, div, entity, r, select) for r in page]}
        if len(rows) > limit and top is None:
            # As Exact writes it: the caller's query kept, `$skiptoken=guid'…'` appended unencoded.
            kept = [
                part
                for part in request.url.query.split("&")
                if self.next_keeps_query
                and part
                and not part.split("=")[0].replace("%24", "$").startswith(("$skiptoken", "$skip"))
            ]
            kept.append(f"$skiptoken=guid'{page[-1]['ID']}'")
            out["__next"] = f"{request.url.scheme}://{request.url.netloc}{request.url.path}?{'&'.join(kept)}"
        return json_response({"d": out})

    def _out(
        self, request: Request, div: Division, entity: Entity, row: dict[str, Any], select: list[str] | None
    ) -> dict[str, Any]:
        uri = f"{request.url.scheme}://{request.url.netloc}/api/v1/{div.code}/{entity.service}/{entity.name}(guid'{row['ID']}')"
        meta = {"__metadata": {"uri": uri, "type": f"Exact.Web.Api.Models.{entity.name}"}}
        if select:
            return {**meta, **{k: row[k] for k in select}}
        return {**meta, **row}

    def _post(self, request: Request, div: Division, entity: Entity, body: bytes) -> Response:
        try:
            data = parse_json(body)
        except ValueError:
            raise ApiError(400, "Fout bij het verwerken van de aanvraag: ongeldige JSON.") from None
        if not isinstance(data, dict):
            raise ApiError(400, "Fout bij het verwerken van de aanvraag: geen object.")
        if entity.name == "Accounts":
            row = self._create_account(div, data)
        elif entity.name == "Documents":
            row = self._create_document(div, data)
        elif entity.name == "DocumentAttachments":
            row = self._create_document_attachment(div, data)
        else:
            row = self._create_entry(div, entity, data)
        return json_response({"d": self._out(request, div, entity, row, None)}, 201)

    def _create_account(self, div: Division, data: dict[str, Any]) -> dict[str, Any]:
        name = str(data.get("Name") or "").strip()
        if not name:
            raise ApiError(400, "Verplicht: Naam")
        code = data.get("Code")
        if code is not None and str(code).strip():
            code = str(code).strip()
            if not code.isdigit() or len(code) > 18:
                raise ApiError(400, "Ongeldig: Code (alleen cijfers, maximaal 18)")
            if any(a["Code"].strip() == code for a in div.accounts.values()):
                raise ApiError(400, f"Code {code} bestaat al.")
        else:
            while any(a["Code"].strip() == str(div.next_account) for a in div.accounts.values()):
                div.next_account += 1
            code = str(div.next_account)
            div.next_account += 1
        unknown = set(data) - {
            "Name", "Code", "SearchCode", "VATNumber", "ChamberOfCommerce", "AddressLine1", "Postcode",
            "City", "Country", "Email", "IsSales", "IsSupplier", "Status",
        }  # fmt: skip
        if unknown:
            raise ApiError(400, f"Onbekende eigenschap: {sorted(unknown)[0]}")
        account_id = str(uuid.uuid4())
        row: dict[str, Any] = {
            "ID": account_id,
            "Code": pad_left(code, 18),
            "Name": name,
            "SearchCode": str(data.get("SearchCode") or "").ljust(10) if data.get("SearchCode") else None,
            "VATNumber": data.get("VATNumber") or None,
            "ChamberOfCommerce": data.get("ChamberOfCommerce") or None,
            "AddressLine1": data.get("AddressLine1") or None,
            "Postcode": data.get("Postcode") or None,
            "City": data.get("City") or None,
            "Country": str(data.get("Country") or div.country).ljust(3),
            "Email": data.get("Email") or None,
            "IsSales": bool(data.get("IsSales", False)),
            "IsSupplier": bool(data.get("IsSupplier", False)),
            "Status": str(data.get("Status") or ("C" if data.get("IsSales") else "S")),
            "Division": div.code,
            "Created": odata_date(datetime.fromtimestamp(self.clock(), UTC)),
        }
        if row["SearchCode"] is not None and len(str(row["SearchCode"]).strip()) > 10:
            raise ApiError(400, "Ongeldig: Zoekcode (maximaal 10 tekens)")
        div.accounts[account_id] = row
        return row

    def _create_document(self, div: Division, data: dict[str, Any]) -> dict[str, Any]:
        unknown = set(data) - {"Subject", "Type", "Account"}
        if unknown:
            raise ApiError(400, f"Onbekende eigenschap: {sorted(unknown)[0]}")
        subject = str(data.get("Subject") or "").strip()
        if not subject:
            raise ApiError(400, "Verplicht: Onderwerp")
        if len(subject) > 200:
            raise ApiError(400, "Ongeldig: Onderwerp (maximaal 200 tekens)")
        if data.get("Type") not in DOCUMENT_TYPES:
            raise ApiError(400, f"Ongeldig: Type ({data.get('Type')!r} is geen documenttype)")
        account = data.get("Account")
        if account is not None and str(account).lower() not in div.accounts:
            raise ApiError(400, "Ongeldig: Relatie")
        document_id = str(uuid.uuid4())
        row: dict[str, Any] = {
            "ID": document_id,
            "Subject": subject,
            "Type": data["Type"],
            "TypeDescription": DOCUMENT_TYPES[data["Type"]],
            "Account": str(account).lower() if account is not None else None,
            "Division": div.code,
            "Created": odata_date(datetime.fromtimestamp(self.clock(), UTC)),
        }
        div.documents[document_id] = row
        return row

    def _create_document_attachment(self, div: Division, data: dict[str, Any]) -> dict[str, Any]:
        unknown = set(data) - {"Document", "FileName", "Attachment"}
        if unknown:
            raise ApiError(400, f"Onbekende eigenschap: {sorted(unknown)[0]}")
        document = str(data.get("Document") or "").lower()
        if document not in div.documents:
            raise ApiError(400, "Ongeldig: Document")
        name = str(data.get("FileName") or "").strip()
        if not name:
            raise ApiError(400, "Verplicht: Bestandsnaam")
        try:
            content = base64.b64decode(str(data.get("Attachment") or ""), validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(400, "Ongeldig: Bijlage (geen base64)") from None
        if not content:
            raise ApiError(400, "Verplicht: Bijlage")
        attachment_id = str(uuid.uuid4())
        row: dict[str, Any] = {
            "ID": attachment_id,
            "Document": document,
            "FileName": name,
            "FileSize": float(len(content)),
            # What GET gives instead of the bytes: where to download them.
            "Url": f"/docs/SysAttachment.aspx?ID={attachment_id}",
        }
        div.document_attachments[attachment_id] = row
        self.attachment_bytes[attachment_id] = content
        return row

    def _put_entry(self, div: Division, entity: Entity, entry_id: str, body: bytes) -> Response:
        row = getattr(div, entity.collection).get(entry_id)
        if row is None:
            raise ApiError(404, "Het opgegeven object bestaat niet.")
        try:
            data = parse_json(body)
        except ValueError:
            raise ApiError(400, "Fout bij het verwerken van de aanvraag: ongeldige JSON.") from None
        if not isinstance(data, dict) or not data:
            raise ApiError(400, "Fout bij het verwerken van de aanvraag: geen object.")
        unknown = set(data) - ENTRY_UPDATABLE
        if unknown:
            raise ApiError(400, f"Niet te wijzigen eigenschap: {sorted(unknown)[0]}")
        document = str(data["Document"] or "").lower()
        if document not in div.documents:
            raise ApiError(400, "Ongeldig: Document")
        row["Document"] = document
        return Response(b"", 204)

    def _create_entry(self, div: Division, entity: Entity, data: dict[str, Any]) -> dict[str, Any]:
        sales = entity.name == "SalesEntries"
        party_field = "Customer" if sales else "Supplier"
        lines_field = "SalesEntryLines" if sales else "PurchaseEntryLines"
        problems: list[str] = []
        journal_code = data.get("Journal")
        journal = None
        if not isinstance(journal_code, str) or not journal_code.strip():
            problems.append("Verplicht: Dagboek")
        else:
            journal = next((j for j in div.journals.values() if j["Code"] == journal_code), None)
            if journal is None or journal["Type"] != (20 if sales else 22):
                # The sheet: reference errors on a journal come back as 500 (a validation error!).
                raise ApiError(500, f"Ongeldige referentie: Dagboek {journal_code}")
        party = data.get(party_field)
        if not party:
            problems.append(f"Verplicht: {'Klant' if sales else 'Leverancier'}")
        elif str(party).lower() not in div.accounts:
            problems.append(f"Ongeldige referentie: {'Klant' if sales else 'Leverancier'}")
        lines = data.get(lines_field)
        if not isinstance(lines, list) or not lines:
            problems.append("Verplicht: Boekingsregels")
            lines = []
        out_lines: list[dict[str, Any]] = []
        for i, line in enumerate(lines, start=1):
            if not isinstance(line, dict):
                problems.append(f"Regel {i}: ongeldig")
                continue
            gl = div.gl_accounts.get(str(line.get("GLAccount") or "").lower())
            if not line.get("GLAccount"):
                problems.append(f"Regel {i}: Verplicht: Grootboekrekening")
            elif gl is None:
                problems.append(f"Regel {i}: Ongeldige referentie: Grootboekrekening")
            elif gl["BalanceType"] != "W":
                problems.append(f"Regel {i}: Ongeldig: Grootboekrekeningtype")
            amount = _amount(line.get("AmountFC"))
            if amount is None:
                problems.append(f"Regel {i}: Verplicht: Bedrag")
                continue
            vat_code = line.get("VATCode")
            vat_row = None
            if vat_code is not None:
                vat_row = next(
                    (v for v in div.vat_codes.values() if v["Code"].strip() == str(vat_code).strip()), None
                )
                if vat_row is None:
                    problems.append(f"Regel {i}: Ongeldige referentie: Btw-code")
                    continue
                if vat_row["VATTransactionType"] not in ("B", "S" if sales else "P"):
                    problems.append(
                        f"Regel {i}: Ongeldig: Btw-code {vat_code} voor {'verkoop' if sales else 'inkoop'}"
                    )
                    continue
            cost_center = None
            if line.get("CostCenter"):
                code = str(line["CostCenter"]).strip()
                cost_center = next((c for c in div.cost_centers.values() if c["Code"].strip() == code), None)
                if cost_center is None:
                    # As for the journal: Exact answers a bad reference on a line with a 500 (the
                    # sheet: "Invalid reference: Cost unit"), a validation error all the same.
                    raise ApiError(500, f"Ongeldige referentie: Kostenplaats {code}")
            given = line.get("VATAmountFC")
            if given is not None:
                vat = _amount(given)
                if vat is None:
                    problems.append(f"Regel {i}: Ongeldig: Btw-bedrag")
                    continue
            elif vat_row is not None and vat_row["Type"] == "E":
                # Exact recalculates VAT per line from the code (the sheet: cents drift on invoices).
                vat = round_cents(amount * vat_row["Percentage"])
            else:
                vat = Decimal("0.00")
            out_lines.append(
                {
                    "ID": str(uuid.uuid4()),
                    "AmountFC": amount,
                    "AmountDC": amount,
                    "VATAmountFC": vat,
                    "VATAmountDC": vat,
                    "VATCode": vat_row["Code"] if vat_row else None,
                    "VATPercentage": vat_row["Percentage"] if vat_row else Decimal(0),
                    "GLAccount": gl["ID"] if gl else None,
                    "GLAccountCode": gl["Code"] if gl else None,
                    "CostCenter": cost_center["Code"] if cost_center else None,
                    "CostCenterDescription": cost_center["Description"] if cost_center else None,
                    "Description": str(line.get("Description") or ""),
                }
            )
        allowed = {
            "Journal", party_field, lines_field, "EntryDate", "DueDate", "Description", "YourRef",
            "Currency", "PaymentReference", "ExternalLinkReference", "Reversal",
        }  # fmt: skip
        unknown = set(data) - allowed
        if unknown:
            problems.append(f"Onbekende eigenschap: {sorted(unknown)[0]}")
        if data.get("Currency") not in (None, "EUR"):
            problems.append("Ongeldig: Valuta (alleen EUR in deze administratie)")
        your_ref = data.get("YourRef")
        if your_ref is not None and len(str(your_ref)) > 30:
            problems.append("Ongeldig: Uw referentie (maximaal 30 tekens)")
        entry_date = _parse_date(data.get("EntryDate"))
        if data.get("EntryDate") is not None and entry_date is None:
            problems.append("Ongeldig: Boekdatum")
        if problems:
            raise ApiError(400, "\r\n".join(problems))
        assert journal is not None
        net = sum((ln["AmountFC"] for ln in out_lines), Decimal("0"))
        vat_total = sum((ln["VATAmountFC"] for ln in out_lines), Decimal("0"))
        gross = net + vat_total
        credit = gross < 0
        entry_type = (21 if credit else 20) if sales else (31 if credit else 30)
        account = div.accounts[str(party).lower()]  # validated above
        the_date = entry_date or datetime.fromtimestamp(self.clock(), UTC)
        row = {
            "EntryID": str(uuid.uuid4()),
            "EntryNumber": div.next_entry,
            "Type": entry_type,
            "Status": 20,
            "Journal": journal["Code"],
            "JournalDescription": journal["Description"],
            party_field: account["ID"],
            f"{party_field}Name": account["Name"],
            "EntryDate": odata_date(the_date),
            "DueDate": odata_date(_parse_date(data.get("DueDate")) or the_date),
            "Description": str(data.get("Description") or ""),
            "YourRef": your_ref,
            "Currency": "EUR",
            "AmountDC": gross,
            "AmountFC": gross,
            "VATAmountDC": vat_total,
            "VATAmountFC": vat_total,
            "PaymentReference": data.get("PaymentReference"),
            "Document": None,
            "Division": div.code,
            lines_field: {"results": out_lines},
        }
        row["ID"] = row["EntryID"]
        div.next_entry += 1
        getattr(div, entity.collection)[row["ID"]] = row
        return row

    def build_app(self) -> ASGIApp:
        def guarded(handler: Callable[[Request], Any]) -> Callable[[Request], Any]:
            async def wrapped(request: Request) -> Response:
                result: Response = await handler(request)
                return result

            return wrapped

        return Starlette(
            routes=[
                Route("/api/oauth2/auth", guarded(self._authorize), methods=["GET"]),
                Route("/api/oauth2/token", guarded(self._token), methods=["POST"]),
                Route("/api/v1/{rest:path}", guarded(self._api), methods=["GET", "POST", "PUT", "DELETE"]),
            ]
        )


def _int(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def _amount(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount != amount.quantize(Decimal("0.01")):
        return None  # the sandbox refuses fractions of cents instead of rounding them silently
    return amount


def _parse_date(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed
