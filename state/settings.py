"""The shape of koppelaar.toml, validated with pydantic. Secrets never live here."""

from __future__ import annotations

import functools
import operator
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from connectors.registry import SPECS
from connectors.spec import ConnectionSettings
from state.cron import cron_trigger, fires_in_hour


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SecretBackendName(StrEnum):
    AUTO = "auto"
    KEYRING = "keyring"
    FILE = "file"
    ENV = "env"


class AppSettings(Section):
    language: Literal["nl", "en"] = "nl"
    timezone: str = "Europe/Amsterdam"
    secret_backend: SecretBackendName = SecretBackendName.AUTO
    # Where the encrypted secret file and its key live; relative paths are relative to the home. No key
    # file configured: outside the home, in the key directory (state/home.py, README "Geheimen").
    secret_file: str = "secrets.enc"
    secret_key_file: str = ""
    # Console key bindings by binding id, e.g. {"run-now" = "ctrl+r"}; see `?` in the console for ids.
    keymap: dict[str, str] = Field(default_factory=dict)


if TYPE_CHECKING:
    Connection = ConnectionSettings
else:
    # One settings model per registered connector, told apart by `system` (pydantic then reports an
    # error at connections.NAME.SYSTEM.FIELD, which state/config.py turns into a line number).
    Connection = Annotated[
        functools.reduce(operator.or_, (spec.settings for spec in SPECS.values())),
        Field(discriminator="system"),
    ]


class Mapping(Section):
    """How source values become target values. Keys are `verkoop:21`, `inkoop:9`, `verkoop:groep:Advies`."""

    tegenrekening_verkoop: str = ""
    tegenrekening_inkoop: str = ""
    tegenrekening: dict[str, str] = Field(default_factory=dict)
    btw_codes: dict[str, str] = Field(default_factory=dict)
    kostenplaatsen: dict[str, str] = Field(default_factory=dict)
    dagboeken: dict[str, str] = Field(default_factory=dict)


class CurrencyPolicy(StrEnum):
    CONVERT_ECB = "convert_ecb"  # book in EUR at the ECB rate of the invoice date
    REFUSE = "refuse"  # park foreign-currency invoices as a foutmelding


class Koppeling(Section):
    source: str
    target: str
    # Standard cron (0 and 7 = Sunday), in app.timezone; outside 02:00-02:59 (DST).
    schedule: str = "15 3 * * *"
    paused: bool = False  # temporarily: no scheduled runs, manual runs still allowed
    deactivated: bool = False  # switched off: no runs at all until activated again
    currency_policy: CurrencyPolicy = CurrencyPolicy.CONVERT_ECB
    start_date: str = ""  # YYYY-MM-DD: invoices before this date are never booked
    # A scheduled run that fails as a whole with a problem that may pass (the target unreachable, say)
    # is run again `retry_delay_minutes` later, at most `retries` times per night (sync/scheduler.py).
    retries: int = 2
    retry_delay_minutes: int = 30
    mapping: Mapping = Field(default_factory=Mapping)

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        # Every field checked now: a schedule that only fails when the console computes its next
        # runs would be saved first. The time zone does not change what is valid.
        if fires_in_hour(cron_trigger(value, "UTC"), 2):
            # Daylight saving: 02:xx happens twice in October and not at all in March.
            raise ValueError(
                "kies een tijd buiten 02:00-02:59 (zomer-/wintertijd), bijvoorbeeld '15 3 * * *'"
            )
        return value

    @field_validator("retries")
    @classmethod
    def _retries(cls, value: int) -> int:
        if not 0 <= value <= 5:
            raise ValueError(
                "kies 0 tot en met 5 herhalingen van een mislukte geplande run (0: niet herhalen)"
            )
        return value

    @field_validator("retry_delay_minutes")
    @classmethod
    def _retry_delay(cls, value: int) -> int:
        # At least 5 minutes: an outage rarely passes sooner; at most 4 hours: the night must stay the night.
        if not 5 <= value <= 240:
            raise ValueError("kies een wachttijd van 5 tot en met 240 minuten voor een herhaling")
        return value


class Settings(Section):
    app: AppSettings = Field(default_factory=AppSettings)
    connections: dict[str, Connection] = Field(default_factory=dict)
    koppelingen: dict[str, Koppeling] = Field(default_factory=dict)
