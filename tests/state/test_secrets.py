"""Secret stores: encryption, key handling, keyring timeouts, and a sentinel that must never leak."""

from __future__ import annotations

import base64
import builtins
import getpass
import json
import os
import stat
import subprocess
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.backends.chainer
import keyring.backends.fail
import keyring.errors
import pytest
from keyring.backend import KeyringBackend
from pydantic import SecretStr

from state.home import KEY_DIR_ENV, Home, default_key_file
from state.secrets import (
    EncryptedFileStore,
    EnvStore,
    KeyringStore,
    SecretStore,
    SecretStoreError,
    env_var_name,
    keyring_backend_problem,
    open_secret_store,
    protection,
)
from state.settings import AppSettings, SecretBackendName

SENTINEL = "SENTINEL-geheim-7f3a9c"
NAME = "boekhouding:beveiligingscode_1"
OTHER = "boekhouding:beveiligingscode_2"
API_KEY = "factuursturen:api_key"


@pytest.fixture(autouse=True)
def no_terminal_prompts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to prompt on the terminal fails the test: it would corrupt the console."""

    def refuse(*_args: object, **_kwargs: object) -> str:
        raise AssertionError("a secret store tried to prompt on the terminal")

    monkeypatch.setattr(getpass, "getpass", refuse)
    monkeypatch.setattr(builtins, "input", refuse)


def file_store(tmp_path: Path, **env: str) -> EncryptedFileStore:
    return EncryptedFileStore.open(tmp_path / "secrets.enc", tmp_path / "secrets.key", env=env)


def write_key(path: Path, key: bytes, mode: int = 0o600) -> None:
    path.write_bytes(base64.b64encode(key) + b"\n")
    path.chmod(mode)


def message_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)) + repr(exc)


# ---------------------------------------------------------------------------------------------------
# Encrypted file


def test_encrypted_file_round_trip(tmp_path: Path) -> None:
    store = file_store(tmp_path)
    store.set(NAME, SecretStr(SENTINEL))
    store.set(API_KEY, SecretStr("fs-api-sleutel-01"))

    assert isinstance(store, SecretStore)
    got = store.get(NAME)
    assert got is not None and got.get_secret_value() == SENTINEL
    assert store.get(OTHER) is None

    reopened = file_store(tmp_path)
    again = reopened.get(API_KEY)
    assert again is not None and again.get_secret_value() == "fs-api-sleutel-01"

    secret_file = tmp_path / "secrets.enc"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "secrets.key").stat().st_mode) == 0o600
    entries = json.loads(secret_file.read_bytes())
    assert sorted(entries) == [NAME, API_KEY]
    assert len(base64.b64decode(entries[NAME])) == 12 + len(SENTINEL) + 16
    assert SENTINEL.encode() not in secret_file.read_bytes()

    reopened.delete(NAME)
    reopened.delete(NAME)  # deleting twice is fine
    assert store.get(NAME) is None


def test_every_write_uses_a_fresh_nonce(tmp_path: Path) -> None:
    store = file_store(tmp_path)
    store.set(NAME, SecretStr(SENTINEL))
    first = json.loads((tmp_path / "secrets.enc").read_bytes())[NAME]
    store.set(NAME, SecretStr(SENTINEL))
    second = json.loads((tmp_path / "secrets.enc").read_bytes())[NAME]
    assert first != second
    assert base64.b64decode(first)[:12] != base64.b64decode(second)[:12]


def test_wrong_key_is_reported_and_nothing_is_lost(tmp_path: Path) -> None:
    store = file_store(tmp_path)
    store.set(NAME, SecretStr(SENTINEL))
    store.set(OTHER, SecretStr("tweede-code"))
    before = (tmp_path / "secrets.enc").read_bytes()

    write_key(tmp_path / "secrets.key", os.urandom(32))
    wrong = file_store(tmp_path)
    with pytest.raises(SecretStoreError, match="verkeerde sleutel") as info:
        wrong.get(NAME)
    assert "verwijder het bestand niet" in str(info.value)
    with pytest.raises(SecretStoreError, match="verkeerde sleutel"):
        wrong.set(API_KEY, SecretStr("fs-api-sleutel-01"))  # would mix two keys in one file
    assert (tmp_path / "secrets.enc").read_bytes() == before


def test_tampered_entry_is_named(tmp_path: Path) -> None:
    store = file_store(tmp_path)
    store.set(NAME, SecretStr(SENTINEL))
    store.set(API_KEY, SecretStr("fs-api-sleutel-01"))
    secret_file = tmp_path / "secrets.enc"
    entries = json.loads(secret_file.read_bytes())
    blob = bytearray(base64.b64decode(entries[NAME]))
    blob[-1] ^= 0x01
    entries[NAME] = base64.b64encode(bytes(blob)).decode()
    secret_file.write_text(json.dumps(entries))

    with pytest.raises(SecretStoreError, match=f"{NAME} .* gewijzigd of beschadigd"):
        store.get(NAME)
    untouched = store.get(API_KEY)
    assert untouched is not None and untouched.get_secret_value() == "fs-api-sleutel-01"
    store.set(NAME, SecretStr("nieuwe-code"))  # re-entering the damaged secret repairs it
    repaired = store.get(NAME)
    assert repaired is not None and repaired.get_secret_value() == "nieuwe-code"


def test_entries_are_bound_to_their_name(tmp_path: Path) -> None:
    store = file_store(tmp_path)
    store.set(NAME, SecretStr(SENTINEL))
    store.set(OTHER, SecretStr("tweede-code"))
    store.set(API_KEY, SecretStr("fs-api-sleutel-01"))
    secret_file = tmp_path / "secrets.enc"
    entries = json.loads(secret_file.read_bytes())
    entries[NAME], entries[OTHER] = entries[OTHER], entries[NAME]
    secret_file.write_text(json.dumps(entries))
    with pytest.raises(SecretStoreError, match="gewijzigd of beschadigd"):
        store.get(OTHER)


def test_corrupt_file_is_never_overwritten(tmp_path: Path) -> None:
    store = file_store(tmp_path)
    store.set(NAME, SecretStr(SENTINEL))
    secret_file = tmp_path / "secrets.enc"
    secret_file.write_bytes(secret_file.read_bytes()[:-20])
    before = secret_file.read_bytes()
    with pytest.raises(SecretStoreError, match="beschadigd"):
        store.get(NAME)
    with pytest.raises(SecretStoreError, match="overschrijft het niet"):
        store.set(API_KEY, SecretStr("fs-api-sleutel-01"))
    assert secret_file.read_bytes() == before


def test_group_readable_key_file_is_refused(tmp_path: Path) -> None:
    write_key(tmp_path / "secrets.key", os.urandom(32), mode=0o644)
    with pytest.raises(SecretStoreError, match="chmod 600") as info:
        file_store(tmp_path)
    assert "0644" in str(info.value)


def test_key_file_is_created_exclusively_with_mode_0600(tmp_path: Path) -> None:
    old_umask = os.umask(0)  # even a permissive umask must not widen the key file
    try:
        store = EncryptedFileStore.open(tmp_path / "secrets.enc", tmp_path / "etc" / "secrets.key", env={})
        store.set(NAME, SecretStr(SENTINEL))  # the first secret makes the key: opening only reads
    finally:
        os.umask(old_umask)
    key_file = tmp_path / "etc" / "secrets.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(base64.b64decode(key_file.read_bytes())) == 32
    assert "nieuw aangemaakt" in store.describe()


def test_opening_and_reading_never_create_a_key(tmp_path: Path) -> None:
    """`koppelaar status` opens the store and reads: that must not write a key file."""
    store = file_store(tmp_path)
    assert store.get(NAME) is None
    assert "nog geen sleutel" in store.describe()
    assert not (tmp_path / "secrets.key").exists() and not (tmp_path / "secrets.enc").exists()
    store.set(NAME, SecretStr(SENTINEL))
    assert (tmp_path / "secrets.key").exists()
    # Beside the secrets in one directory: status says that this protects nothing against a reader.
    assert "de sleutel ligt naast de geheimen" in file_store(tmp_path).describe()


def test_a_key_elsewhere_or_from_systemd_is_not_flagged(tmp_path: Path) -> None:
    # "Elsewhere" is outside the secrets' directory: a subdirectory of it is readable alike (next test).
    (tmp_path / "home").mkdir()
    elsewhere = EncryptedFileStore.open(
        tmp_path / "home" / "secrets.enc", tmp_path / "etc" / "secrets.key", env={}
    )
    elsewhere.set(NAME, SecretStr(SENTINEL))
    assert "naast de geheimen" not in elsewhere.describe()
    assert elsewhere.protection() == f"sleutel buiten de home: {tmp_path / 'etc' / 'secrets.key'}"


def test_a_key_anywhere_inside_the_home_is_flagged(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "data").mkdir(parents=True)
    store = EncryptedFileStore.open(home / "data" / "secrets.enc", home / "keys" / "k.key", env={}, home=home)
    store.set(NAME, SecretStr(SENTINEL))
    assert "de sleutel ligt naast de geheimen" in store.describe()
    assert store.protection().startswith("ZWAK: sleutel naast de geheimen")


def test_key_from_systemd_credentials(tmp_path: Path) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "koppelaar.key").write_bytes(os.urandom(32))  # systemd-creds hands over raw bytes
    store = file_store(tmp_path, CREDENTIALS_DIRECTORY=str(credentials))
    store.set(NAME, SecretStr(SENTINEL))

    assert not (tmp_path / "secrets.key").exists()
    assert "sleutel uit $CREDENTIALS_DIRECTORY/koppelaar.key" in store.describe()
    assert "AES-GCM" in store.describe()
    again = file_store(tmp_path, CREDENTIALS_DIRECTORY=str(credentials)).get(NAME)
    assert again is not None and again.get_secret_value() == SENTINEL


def test_credentials_directory_without_our_key_falls_back_to_key_file(tmp_path: Path) -> None:
    (tmp_path / "credentials").mkdir()
    store = file_store(tmp_path, CREDENTIALS_DIRECTORY=str(tmp_path / "credentials"))
    assert "secrets.key" in store.describe()


def test_lost_key_with_existing_secrets_is_refused(tmp_path: Path) -> None:
    file_store(tmp_path).set(NAME, SecretStr(SENTINEL))
    (tmp_path / "secrets.key").unlink()
    with pytest.raises(SecretStoreError, match="ontbreekt"):
        file_store(tmp_path)
    assert not (tmp_path / "secrets.key").exists()


def test_unreadable_key_path_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "secrets.key").mkdir()
    with pytest.raises(SecretStoreError, match="juiste gebruiker"):
        file_store(tmp_path)


def test_malformed_key_is_refused(tmp_path: Path) -> None:
    key_file = tmp_path / "secrets.key"
    key_file.write_text("te-kort\n")
    key_file.chmod(0o600)
    with pytest.raises(SecretStoreError, match="32 willekeurige bytes"):
        file_store(tmp_path)


def test_names_are_checked(tmp_path: Path) -> None:
    store = file_store(tmp_path)
    with pytest.raises(SecretStoreError, match="verbinding:veld"):
        store.set("beveiligingscode", SecretStr(SENTINEL))
    with pytest.raises(TypeError):
        store.set(NAME, SENTINEL)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------------
# Environment


def test_env_store_reads_and_refuses_writes() -> None:
    assert env_var_name(NAME) == "KOPPELAAR_SECRET_BOEKHOUDING_BEVEILIGINGSCODE_1"
    assert env_var_name("fs-hoofd:api.key") == "KOPPELAAR_SECRET_FS_HOOFD_API_KEY"
    store = EnvStore({"KOPPELAAR_SECRET_BOEKHOUDING_BEVEILIGINGSCODE_1": SENTINEL, env_var_name(OTHER): ""})

    got = store.get(NAME)
    assert got is not None and got.get_secret_value() == SENTINEL
    assert store.get(OTHER) is None
    assert store.get(API_KEY) is None
    with pytest.raises(SecretStoreError, match="alleen-lezen") as info:
        store.set(NAME, SecretStr(SENTINEL))
    assert "KOPPELAAR_SECRET_BOEKHOUDING_BEVEILIGINGSCODE_1" in str(info.value)
    with pytest.raises(SecretStoreError, match="alleen-lezen"):
        store.delete(NAME)
    assert "KOPPELAAR_SECRET_*" in store.describe()
    assert SENTINEL not in repr(store) + str(store)


# ---------------------------------------------------------------------------------------------------
# Keyring


class MemoryKeyring(KeyringBackend):
    priority = 1

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.passwords: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.passwords.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.passwords[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.passwords.pop((service, username), None) is None:
            raise keyring.errors.PasswordDeleteError("not found")


class BlockingKeyring(MemoryKeyring):
    """A keyring whose collection is locked: every call waits for an unlock that never comes."""

    def __init__(self) -> None:
        super().__init__()
        self.unlock = threading.Event()
        self.calls = 0

    def get_password(self, service: str, username: str) -> str | None:
        self.calls += 1
        self.unlock.wait()
        return None

    def set_password(self, service: str, username: str, password: str) -> None:
        self.calls += 1
        self.unlock.wait()


class LeakyKeyring(MemoryKeyring):
    """A backend whose errors quote the password: our messages must not."""

    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.KeyringError(f"could not store {password!r} for {username}")


def fail_backend() -> KeyringBackend:
    """What keyring picks without a D-Bus session (SSH, systemd, cron)."""
    return keyring.backends.fail.Keyring()  # type: ignore[no-untyped-call]


def chainer() -> KeyringBackend:
    return keyring.backends.chainer.ChainerBackend()  # type: ignore[no-untyped-call]


@pytest.fixture
def use_keyring() -> Iterator[list[KeyringBackend]]:
    """Install fake keyring backends; restore the real one and unblock every fake afterwards."""
    original = keyring.get_keyring()
    installed: list[KeyringBackend] = []
    yield installed
    for backend in installed:
        if isinstance(backend, BlockingKeyring):
            backend.unlock.set()
    keyring.set_keyring(original)


def install(installed: list[KeyringBackend], backend: KeyringBackend) -> None:
    installed.append(backend)
    keyring.set_keyring(backend)


def test_keyring_round_trip(use_keyring: list[KeyringBackend]) -> None:
    backend = MemoryKeyring()
    install(use_keyring, backend)
    store = KeyringStore()
    store.probe()
    store.set(NAME, SecretStr(SENTINEL))
    assert backend.passwords[("koppelaar", NAME)] == SENTINEL
    got = store.get(NAME)
    assert got is not None and got.get_secret_value() == SENTINEL
    store.delete(NAME)
    store.delete(NAME)
    assert store.get(NAME) is None
    assert "MemoryKeyring" in store.describe()


def test_locked_keyring_times_out_instead_of_hanging(use_keyring: list[KeyringBackend]) -> None:
    backend = BlockingKeyring()
    install(use_keyring, backend)
    store = KeyringStore(timeout=0.2)
    with pytest.raises(SecretStoreError, match=r"keyring reageert niet \(vergrendeld\?\)") as info:
        store.get(NAME)
    assert 'secret_backend = "file"' in str(info.value)
    # While the first call still hangs, the next one fails at once instead of starting another thread.
    with pytest.raises(SecretStoreError, match="nog steeds niet"):
        store.set(NAME, SecretStr(SENTINEL))
    assert backend.calls == 1

    backend.unlock.set()  # unlocked: the hung call ends and the store answers again
    for thread in threading.enumerate():
        if thread.name == "koppelaar-keyring":
            thread.join(timeout=5)
    assert store.get(NAME) is None


def test_fail_backend_is_not_usable(use_keyring: list[KeyringBackend]) -> None:
    install(use_keyring, fail_backend())
    store = KeyringStore(timeout=1)
    with pytest.raises(SecretStoreError, match="geen systeemkeyring"):
        store.probe()
    with pytest.raises(SecretStoreError, match="geen systeemkeyring"):
        store.get(NAME)


def test_unfit_backends_are_recognised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keyring.backends.chainer.ChainerBackend, "backends", [])
    assert keyring_backend_problem(chainer()) is not None

    class PromptingKeyring(MemoryKeyring):
        pass

    PromptingKeyring.__module__ = "keyrings.alt.file"
    assert "terminal" in (keyring_backend_problem(PromptingKeyring()) or "")
    monkeypatch.setattr(keyring.backends.chainer.ChainerBackend, "backends", [MemoryKeyring()])
    assert keyring_backend_problem(chainer()) is None
    monkeypatch.setattr(
        keyring.backends.chainer.ChainerBackend, "backends", [MemoryKeyring(), PromptingKeyring()]
    )
    assert keyring_backend_problem(chainer()) is not None


def test_backend_errors_are_wrapped_without_the_secret(use_keyring: list[KeyringBackend]) -> None:
    install(use_keyring, LeakyKeyring())
    with pytest.raises(SecretStoreError, match="keyring-fout bij opslaan") as info:
        KeyringStore().set(NAME, SecretStr(SENTINEL))
    assert SENTINEL not in message_text(info.value)


# ---------------------------------------------------------------------------------------------------
# Choosing a backend


def app(backend: SecretBackendName) -> AppSettings:
    return AppSettings(secret_backend=backend)


def keys_only() -> dict[str, str]:
    """An environment with only the suite's key directory (tests/conftest.py): never the real ~/.config."""
    return {KEY_DIR_ENV: os.environ[KEY_DIR_ENV]}


