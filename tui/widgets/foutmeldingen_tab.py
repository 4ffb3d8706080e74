"""Foutmeldingen tab (being built): grouped problems of a koppeling."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static


class FoutmeldingenTab(Vertical):
    def __init__(self, koppeling: str) -> None:
        super().__init__(id="foutmeldingen-tab")
        self.koppeling = koppeling

    def compose(self) -> ComposeResult:
        yield Static("…")
