"""AccountView (Visma) as a booking target: AccountView.Net API v3 with OAuth2, one administratie per
connection (X-Company), journal entries as DJ2 journal pages."""

from connectors.accountview.oauth import AccountViewOAuth
from connectors.accountview.settings import AccountViewConnection
from connectors.accountview.spec import SPEC
from connectors.accountview.target import AccountView

__all__ = ["SPEC", "AccountView", "AccountViewConnection", "AccountViewOAuth"]
