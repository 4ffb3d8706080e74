"""e-Boekhouden SOAP simulator: login and code-1 rotation, session checks, shared store with REST."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from sandbox import EBoekhoudenSim, SandboxServer
from sandbox.seed import EB_SOAP_CODE1, EB_SOAP_CODE2, EB_SOAP_USER
from tests.sandbox.helpers import eb_client, error_code, sales_invoice, session_xml, soap, tag


def login(c: httpx.Client, code1: str = EB_SOAP_CODE1, code2: str = EB_SOAP_CODE2) -> httpx.Response:
    inner = (
        f"<Username>{EB_SOAP_USER}</Username><SecurityCode1>{code1}</SecurityCode1>"
        f"<SecurityCode2>{code2}</SecurityCode2><Source>Koppelaar</Source>"
    )
    return soap(c, "OpenSession", inner)


@pytest.fixture
def c(server: SandboxServer) -> httpx.Client:
    return httpx.Client(base_url=server.eboekhouden_url, timeout=5)


def mutatie(number: str, btw: str = "21.00", relatie: str = "KLANT01", kostenplaats: int = 0) -> str:
    return (
        "<oMut><MutatieNr>0</MutatieNr><Soort>FactuurVerstuurd</Soort><Datum>2025-01-15T00:00:00</Datum>"
        f"<Rekening>1300</Rekening><RelatieCode>{relatie}</RelatieCode><Factuurnummer>{number}</Factuurnummer>"
        "<Omschrijving>Factuur</Omschrijving><Betalingstermijn>30</Betalingstermijn><InExBTW>EX</InExBTW>"
        "<MutatieRegels><cMutatieRegel><BedragInvoer>100.00</BedragInvoer><BedragExclBTW>100.00</BedragExclBTW>"
        f"<BedragBTW>{btw}</BedragBTW><BedragInclBTW>121.00</BedragInclBTW><BTWCode>HOOG_VERK_21</BTWCode>"
        "<BTWPercentage>21</BTWPercentage><TegenrekeningCode>8000</TegenrekeningCode>"
        f"<KostenplaatsID>{kostenplaats}</KostenplaatsID>"
        "</cMutatieRegel></MutatieRegels></oMut>"
    )


def test_login_error_and_code1_rotation(c: httpx.Client, eb: EBoekhoudenSim) -> None:
    bad = login(c, code1="0" * 32)
    assert bad.status_code == 200 and error_code(bad.text) == "ERR_LOGIN"
    assert "beveiligingscodes onjuist" in tag(bad.text, "LastErrorDescription")
    ok = login(c)
    sid = tag(ok.text, "SessionID")
    assert error_code(ok.text) == "" and sid
    new_code1 = eb.change_password(EB_SOAP_USER)
    assert len(new_code1) == 32 and new_code1 != EB_SOAP_CODE1
    assert error_code(login(c).text) == "ERR_LOGIN"  # old code 1 no longer works
    assert error_code(soap(c, "GetAdministraties", session_xml(sid)).text) == "ERR_SESSION"
    assert error_code(login(c, code1=new_code1).text) == ""


def test_protocol_errors_are_soap_faults(c: httpx.Client) -> None:
    missing = soap(c, "OpenSession", "", action="")
    assert missing.status_code == 500 and "SOAPAction" in missing.text and "soap:Fault" in missing.text
    mismatch = soap(c, "OpenSession", "", action="GetRelaties")
    assert mismatch.status_code == 500
    garbage = c.post(
        "/soap.asmx",
        content=b"<not xml",
        headers={"Content-Type": "text/xml", "SOAPAction": '"http://www.e-boekhouden.nl/soap/OpenSession"'},
    )
    assert garbage.status_code == 500
    big = c.post("/soap.asmx", content=b"x" * 1_100_000, headers={"Content-Type": "text/xml"})
    assert big.status_code == 413


def test_session_and_security_code2_required(c: httpx.Client) -> None:
    sid = tag(login(c).text, "SessionID")
    assert error_code(soap(c, "GetAdministraties", f"<SessionID>{sid}</SessionID>").text) == "ERR_LOGIN"
    assert error_code(soap(c, "GetAdministraties", session_xml("nope")).text) == "ERR_SESSION"
    r = soap(c, "GetAdministraties", session_xml(sid))
    assert error_code(r.text) == "" and "<cAdministratie>" in r.text
    assert error_code(soap(c, "CloseSession", f"<SessionID>{sid}</SessionID>").text) == ""
    assert error_code(soap(c, "GetAdministraties", session_xml(sid)).text) == "ERR_SESSION"


def test_relations_ledgers_and_mutations_share_the_rest_store(
    c: httpx.Client, server: SandboxServer, eb: EBoekhoudenSim
) -> None:
    sid = tag(login(c).text, "SessionID")
    s = session_xml(sid)
    ledgers = soap(c, "GetGrootboekrekeningen", s + "<cFilter><Code>1300</Code></cFilter>").text
    assert tag(ledgers, "Categorie") == "DEB" and tag(ledgers, "ID") == str(eb.ledger_id("1300"))
    rel = soap(
        c, "AddRelatie", s + "<oRel><Code>KLANT01</Code><Bedrijf>Voorbeeld BV</Bedrijf><BP>B</BP></oRel>"
    )
    rel_id = int(tag(rel.text, "Rel_ID"))
    dup = soap(c, "AddRelatie", s + "<oRel><Code>KLANT01</Code><Bedrijf>X</Bedrijf><BP>B</BP></oRel>")
    assert error_code(dup.text) == "REL_049"
    assert tag(soap(c, "GetRelaties", s + "<cFilter><Code>KLANT01</Code></cFilter>").text, "ID") == str(
        rel_id
    )

    added = soap(c, "AddMutatie", s + mutatie("F2025-001"))
    assert error_code(added.text) == "" and tag(added.text, "Mutatienummer") == "1"
    again = soap(c, "AddMutatie", s + mutatie("F2025-001"))
    assert error_code(again.text) == "MUT_020"
    assert error_code(soap(c, "AddMutatie", s + mutatie("F2025-002", relatie="NOPE")).text) == "MUT_013"

    found = soap(c, "GetMutaties", s + "<cFilter><Factuurnummer>F2025-001</Factuurnummer></cFilter>").text
    assert tag(found, "MutatieNr") == "1" and tag(found, "BedragBTW") == "21.00"
    # Same product: REST sees the SOAP booking and refuses a duplicate.
    with eb_client(server.eboekhouden_url) as rest:
        assert rest.get("/v1/mutation", params={"invoiceNumber": "F2025-001"}).json()["count"] == 1
        dup_rest = rest.post("/v1/mutation", json=sales_invoice(eb, rel_id, "F2025-001"))
        assert dup_rest.json()["code"] == "MUT_020"
    assert eb.mutations[0].via == "soap" and eb.mutations[0].rows[0].vat_amount == Decimal("21.00")


def test_adjusted_vat_cents_become_afwijkend(c: httpx.Client, eb: EBoekhoudenSim) -> None:
    eb.add_relation("KLANT01", "Voorbeeld BV")
    s = session_xml(tag(login(c).text, "SessionID"))
    assert error_code(soap(c, "AddMutatie", s + mutatie("F1", btw="20.99")).text) == ""
    row = eb.mutations[0].rows[0]
    assert row.vat_code == "AFW_VERK" and row.vat_amount == Decimal("20.99")


def test_get_mutaties_returns_at_most_500_most_recent(c: httpx.Client, eb: EBoekhoudenSim) -> None:
    rel = eb.add_relation("KLANT01", "Voorbeeld BV").id
    for i in range(520):
        eb.book(sales_invoice(eb, rel, f"F{i:05d}"))
    s = session_xml(tag(login(c).text, "SessionID"))
    text = soap(c, "GetMutaties", s + "<cFilter />").text
    assert text.count("<cMutatieList>") == 500
    assert tag(text, "MutatieNr") == "520"  # newest first
    window = soap(
        c, "GetMutaties", s + "<cFilter><MutatieNrVan>1</MutatieNrVan><MutatieNrTm>10</MutatieNrTm></cFilter>"
    )
    assert window.text.count("<cMutatieList>") == 10


def test_kostenplaatsen_are_listed_and_booked_on_a_row(c: httpx.Client, eb: EBoekhoudenSim) -> None:
    eb.add_relation("KLANT01", "Voorbeeld BV")
    ids = {cc.description: cc.id for cc in eb.cost_centers}
    s = session_xml(tag(login(c).text, "SessionID"))
    no_filter = (
        "<cFilter><KostenplaatsID>0</KostenplaatsID><KostenplaatsParentID>0</KostenplaatsParentID></cFilter>"
    )
    listed = soap(c, "GetKostenplaatsen", s + no_filter).text
    assert error_code(listed) == "" and listed.count("<cKostenplaats>") == 4
    assert "Vestiging Tilburg" not in listed  # inactive: SOAP has no field to say so
    assert tag(listed, "KostenplaatsId") == str(ids["Algemeen"]) and tag(listed, "Omschrijving") == "Algemeen"
    parent = f"<cFilter><KostenplaatsParentID>{ids['Detachering']}</KostenplaatsParentID></cFilter>"
    children = soap(c, "GetKostenplaatsen", s + parent).text
    assert children.count("<cKostenplaats>") == 1 and tag(children, "Omschrijving") == "Projecten Zuid"
    assert tag(children, "KostenplaatsParentId") == str(ids["Detachering"])

    assert error_code(soap(c, "AddMutatie", s + mutatie("F1", kostenplaats=ids["Advies"])).text) == ""
    assert eb.mutations[0].rows[0].cost_center_id == ids["Advies"]
    found = soap(c, "GetMutaties", s + "<cFilter><Factuurnummer>F1</Factuurnummer></cFilter>").text
    assert tag(found, "KostenplaatsID") == str(ids["Advies"])
    unknown = soap(c, "AddMutatie", s + mutatie("F2", kostenplaats=411999)).text
    assert error_code(unknown) == "MUT_113"
    assert len(eb.mutations) == 1


def test_get_mutaties_refuses_an_empty_xs_long_as_the_real_service_does(
    c: httpx.Client, eb: EBoekhoudenSim
) -> None:
    rel = eb.add_relation("KLANT01", "Voorbeeld BV").id
    eb.book(sales_invoice(eb, rel, "F1"))
    s = session_xml(tag(login(c).text, "SessionID"))
    empty = "<cFilter><MutatieNrVan></MutatieNrVan><Factuurnummer>F1</Factuurnummer></cFilter>"
    refused = soap(c, "GetMutaties", s + empty)
    assert refused.status_code == 500 and "soap:Client" in refused.text and "MutatieNrVan" in refused.text
    zero = (
        "<cFilter><MutatieNrVan>0</MutatieNrVan><MutatieNrTm>0</MutatieNrTm><Factuurnummer>F1</Factuurnummer>"
    )
    assert tag(soap(c, "GetMutaties", s + zero + "</cFilter>").text, "MutatieNr") == "1"