def test_explicit_backends(tmp_path: Path, use_keyring: list[KeyringBackend]) -> None:
    assert isinstance(open_secret_store(app(SecretBackendName.ENV), tmp_path, env=keys_only()), EnvStore)

    store = open_secret_store(app(SecretBackendName.FILE), tmp_path, env=keys_only())
    assert isinstance(store, EncryptedFileStore)
    store.set(NAME, SecretStr(SENTINEL))
    # The key outside the home, in the key directory (tests/conftest.py points it at a temporary one).
    assert (tmp_path / "secrets.enc").exists() and default_key_file(tmp_path, keys_only()).exists()
    assert not (tmp_path / "secrets.key").exists()

    install(use_keyring, MemoryKeyring())
    assert isinstance(
        open_secret_store(app(SecretBackendName.KEYRING), tmp_path, env=keys_only()), KeyringStore
    )


def test_chosen_keyring_that_does_not_work_is_an_error(
    tmp_path: Path, use_keyring: list[KeyringBackend]
) -> None:
    install(use_keyring, fail_backend())
    with pytest.raises(SecretStoreError, match="niet bruikbaar"):
        open_secret_store(app(SecretBackendName.KEYRING), tmp_path, env=keys_only())
    assert list(tmp_path.iterdir()) == []  # no silent fallback: no file, no key

    install(use_keyring, BlockingKeyring())
    with pytest.raises(SecretStoreError, match="reageert niet"):
        open_secret_store(app(SecretBackendName.KEYRING), tmp_path, env=keys_only(), keyring_timeout=0.2)


