"""Every fault kind over real HTTP, and exactly what an httpx client observes."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from sandbox import EBoekhoudenSim, FactuurSturenSim, SandboxServer
from sandbox.seed import FS_API_KEY, FS_LOGIN
from tests.sandbox.helpers import eb_client, sales_invoice


@pytest.fixture
def rel(eb: EBoekhoudenSim) -> int:
    return eb.add_relation("KLANT01", "Voorbeeld BV").id


def test_status_fault_is_vendor_shaped_and_not_committed(
    server: SandboxServer, eb: EBoekhoudenSim, rel: int
) -> None:
    eb.faults.add("status", method="POST", path="/v1/mutation", status=503, times=1)
    with eb_client(server.eboekhouden_url) as c:
        r = c.post("/v1/mutation", json=sales_invoice(eb, rel))
        assert r.status_code == 503
        assert set(r.json()) >= {"type", "code", "title", "message", "status", "traceId"}
        assert eb.mutations == []
        assert c.post("/v1/mutation", json=sales_invoice(eb, rel)).status_code == 200  # times=1 used up
    assert len(eb.mutations) == 1


def test_status_429_has_retry_after(server: SandboxServer, fs: FactuurSturenSim) -> None:
    fs.faults.add("status", path="/api/v1/invoices", status=429, retry_after=7)
    with httpx.Client(auth=(FS_LOGIN, FS_API_KEY), headers={"Accept": "application/json"}) as c:
        r = c.get(server.factuursturen_url + "/api/v1/invoices")
    assert r.status_code == 429 and r.headers["Retry-After"] == "7"
    assert r.json() == {"error": "Rate limit exceeded"}


def test_reset_is_a_transport_error_and_not_committed(
    server: SandboxServer, eb: EBoekhoudenSim, rel: int
) -> None:
    eb.faults.add("reset", method="POST", path="/v1/mutation", times=1)
    with eb_client(server.eboekhouden_url) as c:
        with pytest.raises(httpx.TransportError):
            c.post("/v1/mutation", json=sales_invoice(eb, rel))
        assert eb.mutations == []
        assert c.get("/v1/mutation").json()["count"] == 0  # the client recovers on a new connection
    assert eb.request_log[-2].fault == "reset" and eb.request_log[-2].status == 0


def test_lost_response_commits_but_client_sees_transport_error(
    server: SandboxServer, eb: EBoekhoudenSim, rel: int
) -> None:
    eb.faults.add("lost_response", method="POST", path="/v1/mutation", times=1)
    with eb_client(server.eboekhouden_url) as c:
        with pytest.raises(httpx.TransportError):
            c.post("/v1/mutation", json=sales_invoice(eb, rel))
        assert len(eb.mutations) == 1  # committed
        retry = c.post("/v1/mutation", json=sales_invoice(eb, rel))
        assert retry.status_code == 400 and retry.json()["code"] == "MUT_020"
        found = c.get("/v1/mutation", params={"invoiceNumber": "F2026-00013"}).json()
        assert found["count"] == 1


def test_lost_response_with_hang_times_out_after_commit(
    server: SandboxServer, eb: EBoekhoudenSim, rel: int
) -> None:
    eb.faults.add("lost_response", method="POST", path="/v1/mutation", hang=True, seconds=2, times=1)
    with eb_client(server.eboekhouden_url, timeout=0.5) as c, pytest.raises(httpx.ReadTimeout):
        c.post("/v1/mutation", json=sales_invoice(eb, rel))
    assert len(eb.mutations) == 1


def test_timeout_hangs_without_committing(server: SandboxServer, eb: EBoekhoudenSim, rel: int) -> None:
    eb.faults.add("timeout", method="POST", path="/v1/mutation", seconds=2, times=1)
    with eb_client(server.eboekhouden_url, timeout=0.5) as c:
        start = time.perf_counter()
        with pytest.raises(httpx.ReadTimeout):
            c.post("/v1/mutation", json=sales_invoice(eb, rel))
        assert time.perf_counter() - start < 1.5
    assert eb.mutations == []


def test_malformed_commits_and_body_is_not_json(server: SandboxServer, eb: EBoekhoudenSim, rel: int) -> None:
    eb.faults.add("malformed", method="POST", path="/v1/mutation", times=1)
    with eb_client(server.eboekhouden_url) as c:
        r = c.post("/v1/mutation", json=sales_invoice(eb, rel))
    assert r.status_code == 200
    with pytest.raises(ValueError):
        r.json()
    assert len(eb.mutations) == 1


async def test_latency_uses_the_loop_not_a_blocking_sleep(
    server: SandboxServer, fs: FactuurSturenSim
) -> None:
    fs.faults.add("latency", path="/api/v1/taxes", ms=200)
    async with httpx.AsyncClient(
        base_url=server.factuursturen_url, auth=(FS_LOGIN, FS_API_KEY), headers={"Accept": "application/json"}
    ) as c:
        start = time.perf_counter()
        responses = await asyncio.gather(*(c.get("/api/v1/taxes") for _ in range(5)))
        elapsed = time.perf_counter() - start
    assert all(r.status_code == 200 for r in responses)
    assert 0.2 <= elapsed < 0.9  # five concurrent 200 ms delays overlap


def test_every_nth_and_times(server: SandboxServer, fs: FactuurSturenSim) -> None:
    fault = fs.faults.add("status", path="/api/v1/taxes", status=502, every_nth=3, times=2)
    with httpx.Client(auth=(FS_LOGIN, FS_API_KEY), headers={"Accept": "application/json"}) as c:
        codes = [c.get(server.factuursturen_url + "/api/v1/taxes").status_code for _ in range(9)]
    assert codes == [200, 200, 502, 200, 200, 502, 200, 200, 200]
    assert fault.fired == 2


def test_soap_fault_by_action(server: SandboxServer, eb: EBoekhoudenSim) -> None:
    from tests.sandbox.helpers import soap

    eb.faults.add("reset", path="/soap.asmx", action="AddMutatie")
    with httpx.Client(base_url=server.eboekhouden_url) as c:
        ok = soap(c, "CloseSession", "<SessionID>x</SessionID>")
        assert ok.status_code == 200
        with pytest.raises(httpx.TransportError):
            soap(c, "AddMutatie", "<SessionID>x</SessionID>")


def test_control_endpoints_drive_faults_over_http(server: SandboxServer, fs: FactuurSturenSim) -> None:
    base = server.factuursturen_url
    with httpx.Client(
        base_url=base, auth=(FS_LOGIN, FS_API_KEY), headers={"Accept": "application/json"}
    ) as c:
        r = c.post(
            "/_sandbox/faults", json={"kind": "status", "status": 500, "path": "/api/v1/clients", "times": 1}
        )
        assert r.status_code == 200 and r.json()["faults"][0]["kind"] == "status"
        assert c.post("/_sandbox/faults", json={"kind": "nope"}).status_code == 400
        assert c.get("/api/v1/clients").status_code == 500
        c.post("/_sandbox/faults", json={"kind": "reset"})
        c.delete("/_sandbox/faults")
        assert c.get("/api/v1/clients").status_code == 200
        state = c.get("/_sandbox/state").json()
        assert state["sim"] == "factuursturen" and state["invoices"] == len(fs.invoices)
        assert state["requests"] == 2 and state["faults"] == []
    assert fs.request_count("GET", "/api/v1/clients") == 2
    assert fs.request_count(path_prefix="/_sandbox") == 0


def test_eb_control_change_password(server: SandboxServer, eb: EBoekhoudenSim) -> None:
    with httpx.Client(base_url=server.eboekhouden_url) as c:
        r = c.post("/_sandbox/eboekhouden/change_password", json={"username": "demo"})
    assert r.status_code == 200
    assert eb.soap_users["demo"].code1 == r.json()["code1"]
