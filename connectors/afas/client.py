"""The AFAS Profit REST wire: the token header, GetConnector paging, UpdateConnector posts, error bodies.

Facts and their sources: docs/protocol-decisions.md, section AFAS Profit.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import httpx
from pydantic import SecretStr

from connectors.contract import RateLimit
from connectors.errors import AuthError, ConnectorError, Origin, RejectedError, TransientError
from connectors.http import Sleep, VendorClient, decode_json, require_json

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
# A query string longer than this is answered with a 404 (AFAS troubleshooting guide).
MAX_QUERY = 2049
PAGE = 500
APP_CONNECTOR_PATH = "Algemeen → App Connector"
TOKEN_ADVICE = (
    f"Maak in AFAS onder {APP_CONNECTOR_PATH} → Gebruikerstokens → Nieuw een nieuw token aan voor deze "
    "organisatie en vul het hier in. Elke AFAS-organisatie heeft een eigen token."
)
IP_ADVICE = (
    f"De App Connector staat alleen bepaalde IP-adressen toe. Voeg het IP-adres van deze server toe in AFAS "
    f"onder {APP_CONNECTOR_PATH} (eigenschappen van de App Connector), of haal de IP-beperking weg."
)
MAINTENANCE_ADVICE = (
    "AFAS Online is in onderhoud (zie afasstatus.nl). De koppeling probeert het later opnieuw; "
    "u hoeft niets te doen."
)
LOG_ADVICE = (
    "De beheerder van AFAS vindt de volledige melding met de logreferentie in het omgevingslogboek "
    "(Algemeen → Beheer → Omgevingslogboek)."
)

# A filter: (field id, operator, value); operator 1 is "=" (AFAS operatortypes).
Filter = tuple[str, int, str]


def token_header(token: SecretStr) -> str:
    """`AfasToken <base64>` of the whole token XML; a bare data part is wrapped first."""
    text = token.get_secret_value().strip()
    if not text:
        raise AuthError("Er is geen AFAS-token ingevuld", advice=TOKEN_ADVICE, code="TOKEN")
    if "<token>" not in text:
        text = f"<token><version>1</version><data>{text}</data></token>"
    return "AfasToken " + base64.b64encode(text.encode("utf-8")).decode("ascii")


def amsterdam_time(value: object) -> datetime | None:
    """A GetConnector date-time: AFAS writes a `Z` but means Amsterdam local time, not UTC."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().removesuffix("Z").removesuffix("z")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=AMSTERDAM) if moment.tzinfo is None else moment


