"""The console talks to sync.workspace only (issue 8: one façade): no module under tui/ imports from
state/, connectors/ or the rest of sync/, except the entry points that wire the program together."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FACADE = "sync.workspace"
BEHIND_THE_FACADE = ("state", "connectors", "sync")

# They build the Workspace, the scheduler and the sandbox demo, and the `koppelaar` command's headless
# subcommands (run, status, connect on a terminal): wiring, not showing.
ENTRY_POINTS = {"tui/app.py", "tui/demo.py", "tui/cli.py"}


def console_modules() -> list[Path]:
    return sorted(
        path for path in (ROOT / "tui").rglob("*.py") if path.relative_to(ROOT).as_posix() not in ENTRY_POINTS
    )


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every module the file imports, wherever the import stands (top, function, TYPE_CHECKING)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module is not None:
            found.append((node.lineno, node.module))
    return found


def behind_the_facade(module: str) -> bool:
    top = module.split(".")[0]
    return top in BEHIND_THE_FACADE and module != FACADE


def test_the_console_imports_only_the_workspace_facade() -> None:
    modules = console_modules()
    assert any(path.parent.name == "widgets" for path in modules), "the console's widgets were not found"
    wrong = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in modules
        for line, module in imported_modules(path)
        if behind_the_facade(module)
    ]
    assert not wrong, "import these from sync.workspace instead:\n" + "\n".join(wrong)


def test_the_check_sees_an_import_behind_the_facade() -> None:
    # The command line (an entry point) imports state/ and the rest of sync/: the walk must find those.
    modules = {module for _line, module in imported_modules(ROOT / "tui" / "cli.py")}
    assert any(behind_the_facade(module) for module in modules), modules
    assert not behind_the_facade("sync.workspace") and behind_the_facade("sync.workspaces")
    assert behind_the_facade("state.store") and behind_the_facade("connectors")


def test_excused_files_exist() -> None:
    # An entry for a file that moved or was deleted would excuse nothing, silently.
    for excused in ENTRY_POINTS:
        assert (ROOT / excused).is_file(), excused
