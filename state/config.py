"""Reading and safely editing koppelaar.toml.

Reads use stdlib `tomllib` (strict and fast) and validate into `Settings`. Edits go through tomlkit so
comments, order and formatting survive. A file that does not parse is never overwritten; every write is
validated first, atomic, keeps a `.bak` of the previous version and refuses when someone else changed the
file in the meantime.
"""

from __future__ import annotations

import contextlib
import difflib
import fcntl
import hashlib
import json
import os
import re
import tempfile
import tomllib
from bisect import bisect_right
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

import tomlkit
from pydantic import BaseModel, ValidationError
from tomlkit.container import Container
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import AoT, Table

from state.settings import Settings

CONFIG_NAME = "koppelaar.toml"
# The config names administraties and usernames: readable by the service user only, unless an admin
# chooses otherwise (the mode of an existing file is preserved on every save).
NEW_FILE_MODE = 0o600

TomlScalar = str | int | float | bool
KeyPath = tuple[str | int, ...]

_SYNTAX_ADVICE = (
    "Herstel de TOML-syntaxis op die plek (vaak een ontbrekend aanhalingsteken, '=' of ']') en start "
    "opnieuw. Koppelaar overschrijft een kapot bestand nooit."
)
_MISSING_ADVICE = (
    "Maak een configuratie met `koppelaar connect`, of probeer Koppelaar uit met `koppelaar demo`."
)


class ConfigError(Exception):
    """A koppelaar.toml problem a person can fix; the message says where, what, and what to do.

    `line` and `column` are 1-based and None when unknown; `key` is the dotted key
    (`koppelingen.facturen.schedule`) when the problem is about one setting.
    """

    def __init__(
        self,
        message: str,
        *,
        path: Path,
        line: int | None = None,
        column: int | None = None,
        key: str | None = None,
    ) -> None:
        super().__init__(message)
        self.path = path
        self.line = line
        self.column = column
        self.key = key


# ---------------------------------------------------------------------------------------------------
# Reading


# A real koppelaar.toml is a few kB; even hundreds of mappings stay far below this.
MAX_CONFIG_BYTES = 1024 * 1024


def load_settings(path: Path | str) -> Settings:
    """Read, parse and validate koppelaar.toml; every problem is a `ConfigError` with file and line."""
    path = Path(path)
    text, data = _parse(path, _read(path))
    try:
        return _validate(path, text, data, advice=f"Pas {path.name} aan en start Koppelaar opnieuw.")
    except RecursionError:
        raise _too_deep(path) from None


def _too_deep(path: Path) -> ConfigError:
    return ConfigError(
        f"{path}: waarden zijn te diep genest (honderden lijsten of tabellen in elkaar); zo'n instelling "
        "kent Koppelaar niet. Verwijder die waarde en start opnieuw. Koppelaar overschrijft een kapot bestand "
        f"nooit.{_earlier_version(path)}",
        path=path,
    )


def _earlier_version(path: Path) -> str:
    """Where the previous version is, said only when there is one (a file never saved by Koppelaar has
    no .bak)."""
    bak = path.with_name(path.name + ".bak")
    return f" De vorige versie staat in {bak.name}." if bak.is_file() else ""


def _read(path: Path) -> bytes:
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_CONFIG_BYTES + 1)  # never more: a huge file is refused, not loaded
    except FileNotFoundError:
        raise ConfigError(f"{path} bestaat niet. {_MISSING_ADVICE}", path=path) from None
    except OSError as exc:
        raise ConfigError(
            f"{path} kan niet gelezen worden: {exc.strerror}. Controleer de bestandsrechten en of Koppelaar "
            "onder de juiste gebruiker draait.",
            path=path,
        ) from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"{path} is groter dan {MAX_CONFIG_BYTES // 1024} kB; zo groot is een koppelaar.toml nooit. "
            "Controleer of dit het juiste bestand is.",
            path=path,
        )
    return raw


_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
_AT_END = re.compile(r"\s*\(at end of document\)$")


