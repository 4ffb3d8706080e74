"""The `koppelaar` command. Headless subcommands never import Textual.

Exit codes, for scripts and monitoring:
  0  done, nothing left to look at
  1  done, but records are parked as foutmeldingen or uncertain (see `koppelaar errors NAME`)
  2  the koppeling could not run (credentials, connection, not connected)
  3  configuration or usage error (the message says what and where)
  4  busy: another process is running this koppeling
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from collections.abc import Callable, Sequence

from state.config import ConfigError, load_settings
from state.home import Home
from state.secrets import SecretStoreError, open_secret_store, protection
from state.store import Store
from sync.connect import disconnect as disconnect_connection
from sync.connect import open_listener
from sync.connect_steps import (
    AskFields,
    Choose,
    Connected,
    ConnectRunner,
    OpenUrl,
    Place,
    Question,
    StepFailed,
)
from sync.engine import Progress, RunReport, RunStatus
from sync.service import NotConnected, UnknownKoppeling, uses_oauth

EXIT_OK, EXIT_PARTIAL, EXIT_FAILED, EXIT_CONFIG, EXIT_BUSY = 0, 1, 2, 3, 4
PASTE_ATTEMPTS = 3  # a pasted redirect that is not this authorization's may be pasted again
EXIT_FOR_STATUS = {
    RunStatus.OK: EXIT_OK,
    RunStatus.PARTIAL: EXIT_PARTIAL,
    RunStatus.FAILED: EXIT_FAILED,
    RunStatus.BUSY: EXIT_BUSY,
}

Prompt = Callable[[str], str]


class ConnectAborted(Exception):
    """Connecting cannot continue; nothing has been saved."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    home = Home.locate(args.home)
    try:
        result: int = args.func(home, args)
        return result
    except (ConfigError, UnknownKoppeling, SecretStoreError) as exc:
        print(f"koppelaar: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except (NotConnected, ConnectAborted) as exc:
        print(f"koppelaar: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("\nkoppelaar: afgebroken", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="koppelaar", description="Koppelingen tussen boekhoudpakketten.")
    parser.add_argument(
        "--home", help="map met koppelaar.toml en koppelaar.db (standaard $KOPPELAAR_HOME of ~/.koppelaar)"
    )
    parser.set_defaults(func=cmd_console, read_only=False, lang=None)
    sub = parser.add_subparsers(dest="command")

    console = sub.add_parser("console", help="open de console (standaard als er geen opdracht is)")
    console.add_argument(
        "--read-only", action="store_true", help="alleen kijken: niets wijzigen, niets draaien"
    )
    console.add_argument(
        "--lang", choices=["nl", "en"], help="taal van de console (standaard uit koppelaar.toml)"
    )
    console.set_defaults(func=cmd_console)

    run = sub.add_parser("run", help="voer een koppeling nu uit")
    run.add_argument("name")
    run.add_argument("--dry-run", action="store_true", help="laat zien wat geboekt zou worden, boek niets")
    run.add_argument(
        "--retry", action="store_true", help="ook foutmeldingen opnieuw proberen (na een mapping-fix)"
    )
    run.set_defaults(func=cmd_run)

    status = sub.add_parser("status", help="status van alle koppelingen")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)

    errors = sub.add_parser("errors", help="foutmeldingen van een koppeling")
    errors.add_argument("name")
    errors.add_argument("--all", action="store_true", help="ook genegeerde en opgeloste")
    errors.set_defaults(func=cmd_errors)

    connect = sub.add_parser("connect", help="verbind een verbinding (vraagt de inloggegevens)")
    connect.add_argument("name", help="naam van de verbinding in koppelaar.toml")
    connect.set_defaults(func=cmd_connect)

    disconnect = sub.add_parser("disconnect", help="verbreek een verbinding (wist de geheimen)")
    disconnect.add_argument("name")
    disconnect.add_argument("--yes", action="store_true", help="niet om bevestiging vragen")
    disconnect.set_defaults(func=cmd_disconnect)

    daemon = sub.add_parser("daemon", help="plan en draai de nachtelijke koppelingen (voor systemd)")
    daemon.set_defaults(func=cmd_daemon)

    demo = sub.add_parser("demo", help="sandbox-koppelingen met realistische gegevens in een tijdelijke map")
    demo.add_argument("--keep", action="store_true", help="tijdelijke map na afloop laten staan")
    demo.add_argument(
        "--headless", action="store_true", help="geen console: draai en toon de status als tekst"
    )
    demo.set_defaults(func=cmd_demo)
    return parser


# -- run ----------------------------------------------------------------------------------------------


def cmd_run(home: Home, args: argparse.Namespace) -> int:
    from sync.logfile import log_to_file
    from sync.service import run_koppeling

    log_to_file(home.root)
    printer = _ProgressPrinter() if sys.stderr.isatty() else None
    report = asyncio.run(
        run_koppeling(
            home,
            args.name,
            dry_run=args.dry_run,
            retry=args.retry,
            on_progress=printer.update if printer else None,
        )
    )
    if printer:
        printer.done()
    print_report(report)
    return EXIT_FOR_STATUS[report.status]


class _ProgressPrinter:
    def update(self, p: Progress) -> None:
        print(
            f"\r{p.phase}: {p.fetched} opgehaald, {p.booked} geboekt, {p.failed + p.parked} fout,"
            f" {p.uncertain} onzeker   ",
            end="",
            file=sys.stderr,
            flush=True,
        )

    def done(self) -> None:
        print(file=sys.stderr)


def print_report(report: RunReport) -> None:
    from sync.status import run_state

    p = report.progress
    label = "Dry-run" if report.dry_run else "Run"
    print(f"{label} {report.koppeling}: {run_state(report.status.value)} — {report.message}")
    print(
        f"  opgehaald {p.fetched}, geboekt {p.booked}, al aanwezig bij het doel {p.already_present},"
        f" al verwerkt {p.skipped}, foutmeldingen {p.failed + p.parked},"
        f" onzeker {p.uncertain}, gelijktijdig {p.concurrency}"
    )
    for planned in report.planned[:50]:
        print(f"  zou boeken: {planned.invoice_number} {planned.relation} {planned.gross} EUR")
        for account, vat_code, net, vat in planned.lines:
            print(f"      tegenrekening {account}  btw-code {vat_code}  netto {net}  btw {vat}")
    if len(report.planned) > 50:
        print(f"  … en nog {len(report.planned) - 50}")
    for problem in report.problems[:20]:
        print(f"  ! {problem}")
    if len(report.problems) > 20:
        print(f"  … en nog {len(report.problems) - 20} problemen (koppelaar errors {report.koppeling})")


# -- status and errors ----------------------------------------------------------------------------------


def cmd_status(home: Home, args: argparse.Namespace) -> int:
    if args.json:
        from sync.status import overview, scheduler_holder

        settings = load_settings(home.config)
        secrets = open_secret_store(settings.app, home.root)
        store = Store(home.database)
        try:
            data = {
                "scheduler": scheduler_holder(store),
                "secret_protection": protection(secrets),
                "koppelingen": [r.as_json() for r in overview(settings, store, secrets)],
            }
        finally:
            store.close()
        print(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        print(status_text(home))
    return EXIT_OK


def status_text(home: Home) -> str:
    from sync.status import local_text, overview, run_state, scheduler_holder

    settings = load_settings(home.config)
    secrets = open_secret_store(settings.app, home.root)
    timezone = settings.app.timezone
    store = Store(home.database)
    try:
        rows = overview(settings, store, secrets)
        out = [
            f"Planner: {scheduler_holder(store, timezone)}",
            f"Geheimen: {secrets.describe()}",
            f"Bescherming van de geheimen: {protection(secrets)}",
            f"Tijden in {timezone}.",
        ]
    finally:
        store.close()
    if not rows:
        out.append("Nog geen koppelingen. Voeg er een toe in koppelaar.toml of probeer 'koppelaar demo'.")
    for r in rows:
        last = (
            f"{local_text(r.last_run_at, timezone)} {run_state(r.last_run_status)}"
            f" ({r.last_run_booked} geboekt, {r.last_run_failed} fout)"
            if r.last_run_at
            else "nog nooit"
        )
        out.append(
            f"{r.name}: {r.source} → {r.target}  [{r.state.value}]{'  ' + r.reason if r.reason else ''}"
        )
        retry = f" (herhaling {r.next_run_retry})" if r.next_run_retry else ""
        out.append(
            f"    laatste run: {last}; volgende: {local_text(r.next_run_at, timezone)}{retry};"
            f" Foutmeldingen ({r.open_foutmeldingen})"
        )
    return "\n".join(out)


def cmd_errors(home: Home, args: argparse.Namespace) -> int:
    text, count = errors_text(home, args.name, include_closed=args.all)
    print(text)
    return EXIT_PARTIAL if count else EXIT_OK


def cmd_errors_text(home: Home, name: str) -> str:
    return errors_text(home, name)[0]


def errors_text(home: Home, name: str, *, include_closed: bool = False) -> tuple[str, int]:
    from sync.status import PROBLEM_STATES, local_text, with_reconnect_hint

    settings = load_settings(home.config)
    if name not in settings.koppelingen:
        raise UnknownKoppeling(f"Onbekende koppeling '{name}' (bekend: {', '.join(settings.koppelingen)}).")
    timezone = settings.app.timezone
    store = Store(home.database)
    try:
        problems = store.foutmeldingen(name, status=None if include_closed else "open")
        if not problems:
            return f"Foutmeldingen (0): {name} heeft geen openstaande foutmeldingen.", 0
        out = [f"Foutmeldingen ({len(problems)}) van {name}:"]
        for f in map(with_reconnect_hint, problems):
            first, last = local_text(f.first_seen, timezone), local_text(f.last_seen, timezone)
            state = PROBLEM_STATES.get(f.status, f.status)
            out.append(f"\n[{f.origin}] {f.title}  ({f.count}×, eerst {first}, laatst {last}, {state})")
            if f.advice:
                out.append(f"    Wat te doen: {f.advice}")
            records = store.problem_records(f.id)
            out.extend(
                f"    - {ref}{': ' + _first_line(detail) if detail else ''}"
                for ref, detail, _ in records[:10]
            )
            if len(records) > 10:
                out.append(f"    … en nog {len(records) - 10} records")
    finally:
        store.close()
    return "\n".join(out), len(problems)


def _first_line(text: str, limit: int = 160) -> str:
    line = text.splitlines()[0] if text else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


# -- connect / disconnect ----------------------------------------------------------------------------


def cmd_connect(
    home: Home, args: argparse.Namespace, ask: Prompt = input, ask_secret: Prompt = getpass.getpass
) -> int:
    return asyncio.run(connect(home, args.name, ask, ask_secret))


async def connect(home: Home, name: str, ask: Prompt, ask_secret: Prompt) -> int:
    """The connection's connect steps on the terminal, one prompt per question; the console's wizard
    renders the same questions (sync.connect_steps)."""
    settings = load_settings(home.config)
    if name not in settings.connections:
        raise UnknownKoppeling(f"Onbekende verbinding '{name}' (bekend: {', '.join(settings.connections)}).")
    secrets = open_secret_store(settings.app, home.root)
    runner = ConnectRunner(Place(settings, home.config, home.database, secrets, getpass.getuser()), name)
    refused = "Niet geautoriseerd" if runner.authorises else "Niet verbonden"
    question = runner.question
    try:
        while not isinstance(question, Connected):
            if isinstance(question, AskFields):
                typed = _fill(question, runner.stored_secrets(), ask, ask_secret)
                print(question.working.render())
                question = await runner.answer(typed)
            elif isinstance(question, OpenUrl):
                question = await _authorise(runner, question, ask)
            else:
                question = await runner.answer(_choose(question, ask))
    except StepFailed as exc:
        print(f"{refused}: {exc.message}\n{exc.advice}".rstrip())
        return EXIT_FAILED
    if question.authorised:
        print(
            f"Verbonden: {name}. Access token aangemaakt; Client secret opgeslagen in {secrets.describe()}. "
            "Koppelaar houdt de autorisatie zelf vers (keep-alive)."
        )
    else:
        print(f"Verbonden: {name}. Geheimen opgeslagen in {secrets.describe()}.")
    return EXIT_OK


def _fill(question: AskFields, stored: frozenset[str], ask: Prompt, ask_secret: Prompt) -> dict[str, str]:
    """Ask each field; Enter keeps what is configured (and a stored secret)."""
    print(question.title.render() + ".")
    for words in (question.intro, question.where):
        if words.template:
            print(words.render())
    typed: dict[str, str] = {}
    for field in question.fields:
        label = field.label.render()
        if field.secret:
            keep = f" (Enter: {field.keep.render()})" if field.keep and field.key in stored else ""
            typed[field.key] = ask_secret(f"{label}{keep}: ")
            continue
        codes = {code for code, _name in field.choices}
        while True:
            answer = ask(f"{label} [{field.value}]: ").strip() or field.value
            if not codes or answer.upper() in codes:
                break
            print("  Kies " + " of ".join(f"{code} ({name})" for code, name in field.choices) + ".")
        typed[field.key] = answer
    return typed


async def _authorise(runner: ConnectRunner, question: OpenUrl, ask: Prompt) -> Question:
    """The URL to open anywhere (over SSH too), and the address the browser lands on pasted back; a
    listener on a loopback redirect URI catches it by itself when the browser can reach this machine."""
    listener = await open_listener(question.redirect_uri)
    try:
        print(
            "\nAutoriseer applicatie: open deze URL in een browser, log in met een account dat toegang "
            "heeft tot de administratie en kies Toestaan (Allow):\n"
        )
        print(f"  {question.url}\n")
        print(
            "Plak daarna het volledige adres waar de browser op uitkomt (of alleen de code). Een code is "
            "ongeveer 3 minuten geldig."
        )
        if listener is not None:
            print(
                f"Kan de browser deze machine bereiken ({listener.url}; over SSH met "
                f"`ssh -L {listener.port}:127.0.0.1:{listener.port} …`), dan vangt Koppelaar het adres zelf "
                "op: druk dan alleen op Enter."
            )
        listening = listener is not None
        for attempt in range(1, PASTE_ATTEMPTS + 1):
            pasted = await asyncio.to_thread(ask, "Adres of code: ")
            if not pasted.strip() and listening and listener is not None:
                print("Wacht op autorisatie van de browser…")
                pasted = await listener.wait() or ""
                listening = False  # it catches one redirect: a second try is pasted by hand
            try:
                return await runner.answer(pasted)
            except StepFailed as exc:
                # A mis-paste is cheap to correct: the URL and its state stay valid for this attempt.
                if not exc.again or attempt == PASTE_ATTEMPTS:
                    raise
                print(f"Niet geautoriseerd: {exc.message}\n{exc.advice}".rstrip())
                print(f"Plak het adres opnieuw (poging {attempt + 1} van {PASTE_ATTEMPTS}).")
    finally:
        if listener is not None:
            await listener.close()
    raise AssertionError("unreachable")  # the loop returns or raises


def _choose(question: Choose, ask: Prompt) -> str:
    for words in (question.text, question.hint):
        if words is not None and words.template:
            print(words.render())
    print(f"{question.title.render()}:")
    current, options = question.current, question.options
    for index, (key, label) in enumerate(options, start=1):
        print(f"  {index:>3}. {key}  {label}{'  (huidig)' if key == current else ''}")
    while True:
        answer = ask(f"Kies 1-{len(options)} of een code{f' [{current}]' if current else ''}: ").strip()
        if not answer and current:
            return current
        if answer.isdigit() and 1 <= int(answer) <= len(options):
            return options[int(answer) - 1][0]
        if any(answer == key for key, _ in options):
            return answer
        print("  Geen geldige keuze.")


def cmd_disconnect(home: Home, args: argparse.Namespace, ask: Prompt = input) -> int:
    settings = load_settings(home.config)
    connection = settings.connections.get(args.name)
    if connection is None:
        raise UnknownKoppeling(f"Onbekende verbinding '{args.name}'.")
    users = [k for k, v in settings.koppelingen.items() if args.name in (v.source, v.target)]
    if not args.yes:
        answer = ask(
            f"Verbinding '{args.name}' verbreken? De geheimen{' en tokens' if uses_oauth(connection) else ''}"
            f" worden gewist; {', '.join(users) or 'geen koppeling'}"
            " stopt tot u opnieuw verbindt. Typ 'ja' om te bevestigen: "
        )
        if answer.strip().lower() != "ja":
            print("Niets veranderd.")
            return EXIT_OK
    secrets = open_secret_store(settings.app, home.root)
    disconnect_connection(args.name, connection, home.database, secrets, actor=getpass.getuser())
    print(f"Verbinding '{args.name}' verbroken: Niet verbonden.")
    return EXIT_OK


# -- daemon and demo -----------------------------------------------------------------------------------


def cmd_daemon(home: Home, args: argparse.Namespace) -> int:
    import logging

    from sync.daemon import serve
    from sync.logfile import log_to_file

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    log_to_file(home.root)
    asyncio.run(serve(home))
    return EXIT_OK


def cmd_demo(home: Home, args: argparse.Namespace) -> int:
    from tui.demo import run_demo

    return run_demo(keep=args.keep, headless=args.headless)


def cmd_console(home: Home, args: argparse.Namespace) -> int:
    from tui.i18n import set_language

    settings = load_settings(home.config)  # a broken or missing file: a clear message before the screen opens
    # Before the screens are imported: their key labels are translated when their classes are defined.
    set_language(args.lang or settings.app.language)
    from tui.app import KoppelaarApp

    KoppelaarApp(home, read_only=args.read_only, language=args.lang).run()
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
