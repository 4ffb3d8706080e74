"""Exact Online (NL/BE) as a booking target, with OAuth2 whose refresh tokens rotate."""

from connectors.exact.oauth import HOSTS, ExactOAuth
from connectors.exact.settings import ExactConnection
from connectors.exact.spec import SPEC
from connectors.exact.target import ExactOnline, parse_odata_date

__all__ = ["HOSTS", "SPEC", "ExactConnection", "ExactOAuth", "ExactOnline", "parse_odata_date"]