def _parse(path: Path, raw: bytes) -> tuple[str, dict[str, Any]]:
    """Decode and parse with tomllib; syntax errors carry line and column."""
    advice = _SYNTAX_ADVICE + _earlier_version(path)
    try:
        # utf-8-sig: editors on Windows like to prepend a BOM, which TOML itself does not allow.
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        bad_line = raw.count(b"\n", 0, exc.start) + 1
        bad_column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(
            f"{path}, regel {bad_line}, kolom {bad_column}: het bestand is geen geldige UTF-8. "
            "Sla het op als UTF-8 en start opnieuw.",
            path=path,
            line=bad_line,
            column=bad_column,
        ) from None
    try:
        return text, tomllib.loads(text)
    except RecursionError:
        raise _too_deep(path) from None
    except tomllib.TOMLDecodeError as exc:
        # Python 3.11 has no lineno/colno attributes yet; the position is only in the message.
        message = str(exc)
        line: int | None = None
        column: int | None = None
        if match := _POSITION.search(message):
            line, column = int(match[1]), int(match[2])
            message = message[: match.start()]
        elif match := _AT_END.search(message):
            line = text.count("\n") + 1
            message = message[: match.start()] + " (aan het einde van het bestand)"
        where = f"{path}, regel {line}, kolom {column}" if column else f"{path}, regel {line}"
        raise ConfigError(
            f"{where}: TOML-fout: {message}. {advice}", path=path, line=line, column=column
        ) from None


@dataclass(frozen=True)
class _Problem:
    keys: KeyPath
    message: str


def _validate(path: Path, text: str, data: dict[str, Any], *, advice: str) -> Settings:
    """Validate parsed data into Settings, then check that koppelingen name existing connections."""
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        problems = [_Problem(_data_path(data, err["loc"]), _explain(err)) for err in exc.errors()]
        # `from None`: the pydantic error repeats input values, which must not end up in logs.
        raise _problems_error(path, text, problems, advice) from None
    problems = []
    for name, koppeling in settings.koppelingen.items():
        for role in ("source", "target"):
            ref = getattr(koppeling, role)
            if ref not in settings.connections:
                known = ", ".join(sorted(settings.connections)) or "geen"
                problems.append(
                    _Problem(
                        ("koppelingen", name, role),
                        f"koppeling '{name}' verwijst naar verbinding '{ref}', maar [connections.{ref}] "
                        f"bestaat niet (bekende verbindingen: {known}); corrigeer de naam of voeg de "
                        "verbinding toe met `koppelaar connect`",
                    )
                )
    if problems:
        raise _problems_error(path, text, problems, advice)
    return settings


def _explain(err: Any) -> str:
    """A pydantic error as a sentence a support person understands."""
    kind = err["type"]
    if kind == "missing":
        return "verplichte instelling ontbreekt"
    if kind == "extra_forbidden":
        nearest = difflib.get_close_matches(str(err["loc"][-1]), _known_keys(err["loc"]), n=1)
        return (
            f"onbekende instelling; bedoelt u '{nearest[0]}'?"
            if nearest
            else "onbekende instelling (tikfout?)"
        )
    if kind == "string_type":
        return 'moet tekst zijn: zet de waarde tussen aanhalingstekens, bijvoorbeeld "8000"'
    ctx = err.get("ctx") or {}
    if kind in _PYDANTIC_WORDS:
        # pydantic lists choices as "'nl' or 'en'"
        return _PYDANTIC_WORDS[kind].format(
            **{key: str(value).replace("' or '", "' of '") for key, value in ctx.items()}
        )
    return _in_dutch(str(err["msg"]).removeprefix("Value error, "))


