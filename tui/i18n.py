"""Dutch by default, English on request. Strings are written in Dutch in the code; this is their English.

A dictionary instead of gettext catalogues: the console has a few hundred short strings, one other
language, and no translators' tooling to feed; a missing translation falls back to the Dutch.
"""

from __future__ import annotations

_language = "nl"

ENGLISH: dict[str, str] = {
    "Overzicht": "Overview",
    "Koppeling": "Integration",
    "Koppelingen": "Integrations",
    "Bron → doel": "Source → target",
    "Status": "Status",
    "Laatste run": "Last run",
    "Volgende run": "Next run",
    "Foutmeldingen": "Errors",
    "Niet gekoppeld": "Unmapped",
    "Mapping": "Mapping",
    "Runs": "Runs",
    "Instellingen": "Settings",
    "Niet verbonden": "Not connected",
    "Wacht op autorisatie": "Awaiting authorisation",
    "Actief": "Active",
    "Herautorisatie nodig": "Re-authorisation needed",
    "Gepauzeerd": "Paused",
    "Gedeactiveerd": "Deactivated",
    "Fout": "Error",
    "Planner": "Scheduler",
    "Alleen-lezen": "Read-only",
    "Nu synchroniseren": "Sync now",
    "Dry-run": "Dry run",
    "Pauzeren": "Pause",
    "Hervatten": "Resume",
    "Deactiveren": "Deactivate",
    "Opnieuw verbinden": "Reconnect",
    "Opnieuw proberen": "Retry",
    "Negeren": "Ignore",
    "Opgelost": "Resolved",
    "Filter": "Filter",
    "Sluiten": "Close",
    "Terug": "Back",
    "Help": "Help",
    "Afsluiten": "Quit",
    "Vernieuwen": "Refresh",
    "Bevestigen": "Confirm",
    "Annuleren": "Cancel",
    "Ja": "Yes",
    "Nee": "No",
    "nog nooit": "never",
    "geen": "none",
    "Toetsen": "Keys",
    "Wat te doen": "What to do",
    "Eerst gezien": "First seen",
    "Laatst gezien": "Last seen",
    "Aantal": "Count",
    "Herkomst": "Origin",
    "Melding": "Message",
    "Records": "Records",
    "Verbindingen": "Connections",
    "Bezig": "Running",
    "geboekt": "booked",
    "fout": "failed",
    "onzeker": "uncertain",
    "al verwerkt": "already done",
    "opgehaald": "fetched",
    "Er zijn nog geen koppelingen.": "There are no integrations yet.",
    "Geen foutmeldingen.": "No errors.",
    "Nog geen runs.": "No runs yet.",
}


def set_language(language: str) -> None:
    global _language
    _language = language if language in ("nl", "en") else "nl"


def language() -> str:
    return _language


def _(text: str) -> str:
    return ENGLISH.get(text, text) if _language == "en" else text
