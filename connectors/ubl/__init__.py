"""UBL e-invoices from a folder (Peppol BIS 3, SI-UBL 2.0, UBL.BE): purchase invoices."""

from connectors.ubl.inbox import UblInbox
from connectors.ubl.spec import SPEC

__all__ = ["SPEC", "UblInbox"]