def test_auto_prefers_a_working_keyring(tmp_path: Path, use_keyring: list[KeyringBackend]) -> None:
    install(use_keyring, MemoryKeyring())
    store = open_secret_store(app(SecretBackendName.AUTO), tmp_path, env=keys_only())
    assert isinstance(store, KeyringStore)
    assert "automatisch gekozen" in store.describe()


def test_auto_without_keyring_uses_the_encrypted_file(
    tmp_path: Path, use_keyring: list[KeyringBackend]
) -> None:
    install(use_keyring, fail_backend())
    store = open_secret_store(app(SecretBackendName.AUTO), tmp_path, env=keys_only())
    assert isinstance(store, EncryptedFileStore)
    assert "automatisch gekozen, want geen systeemkeyring gevonden" in store.describe()


def test_auto_with_locked_keyring_uses_the_encrypted_file(
    tmp_path: Path, use_keyring: list[KeyringBackend]
) -> None:
    install(use_keyring, BlockingKeyring())
    store = open_secret_store(app(SecretBackendName.AUTO), tmp_path, env=keys_only(), keyring_timeout=0.2)
    assert isinstance(store, EncryptedFileStore)
    assert "reageert niet" in store.describe()


def test_auto_sticks_to_an_existing_secret_file(tmp_path: Path, use_keyring: list[KeyringBackend]) -> None:
    file_store(tmp_path).set(NAME, SecretStr(SENTINEL))
    install(use_keyring, MemoryKeyring())
    store = open_secret_store(app(SecretBackendName.AUTO), tmp_path, env=keys_only())
    assert isinstance(store, EncryptedFileStore)
    got = store.get(NAME)
    assert got is not None and got.get_secret_value() == SENTINEL


