"""The Exact simulator itself, with raw HTTP: it must behave like the sheet says, or the connector tests
prove nothing."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from sandbox._util import FakeClock
from sandbox.exact import ExactSim
from sandbox.server import SandboxServer

CID, SECRET, REDIRECT = "app", "s3cret", "https://x.example/cb"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_767_225_600.0 + 10)


@pytest.fixture
def sim(clock: FakeClock) -> ExactSim:
    s = ExactSim(clock=clock, minutely_limit=3, error_budget=10)
    s.add_app(CID, SECRET, REDIRECT)
    return s


@pytest.fixture
def http(sim: ExactSim) -> Iterator[httpx.Client]:
    with SandboxServer(exact=sim) as server, httpx.Client(base_url=server.url_for("exact")) as client:
        yield client


def tokens(sim: ExactSim, http: httpx.Client) -> dict[str, str]:
    form = {
        "grant_type": "authorization_code",
        "code": sim.authorize(CID, REDIRECT),
        "redirect_uri": REDIRECT,
    }
    response = http.post("/api/oauth2/token", data={**form, "client_id": CID, "client_secret": SECRET})
    body: dict[str, str] = response.json()
    return body


def refresh(http: httpx.Client, token: str) -> httpx.Response:
    form = {"grant_type": "refresh_token", "refresh_token": token, "client_id": CID, "client_secret": SECRET}
    return http.post("/api/oauth2/token", data=form)


def test_refresh_rules(sim: ExactSim, http: httpx.Client, clock: FakeClock) -> None:
    first = tokens(sim, http)
    assert first["expires_in"] == "600" and first["token_type"] == "bearer"
    early = refresh(http, first["refresh_token"])
    assert early.status_code == 400 and early.headers["reason"] == "TooEarlyToRefreshTokens"
    assert early.json() == {
        "error": "access_denied",
        "error_description": "Rate limit exceeded: access_token not expired",
    }
    clock.advance(570)
    second = refresh(http, first["refresh_token"]).json()
    assert second["refresh_token"] != first["refresh_token"]
    clock.advance(570)
    reused = refresh(http, first["refresh_token"])
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    clock.advance(31 * 86400)
    expired = refresh(http, second["refresh_token"])
    assert (
        expired.json()["error"] == "invalid_request" and "expired at" in expired.json()["error_description"]
    )


def test_minutely_429_has_only_minutely_headers_and_errors_block_the_endpoint(
    sim: ExactSim, http: httpx.Client
) -> None:
    auth = {"Authorization": f"Bearer {tokens(sim, http)['access_token']}"}
    ok = http.get("/api/v1/1234567/financial/Journals", headers=auth)
    assert (
        ok.headers["x-ratelimit-minutely-remaining"] == "2" and ok.headers["x-ratelimit-remaining"] == "4999"
    )
    assert int(ok.headers["x-ratelimit-minutely-reset"]) == (1_767_225_600 + 60) * 1000  # epoch ms
    http.get("/api/v1/1234567/financial/Journals", headers=auth)
    http.get("/api/v1/1234567/financial/Journals", headers=auth)
    limited = http.get("/api/v1/1234567/financial/Journals", headers=auth)
    assert limited.status_code == 429
    assert "x-ratelimit-minutely-reset" in limited.headers and "x-ratelimit-remaining" not in limited.headers
    sim.minutely_limit = 1000
    for _ in range(10):
        assert http.get("/api/v1/1234567/crm/Nope", headers=auth).status_code == 404
    blocked = http.get("/api/v1/1234567/crm/Nope", headers=auth)
    assert blocked.status_code == 403 and sim.blocked == ["/api/v1/1234567/crm/Nope"]
    assert http.get("/api/v1/1234567/financial/Journals", headers=auth).status_code == 200  # per endpoint


def test_paging_next_is_literal_and_skip_is_ignored(sim: ExactSim, http: httpx.Client) -> None:
    sim.minutely_limit = 1000
    auth = {"Authorization": f"Bearer {tokens(sim, http)['access_token']}"}
    first = http.get(
        "/api/v1/1234567/financial/GLAccounts", params={"$select": "ID,Code"}, headers=auth
    ).json()
    assert len(first["d"]["results"]) == 60
    assert "$select=ID,Code&$skiptoken=guid'" in first["d"]["__next"].replace("%24", "$").replace("%2C", ",")
    skipped = http.get("/api/v1/1234567/financial/GLAccounts", params={"$skip": 60}, headers=auth).json()
    assert skipped["d"]["results"][0]["ID"] == first["d"]["results"][0]["ID"]
    code = http.get(
        "/api/v1/1234567/vat/VATCodes", params={"$filter": "trim(Code) eq '2'"}, headers=auth
    ).json()
    assert [r["Code"] for r in code["d"]["results"]] == ["2  "]


def test_cost_centers_are_paged_padded_and_checked_on_entry_lines(sim: ExactSim, http: httpx.Client) -> None:
    sim.minutely_limit = 1000
    sim.page_size = 4
    auth = {"Authorization": f"Bearer {tokens(sim, http)['access_token']}"}
    first = http.get(
        "/api/v1/1234567/hrm/Costcenters", params={"$select": "Code,Description,EndDate"}, headers=auth
    )
    assert first.headers["x-ratelimit-minutely-remaining"] == "999"
    page = first.json()["d"]
    assert len(page["results"]) == 4 and all(len(r["Code"]) == 8 for r in page["results"])
    rest = http.get(page["__next"], headers=auth).json()["d"]
    assert len(rest["results"]) == 2 and "__next" not in rest
    codes = {r["Code"].strip(): r for r in page["results"] + rest["results"]}
    assert codes["900"]["EndDate"] is not None and codes["200"]["Description"] == "Advies"
    gone = http.get("/api/v1/1234567/hrm/Costcenters", params={"$select": "Code,Active"}, headers=auth)
    assert gone.status_code == 400  # `Active` left Exact's reference: naming it fails the call

    customer = sim.add_account("Installatiebedrijf Smit B.V.")
    line: dict[str, object] = {"GLAccount": sim.gl_id("8100"), "AmountFC": 500.0, "VATCode": "2"}
    entry = {"Journal": "70", "Customer": customer, "SalesEntryLines": [line]}
    line["CostCenter"] = "350"
    refused = http.post("/api/v1/1234567/salesentry/SalesEntries", json=entry, headers=auth)
    assert refused.status_code == 500  # a validation error, the way Exact sends some of them
    assert refused.json()["error"]["message"]["value"] == "Ongeldige referentie: Kostenplaats 350"
    assert sim.sales_entries() == []
    line["CostCenter"] = "300"
    assert http.post("/api/v1/1234567/salesentry/SalesEntries", json=entry, headers=auth).status_code == 201
    [stored] = sim.sales_entries()[0]["SalesEntryLines"]["results"]
    assert stored["CostCenter"] == "300     " and stored["CostCenterDescription"] == "Detachering"
