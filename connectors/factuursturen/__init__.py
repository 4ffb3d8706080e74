"""FactuurSturen.nl as an invoice source (its sent sales invoices)."""

from connectors.factuursturen.settings import FactuurSturenConnection
from connectors.factuursturen.source import FactuurSturenSource
from connectors.factuursturen.spec import SPEC

__all__ = ["SPEC", "FactuurSturenConnection", "FactuurSturenSource"]
