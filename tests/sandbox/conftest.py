"""Fixtures: seeded simulators served over real HTTP on ephemeral ports."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest

from sandbox import EBoekhoudenSim, FactuurSturenSim, FakeClock, SandboxServer
from sandbox.data import make_demo_invoices
from sandbox.seed import EB_API_TOKEN, EB_SOAP_CODE1, EB_SOAP_CODE2, EB_SOAP_USER, FS_API_KEY, FS_LOGIN


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_767_225_600.0 + 1800)  # 2026-01-01 00:30 UTC: half an hour into a quota window


@pytest.fixture
def fs(clock: FakeClock) -> FactuurSturenSim:
    sim = FactuurSturenSim({FS_LOGIN: FS_API_KEY}, quota_per_hour=1000, clock=clock)
    sim.load(make_demo_invoices(600, seed=3, end=date(2025, 12, 31), days=120))
    return sim


@pytest.fixture
def eb(clock: FakeClock) -> EBoekhoudenSim:
    sim = EBoekhoudenSim(clock=clock)
    sim.add_api_token(EB_API_TOKEN)
    sim.add_soap_user(EB_SOAP_USER, EB_SOAP_CODE1, EB_SOAP_CODE2)
    return sim


@pytest.fixture
def server(fs: FactuurSturenSim, eb: EBoekhoudenSim) -> Iterator[SandboxServer]:
    with SandboxServer(factuursturen=fs, eboekhouden=eb) as srv:
        yield srv
