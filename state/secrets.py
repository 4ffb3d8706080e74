"""Where credentials live: system keyring, an AES-GCM encrypted file, or (read-only) the environment.

Secrets are `SecretStr` end to end and never appear in reprs, exception messages or logs. Nothing here
prompts on the terminal (that would corrupt the console), and there is no plaintext backend at all, so
there is nothing to fall back to silently.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

import keyring
import keyring.backends.chainer
import keyring.backends.fail
import keyring.backends.null
import keyring.errors
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr

from state.config import atomic_write, exclusive_lock
from state.home import KEY_BESIDE_SECRETS, KEY_DIR_ENV, default_key_file
from state.settings import AppSettings, SecretBackendName

ENV_PREFIX = "KOPPELAAR_SECRET_"
CREDENTIAL_NAME = "koppelaar.key"  # the file systemd puts in $CREDENTIALS_DIRECTORY (LoadCredential*=)
KEYRING_SERVICE = "koppelaar"
DEFAULT_KEYRING_TIMEOUT = 5.0

_NAME = re.compile(r"[A-Za-z0-9_.-]+:[A-Za-z0-9_.-]+")
_NONCE_BYTES = 12  # 96 bits, the size AES-GCM is designed for
_KEY_BYTES = 32
_TAG_BYTES = 16

T = TypeVar("T")


class SecretStoreError(Exception):
    """The secret store cannot do what was asked; the message says why and what to do (never a secret).

    `reason` is the cause alone, without advice, for composing messages (e.g. why `auto` chose a backend).
    """

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason or message


@runtime_checkable
class SecretStore(Protocol):
    """Credentials by name, `connection:field` (e.g. `boekhouding:beveiligingscode_1`)."""

    def get(self, name: str) -> SecretStr | None:
        """The secret, or None when none is stored under this name."""
        ...

    def set(self, name: str, value: SecretStr) -> None:
        """Store or replace the secret."""
        ...

    def delete(self, name: str) -> None:
        """Forget the secret; nothing happens when there is none."""
        ...

    def describe(self) -> str:
        """Backend and security level in one line, for the status bar and `koppelaar doctor`."""
        ...


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise SecretStoreError(
            f"ongeldige naam voor een geheim: {name!r}; verwacht verbinding:veld, bijv. "
            "boekhouding:beveiligingscode_1"
        )
    return name


def _check_value(value: SecretStr) -> str:
    if not isinstance(value, SecretStr):
        # Deliberately without the value: it may be the secret itself.
        raise TypeError(f"a secret is passed as SecretStr, not {type(value).__name__}")
    return value.get_secret_value()


# ---------------------------------------------------------------------------------------------------
# Environment (CI)


def env_var_name(name: str) -> str:
    """`boekhouding:beveiligingscode_1` → `KOPPELAAR_SECRET_BOEKHOUDING_BEVEILIGINGSCODE_1`."""
    return ENV_PREFIX + re.sub(r"[^A-Z0-9]", "_", _check_name(name).upper())


class EnvStore:
    """Read-only secrets from `KOPPELAAR_SECRET_<NAME>` variables, for CI and containers."""

    def __init__(self, env: Mapping[str, str] = os.environ) -> None:
        self._env = env

    def __repr__(self) -> str:
        return "EnvStore()"

    def get(self, name: str) -> SecretStr | None:
        # An empty variable is what CI templating leaves for an unset secret: treat it as absent.
        value = self._env.get(env_var_name(name), "")
        return SecretStr(value) if value else None

    def set(self, name: str, value: SecretStr) -> None:
        _check_value(value)
        raise SecretStoreError(
            f"de geheimen komen uit omgevingsvariabelen en zijn alleen-lezen; zet {env_var_name(name)} in "
            'de omgeving (CI-configuratie of systemd Environment=) of kies secret_backend = "file" in '
            "koppelaar.toml"
        )

    def delete(self, name: str) -> None:
        raise SecretStoreError(
            f"de geheimen komen uit omgevingsvariabelen en zijn alleen-lezen; verwijder {env_var_name(name)} "
            "uit de omgeving"
        )

    def describe(self) -> str:
        return f"omgevingsvariabelen {ENV_PREFIX}* (alleen-lezen, voor CI; niet versleuteld)"


# ---------------------------------------------------------------------------------------------------
# Encrypted file


def _parse_key(data: bytes, origin: str) -> bytes:
    """A key file holds 32 random bytes, raw or base64 (as `openssl rand -base64 32` writes it)."""
    if len(data) == _KEY_BYTES:
        return data
    try:
        key = base64.b64decode(data.strip(), validate=True)
    except binascii.Error:
        key = b""
    if len(key) != _KEY_BYTES:
        raise SecretStoreError(
            f"de sleutel in {origin} heeft niet het juiste formaat: verwacht 32 willekeurige bytes, ruw of "
            "als base64 (maak er een met `openssl rand -base64 32`)"
        )
    return key


def _io_error(exc: OSError) -> SecretStoreError:
    return SecretStoreError(
        f"{exc.filename}: {exc.strerror}. Controleer de rechten en of Koppelaar onder de juiste gebruiker draait"
    )


def load_key(key_file: Path, secret_file: Path, env: Mapping[str, str] = os.environ) -> tuple[bytes, str]:
    """The data key and where it came from: systemd credentials first, else a 0600 key file.

    A missing key file is created (0600), unless secrets already exist: they were encrypted with a key
    that is now gone, and a fresh key would hide that instead of saying so.
    """
    try:
        return _load_key(key_file, secret_file, env)
    except OSError as exc:
        raise _io_error(exc) from None


def _credential(env: Mapping[str, str]) -> Path | None:
    """The key systemd hands over (`LoadCredential=koppelaar.key:…`), when it does."""
    credentials = env.get("CREDENTIALS_DIRECTORY")
    if credentials and (Path(credentials) / CREDENTIAL_NAME).is_file():
        return Path(credentials) / CREDENTIAL_NAME
    return None


def _load_key(key_file: Path, secret_file: Path, env: Mapping[str, str]) -> tuple[bytes, str]:
    credential = _credential(env)
    if credential is not None:
        origin = f"$CREDENTIALS_DIRECTORY/{CREDENTIAL_NAME}"
        return _parse_key(credential.read_bytes(), origin), f"sleutel uit {origin}"
    try:
        fd = os.open(key_file, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        if secret_file.exists() and secret_file.stat().st_size > 0:
            raise SecretStoreError(
                f"sleutelbestand {key_file} ontbreekt, maar {secret_file} bestaat al: zonder de oorspronkelijke "
                "sleutel zijn die geheimen niet te lezen. Zet het sleutelbestand terug uit de back-up (of "
                f"zet ${KEY_DIR_ENV} of $XDG_CONFIG_HOME zoals toen de geheimen werden opgeslagen), of "
                f"verplaats {secret_file} en voer de verbindingsgegevens opnieuw in met `koppelaar connect`"
            ) from None
        return _create_key(key_file), f"sleutel uit {key_file} (0600, nieuw aangemaakt)"
    with os.fdopen(fd, "rb") as handle:
        # fstat on the opened file: no window between checking the mode and reading the key.
        mode = os.fstat(handle.fileno()).st_mode & 0o777
        if mode & 0o077:
            raise SecretStoreError(
                f"sleutelbestand {key_file} is leesbaar voor anderen (rechten {mode:04o}); de sleutel wordt "
                f"niet gebruikt. Beperk de rechten met `chmod 600 {key_file}` en vervang de sleutel als "
                "anderen hem gelezen kunnen hebben"
            )
        return _parse_key(handle.read(), str(key_file)), f"sleutel uit {key_file} (0600)"


def _has_content(path: Path) -> bool:
    try:
        return path.stat().st_size > 0
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise _io_error(exc) from None


def _create_key(key_file: Path) -> bytes:
    key_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = os.urandom(_KEY_BYTES)
    try:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        # Another Koppelaar process created it first; use theirs.
        return _parse_key(key_file.read_bytes(), str(key_file))
    with os.fdopen(fd, "wb") as handle:
        handle.write(base64.b64encode(key) + b"\n")
        handle.flush()
        os.fsync(handle.fileno())
    return key


class EncryptedFileStore:
    """Secrets in a JSON file `{name: base64(nonce + AES-GCM ciphertext)}`, the name as associated data.

    The associated data binds each ciphertext to its name, so swapping two entries is detected too.
    A key file inside `home` (or beside the secrets) protects nothing against whoever can read the home:
    `describe` and `protection` say so, with where to move it (`move_to`) when that is known.
    """

    def __init__(
        self,
        path: Path,
        key: bytes | None,
        *,
        key_origin: str,
        reason: str = "",
        key_file: Path | None = None,
        env: Mapping[str, str] = os.environ,
        home: Path | None = None,
        move_to: Path | None = None,
        from_credentials: bool = False,
    ) -> None:
        if key is not None and len(key) != _KEY_BYTES:
            raise SecretStoreError("de sleutel moet 32 bytes zijn")
        self._path = path
        self._cipher = AESGCM(key) if key is not None else None
        self._key_origin = key_origin
        self._reason = reason
        self._key_file = key_file
        self._env = env
        self._home = home or path.parent
        self._move_to = move_to
        self._from_credentials = from_credentials

    @classmethod
    def open(
        cls,
        path: Path,
        key_file: Path,
        *,
        env: Mapping[str, str] = os.environ,
        reason: str = "",
        home: Path | None = None,
        move_to: Path | None = None,
    ) -> EncryptedFileStore:
        """Open the store at `path`, with the key from systemd credentials or `key_file`.

        Opening only reads: with no key yet and no secrets, the key is made by the first `set`, so a
        read-only command (`koppelaar status`) never creates one."""
        has_credential = _credential(env) is not None
        key: bytes | None = None
        if has_credential or key_file.exists() or _has_content(path):
            key, origin = load_key(key_file, path, env)
        else:
            origin = f"nog geen sleutel; het eerste geheim maakt {key_file} aan (0600)"
        return cls(
            path,
            key,
            key_origin=origin,
            reason=reason,
            key_file=key_file,
            env=env,
            home=home,
            move_to=move_to,
            from_credentials=has_credential,
        )

    @property
    def _aes(self) -> AESGCM:
        if self._cipher is None:
            assert self._key_file is not None  # a keyless store is only made by `open`
            key, self._key_origin = load_key(self._key_file, self._path, self._env)
            self._cipher = AESGCM(key)
        return self._cipher

    def __repr__(self) -> str:
        return f"EncryptedFileStore({str(self._path)!r})"

    def get(self, name: str) -> SecretStr | None:
        entries = self._read()
        if _check_name(name) not in entries:
            return None
        plain = self._decrypt(name, entries[name])
        if plain is None:
            raise self._undecryptable(name, entries)
        return SecretStr(plain)

    def set(self, name: str, value: SecretStr) -> None:
        secret = _check_value(value)
        _check_name(name)
        with self._locked():
            entries = self._read()
            # Never mix keys in one file: if the others do not decrypt, this key is the wrong one.
            for other, token in entries.items():
                if other != name and self._decrypt(other, token) is None:
                    raise self._undecryptable(other, entries)
            nonce = os.urandom(_NONCE_BYTES)
            sealed = self._aes.encrypt(nonce, secret.encode("utf-8"), name.encode("utf-8"))
            entries[name] = base64.b64encode(nonce + sealed).decode("ascii")
            self._write(entries)

    def delete(self, name: str) -> None:
        _check_name(name)
        with self._locked():
            entries = self._read()
            if entries.pop(name, None) is not None:
                self._write(entries)

    def describe(self) -> str:
        text = f"versleuteld bestand (AES-GCM) {self._path}, {self._key_origin}"
        if self._key_beside_secrets():
            text += (
                "; LET OP: de sleutel ligt naast de geheimen, dus wie deze map kan lezen kan ze ontsleutelen. "
                f"{self._move_advice()}"
            )
        return f"{text}; {self._reason}" if self._reason else text

    def protection(self) -> str:
        """Which protection the key has: systemd credentials, outside the home, or beside the secrets."""
        if self._from_credentials:
            return f"sleutel uit systemd-credentials ($CREDENTIALS_DIRECTORY/{CREDENTIAL_NAME})"
        if self._key_file is None:
            return self._key_origin
        if self._key_beside_secrets():
            return f"ZWAK: sleutel naast de geheimen ({self._key_file}). {self._move_advice()}"
        made = "" if self._cipher is not None else " (nog niet aangemaakt)"
        return f"sleutel buiten de home: {self._key_file}{made}"

    def _key_beside_secrets(self) -> bool:
        if self._from_credentials or self._key_file is None:
            return False
        key = self._key_file.resolve()
        return key.is_relative_to(self._home.resolve()) or key.is_relative_to(self._path.resolve().parent)

    def _move_advice(self) -> str:
        if self._move_to is None:
            return (
                "Geef de sleutel via systemd-credentials of zet secret_key_file in koppelaar.toml op een pad "
                "buiten deze map (README, 'Geheimen')"
            )
        return (
            f"Verplaats hem (met Koppelaar gestopt): `install -d -m 700 {self._move_to.parent} && "
            f"mv -n {self._key_file} {self._move_to}`, of geef hem via systemd-credentials (README, 'Geheimen')"
        )

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Read-modify-write under the lock; I/O failures become a SecretStoreError with advice."""
        try:
            with exclusive_lock(self._path):
                yield
        except OSError as exc:
            raise _io_error(exc) from None

    def _read(self) -> dict[str, str]:
        try:
            raw = self._path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise _io_error(exc) from None
        try:
            entries = json.loads(raw)
        except ValueError:
            entries = None
        if not isinstance(entries, dict) or not all(isinstance(v, str) for v in entries.values()):
            raise SecretStoreError(
                f"{self._path} is beschadigd (geen geldig geheimenbestand). Koppelaar overschrijft het niet; "
                "zet een back-up terug, of verplaats het bestand en voer de verbindingsgegevens opnieuw in "
                "met `koppelaar connect`"
            )
        return entries

    def _write(self, entries: dict[str, str]) -> None:
        data = json.dumps(entries, indent=2, sort_keys=True).encode("utf-8") + b"\n"
        atomic_write(self._path, data, mode=0o600)

    def _decrypt(self, name: str, token: str) -> str | None:
        """The plaintext, or None when the key does not fit or the entry was altered."""
        try:
            blob = base64.b64decode(token, validate=True)
        except binascii.Error:
            return None
        if len(blob) < _NONCE_BYTES + _TAG_BYTES:
            return None
        try:
            plain = self._aes.decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], name.encode("utf-8"))
        except InvalidTag:
            return None
        return plain.decode("utf-8")

    def _undecryptable(self, name: str, entries: dict[str, str]) -> SecretStoreError:
        """Tell a wrong key (nothing decrypts) from one damaged entry (the others do)."""
        if any(self._decrypt(other, token) is not None for other, token in entries.items() if other != name):
            return SecretStoreError(
                f"het geheim {name} in {self._path} is gewijzigd of beschadigd en kan niet worden "
                "ontsleuteld. Voer het opnieuw in met `koppelaar connect` voor die verbinding"
            )
        return SecretStoreError(
            f"{self._path} kan niet worden ontsleuteld met de {self._key_origin}: verkeerde sleutel, of het "
            "bestand is gewijzigd. Zet de juiste sleutel terug (uit de back-up of systemd-credentials); "
            "verwijder het bestand niet, zonder de juiste sleutel zijn de geheimen verloren"
        )