# Pydantic's messages by error type, in Dutch; a type not listed keeps pydantic's (English) words.
_PYDANTIC_WORDS = {
    "int_parsing": "moet een geheel getal zijn, zonder aanhalingstekens",
    "int_type": "moet een geheel getal zijn",
    "int_from_float": "moet een geheel getal zijn (zonder decimalen)",
    "float_parsing": "moet een getal zijn, zonder aanhalingstekens",
    "float_type": "moet een getal zijn",
    "bool_parsing": "moet true of false zijn, zonder aanhalingstekens",
    "bool_type": "moet true of false zijn",
    "dict_type": "moet een tabel zijn",
    "model_type": "moet een tabel zijn",
    "model_attributes_type": "moet een tabel zijn",
    "list_type": "moet een lijst zijn",
    "literal_error": "moet een van deze waarden zijn: {expected}",
    "enum": "moet een van deze waarden zijn: {expected}",
    "union_tag_invalid": "onbekend systeem {tag} (bekend: {expected_tags})",
    "union_tag_not_found": 'zeg met system = "..." welk systeem dit is',
    "greater_than": "moet groter zijn dan {gt}",
    "greater_than_equal": "moet minstens {ge} zijn",
    "less_than": "moet kleiner zijn dan {lt}",
    "less_than_equal": "moet hoogstens {le} zijn",
    "string_too_short": "is te kort (minstens {min_length} tekens)",
    "string_too_long": "is te lang (hoogstens {max_length} tekens)",
}

# APScheduler explains a bad cron field in English; these are its sentences (triggers/cron/expressions.py
# and fields.py of APScheduler 3) in Dutch.
_CRON_FIELDS = {
    "minute": "de minuut",
    "hour": "het uur",
    "day": "de dag van de maand",
    "month": "de maand",
    "day_of_week": "de dag van de week",
}
_FOREIGN: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"Error validating expression '([^']*)': "), r"'\1': "),
    (
        re.compile(r"the last value \((\d+)\) is higher than the maximum value \((\d+)\)"),
        r"\1 is meer dan het maximum \2",
    ),
    (
        re.compile(r"the first value \((\d+)\) is lower than the minimum value \((\d+)\)"),
        r"\1 is minder dan het minimum \2",
    ),
    (
        re.compile(r"the step value \((\d+)\) is higher than the total range of the expression \((\d+)\)"),
        r"de stap \1 is groter dan het bereik \2",
    ),
    (re.compile(r"Increment must be higher than 0"), "de stap na '/' moet groter zijn dan 0"),
    (
        re.compile(r"The minimum value in a range must not be higher than the maximum"),
        "in een bereik komt het kleinste getal eerst (bijvoorbeeld 1-5)",
    ),
    (re.compile(r'Invalid month name "([^"]*)"'), r"onbekende maand '\1'"),
    (re.compile(r'Invalid weekday name "([^"]*)"'), r"onbekende weekdag '\1'"),
)
_UNRECOGNIZED = re.compile(r'Unrecognized expression "([^"]*)" for field "(\w+)"')


def _in_dutch(message: str) -> str:
    """A validator's message with APScheduler's English replaced by Dutch."""
    for pattern, dutch in _FOREIGN:
        message = pattern.sub(dutch, message)
    return _UNRECOGNIZED.sub(
        lambda m: f"'{m[1]}' is geen geldige waarde voor {_CRON_FIELDS.get(m[2], m[2])}", message
    )


def _known_keys(loc: tuple[int | str, ...]) -> list[str]:
    """The keys the table holding `loc[-1]` may have, from the Settings model (for 'bedoelt u …?')."""
    options: list[Any] = [Settings]
    for part in loc[:-1]:
        stepped = [inner for option in options for inner in _inside(option, part)]
        # A connection's system id is in pydantic's location but is no key in the file.
        tagged = [option for option in options if part in get_args(_field_type(option, "system"))]
        options = stepped or tagged or options
    return sorted({key for option in options if _is_model(option) for key in option.model_fields})


def _members(annotation: Any) -> list[Any]:
    """The types an annotation may hold: Annotated and unions unpacked."""
    if get_origin(annotation) is Annotated:
        return _members(get_args(annotation)[0])
    if get_origin(annotation) in (Union, UnionType):
        return [member for arg in get_args(annotation) for member in _members(arg)]
    return [annotation]


