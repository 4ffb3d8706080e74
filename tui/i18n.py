"""Dutch by default, English on request. Strings are written in Dutch in the code; this is their English.

A dictionary instead of gettext catalogues: the console has a few hundred short strings, one other
language, and no translators' tooling to feed; a missing translation falls back to the Dutch.
"""

from __future__ import annotations

import re

_language = "nl"

ENGLISH: dict[str, str] = {
    # -- runs that outlive their screen, quitting, counts, the connect wizard's state (issue 10)
    "Controleren": "Check",
    "Verbindingen controleren": "Check connections",
    "Verbindingen controleren…": "Checking connections…",
    "Controleren…": "Checking…",
    "Opgeslagen, maar geweigerd": "Stored, but refused",
    "Opgeslagen, maar niet bereikbaar": "Stored, but unreachable",
    "Wachten": "Wait",
    "Veilig stoppen": "Stop safely",
    "Niet afsluiten": "Don't quit",
    "Er loopt nog een run": "A run is still busy",
    "Wachten tot hij klaar is, of veilig stoppen: wat onderweg is wordt afgemaakt,": (
        "Wait until it is done, or stop safely: what is on its way is finished,"
    ),
    "de rest volgt bij de volgende run.": "the rest follows in the next run.",
    "Koppelaar sluit af zodra de run klaar is.": "Koppelaar quits as soon as the run is done.",
    "Starten…": "Starting…",
    "Er loopt al een run.": "A run is already busy.",
    "al aanwezig": "already present",
    "deze console": "this console",
    "op": "on",
    "sinds": "since",
    "dezelfde bron in dezelfde administratie; de ene boekt, de andere vindt alles al aanwezig.": (
        "the same source into the same administration; one books, the other finds everything present."
    ),
    "Deactiveer er één.": "Deactivate one of them.",
    "Zoek een commando…": "Search for a command…",
    "Geen commando gevonden": "No matches found",
    "Commando's": "Commands",
    "Overzicht": "Overview",
    "Koppeling": "Integration",
    "Koppelingen": "Integrations",
    "Bron → doel": "Source → target",
    "Status": "Status",
    "Laatste run": "Last run",
    "Volgende run": "Next run",
    "Volgende": "Next",
    "nu": "now",
    "niemand (geen daemon of console plant de runs)": "nobody (no daemon or console schedules the runs)",
    "Foutmeldingen": "Errors",
    "Niet gekoppeld": "Unmapped",
    "Mapping": "Mapping",
    "Runs": "Runs",
    "Instellingen": "Settings",
    "wacht op": "waiting for",
    "tot": "until",
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
    "Verbinden": "Reconnect",  # the footer's short 'Opnieuw verbinden'
    "Pauze": "Pause",
    "Controle": "Check",  # the footer's short 'Verbindingen controleren'  # the footer's short 'Pauzeren/Hervatten'
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

# -- connect wizard (tui/screens/connect.py) -------------------------------------------------------------
ENGLISH.update(
    {
        "Maak verbinding met": "Connect to",
        "Maak verbinding met {vendor}": "Connect to {vendor}",
        "Verbinden met {vendor}…": "Connecting to {vendor}…",
        "Selecteer de administratie in {vendor} die u wilt koppelen.": (
            "Select the administration in {vendor} to connect."
        ),
        "{reason}. Selecteer de administratie in {vendor} die u wilt koppelen.": (
            "{reason}. Select the administration in {vendor} to connect."
        ),
        "Tegenrekening verkoopfacturen ({koppeling})": "Contra account sales invoices ({koppeling})",
        "Tegenrekening inkoopfacturen ({koppeling})": "Contra account purchase invoices ({koppeling})",
        "Kies de tegenrekening waarop u de Verkoopfacturen van koppeling {koppeling} wilt boeken.": (
            "Choose the contra account for the sales invoices of integration {koppeling}."
        ),
        "Kies de tegenrekening waarop u de Inkoopfacturen van koppeling {koppeling} wilt boeken.": (
            "Choose the contra account for the purchase invoices of integration {koppeling}."
        ),
        "Kies eerst een van de opties.": "Choose one of the options first.",
        "Vul hieronder uw inloggegevens in van e-Boekhouden.nl. Deze gebruiken we om verbinding te maken "
        "met uw e-Boekhouden.nl administratie.": "Enter your e-Boekhouden.nl login details below. We use them "
        "to connect to your e-Boekhouden.nl administration.",
        "Vul hieronder uw API-gegevens in van FactuurSturen.nl. Deze gebruiken we om uw facturen op te "
        "halen.": "Enter your FactuurSturen.nl API details below. We use them to fetch your invoices.",
        "U vindt ze in e-Boekhouden.nl via Beheer > Instellingen > Koppelingen > API/SOAP.": "You find them "
        "in e-Boekhouden.nl under Beheer > Instellingen > Koppelingen > API/SOAP.",
        "Maak een API-token aan in e-Boekhouden.nl via Beheer → Inrichting → Koppelingen → API.": "Create an "
        "API token in e-Boekhouden.nl under Beheer → Inrichting → Koppelingen → API.",
        'Maak een API-sleutel aan in FactuurSturen.nl via Instellingen → Verbindingen → "Maak API sleutel".': (
            'Create an API key in FactuurSturen.nl under Instellingen → Verbindingen → "Maak API sleutel".'
        ),
        "Gebruikersnaam": "Username",
        "Loginnaam": "Login name",
        "Beveiligingscode 1": "Security code 1",
        "Beveiligingscode 2": "Security code 2",
        "API-token": "API token",
        "API-sleutel": "API key",
        "Verbonden": "Connected",
        "Verbinding verbreken": "Disconnect",
        "laat leeg wat niet veranderd is: de opgeslagen waarde blijft": "leave unchanged fields empty: the "
        "stored value stays",
        "Alleen-lezen: u kunt de gegevens controleren, maar er wordt niets opgeslagen.": "Read-only: you can "
        "check the details, but nothing is saved.",
        "Alleen-lezen: de verbinding is gecontroleerd maar niet opgeslagen.": "Read-only: the connection was "
        "checked but not saved.",
        "Alleen-lezen: er is niets opgeslagen.": "Read-only: nothing was saved.",
        "Alleen-lezen: een verbinding verbreken is niet toegestaan.": "Read-only: disconnecting is not allowed.",
        "U vindt de standaard grootboekrekeningen in e-Boekhouden.nl via Beheer > Inrichting > "
        "Grootboekrekeningen.": "The standard ledger accounts are in e-Boekhouden.nl under Beheer > "
        "Inrichting > Grootboekrekeningen.",
        "/ Zoek op code of naam": "/ Search by code or name",
        "OK": "OK",
        "koppeling": "integration",
        "huidig": "current",
        "Administratie": "Administration",
        "Tegenrekening": "Contra account",
        "Opslaan…": "Saving…",
        "Niet opgeslagen": "Not saved",
        "Bezig met opslaan…": "Saving, please wait…",
        "Welke verbinding? Enter kiest, Esc sluit.": "Which connection? Enter picks, Esc closes.",
        "Bron": "Source",
        "Doel": "Target",
        "Verbinding '{name}' verbreken? De geheimen worden gewist; {users} stopt tot u opnieuw verbindt.": (
            "Disconnect '{name}'? Its secrets are wiped; {users} stops until you connect again."
        ),
        "geen koppeling": "no integration",
        "Verbinding '{name}' verbroken: Niet verbonden.": "'{name}' disconnected: Not connected.",
        "wist de geheimen; vraagt eerst om bevestiging": "wipes the secrets; asks first",
    }
)
# -- end connect wizard ---------------------------------------------------------------------------------


# -- Foutmeldingen tab and its drill-down (tui/widgets/foutmeldingen_tab.py) -------------------------
ENGLISH.update(
    {
        "Details": "Details",
        "Heropenen": "Reopen",
        "Status-filter": "Status filter",
        "Filter wissen": "Clear filter",
        "Laatst": "Last",
        "Record": "Record",
        "Detail": "Detail",
        "Filter op melding, advies of code": "Filter on message, advice or code",
        "Geen foutmeldingen met status '{status}'.": "No errors with status '{status}'.",
        "Met s wisselt u de status.": "Press s to switch the status.",
        "laden…": "loading…",
        "Kies eerst een foutmelding.": "Choose an error first.",
        "opnieuw proberen": "retrying",
        "Er loopt al een nieuwe poging.": "A retry is already running.",
        "Deze foutmelding heeft geen records om opnieuw te proberen; start een run op het tabblad Status (n).": (
            "This error has no records to retry; start a run on the Status tab (n)."
        ),
        "negeren": "ignoring",
        "Deze foutmelding is al genegeerd (h heropent hem).": "This error is already ignored (h reopens it).",
        "een foutmelding wijzigen": "changing an error",
        "Deze foutmelding is al open.": "This error is already open.",
        "Genegeerd": "Ignored",
        "Heropend": "Reopened",
        "Foutmelding": "Error",
        "Niet vastgelegd: het probleem ontstond vóór er iets verstuurd werd.": (
            "Not recorded: the problem arose before anything was sent."
        ),
        "Geen foutmeldingen die '{text}' bevatten.": "No errors containing '{text}'.",
        "Esc wist het filter.": "Esc clears the filter.",
        "Alles wat de laatste runs ophaalden is geboekt, of bewust genegeerd.": (
            "Everything the last runs fetched has been booked, or deliberately ignored."
        ),
        "Gaat er bij een run iets mis, dan staat het hier: wat er misging en wat te doen.": (
            "When something goes wrong in a run, it shows here: what went wrong and what to do."
        ),
        "Met s ziet u ook de genegeerde en opgeloste foutmeldingen.": "Press s to see ignored and resolved errors too.",
        "Enter: details": "Enter: details",
        "eerst gezien": "first seen",
        "laatst": "last",
        "De daemon plant de runs; de poging is aan hem doorgegeven.": (
            "The daemon schedules the runs; the retry was handed to it."
        ),
        "Foutmelding negeren?": "Ignore this error?",
        "Hij verdwijnt uit de open foutmeldingen en komt niet terug als het opnieuw gebeurt;": (
            "It leaves the open errors and does not come back when it happens again;"
        ),
        "de records worden niet geboekt. Met s en h vindt en heropent u hem.": (
            "its records are not booked. Use s and h to find and reopen it."
        ),
        "Records laden…": "Loading records…",
        "Geen records bij deze foutmelding: het probleem geldt de hele koppeling": (
            "No records for this error: the problem concerns the whole integration"
        ),
        "(bijvoorbeeld een verbinding); een volgende run laat zien of het weg is.": (
            "(a connection, for example); the next run shows whether it is gone."
        ),
        "van": "of",
        "Tab: naar verzoek/antwoord": "Tab: to request/response",
        "Verzoek en antwoord (geheimen weggelaten)": "Request and response (secrets left out)",
        "filter": "filter",
        "Alleen-lezen: {what} is niet toegestaan (start zonder --read-only).": (
            "Read-only: {what} is not allowed (start without --read-only)."
        ),
        "Nog niet opgelost": "Not resolved yet",
        "Opgelost: {n} record(s) geboekt.": "Resolved: {n} record(s) booked.",
        "open": "open",
        "genegeerd": "ignored",
        "opgelost": "resolved",
        "alle": "all",
        "bron": "source",
        "doel": "target",
        "authenticatie": "authentication",
        "koppelaar": "Koppelaar",
    }
)
# -- end Foutmeldingen tab --------------------------------------------------------------------------


# -- console at 80x24: the overview's compact columns (tui/screens/overview.py) -----------------------
ENGLISH.update(
    {
        "Fouten": "Errors",
        "Niet gek.": "Unmapped",
        "deels": "partial",
        "mislukt": "failed",
        "bezig": "busy",
        "ok": "ok",
        "opgeh.": "fetched",
        "onz.": "uncert.",
        "handmatig": "manual",
        "gepland": "scheduled",
        "ingehaald": "catch-up",
        "Aanleiding": "Trigger",
        "Start": "Start",
        "Uitkomst": "Outcome",
        "ma": "Mon",
        "di": "Tue",
        "wo": "Wed",
        "do": "Thu",
        "vr": "Fri",
        "za": "Sat",
        "zo": "Sun",
        "dry-run": "dry run",
        "Autoriseren": "Authorise",
        "Herautoriseren": "Re-authorise",
    }
)
# -- end console at 80x24 -------------------------------------------------------------------------------


# -- Instellingen tab (tui/widgets/instellingen_tab.py) and retries in the overview ---------------------
ENGLISH.update(
    {
        "Planning (cron, tijdzone": "Schedule (cron, time zone",
        "Volgende runs:": "Next runs:",
        "herhaling": "retry",
        "herh.": "retry",
        "Herhalen als een geplande run mislukt (niet bij een inlogfout)": (
            "Retry a failed scheduled run (not after a login failure)"
        ),
        "niet herhalen": "do not retry",
        "{n} keer herhalen": "retries: {n}",
        "na {n} minuten": "after {n} minutes",
        "Vreemde valuta": "Foreign currency",
        "Omrekenen naar euro's tegen de ECB-koers van de factuurdatum": (
            "Convert to euros at the ECB rate of the invoice date"
        ),
        "Weigeren: vreemde valuta wordt een foutmelding": "Refuse: foreign currency becomes an error",
        "Opgeslagen in koppelaar.toml.": "Saved in koppelaar.toml.",
    }
)
# -- end Instellingen tab -------------------------------------------------------------------------------


# -- Mapping tab and its picker (tui/widgets/mapping_tab.py) -------------------------------------------
ENGLISH.update(
    {
        "Kiezen": "Choose",
        "Standaard gebruiken": "Use default",
        "Soort": "Kind",
        "Bronwaarde": "Source value",
        "niet gekoppeld": "unmapped",
        "Daarna boekt 'Opnieuw proberen' (o) onder Foutmeldingen ze alsnog.": (
            "Afterwards 'Retry' (o) under Errors books them."
        ),
        "Btw-code voor": "VAT code for",
        "Tegenrekening voor": "Contra account for",
        "Zoeken": "Search",
        "De mapping is te bekijken; kiezen kan pas als de verbinding werkt (r probeert opnieuw).": (
            "You can look at the mapping; choosing needs a working connection (r tries again)."
        ),
        "bestaat niet in {vendor}": "does not exist in {vendor}",
        "(Esc wist het filter)": "(Esc clears the filter)",
        "Koppeling wissen": "Clear mapping",
        "Huidig": "Current",
        "alleen-lezen: kijken, niet wijzigen": "read-only: look, do not change",
        "{label}: {value} wissen? Daarna geldt: {after}.": "{label}: clear {value}? Then applies: {after}.",
        "Kies nu 'Opnieuw proberen' (o) onder Foutmeldingen om de geparkeerde facturen te boeken.": (
            "Now choose 'Retry' (o) under Errors to book the parked invoices."
        ),
        "Niets om te kiezen; pas de zoekterm aan.": "Nothing to choose; change the search.",
        "Filter: typ om bronwaarden te zoeken (Esc wist)": "Filter: type to find source values (Esc clears)",
        "Grootboekrekeningen, btw-codes, kostenplaatsen en dagboeken van {vendor} ophalen…": (
            "Fetching ledger accounts, VAT codes, cost centres and journals from {vendor}…"
        ),
        "{n} grootboekrekeningen, {m} btw-codes, {k} kostenplaatsen, {j} dagboeken van {vendor}.": (
            "{n} ledger accounts, {m} VAT codes, {k} cost centres, {j} journals from {vendor}."
        ),
        "{n} grootboekrekeningen, {m} btw-codes, {k} kostenplaatsen van {vendor}.": (
            "{n} ledger accounts, {m} VAT codes, {k} cost centres from {vendor}."
        ),
        "Enter kiest.": "Enter chooses.",
        "standaard: volgens btw-tarief": "default: by VAT rate",
        "wordt opgehaald…": "fetching…",
        "onbekend": "unknown",
        "Geen bronwaarde gevonden voor": "No source value found for",
        "geparkeerde facturen wachten hierop (!).": "parked invoices wait for this (!).",
        "Niets veranderd.": "Nothing changed.",
        "grootboekrekening {code} bestaat niet in {vendor}": "ledger account {code} does not exist in {vendor}",
        "{code} is een balansrekening ({category}) en kan geen omzet of kosten dragen": (
            "{code} is a balance-sheet account ({category}) and cannot carry revenue or costs"
        ),
        "Opgeslagen in koppelaar.toml: {label} → {value} (was {old}).": (
            "Saved in koppelaar.toml: {label} → {value} (was {old})."
        ),
        "Gewist (was {old}); {label} gebruikt nu: {after}.": "Cleared (was {old}); {label} now uses: {after}.",
        "Typ om te zoeken · ↑↓ kiezen · Enter bevestigt · Esc annuleert": (
            "Type to search · ↑↓ choose · Enter confirms · Esc cancels"
        ),
        "standaard": "default",
        "groep": "group",
        "niet verbonden; verbind '{name}' eerst (Status-tab, v)": "not connected; connect '{name}' first (Status tab, v)",
        "De lijst van {vendor} wordt nog opgehaald…": "Still fetching the list from {vendor}…",
        "Geen lijst van {vendor}: {reason}": "No list from {vendor}: {reason}",
        "btw-code {code} bestaat niet in {vendor}": "VAT code {code} does not exist in {vendor}",
        "btw-code {code} is {rate}%, maar deze bronwaarde is {own}%: {vendor} zou de boeking weigeren": (
            "VAT code {code} is {rate}%, but this source value is {own}%: {vendor} would refuse the booking"
        ),
        "{label} heeft geen eigen waarde; er is niets te wissen.": "{label} has no value of its own; nothing to clear.",
        "Zoek op code of naam…": "Search by code or name…",
        "verlegd": "reverse charge",
        "Niets gevonden voor": "Nothing found for",
        "Nu gekoppeld": "Now mapped",
        "Kan de grootboekrekeningen van {vendor} niet ophalen": "Cannot fetch the ledger accounts from {vendor}",
        "Btw-code": "VAT code",
        "Kostenplaats": "Cost centre",
        "Dagboek": "Journal",
        "verkoop": "sales",
        "inkoop": "purchase",
        "kostenplaats": "cost centre",
        "verkoopboek": "sales journal",
        "inkoopboek": "purchase journal",
        "verkoopfacturen": "sales invoices",
        "inkoopfacturen": "purchase invoices",
        "geen kostenplaats": "no cost centre",
        "standaard: volgens soort": "default: by kind of invoice",
        "standaard: {code} (verbinding)": "default: {code} (connection)",
        "geen dagboeken in {vendor}": "no journals in {vendor}",
        "Kostenplaats voor": "Cost centre for",
        "Dagboek voor {facturen}": "Journal for {facturen}",
        "Deze administratie in {vendor} heeft geen {what}.": "This administration in {vendor} has no {what}.",
        "grootboekrekeningen": "ledger accounts",
        "btw-codes": "VAT codes",
        "kostenplaatsen": "cost centres",
        "kostenplaats {code} bestaat niet in {vendor}": "cost centre {code} does not exist in {vendor}",
        "{code} is geen {book} in {vendor}": "{code} is not a {book} in {vendor}",
        "{vendor} kent geen dagboeken: boekt per soort mutatie (verkoop- of inkoopfactuur).": (
            "{vendor} has no journals: it books by kind of entry (sales or purchase invoice)."
        ),
    }
)
# -- end Mapping tab ------------------------------------------------------------------------------------


# -- connect wizard: authorising in a browser (tui/screens/connect.py) ---------------------------------
ENGLISH.update(
    {
        "Autoriseer applicatie": "Authorize application",
        "Autoriseer {vendor}": "Authorize {vendor}",
        "Autoriseren bij {vendor}…": "Authorizing with {vendor}…",
        "leeg:": "empty:",
        "het opgeslagen secret houden": "keep the stored secret",
        "Divisie code (administratie)": "Division code (administration)",
        "Opnieuw autoriseren": "Authorize again",
        "Kopieer URL": "Copy URL",
        "Client ID": "Client ID",
        "Client secret": "Client secret",
        "Land ({codes})": "Country ({codes})",
        "Alleen-lezen: u kunt autoriseren om te controleren, maar er wordt niets opgeslagen.": (
            "Read-only: you can authorize to check, but nothing is saved."
        ),
        "Open deze URL in een browser (Ctrl+Y kopieert hem), log in met een account dat toegang heeft "
        "tot de administratie en kies Toestaan (Allow):": (
            "Open this URL in a browser (Ctrl+Y copies it), log in with an account that has access to the "
            "administration and choose Allow:"
        ),
        "Plak daarna het adres waar de browser op uitkomt (of alleen de code):": (
            "Then paste the address the browser ends up on (or just the code):"
        ),
        "Verder": "Continue",
        "Opnieuw starten": "Start again",
        "Wacht op autorisatie": "Waiting for authorization",
        "een code is ongeveer 3 minuten geldig.": "a code is valid for about 3 minutes.",
        "de browser mag ook terugkeren naar {url} (over SSH: ssh -L {port}:127.0.0.1:{port} …).": (
            "the browser may also return to {url} (over SSH: ssh -L {port}:127.0.0.1:{port} …)."
        ),
        "URL gekopieerd (als de terminal dat toestaat).": "URL copied (if the terminal allows it).",
        "Niet geautoriseerd": "Not authorized",
        "Geautoriseerd": "Authorized",
        "nog niet opgeslagen": "not saved yet",
        "Herautorisatie nodig": "Re-authorization needed",
        "vernieuwingstoken nog {days} dagen geldig": "refresh token valid for {days} more days",
        "Het dagboek voor de verkoopfacturen.": "The journal for sales invoices.",
        "Het dagboek voor de inkoopfacturen.": "The journal for purchase invoices.",
        "Dagboeken en grootboekrekeningen ophalen…": "Fetching journals and ledger accounts…",
        "Verkoopboek": "Sales journal",
        "Inkoopboek": "Purchase journal",
        "Alleen-lezen: de autorisatie is gecontroleerd maar niet opgeslagen.": (
            "Read-only: the authorization was checked but not saved."
        ),
        "Access token aangemaakt.": "Access token created.",
        "Maak een app aan (of open de bestaande) in het Exact App Center: https://apps.exactonline.com/ → Mijn apps beheren. Daar staan Client ID en Client secret; de Redirect URI van de app moet gelijk zijn aan die in koppelaar.toml.": (
            "Create an app (or open the existing one) in the Exact App Center: https://apps.exactonline.com/ "
            "→ Manage my apps. It shows the Client ID and Client secret; the app's Redirect URI must equal "
            "the one in koppelaar.toml."
        ),
        "Client ID en Client secret staan bij de app in het Twinfield developer portal (https://developers.twinfield.com/); de Redirect URI van de app moet gelijk zijn aan die in koppelaar.toml.": (
            "Client ID and Client secret are on the app in the Twinfield developer portal "
            "(https://developers.twinfield.com/); the app's Redirect URI must equal the one in koppelaar.toml."
        ),
    }
)
# -- end connect wizard: authorising in a browser ---------------------------------------------------------


# -- texts sync/ and connectors/ store in Dutch (tui.i18n.say) --------------------------------------------
# Run messages, foutmelding titles and advice, connection check reasons and record outcomes are written
# to the store in Dutch by the engine and the connectors, whichever console later reads them (and the
# daemon has no language). The console says them in its own language when it shows them: each Dutch
# template here, with its {parts}, is matched against the stored text and its parts carried over.
MESSAGES: dict[str, str] = {
    # run messages (sync/engine.py)
    "{booked} geboekt, {present} al aanwezig bij het doel, {failed} foutmelding(en), {uncertain} onzeker": (
        "{booked} booked, {present} already present at the target, {failed} error(s), {uncertain} uncertain"
    ),
    "{booked} geboekt, {failed} foutmelding(en), {uncertain} onzeker": (
        "{booked} booked, {failed} error(s), {uncertain} uncertain"
    ),
    "{booked} geboekt, {present} al aanwezig bij het doel, {skipped} al verwerkt": (
        "{booked} booked, {present} already present at the target, {skipped} already done"
    ),
    "{booked} geboekt, {skipped} al verwerkt": "{booked} booked, {skipped} already done",
    "{booked} geboekt; gestopt op verzoek, de rest volgt bij de volgende run": (
        "{booked} booked; stopped on request, the rest follows in the next run"
    ),
    "{koppeling} draait al ({who})": "{koppeling} is already running ({who})",
    "proces {pid} op {host}": "process {pid} on {host}",
    "een ander proces": "another process",
    "Interne fout: {error}": "Internal error: {error}",
    "Interne fout in Koppelaar: {error}": "Internal error in Koppelaar: {error}",
    "Run {run} stopte hierdoor; een volgende run is veilig. De volledige foutmelding (traceback) staat in "
    "{log}. Meld dit bij de leverancier van Koppelaar met dat bestand en het tijdstip van de run.": (
        "Run {run} stopped because of it; a next run is safe. The full error (traceback) is in {log}. "
        "Report this to the supplier of Koppelaar with that file and the time of the run."
    ),
    "Boeking kwam niet aan bij het doel": "The booking did not reach the target",
    "Wordt bij de volgende run opnieuw verstuurd.": "Is sent again in the next run.",
    "gevonden bij het doel na een onzekere verzending": "found at the target after an uncertain send",
    "Deze inloggegevens werkten nog op {moment} (UTC): ze zijn sindsdien gewijzigd of ingetrokken. {advice}": (
        "These credentials still worked on {moment} (UTC): they were changed or revoked since. {advice}"
    ),
    "{connection}: {reason}": "{connection}: {reason}",
    "{title} — {advice}": "{title} — {advice}",
    # connection checks (connectors/*: check())
    "Verbonden met FactuurSturen": "Connected to FactuurSturen",
    "Verbonden met e-Boekhouden": "Connected to e-Boekhouden",
    "Verbonden met e-Boekhouden (SOAP)": "Connected to e-Boekhouden (SOAP)",
    "Verbonden met Exact Online (administratie {division})": "Connected to Exact Online (administration {division})",
    "Verbonden met Twinfield, administratie {office} ({name})": "Connected to Twinfield, administration {office} ({name})",
    "Opnieuw verbinden: toets v op het tabblad Status van de koppeling, of op de opdrachtregel koppelaar "
    "connect {connection}.": (
        "Reconnect: key v on the integration's Status tab, or on the command line koppelaar connect {connection}."
    ),
    "{advice} Opnieuw verbinden: toets v op het tabblad Status van de koppeling, of op de opdrachtregel "
    "koppelaar connect {connection}.": (
        "{advice} Reconnect: key v on the integration's Status tab, or on the command line koppelaar connect "
        "{connection}."
    ),
    # mapping foutmeldingen (sync/mapping.py)
    "Onbekend btw-tarief {rate}% op verkoopfacturen": "Unknown VAT rate {rate}% on sales invoices",
    "Onbekend btw-tarief {rate}% op inkoopfacturen": "Unknown VAT rate {rate}% on purchase invoices",
    "Kies onder Mapping een btw-code voor '{key}' (btw_codes in koppelaar.toml), of corrigeer het tarief "
    "in de bron.": (
        "Choose a VAT code for '{key}' under Mapping (btw_codes in koppelaar.toml), or correct the rate in "
        "the source."
    ),
    "Geen tegenrekening gekozen voor verkoopfacturen": "No contra account chosen for sales invoices",
    "Geen tegenrekening gekozen voor inkoopfacturen": "No contra account chosen for purchase invoices",
    "Kies onder Mapping de tegenrekening waarop verkoopfacturen geboekt worden ({key} in koppelaar.toml).": (
        "Choose under Mapping the contra account sales invoices are booked on ({key} in koppelaar.toml)."
    ),
    "Kies onder Mapping de tegenrekening waarop inkoopfacturen geboekt worden ({key} in koppelaar.toml).": (
        "Choose under Mapping the contra account purchase invoices are booked on ({key} in koppelaar.toml)."
    ),
    "Factuur {number} heeft geen regels": "Invoice {number} has no lines",
    "Een factuur zonder regels kan niet geboekt worden; controleer de factuur in de bron.": (
        "An invoice without lines cannot be booked; check the invoice in the source."
    ),
    "Factuur in vreemde valuta ({currency})": "Invoice in a foreign currency ({currency})",
    "Deze koppeling boekt alleen euro's (currency_policy = 'refuse'); boek de factuur handmatig of zet "
    "currency_policy op 'convert_ecb'.": (
        "This integration books euros only (currency_policy = 'refuse'); book the invoice by hand or set "
        "currency_policy to 'convert_ecb'."
    ),
    "Geen wisselkoers voor {currency}": "No exchange rate for {currency}",
    "Factuur uit de bron afgekeurd (veld '{field}')": "Invoice from the source refused (field '{field}')",
    "Corrigeer de factuur in de bron; de volgende run leest hem opnieuw als hij gewijzigd is.": (
        "Correct the invoice in the source; the next run reads it again once it has changed."
    ),
}


def say(text: str) -> str:
    """A text stored in Dutch by sync/ or connectors/, in the console's language. Unknown texts (a
    vendor's own words, a template not listed) stay as they were written."""
    if _language != "en" or not text:
        return text
    if text in ENGLISH:
        return ENGLISH[text]
    for pattern, english in _templates():
        match = pattern.fullmatch(text)
        if match:
            # A part may itself be a stored text ('{connection}: {reason}'); each part is shorter.
            return english.format(**{name: say(part) for name, part in match.groupdict().items()})
    return text


_compiled: list[tuple[re.Pattern[str], str]] = []


def _templates() -> list[tuple[re.Pattern[str], str]]:
    """The templates as patterns, the most literal first: '{booked} geboekt, {skipped} al verwerkt'
    must not swallow a message that also says what was already present."""
    if not _compiled:
        for dutch in sorted(MESSAGES, key=lambda t: -len(re.sub(r"\{\w+\}", "", t))):
            parts = re.split(r"\{(\w+)\}", dutch)
            regex = "".join(
                re.escape(part) if index % 2 == 0 else f"(?P<{part}>.+?)" for index, part in enumerate(parts)
            )
            _compiled.append((re.compile(regex, re.DOTALL), MESSAGES[dutch]))
    return _compiled


def set_language(language: str) -> None:
    global _language
    _language = language if language in ("nl", "en") else "nl"
    _translate_bindings()


_DUTCH_LABELS: dict[type, dict[str, list[str]]] = {}


def _translate_bindings() -> None:
    """Key labels are translated when their class is defined, in the language of that moment; a console
    opened later in another language (--lang, a second App in one process) puts every loaded class's
    labels in its own. Instances copy their class's bindings, so this runs before screens are built."""
    from dataclasses import replace

    from textual.dom import DOMNode

    dutch_of = {english: dutch for dutch, english in ENGLISH.items()}

    def dutch(label: str) -> str:
        # 'Pauzeren/Hervatten': each half on its own.
        return "/".join(dutch_of.get(part, part) for part in label.split("/"))

    def said(label: str) -> str:
        return "/".join(_(part) for part in label.split("/"))

    classes: list[type[DOMNode]] = [DOMNode]
    while classes:
        cls = classes.pop()
        classes.extend(cls.__subclasses__())
        merged = cls.__dict__.get("_merged_bindings")
        if merged is None or not cls.__module__.startswith("tui."):
            continue
        # The Dutch labels as first seen: English back to Dutch is ambiguous ('Errors' is both
        # 'Foutmeldingen' and 'Fouten'), so every later language starts from these.
        originals = _DUTCH_LABELS.setdefault(
            cls,
            {
                key: [dutch(b.description) for b in bindings]
                for key, bindings in merged.key_to_bindings.items()
            },
        )
        for key, bindings in merged.key_to_bindings.items():
            labels = originals.get(key, [b.description for b in bindings])
            merged.key_to_bindings[key] = [
                replace(binding, description=said(label)) if binding.description else binding
                for binding, label in zip(bindings, labels, strict=False)
            ]


def language() -> str:
    return _language


def _(text: str) -> str:
    return ENGLISH.get(text, text) if _language == "en" else text
