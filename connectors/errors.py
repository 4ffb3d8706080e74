"""What can go wrong talking to a vendor, classified so the engine knows what to do next."""

from __future__ import annotations

from enum import StrEnum


class Origin(StrEnum):
    SOURCE = "bron"
    TARGET = "doel"
    MAPPING = "mapping"
    AUTH = "authenticatie"
    OURS = "koppelaar"


class ConnectorError(Exception):
    """A failure with a message a support person understands and what to do about it.

    `exchange` is the redacted request/response text for drill-down; never a secret.
    """

    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        advice: str = "",
        code: str = "",
        exchange: str = "",
        origin: Origin = Origin.TARGET,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.advice = advice
        self.code = code
        self.exchange = exchange
        self.origin = origin


class AuthError(ConnectorError):
    """The vendor rejected the credentials (or the token behind them)."""

    def __init__(self, message: str, **kwargs: object) -> None:
        kwargs.setdefault("origin", Origin.AUTH)
        super().__init__(message, **kwargs)  # type: ignore[arg-type]


class RejectedError(ConnectorError):
    """The vendor understood the request and refused it: sending it again changes nothing."""


class TransientError(ConnectorError):
    """Temporary trouble (rate limit, outage, timeout on a read): the next run may succeed."""

    retryable = True


class UncertainError(ConnectorError):
    """A create was sent but its outcome is unknown: look it up by reference before posting again."""

    retryable = True