def _inside(annotation: Any, part: int | str) -> list[Any]:
    found: list[Any] = []
    for member in _members(annotation):
        if _is_model(member) and part in member.model_fields:
            found.extend(_members(member.model_fields[part].annotation))
        elif get_origin(member) in (dict, list):
            found.extend(_members(get_args(member)[-1]))
    return found


def _field_type(annotation: Any, name: str) -> Any:
    return (
        annotation.model_fields[name].annotation
        if _is_model(annotation) and name in annotation.model_fields
        else None
    )


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _data_path(data: object, loc: tuple[int | str, ...]) -> KeyPath:
    """The key path in the file for a pydantic error location.

    A tagged union adds its tag (the connection's system id) to the location although it is no key in the file:
    a loc part that is a value of the current table and not the last part is such a tag.
    """
    path: list[str | int] = []
    node = data
    for i, part in enumerate(loc):
        if isinstance(node, dict) and part in node:
            path.append(part)
            node = node[part]
        elif isinstance(node, dict) and i < len(loc) - 1 and part in node.values():
            continue
        else:
            path.append(part)
            node = None
    return tuple(path)


def _problems_error(path: Path, text: str, problems: list[_Problem], advice: str) -> ConfigError:
    lines = _key_lines(text)

    def describe(problem: _Problem) -> tuple[int | None, str]:
        line = _line_of(lines, problem.keys)
        where = f"regel {line}, " if line else ""
        return line, f"{where}{dotted(problem.keys)}: {problem.message}"

    first_line, first = describe(problems[0])
    if len(problems) == 1:
        message = f"{path}, {first}. {advice}"
    else:
        listed = "\n".join(f"  - {describe(p)[1]}" for p in problems)
        message = f"{path}: {len(problems)} ongeldige instellingen:\n{listed}\n{advice}"
    return ConfigError(message, path=path, line=first_line, key=dotted(problems[0].keys))


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def dotted(keys: KeyPath) -> str:
    """A key path as TOML writes it: `koppelingen.facturen.mapping.btw_codes."verkoop:21"`."""
    parts = []
    for key in keys:
        if isinstance(key, int):
            parts.append(f"[{key}]")
        elif _BARE_KEY.fullmatch(key):
            parts.append(key)
        else:
            parts.append(json.dumps(key, ensure_ascii=False))
    return ".".join(parts).replace(".[", "[")


# ---------------------------------------------------------------------------------------------------
# Where each key is written. Neither tomllib nor tomlkit report source positions, so this scanner walks
# the (already valid) text: table headers, key/value lines, and values that span lines. Best effort: on
# anything it does not understand it stops and returns what it found so far.


def _line_of(lines: dict[KeyPath, int], keys: KeyPath) -> int | None:
    """The line of the key, or of its nearest written parent (for a missing key: its table)."""
    for end in range(len(keys), 0, -1):
        if keys[:end] in lines:
            return lines[keys[:end]]
    return None


def _key_lines(text: str) -> dict[KeyPath, int]:
    starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]
    found: dict[KeyPath, int] = {}
    table: KeyPath = ()
    aot_counts: dict[KeyPath, int] = {}
    pos = 0
    try:
        while True:
            while pos < len(text) and text[pos] in " \t\r\n":
                pos += 1
            if pos >= len(text):
                break
            line = bisect_right(starts, pos)
            if text[pos] == "#":
                pos = _end_of_line(text, pos)
            elif text[pos] == "[":
                is_aot = text.startswith("[[", pos)
                keys, pos = _read_key(text, pos + (2 if is_aot else 1))
                if is_aot:
                    index = aot_counts.get(keys, 0)
                    aot_counts[keys] = index + 1
                    table = (*keys, index)
                else:
                    table = keys
                _record(found, table, line)
                pos = _end_of_line(text, pos)
            else:
                keys, pos = _read_key(text, pos)
                if not text.startswith("=", pos):
                    break
                end = _end_of_value(text, pos + 1)
                _record(found, table + keys, line)
                # Keys inside an inline table are reported on the line where the table starts.
                _record_nested(found, table + keys, tomllib.loads("v =" + text[pos + 1 : end])["v"], line)
                pos = end
    except (ValueError, IndexError, tomllib.TOMLDecodeError):
        pass
    return found