class AfasClient:
    """One AFAS environment with one user token: at most 5 requests in flight, never `Connection: close`."""

    def __init__(
        self,
        url: str,
        token: SecretStr,
        *,
        integration_id: str = "",
        rate_limit: RateLimit,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: httpx.Timeout | None = None,
        sleep: Sleep | None = None,
        max_pause: float = 120.0,
    ) -> None:
        header = token_header(token)
        headers = {
            "Authorization": header,
            "Accept": "application/json",
            "Accept-Language": "nl-nl",  # error messages in Dutch, as the support person reads them
        }
        if integration_id:
            headers["IntegrationId"] = integration_id
        extra: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
        self.http = VendorClient(
            url.rstrip("/"),
            vendor="AFAS",
            headers=headers,
            timeout=timeout,
            transport=transport,
            rate_limit=RateLimit(rate_limit.per_second, min(5, rate_limit.max_concurrency)),
            secrets=[token.get_secret_value(), header.removeprefix("AfasToken ")],
            max_pause=max_pause,
            **extra,
        )

    @property
    def last_exchange(self) -> str:
        return self.http.last_exchange

    async def aclose(self) -> None:
        await self.http.aclose()

    async def get(self, path: str, params: Mapping[str, str | int] | None = None) -> Any:
        query = urlencode(params or {})
        if len(query) > MAX_QUERY:
            # AFAS would answer 404 and the reason would be lost: say it ourselves.
            raise RejectedError(
                f"De zoekvraag aan AFAS is {len(query)} tekens; AFAS accepteert er hoogstens {MAX_QUERY}",
                advice="Meld dit bij Koppelaar.",
                code="QUERY_TOO_LONG",
                origin=Origin.OURS,
            )
        response = await self.http.request(
            "GET", path, params=params, check=require_json, definitive=_definitive
        )
        if response.status_code >= 400:
            raise self.error(response)
        return decode_json(response) if response.content.strip() else None

    async def rows(
        self, connector: str, *, order: str, filters: Sequence[Filter] = (), take: int = PAGE
    ) -> list[Mapping[str, Any]]:
        """Every row of a GetConnector, page by page. Always ordered: unordered pages lose and repeat rows."""
        found: list[Mapping[str, Any]] = []
        params: dict[str, str | int] = {"orderbyfieldids": order, "take": take}
        if filters:
            params["filterjson"] = filter_json(filters)
        while True:
            body = await self.get(f"/connectors/{connector}", {**params, "skip": len(found)})
            rows = body.get("rows") if isinstance(body, Mapping) else None
            if not isinstance(rows, list):
                raise ConnectorError(
                    f"AFAS gaf geen rijen terug voor GetConnector {connector}", exchange=self.last_exchange
                )
            found += [row for row in rows if isinstance(row, Mapping)]
            if len(rows) < take:
                return found

    async def post(self, connector: str, body: Mapping[str, Any]) -> Mapping[str, Any]:
        """Send to an UpdateConnector; the answer's fields (one of AFAS's three success shapes, unwrapped).

        A 500 with AFAS's error body is a refusal (nothing was booked); a 500 without it, a dropped
        connection or an unreadable answer is uncertain (http.py): look up before posting again."""
        response = await self.http.request(
            "POST",
            f"/connectors/{connector}",
            json=body,
            headers={"Content-Type": "application/json;charset=utf-8"},
            check=require_json,
            definitive=_definitive,
        )
        if response.status_code >= 400:
            raise self.error(response)
        answer = decode_json(response) if response.content.strip() else {}
        return success_fields(answer, connector, next(iter(body), ""))

    def error(self, response: httpx.Response) -> ConnectorError:
        status = response.status_code
        body = _body(response)
        vendor = str(body.get("externalMessage") or body.get("message") or "").strip()
        reference = str(body.get("profitLogReference") or "").strip()
        exchange = self.last_exchange
        if status == 401:
            return AuthError(
                "AFAS weigert het token: het is ongeldig, ingetrokken, of heeft geen toegang tot deze connector"
                + (f" ({vendor})" if vendor else ""),
                advice=TOKEN_ADVICE,
                code="401",
                exchange=exchange,
            )
        if status == 403:
            return AuthError(
                "AFAS weigert de verbinding vanaf dit IP-adres (IP-beperking op de App Connector)",
                advice=IP_ADVICE,
                code="403",
                exchange=exchange,
            )
        if status == 503:
            return TransientError(
                "AFAS Online is tijdelijk niet beschikbaar (onderhoud)",
                advice=MAINTENANCE_ADVICE,
                code="503",
                exchange=exchange,
            )
        if status == 404:
            return RejectedError(
                "AFAS kent dit adres niet (verkeerde omgeving, of een te lange zoekvraag)",
                advice="Controleer het omgevingsnummer en de soort (productie, test, accept) van de verbinding.",
                code="404",
                exchange=exchange,
            )
        message = vendor or f"AFAS weigert het verzoek (HTTP {status})"
        if reference:
            message += f" (logreferentie {reference})"
        return RejectedError(
            message,
            advice=LOG_ADVICE if reference else "Bekijk de melding van AFAS en pas de gegevens aan.",
            code=reference or str(status),
            exchange=exchange,
        )


def filter_json(filters: Sequence[Filter]) -> str:
    """One filter group (AND): the JSON form, so a value with ',' or ';' cannot split the filter."""
    fields = [{"@FieldId": f, "@OperatorType": str(op), "#text": value} for f, op, value in filters]
    return json.dumps(
        {"Filters": {"Filter": [{"@FilterId": "Filter 1", "Field": fields}]}}, ensure_ascii=False
    )


def success_fields(answer: object, connector: str, root: str) -> Mapping[str, Any]:
    """The result fields of any of AFAS's success shapes: `{"results":{X:{…}}}` or `{X:{…}}`, where X is
    the connector or the root object; keys as sent (`InId` and `InID` both occur)."""
    if isinstance(answer, Mapping) and isinstance(answer.get("results"), Mapping):
        answer = answer["results"]
    if not isinstance(answer, Mapping):
        return {}
    for key in (connector, root):
        inner = answer.get(key)
        if isinstance(inner, Mapping):
            return inner
    return {}


def field(fields: Mapping[str, Any], name: str) -> str:
    """A result field whatever its case (AFAS writes `InId` in one answer and `InID` in another)."""
    wanted = name.casefold()
    for key, value in fields.items():
        if key.casefold() == wanted and value is not None:
            return str(value)
    return ""


def _body(response: httpx.Response) -> Mapping[str, Any]:
    # Error bodies may come with Content-Type application/xml while they are JSON: read the bytes.
    try:
        body = decode_json(response)
    except ValueError:
        return {}
    return body if isinstance(body, Mapping) else {}


def _definitive(response: httpx.Response) -> bool:
    """A 500 with AFAS's error body is its considered refusal (nothing processed); a 503 is maintenance
    (nothing processed). Neither is retried here nor uncertain."""
    if response.status_code == 503:
        return True
    body = _body(response)
    return response.status_code == 500 and ("externalMessage" in body or "profitLogReference" in body)