# ---------------------------------------------------------------------------------------------------
# Where the key lives


def file_app(**settings: str) -> AppSettings:
    return AppSettings(secret_backend=SecretBackendName.FILE, **settings)


def test_the_key_lives_outside_the_home_one_per_home(tmp_path: Path) -> None:
    keys = tmp_path / "sleutels"
    env = {KEY_DIR_ENV: str(keys)}
    first, second = tmp_path / "home-a", tmp_path / "home-b"
    for home in (first, second):
        home.mkdir()
        store = open_secret_store(file_app(), home, env=env)
        assert list(keys.glob("*")) if home == second else not keys.exists()  # opening made nothing
        store.set(NAME, SecretStr(f"{SENTINEL}-{home.name}"))
        assert not (home / "secrets.key").exists()

    key_a, key_b = default_key_file(first, env), default_key_file(second, env)
    assert key_a != key_b and key_a.parent == key_b.parent == keys
    assert sorted(keys.iterdir()) == sorted([key_a, key_b])
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    assert stat.S_IMODE(key_a.stat().st_mode) == 0o600
    assert key_a.read_bytes() != key_b.read_bytes()
    # The name follows the home's absolute path: a relative spelling of the same home finds the same key.
    assert default_key_file(Path(os.path.relpath(first)), env) == key_a

    store = open_secret_store(file_app(), first, env=env)
    got = store.get(NAME)
    assert got is not None and got.get_secret_value() == f"{SENTINEL}-home-a"
    assert protection(store) == f"sleutel buiten de home: {key_a}"
    assert "naast de geheimen" not in store.describe()