def _record(found: dict[KeyPath, int], keys: KeyPath, line: int) -> None:
    for end in range(1, len(keys) + 1):
        found.setdefault(keys[:end], line)


def _record_nested(found: dict[KeyPath, int], keys: KeyPath, value: object, line: int) -> None:
    if isinstance(value, dict):
        for key, sub in value.items():
            _record(found, (*keys, key), line)
            _record_nested(found, (*keys, key), sub, line)


def _end_of_line(text: str, pos: int) -> int:
    end = text.find("\n", pos)
    return len(text) if end < 0 else end


def _read_key(text: str, pos: int) -> tuple[tuple[str, ...], int]:
    """Parse a (dotted, possibly quoted) key at pos; return it and the position after it."""
    parts: list[str] = []
    while True:
        while text[pos] in " \t":
            pos += 1
        if text[pos] in "\"'":
            end = _end_of_string(text, pos)
            parts.append(tomllib.loads("k = " + text[pos:end])["k"])
            pos = end
        else:
            match = _BARE_KEY.match(text, pos)
            if match is None:
                raise ValueError(f"no key at {pos}")
            parts.append(match.group())
            pos = match.end()
        while pos < len(text) and text[pos] in " \t":
            pos += 1
        if not text.startswith(".", pos):
            return tuple(parts), pos
        pos += 1


def _end_of_string(text: str, pos: int) -> int:
    """Position just past the string literal (basic, literal, or multi-line) that starts at pos."""
    delim = next(d for d in ('"""', "'''", '"', "'") if text.startswith(d, pos))
    escapes = delim[0] == '"'
    i = pos + len(delim)
    while True:
        if escapes and text[i] == "\\":
            i += 2
        elif text.startswith(delim, i):
            end = i + len(delim)
            # A multi-line string may end with up to two quote characters right before its delimiter.
            while len(delim) == 3 and end < len(text) and text[end] == delim[0] and end - i < 5:
                end += 1
            return end
        else:
            i += 1


def _end_of_value(text: str, pos: int) -> int:
    """Position of the newline that ends the value starting at pos (arrays and strings may span lines)."""
    depth = 0
    while pos < len(text):
        ch = text[pos]
        if ch in "\"'":
            pos = _end_of_string(text, pos)
            continue
        if ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "#":
            pos = _end_of_line(text, pos)
            continue
        elif ch == "\n" and depth == 0:
            return pos
        pos += 1
    return pos


# ---------------------------------------------------------------------------------------------------
# Writing


