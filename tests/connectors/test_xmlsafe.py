"""Hostile XML is refused with a reason, in bounded time and memory; ordinary XML reads as ElementTree."""

from __future__ import annotations

import pytest

from connectors.xmlsafe import UnsafeXml, parse

BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10)
    )
    + "]><lolz>&lol9;</lolz>"
)
QUADRATIC = (
    '<?xml version="1.0"?><!DOCTYPE q [<!ENTITY a "' + "a" * 50_000 + '">]><q>' + "&a;" * 50_000 + "</q>"
)
EXTERNAL = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'


@pytest.mark.parametrize(
    "document", [BILLION_LAUGHS, QUADRATIC, EXTERNAL], ids=["laughs", "quadratic", "external"]
)
def test_a_dtd_or_entity_is_refused_before_it_expands(document: str) -> None:
    with pytest.raises(UnsafeXml, match="DTD of entiteiten"):
        parse(document.encode())


def test_a_document_over_the_limit_is_refused_unread() -> None:
    with pytest.raises(UnsafeXml, match=r"groter dan de grens van 1\.024 bytes"):
        parse(b"<a>" + b"x" * 2_000 + b"</a>", limit=1024)


def test_a_truncated_document_says_where_it_broke() -> None:
    with pytest.raises(UnsafeXml, match=r"geen geldige XML: .*line 1"):
        parse(b"<Invoice><ID>2026-001</ID><Note>half")


def test_ordinary_xml_reads_with_namespaces_and_a_byte_order_mark() -> None:
    root = parse("\ufeff<Invoice xmlns='urn:x'><ID>2026-001</ID></Invoice>")
    assert root.tag == "{urn:x}Invoice" and root.findtext("{urn:x}ID") == "2026-001"