def test_without_a_key_directory_the_key_goes_to_the_xdg_config_home(tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config")}
    home = tmp_path / "home"
    home.mkdir()
    open_secret_store(file_app(), home, env=env).set(NAME, SecretStr(SENTINEL))
    [key] = (tmp_path / "config" / "koppelaar").iterdir()
    assert key == default_key_file(home, env) and key.suffix == ".key"


def test_a_configured_key_file_wins(tmp_path: Path) -> None:
    env = keys_only()
    home = tmp_path / "home"
    home.mkdir()
    relative = open_secret_store(file_app(secret_key_file="sleutel/k.key"), home, env=env)
    relative.set(NAME, SecretStr(SENTINEL))
    assert (home / "sleutel" / "k.key").exists()  # relative to the home, as documented
    assert not default_key_file(home, env).exists()
    assert "ZWAK" in protection(relative)

    elsewhere = tmp_path / "etc" / "koppelaar.key"
    (home / "secrets.enc").unlink()
    absolute = open_secret_store(file_app(secret_key_file=str(elsewhere)), home, env=env)
    absolute.set(NAME, SecretStr(SENTINEL))
    assert elsewhere.exists()
    assert protection(absolute) == f"sleutel buiten de home: {elsewhere}"


def test_an_old_key_beside_the_secrets_keeps_working_until_it_is_moved(tmp_path: Path) -> None:
    """Homes from before the key moved out: their secrets stay readable, and status says how to move it."""
    env = {KEY_DIR_ENV: str(tmp_path / "sleutels")}
    home = tmp_path / "home"
    home.mkdir()
    file_store(home).set(
        NAME, SecretStr(SENTINEL)
    )  # the old layout: secrets.enc and secrets.key side by side
    assert (home / "secrets.key").exists()

    old = open_secret_store(file_app(), home, env=env)
    got = old.get(NAME)
    assert got is not None and got.get_secret_value() == SENTINEL
    assert protection(old).startswith(f"ZWAK: sleutel naast de geheimen ({home / 'secrets.key'})")
    assert "de sleutel ligt naast de geheimen" in old.describe()
    assert not (tmp_path / "sleutels").exists()  # reading moved nothing and made nothing

    # The advice is a command; run it as an admin would.
    [command] = [part for part in protection(old).split("`")[1::2] if part.startswith("install")]
    subprocess.run(["sh", "-c", command], check=True)
    assert not (home / "secrets.key").exists()
    moved = open_secret_store(file_app(), home, env=env)
    again = moved.get(NAME)
    assert again is not None and again.get_secret_value() == SENTINEL
    assert protection(moved) == f"sleutel buiten de home: {default_key_file(home, env)}"
    assert stat.S_IMODE((tmp_path / "sleutels").stat().st_mode) == 0o700
    assert stat.S_IMODE(default_key_file(home, env).stat().st_mode) == 0o600


def test_a_lost_key_outside_the_home_is_refused_with_the_place_it_was_looked_for(tmp_path: Path) -> None:
    env = keys_only()
    open_secret_store(file_app(), tmp_path, env=env).set(NAME, SecretStr(SENTINEL))
    default_key_file(tmp_path, env).unlink()
    with pytest.raises(SecretStoreError, match="ontbreekt") as info:
        open_secret_store(file_app(), tmp_path, env=env)
    assert str(default_key_file(tmp_path, env)) in str(info.value) and KEY_DIR_ENV in str(info.value)
    assert not default_key_file(tmp_path, env).exists()


def test_protection_names_each_kind(tmp_path: Path, use_keyring: list[KeyringBackend]) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "koppelaar.key").write_bytes(os.urandom(32))
    env = {**keys_only(), "CREDENTIALS_DIRECTORY": str(credentials)}
    systemd = open_secret_store(file_app(), tmp_path, env=env)
    assert protection(systemd) == "sleutel uit systemd-credentials ($CREDENTIALS_DIRECTORY/koppelaar.key)"

    fresh = open_secret_store(file_app(), tmp_path / "nieuw", env=keys_only())
    assert protection(fresh).endswith("(nog niet aangemaakt)")

    install(use_keyring, MemoryKeyring())
    assert "systeemkeyring" in protection(open_secret_store(app(SecretBackendName.KEYRING), tmp_path, env={}))
    assert "geen versleuteling" in protection(EnvStore({}))