def atomic_write(path: Path, data: bytes, *, mode: int, exclusive: bool = False) -> None:
    """Write `data` so that readers see the old or the new file, never half of one, even after a crash.

    Temp file in the same directory, fsync, then `os.replace` (or `os.link` when `exclusive`, which
    refuses to replace an existing file), then fsync the directory so the rename itself is durable.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if exclusive:
            os.link(tmp, path)
            os.unlink(tmp)
        else:
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


@contextlib.contextmanager
def exclusive_lock(target: Path) -> Iterator[None]:
    """Serialise read-modify-write of `target` between Koppelaar processes (console and daemon)."""
    fd = os.open(target.with_name(f".{target.name}.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


class ConfigFile:
    """koppelaar.toml opened for editing: change single keys, then `save()` validates and writes.

    A file that does not parse cannot be opened. A file that parses but does not validate can be opened,
    so the console can repair it; `save()` only ever writes a result that validates.
    """

    def __init__(self, path: Path, raw: bytes, doc: tomlkit.TOMLDocument) -> None:
        """Use `ConfigFile.open`."""
        self._path = path
        self._digest = hashlib.sha256(raw).digest()
        self._doc = doc

    @classmethod
    def open(cls, path: Path | str) -> ConfigFile:
        """Open for editing; raises ConfigError when the file is missing or not valid TOML."""
        # Edit the real file behind a symlink: os.replace on the link would turn it into a plain file.
        path = Path(os.path.realpath(path))
        raw = _read(path)
        text, _ = _parse(path, raw)
        return cls(path, raw, tomlkit.parse(text))

    @property
    def path(self) -> Path:
        return self._path

    def data(self) -> dict[str, Any]:
        """The edited document as plain Python values (tomlkit wrappers unwrapped)."""
        return self._doc.unwrap()

    def settings(self) -> Settings:
        """Validate the edited document without writing it."""
        return _validate(self._path, self._doc.as_string(), self.data(), advice=self._edit_advice)

    def set(self, keys: tuple[str, ...], value: TomlScalar | Enum) -> None:
        """Set one leaf value in place (its comment stays); missing tables are appended at the end."""
        keys = _checked(keys)
        if isinstance(value, Enum):
            value = value.value
        if not isinstance(value, str | int | float | bool):
            raise TypeError(f"{dotted(keys)}: only str, int, float or bool can be set, not {type(value)}")
        parent = self._table(keys[:-1])
        leaf = keys[-1]
        if leaf in parent:
            if isinstance(parent[leaf], dict):
                raise ConfigError(
                    f"{self._path}: {dotted(keys)} is een tabel, geen waarde.",
                    path=self._path,
                    key=dotted(keys),
                )
            parent[leaf] = value
            return
        container = parent.value if isinstance(parent, Table) else parent
        last = None
        if isinstance(container, Container):
            for key, item in container.body:
                if key is not None and not key.is_dotted() and not isinstance(item, Table | AoT):
                    last = key
        if last is None:
            parent[leaf] = value
            return
        # Place the new key right after the table's last key: a plain append would put it after the
        # comments that introduce the next table. tomlkit has no public API for that, and writing the
        # container directly leaves the table's own dict stale, hence the re-parse.
        container._insert_after(last, leaf, value)
        self._doc = tomlkit.parse(self._doc.as_string())

    def delete(self, keys: tuple[str, ...]) -> bool:
        """Remove a key or a whole table; False when it was not there."""
        keys = _checked(keys)
        parent = self._node(keys[:-1])
        if not isinstance(parent, dict) or keys[-1] not in parent:
            return False
        del parent[keys[-1]]
        return True

    def save(self) -> Settings:
        """Validate, then write atomically with a .bak; refuse when the file changed since `open`."""
        text = _rendered(self._path, self._doc, self.data())
        settings = _validate(self._path, text, self.data(), advice=self._edit_advice)
        new = text.encode("utf-8")
        try:
            self._write(new)
        except OSError as exc:
            raise _write_error(self._path, exc) from None
        self._digest = hashlib.sha256(new).digest()
        return settings

    def _write(self, new: bytes) -> None:
        with exclusive_lock(self._path):
            current = _read(self._path)
            if hashlib.sha256(current).digest() != self._digest:
                raise ConfigError(
                    f"{self._path} is gewijzigd sinds het werd geopend (door iemand anders of een ander "
                    "Koppelaar-proces). Er is niets opgeslagen; open het opnieuw en breng de wijziging "
                    "opnieuw aan.",
                    path=self._path,
                )
            stat = os.stat(self._path)
            mode = stat.st_mode & 0o7777
            atomic_write(self._path.with_name(self._path.name + ".bak"), current, mode=mode)
            atomic_write(self._path, new, mode=mode)
            # Keep the owner when an admin edits as root, so the daemon's user can still read the file.
            with contextlib.suppress(PermissionError):
                os.chown(self._path, stat.st_uid, stat.st_gid)

    @property
    def _edit_advice(self) -> str:
        return f"De wijziging is geweigerd; {self._path.name} is niet veranderd."

    def _node(self, keys: tuple[str, ...]) -> Any:
        node: Any = self._doc
        for key in keys:
            if not isinstance(node, dict) or key not in node:
                return None
            node = node[key]
        return node

    def _table(self, keys: tuple[str, ...]) -> Any:
        """The table at `keys`, appending `[a.b]` headers at the end of the file for missing ones."""
        node: Any = self._doc
        for depth, key in enumerate(keys):
            if not isinstance(node, dict):
                break
            if key not in node:
                self._append_tables(keys[:depth], keys[depth:])
                node = self._node(keys)
                break
            node = node[key]
        if not isinstance(node, dict):
            raise ConfigError(
                f"{self._path}: {dotted(keys)} is geen tabel; pas het bestand met de hand aan.",
                path=self._path,
                key=dotted(keys),
            )
        return node

    def _append_tables(self, existing: tuple[str, ...], missing: tuple[str, ...]) -> None:
        # New tables go at the end as headers: inserting a table in the middle can re-parent the keys
        # that follow it (tomlkit#145). A one-level `[koppelingen]` header would only be noise.
        headers = [
            existing + missing[:n]
            for n in range(1, len(missing) + 1)
            if len(existing) + n >= 2 or n == len(missing)
        ]
        text = self._doc.as_string()
        if text and not text.endswith("\n"):
            text += "\n"
        text += "".join(f"\n[{dotted(header)}]\n" for header in headers)
        try:
            self._doc = tomlkit.parse(text)
        except TOMLKitError:
            raise ConfigError(
                f"{self._path}: [{dotted(existing + missing)}] kan niet worden toegevoegd omdat "
                f"{dotted(existing)} als inline-tabel of met punt-sleutels is geschreven; voeg de tabel met "
                "de hand toe.",
                path=self._path,
                key=dotted(existing + missing),
            ) from None


def _checked(keys: tuple[str, ...]) -> tuple[str, ...]:
    if not keys or not all(isinstance(key, str) and key for key in keys):
        raise ValueError(f"a key path is a non-empty tuple of non-empty strings, not {keys!r}")
    return keys


def write_new(path: Path | str, settings: Mapping[str, Any], header_comment: str = "") -> Settings:
    """Create koppelaar.toml from plain data (as `koppelaar connect` gathers it); never overwrites.

    `settings` is the data as it should appear in the file (write `system = ...` for each connection);
    enum values are written as their value. `header_comment` lines become `#` comments at the top.
    """
    path = Path(path)
    data = _plain(settings)
    doc = tomlkit.document()
    for line in header_comment.splitlines():
        doc.add(tomlkit.comment(line))
    if header_comment:
        doc.add(tomlkit.nl())
    for key, value in data.items():
        doc[key] = value
    text = _rendered(path, doc, data)
    settings_model = _validate(path, text, data, advice=f"{path.name} is niet aangemaakt.")
    exists = ConfigError(
        f"{path} bestaat al en wordt niet overschreven. Pas het bestaande bestand aan, of verplaats het "
        "eerst als u opnieuw wilt beginnen.",
        path=path,
    )
    if path.exists():
        raise exists
    try:
        atomic_write(path, text.encode("utf-8"), mode=NEW_FILE_MODE, exclusive=True)
    except FileExistsError:
        raise exists from None
    except OSError as exc:
        raise _write_error(path, exc) from None
    return settings_model


def _write_error(path: Path, exc: OSError) -> ConfigError:
    return ConfigError(
        f"{path} kan niet worden geschreven ({exc.filename}: {exc.strerror}); er is niets veranderd. "
        "Controleer de rechten op de map en de vrije schijfruimte.",
        path=path,
    )


def _rendered(path: Path, doc: tomlkit.TOMLDocument, intended: dict[str, Any]) -> str:
    """The document as text, after proving it reads back as the intended data, unchanged.

    Guards against tomlkit re-parenting keys (tomlkit#145): the file would silently mean something else.
    """
    text = doc.as_string()
    try:
        same = tomllib.loads(text) == intended
    except tomllib.TOMLDecodeError:
        same = False
    if not same:
        raise ConfigError(
            f"{path}: de wijziging kan niet veilig worden weggeschreven (de opmaak van het bestand zou de "
            "betekenis veranderen). Er is niets opgeslagen; pas het bestand met de hand aan.",
            path=path,
        )
    return text


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(key): _plain(sub) for key, sub in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(sub) for sub in value]
    if isinstance(value, Enum):
        return value.value
    return value
