"""AFAS Profit (REST App Connector) as a booking target: FiEntries, debtors and creditors, masters."""

from connectors.afas.settings import AfasConnection
from connectors.afas.spec import SPEC
from connectors.afas.target import Afas

__all__ = ["SPEC", "Afas", "AfasConnection"]
