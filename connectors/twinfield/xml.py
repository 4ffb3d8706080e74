"""Twinfield's two XML layers: the SOAP 1.1 envelope and the ProcessXml document inside it.

Requests are built with ElementTree (every value escaped, no comments, no whitespace between
elements). Responses are decoded by their byte-order mark or declared charset (Twinfield answers some
calls in UTF-16LE) and business errors are collected from whichever element carries ``result="0"``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from connectors import xmlsafe

NS = "http://www.twinfield.com/"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
PROCESS_ACTION = f"{NS}ProcessXmlString"
SEARCH_ACTION = f"{NS}Search"
TOKEN_INVALID = "354"
# A browse is filtered and a dimension list stays within a few MB even for large offices.
RESPONSE_LIMIT = 8 * 1024 * 1024
_CODE = re.compile(r"\(code (\d+)\)")

ET.register_namespace("soap", SOAP_ENV)


def element(tag: str, text: str | None = None, /, **attrs: str) -> ET.Element:
    node = ET.Element(tag, attrs)
    if text is not None:
        node.text = text
    return node


def sub(parent: ET.Element, tag: str, text: str | None = None, /, **attrs: str) -> ET.Element:
    node = ET.SubElement(parent, tag, attrs)
    if text is not None:
        node.text = text
    return node


def document(root: ET.Element) -> str:
    """The ProcessXml request text: no declaration, no whitespace, everything escaped."""
    return ET.tostring(root, encoding="unicode", short_empty_elements=True)


def _header(access_token: str, company: str | None) -> ET.Element:
    header = element(f"{{{NS}}}Header")
    sub(header, f"{{{NS}}}AccessToken", access_token)
    if company:
        sub(header, f"{{{NS}}}CompanyCode", company)
    return header


def _envelope(access_token: str, company: str | None, call: ET.Element) -> bytes:
    root = element(f"{{{SOAP_ENV}}}Envelope")
    sub(root, f"{{{SOAP_ENV}}}Header").append(_header(access_token, company))
    sub(root, f"{{{SOAP_ENV}}}Body").append(call)
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data


def process_envelope(access_token: str, company: str | None, request: ET.Element) -> bytes:
    call = element(f"{{{NS}}}ProcessXmlString")
    sub(call, f"{{{NS}}}xmlRequest", document(request))
    return _envelope(access_token, company, call)


def search_envelope(
    access_token: str,
    company: str | None,
    finder_type: str,
    *,
    first_row: int,
    max_rows: int,
    options: Sequence[tuple[str, str]] = (),
) -> bytes:
    call = element(f"{{{NS}}}Search")
    for name, value in (
        ("type", finder_type),
        ("pattern", "*"),
        ("field", "0"),
        ("firstRow", str(first_row)),
        ("maxRows", str(max_rows)),
    ):
        sub(call, f"{{{NS}}}{name}", value)
    opts = sub(call, f"{{{NS}}}options")
    for name, value in options:
        pair = sub(opts, f"{{{NS}}}ArrayOfString")
        sub(pair, f"{{{NS}}}string", name)
        sub(pair, f"{{{NS}}}string", value)
    return _envelope(access_token, company, call)


# --- reading -----------------------------------------------------------------------------------------


def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def child(node: ET.Element, name: str) -> ET.Element | None:
    return next((c for c in node if local(c.tag) == name), None)


def text(node: ET.Element | None, name: str) -> str:
    if node is None:
        return ""
    found = child(node, name)
    return (found.text or "").strip() if found is not None else ""


def descendants(node: ET.Element, name: str) -> list[ET.Element]:
    return [e for e in node.iter() if local(e.tag) == name]


def decode(data: bytes, content_type: str = "") -> str:
    """Bytes to text by BOM, then the declared charset, then UTF-8; never assume UTF-8 blindly."""
    if data[:3] == b"\xef\xbb\xbf":
        return data[3:].decode("utf-8")
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return data.decode("utf-16")
    match = re.search(r"charset=\"?([\w-]+)", content_type, re.IGNORECASE)
    codec = match.group(1) if match else "utf-8"
    try:
        return data.decode(codec)
    except (LookupError, UnicodeDecodeError) as exc:
        raise ValueError(f"niet te decoderen als {codec}: {exc}") from None


def parse_text(xml_text: str) -> ET.Element:
    """Parse XML text with the hardened parser (no DTD or entities, size-capped); raises ValueError.

    A declaration naming another encoding (``utf-16``) is fine for text input."""
    return xmlsafe.parse(xml_text, limit=RESPONSE_LIMIT)


def parse_response(response: httpx.Response) -> ET.Element:
    return parse_text(decode(response.content, response.headers.get("content-type", "")))


def check_envelope(response: httpx.Response) -> None:
    """A VendorClient `check`: a 2xx body must be a readable SOAP envelope."""
    parse_response(response)


@dataclass(frozen=True)
class Fault:
    code: str  # soap:Client / soap:Server
    message: str

    @property
    def client(self) -> bool:
        return self.code.rsplit(":", 1)[-1].lower() == "client"

    @property
    def number(self) -> str:
        """Twinfield's number in "(code 354)", language independent; "" when absent."""
        found = _CODE.search(self.message)
        return found.group(1) if found else ""


def fault_of(response: httpx.Response) -> Fault | None:
    try:
        root = parse_response(response)
    except ValueError:
        return None
    fault = next(iter(descendants(root, "Fault")), None)
    if fault is None:
        return None
    return Fault(text(fault, "faultcode"), text(fault, "faultstring"))


def is_client_fault(response: httpx.Response) -> bool:
    """A SOAP Fault with faultcode Client: refused before processing (token, company header)."""
    fault = fault_of(response)
    return fault is not None and fault.client


def inner_result(envelope: ET.Element, operation: str) -> str | None:
    """The string inside ``<OperationResult>`` (the ProcessXml response document), None if absent."""
    found = next(iter(descendants(envelope, f"{operation}Result")), None)
    return None if found is None else (found.text or "")


# --- business errors ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    kind: str  # error | warning
    text: str
    where: str  # the element that carried it, e.g. "transaction", "line 2", "dim2"


def messages(node: ET.Element, kinds: tuple[str, ...] = ("error",)) -> list[Message]:
    """Every ``msgtype``/``msg`` pair under `node`, split on ``//``, each with where it was found."""
    found: list[Message] = []

    def walk(current: ET.Element, line: str) -> None:
        name = local(current.tag)
        if name == "line":
            line = current.get("id") or "?"
        where = name
        if line:
            where = f"regel {line}" if name == "line" else f"regel {line}, {name}"
        kind = current.get("msgtype", "")
        if kind in kinds and current.get("msg"):
            for part in (current.get("msg") or "").split("//"):
                if part.strip():
                    found.append(Message(kind, part.strip(), where))
        for nested in current:
            walk(nested, line)

    walk(node, "")
    return found


def ok(node: ET.Element) -> bool:
    return node.get("result", "1") != "0" and not messages(node)
