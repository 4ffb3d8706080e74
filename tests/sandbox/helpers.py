"""Small HTTP helpers for the simulator tests (deliberately not the connectors' code)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from sandbox import EBoekhoudenSim
from sandbox.seed import EB_API_TOKEN, EB_SOAP_CODE2

NS = "http://www.e-boekhouden.nl/soap"


@contextmanager
def eb_client(base_url: str, token: str = EB_API_TOKEN, timeout: float = 5) -> Iterator[httpx.Client]:
    """A REST client with an open session (bare Authorization header, the spec form)."""
    with httpx.Client(base_url=base_url, timeout=timeout) as c:
        r = c.post("/v1/session", json={"accessToken": token, "source": "Koppelaar"})
        assert r.status_code == 200, r.text
        c.headers["Authorization"] = r.json()["token"]
        yield c


def sales_invoice(
    eb: EBoekhoudenSim, relation_id: int, number: str = "F2026-00013", **over: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": 2,
        "date": "2026-01-21",
        "ledgerId": eb.ledger_id("1300"),
        "relationId": relation_id,
        "invoiceNumber": number,
        "inExVat": "EX",
        "description": f"Factuur {number}",
        "rows": [
            {
                "ledgerId": eb.ledger_id("8000"),
                "vatCode": "HOOG_VERK_21",
                "amount": "100.00",
                "description": "Advies",
            }
        ],
    }
    body.update(over)
    return body


def soap(c: httpx.Client, op: str, inner: str, action: str | None = None) -> httpx.Response:
    envelope = (
        '<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
        f'<soap:Body><{op} xmlns="{NS}">{inner}</{op}></soap:Body></soap:Envelope>'
    )
    headers = {"Content-Type": "text/xml; charset=utf-8"}
    if action != "":
        headers["SOAPAction"] = f'"{NS}/{action or op}"'
    return c.post("/soap.asmx", content=envelope.encode(), headers=headers)


def tag(text: str, name: str) -> str:
    m = re.search(rf"<{name}>(.*?)</{name}>", text, re.S)
    return m.group(1) if m else ""


def error_code(text: str) -> str:
    return tag(text, "LastErrorCode")


def session_xml(sid: str, code2: str = EB_SOAP_CODE2) -> str:
    return f"<SessionID>{sid}</SessionID><SecurityCode2>{code2}</SecurityCode2>"