# ---------------------------------------------------------------------------------------------------
# System keyring


def keyring_backend_problem(backend: Any) -> str | None:
    """Why this keyring backend is not fit for Koppelaar's secrets, or None when it is."""
    name = f"{type(backend).__module__}.{type(backend).__qualname__}"
    if isinstance(backend, keyring.backends.chainer.ChainerBackend):
        chained = list(backend.backends)
        if not chained:
            return "geen systeemkeyring gevonden (geen D-Bus-sessie?)"
        # The chain may read from and write to any member, so every member must be acceptable.
        problems = [p for p in map(keyring_backend_problem, chained) if p]
        return problems[0] if problems else None
    if isinstance(backend, keyring.backends.fail.Keyring | keyring.backends.null.Keyring):
        return f"geen systeemkeyring gevonden ({name}; geen D-Bus-sessie?)"
    if name.startswith(("keyrings.alt.", "keyrings.cryptfile.")):
        # These store plaintext or ask for a password on the terminal, which would corrupt the console.
        return f"{name} slaat onversleuteld op of vraagt om een wachtwoord op de terminal"
    return None


class KeyringStore:
    """Secrets in the system keyring (Secret Service, KWallet, macOS Keychain, Windows).

    Every keyring call runs in a daemon thread with a timeout: a locked collection can hang forever
    waiting for an unlock dialog nobody sees. While one call hangs, further calls fail at once instead of
    piling up threads. Unfit backends (see `keyring_backend_problem`) are refused on every call.
    """

    def __init__(
        self, *, timeout: float = DEFAULT_KEYRING_TIMEOUT, service: str = KEYRING_SERVICE, reason: str = ""
    ) -> None:
        self._timeout = timeout
        self._service = service
        self._reason = reason
        self._hung: threading.Thread | None = None
        self._backend_name = "nog niet gecontroleerd"

    def __repr__(self) -> str:
        return f"KeyringStore(service={self._service!r}, backend={self._backend_name!r})"

    def probe(self) -> None:
        """Check that a fit keyring answers within the timeout; raise SecretStoreError otherwise."""
        # A read is what hangs on a locked collection, so it is the real test.
        self._call("controleren", lambda: self._backend().get_password(self._service, "probe:koppelaar"))

    def get(self, name: str) -> SecretStr | None:
        _check_name(name)
        value = self._call("lezen", lambda: self._backend().get_password(self._service, name))
        return None if value is None else SecretStr(value)

    def set(self, name: str, value: SecretStr) -> None:
        secret = _check_value(value)
        _check_name(name)
        self._call(
            "opslaan", lambda: self._backend().set_password(self._service, name, secret), redact=secret
        )

    def delete(self, name: str) -> None:
        _check_name(name)

        def remove() -> None:
            # Nothing stored is fine: deleting is idempotent.
            with contextlib.suppress(keyring.errors.PasswordDeleteError):
                self._backend().delete_password(self._service, name)

        self._call("verwijderen", remove)

    def describe(self) -> str:
        text = f"systeemkeyring ({self._backend_name}), dienst {self._service!r}"
        return f"{text}; {self._reason}" if self._reason else text

    def _backend(self) -> Any:
        """The active keyring backend, refused when unfit. Runs in the worker: discovery may touch D-Bus."""
        backend = keyring.get_keyring()
        self._backend_name = f"{type(backend).__module__}.{type(backend).__qualname__}"
        problem = keyring_backend_problem(backend)
        if problem:
            raise SecretStoreError(
                f"de systeemkeyring is niet bruikbaar: {problem}. {_KEYRING_ADVICE}", reason=problem
            )
        return backend

    def _call(self, action: str, fn: Callable[[], T], *, redact: str = "") -> T:
        if self._hung is not None and self._hung.is_alive():
            raise SecretStoreError(
                f"keyring reageert nog steeds niet (vergrendeld?) op een eerdere aanvraag; {action} is niet "
                f"geprobeerd. {_KEYRING_ADVICE}",
                reason="keyring reageert niet (vergrendeld?)",
            )
        future: Future[T] = Future()

        def run() -> None:
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)

        # A daemon thread: a keyring that never answers must not keep the process alive at exit.
        thread = threading.Thread(target=run, name="koppelaar-keyring", daemon=True)
        thread.start()
        try:
            return future.result(timeout=self._timeout)
        except TimeoutError:
            self._hung = thread
            reason = f"keyring reageert niet (vergrendeld?) binnen {self._timeout:g} s"
            raise SecretStoreError(f"{reason} bij {action}. {_KEYRING_ADVICE}", reason=reason) from None
        except SecretStoreError:
            raise
        except Exception as exc:
            detail = f"{type(exc).__name__}: {exc}"
            if redact:
                detail = detail.replace(redact, "***")
            # `from None`: the original exception could carry the secret in its message or arguments.
            raise SecretStoreError(
                f"keyring-fout bij {action}: {detail}. {_KEYRING_ADVICE}", reason=f"keyring-fout: {detail}"
            ) from None