def test_status_says_which_protection_is_in_force(tmp_path: Path) -> None:
    from tui.cli import status_text

    home = Home(tmp_path / "home")
    home.ensure()
    home.config.write_text('[app]\nsecret_backend = "file"\n')
    text = status_text(home)
    key = default_key_file(home.root)  # os.environ: the suite's key directory
    assert f"Bescherming van de geheimen: sleutel buiten de home: {key} (nog niet aangemaakt)" in text
    assert not key.exists()  # a read-only command makes no key


def test_the_demo_keeps_its_key_in_its_own_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Removing the demo's temporary home leaves no key behind in the key directory."""
    from state.config import load_settings
    from tui.demo import prepare_home

    keys = tmp_path / "sleutels"
    monkeypatch.setenv(KEY_DIR_ENV, str(keys))
    home = Home(tmp_path / "demo")
    prepare_home(home, "http://127.0.0.1:9", "http://127.0.0.1:9")  # writes config and secrets, no HTTP
    assert (home.root / "secrets.key").exists() and not keys.exists()
    store = open_secret_store(load_settings(home.config).app, home.root)
    assert store.get("factuursturen:api_key") is not None
    assert not keys.exists()


# ---------------------------------------------------------------------------------------------------
# The sentinel


def test_sentinel_never_leaks(tmp_path: Path, use_keyring: list[KeyringBackend]) -> None:
    errors: list[BaseException] = []
    stores: list[object] = []

    def attempt(action: object) -> None:
        try:
            assert callable(action)
            action()
        except (SecretStoreError, TypeError) as exc:
            errors.append(exc)

    secret = SecretStr(SENTINEL)
    files = file_store(tmp_path)
    files.set(NAME, secret)
    files.set(API_KEY, secret)
    stores.append(files)
    stores.append(secret)
    stores.append(files.get(NAME))

    # Wrong key, tampered entry, read-only env, locked and leaky keyrings, a str passed as secret.
    write_key(tmp_path / "other.key", os.urandom(32))
    wrong = EncryptedFileStore.open(tmp_path / "secrets.enc", tmp_path / "other.key", env={})
    attempt(lambda: wrong.get(NAME))
    attempt(lambda: wrong.set(OTHER, secret))
    attempt(lambda: files.set(OTHER, SENTINEL))  # type: ignore[arg-type]
    env = EnvStore({env_var_name(NAME): SENTINEL})
    stores.append(env)
    attempt(lambda: env.set(NAME, secret))
    blocking = BlockingKeyring()
    install(use_keyring, blocking)
    locked = KeyringStore(timeout=0.1)
    stores.append(locked)
    attempt(lambda: locked.set(NAME, secret))
    install(use_keyring, LeakyKeyring())
    leaky = KeyringStore()
    stores.append(leaky)
    attempt(lambda: leaky.set(NAME, secret))
    entries = json.loads((tmp_path / "secrets.enc").read_bytes())
    entries[NAME] = entries[NAME][:-4] + "AAAA"
    (tmp_path / "secrets.enc").write_text(json.dumps(entries))
    attempt(lambda: files.get(NAME))

    assert len(errors) == 7
    for error in errors:
        assert SENTINEL not in message_text(error)
        assert all(SENTINEL not in str(arg) for arg in error.args)
    for store in stores:
        assert SENTINEL not in str(store) and SENTINEL not in repr(store)
    for path in tmp_path.iterdir():
        assert SENTINEL.encode() not in path.read_bytes()
