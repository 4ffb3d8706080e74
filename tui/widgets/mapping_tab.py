"""Mapping tab (being built): tegenrekeningen, btw-codes, dagboeken, kostenplaatsen."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static


class MappingTab(Vertical):
    def __init__(self, koppeling: str) -> None:
        super().__init__(id="mapping-tab")
        self.koppeling = koppeling

    def compose(self) -> ComposeResult:
        yield Static("…")