_KEYRING_ADVICE = (
    'Ontgrendel de keyring in de grafische sessie, of kies secret_backend = "file" in koppelaar.toml '
    "(versleuteld bestand, geschikt voor servers zonder bureaublad)"
)


# ---------------------------------------------------------------------------------------------------
# Choosing a backend


def open_secret_store(
    app: AppSettings,
    home: Path,
    env: Mapping[str, str] = os.environ,
    *,
    keyring_timeout: float = DEFAULT_KEYRING_TIMEOUT,
) -> SecretStore:
    """The secret store `app.secret_backend` asks for; `auto` prefers a working keyring, else the file.

    `auto` sticks to the encrypted file once it exists, so the console over SSH and the daemon under
    systemd keep seeing the same secrets even if one of them has a keyring and the other has not.
    """
    secret_file = home / app.secret_file
    key_file, move_to = key_location(app, home, env)

    def file_store(reason: str = "") -> EncryptedFileStore:
        return EncryptedFileStore.open(
            secret_file, key_file, env=env, reason=reason, home=home, move_to=move_to
        )

    backend = app.secret_backend
    if backend is SecretBackendName.ENV:
        return EnvStore(env)
    if backend is SecretBackendName.FILE:
        return file_store()
    if backend is SecretBackendName.KEYRING:
        store = KeyringStore(timeout=keyring_timeout)
        store.probe()  # chosen explicitly: an unusable keyring is an error, never a silent fallback
        return store
    if secret_file.exists():
        return file_store("automatisch gekozen: dit bestand bestaat al")
    store = KeyringStore(timeout=keyring_timeout, reason="automatisch gekozen: systeemkeyring werkt")
    try:
        store.probe()
    except SecretStoreError as exc:
        return file_store(f"automatisch gekozen, want {exc.reason}")
    return store


def key_location(
    app: AppSettings, home: Path, env: Mapping[str, str] = os.environ
) -> tuple[Path, Path | None]:
    """The key file to use, and where it should move to when it is an old one beside the secrets.

    `secret_key_file` in koppelaar.toml wins. Otherwise a home made before the key moved out keeps its
    `secrets.key` while it is there, so its secrets stay readable; new homes get a key outside the home.
    """
    if app.secret_key_file:
        return home / app.secret_key_file, None
    outside = default_key_file(home, env)
    beside = home / KEY_BESIDE_SECRETS
    if beside.exists():
        return beside, outside
    return outside, None


def protection(store: SecretStore) -> str:
    """Which protection the secrets have, in one line for `koppelaar status`."""
    if isinstance(store, EncryptedFileStore):
        return store.protection()
    if isinstance(store, KeyringStore):
        return "systeemkeyring (de sleutel beheert het besturingssysteem)"
    if isinstance(store, EnvStore):
        return "geen versleuteling: geheimen uit omgevingsvariabelen"
    return store.describe()
