"""The one way Koppelaar reads XML it did not write: vendor responses and e-invoices.

defusedxml refuses what a hostile or broken document can do to a parser — a DTD, entity declarations
(billion laughs, quadratic blow-up), external entities — and a size cap bounds the memory a single
document may take. Everything else is the standard library's ElementTree.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

# Larger than any response or e-invoice we expect (an e-invoice with an embedded PDF is a few MB).
DEFAULT_LIMIT = 20 * 1024 * 1024


class UnsafeXml(ValueError):
    """The document was not read: too large, not well-formed, or it declares a DTD or entities."""


def parse(data: bytes | str, *, limit: int = DEFAULT_LIMIT) -> ET.Element:
    """The document's root element; raises UnsafeXml with the reason in Dutch."""
    size = len(data.encode("utf-8") if isinstance(data, str) else data)
    if size > limit:
        raise UnsafeXml(
            f"XML van {size:,} bytes is groter dan de grens van {limit:,} bytes".replace(",", ".")
        )
    if isinstance(data, str):
        data = data.lstrip("\ufeff")
    try:
        root: ET.Element = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise UnsafeXml(f"XML met een DTD of entiteiten wordt niet gelezen ({type(exc).__name__})") from None
    except ET.ParseError as exc:
        raise UnsafeXml(f"geen geldige XML: {exc}") from None
    return root
