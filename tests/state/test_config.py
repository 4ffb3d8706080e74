"""koppelaar.toml: line-accurate errors, comment-preserving edits, atomic and refusing saves."""

from __future__ import annotations

import errno
import stat
from pathlib import Path
from typing import Any

import pytest

import state.config
from state.config import ConfigError, ConfigFile, load_settings, write_new
from state.settings import CurrencyPolicy

CONFIG = """\
# Koppelaar — Bakkerij De Korenschoof
[app]
language = "nl"  # support leest Nederlands

[connections.factuursturen]
system = "factuursturen"
username = "korenschoof"

[connections.boekhouding]
system = "eboekhouden"
username = "administratie@korenschoof.nl"
administratie = "De Korenschoof B.V."

# Elke nacht de facturen van gisteren
[koppelingen.facturen]
source = "factuursturen"
target = "boekhouding"
schedule = "15 3 * * *"  # na de back-up

[koppelingen.facturen.mapping]
tegenrekening_verkoop = "8010"  # omzet brood
btw_codes = { "verkoop:21" = "HOOG_VERK_21", "verkoop:9" = "LAAG_VERK_9" }
"""


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "koppelaar.toml"
    path.write_text(CONFIG, encoding="utf-8")
    path.chmod(0o640)
    return path


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def test_load_valid_config(config_path: Path) -> None:
    settings = load_settings(config_path)
    facturen = settings.koppelingen["facturen"]
    assert (facturen.source, facturen.target) == ("factuursturen", "boekhouding")
    assert facturen.mapping.btw_codes["verkoop:21"] == "HOOG_VERK_21"
    assert settings.connections["boekhouding"].system == "eboekhouden"


def test_missing_file_says_how_to_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path / "koppelaar.toml")
    assert "koppelaar connect" in str(info.value)
    assert "koppelaar demo" in str(info.value)


def test_syntax_error_gives_line_and_column(config_path: Path) -> None:
    broken = CONFIG.replace('target = "boekhouding"', 'target = "boekhouding')
    config_path.write_text(broken, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(config_path)
    error = info.value
    assert error.line == line_of(broken, 'target = "boekhouding')
    assert error.column is not None
    assert f"regel {error.line}, kolom {error.column}" in str(error)
    assert str(config_path) in str(error)
    assert "nooit" in str(error)  # says the file will not be overwritten


def test_broken_file_cannot_be_opened_and_stays_byte_identical(config_path: Path) -> None:
    broken = CONFIG.replace("[koppelingen.facturen.mapping]", "[koppelingen.facturen.mapping")
    config_path.write_text(broken, encoding="utf-8")
    before = config_path.read_bytes()
    with pytest.raises(ConfigError) as info:
        ConfigFile.open(config_path)
    assert info.value.line == line_of(broken, "[koppelingen.facturen.mapping")
    assert config_path.read_bytes() == before
    assert not config_path.with_name("koppelaar.toml.bak").exists()


def test_file_broken_after_open_is_not_overwritten(config_path: Path) -> None:
    edit = ConfigFile.open(config_path)
    edit.set(("koppelingen", "facturen", "mapping", "tegenrekening_verkoop"), "8000")
    broken = CONFIG + "\n[connections.exact\n"
    config_path.write_text(broken, encoding="utf-8")
    with pytest.raises(ConfigError, match="gewijzigd sinds"):
        edit.save()
    assert config_path.read_text(encoding="utf-8") == broken


def test_validation_error_names_key_and_line(config_path: Path) -> None:
    text = CONFIG.replace('schedule = "15 3 * * *"', 'schedule = "elke nacht"')
    config_path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(config_path)
    error = info.value
    assert error.key == "koppelingen.facturen.schedule"
    assert error.line == line_of(text, "elke nacht")
    assert f"regel {error.line}, koppelingen.facturen.schedule" in str(error)
    assert "5 velden" in str(error)
    assert "Pas koppelaar.toml aan" in str(error)


def test_retries_default_to_two_half_an_hour_apart_and_are_read_from_the_file(config_path: Path) -> None:
    facturen = load_settings(config_path).koppelingen["facturen"]
    assert (facturen.retries, facturen.retry_delay_minutes) == (2, 30)
    text = CONFIG.replace(
        'schedule = "15 3 * * *"', 'schedule = "15 3 * * *"\nretries = 4\nretry_delay_minutes = 60'
    )
    config_path.write_text(text, encoding="utf-8")
    facturen = load_settings(config_path).koppelingen["facturen"]
    assert (facturen.retries, facturen.retry_delay_minutes) == (4, 60)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("retries = 6", "kies 0 tot en met 5 herhalingen"),
        ("retries = -1", "kies 0 tot en met 5 herhalingen"),
        ("retry_delay_minutes = 4", "wachttijd van 5 tot en met 240 minuten"),
        ("retry_delay_minutes = 241", "wachttijd van 5 tot en met 240 minuten"),
    ],
)
def test_retries_out_of_range_name_key_line_and_the_range(config_path: Path, line: str, reason: str) -> None:
    text = CONFIG.replace('schedule = "15 3 * * *"', f'schedule = "15 3 * * *"\n{line}')
    config_path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(config_path)
    key = line.split(" = ")[0]
    assert info.value.key == f"koppelingen.facturen.{key}"
    assert info.value.line == line_of(text, line)
    assert reason in str(info.value)


def test_retries_are_written_as_numbers_with_the_comments_kept(config_path: Path) -> None:
    edit = ConfigFile.open(config_path)
    edit.set(("koppelingen", "facturen", "retries"), 3)
    edit.save()
    text = config_path.read_text(encoding="utf-8")
    assert "retries = 3\n" in text
    assert 'schedule = "15 3 * * *"  # na de back-up' in text
    assert load_settings(config_path).koppelingen["facturen"].retries == 3
    edit = ConfigFile.open(config_path)
    edit.set(("koppelingen", "facturen", "retry_delay_minutes"), 300)
    with pytest.raises(ConfigError, match="wachttijd"):
        edit.save()
    assert config_path.read_text(encoding="utf-8") == text


def test_validation_error_inside_a_connection_skips_the_union_tag(config_path: Path) -> None:
    text = CONFIG.replace('administratie = "De Korenschoof B.V."', 'api = "grpc"')
    config_path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(config_path)
    assert info.value.key == "connections.boekhouding.api"
    assert info.value.line == line_of(text, 'api = "grpc"')


def test_number_instead_of_text_in_inline_table_points_at_its_line(config_path: Path) -> None:
    text = CONFIG.replace('"verkoop:9" = "LAAG_VERK_9"', '"verkoop:9" = 9')
    config_path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(config_path)
    assert info.value.key == 'koppelingen.facturen.mapping.btw_codes."verkoop:9"'
    assert info.value.line == line_of(text, "btw_codes")
    assert "aanhalingstekens" in str(info.value)


def test_missing_key_points_at_its_table(config_path: Path) -> None:
    text = CONFIG.replace('source = "factuursturen"\n', "")
    config_path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(config_path)
    assert info.value.key == "koppelingen.facturen.source"
    assert info.value.line == line_of(text, "[koppelingen.facturen]")
    assert "ontbreekt" in str(info.value)


def test_several_problems_are_all_listed(config_path: Path) -> None:
    text = CONFIG.replace('language = "nl"', 'language = "de"').replace(
        'username = "korenschoof"', "user = 1"
    )
    config_path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(config_path)
    message = str(info.value)
    assert f"regel {line_of(text, 'language')}, app.language" in message
    assert f"regel {line_of(text, 'user = 1')}, connections.factuursturen.user: onbekende" in message


def test_unknown_connection_reference(config_path: Path) -> None:
    text = CONFIG.replace('target = "boekhouding"', 'target = "exact"')
    config_path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(config_path)
    error = info.value
    assert error.key == "koppelingen.facturen.target"
    assert error.line == line_of(text, 'target = "exact"')
    assert "'facturen'" in str(error)
    assert "'exact'" in str(error)
    assert "boekhouding, factuursturen" in str(error)


def test_edit_keeps_comments_and_order_and_leaves_bak(config_path: Path) -> None:
    edit = ConfigFile.open(config_path)
    edit.set(("koppelingen", "facturen", "mapping", "tegenrekening_verkoop"), "8000")
    edit.set(("koppelingen", "facturen", "mapping", "btw_codes", "verkoop:9"), "LAAG_VERK_9_NIEUW")
    edit.set(("koppelingen", "facturen", "paused"), True)
    edit.set(("koppelingen", "facturen", "currency_policy"), CurrencyPolicy.REFUSE)
    settings = edit.save()

    assert settings.koppelingen["facturen"].mapping.tegenrekening_verkoop == "8000"
    assert settings.koppelingen["facturen"].currency_policy is CurrencyPolicy.REFUSE
    text = config_path.read_text(encoding="utf-8")
    expected = (
        CONFIG.replace('"8010"  # omzet brood', '"8000"  # omzet brood')
        .replace('"LAAG_VERK_9"', '"LAAG_VERK_9_NIEUW"')
        .replace(
            'schedule = "15 3 * * *"  # na de back-up\n',
            'schedule = "15 3 * * *"  # na de back-up\npaused = true\ncurrency_policy = "refuse"\n',
        )
    )
    assert text == expected
    assert config_path.with_name("koppelaar.toml.bak").read_text(encoding="utf-8") == CONFIG
    assert load_settings(config_path) == settings


def test_new_key_goes_before_the_comment_of_the_next_table(config_path: Path) -> None:
    edit = ConfigFile.open(config_path)
    edit.set(("connections", "boekhouding", "api"), "rest")
    edit.save()
    text = config_path.read_text(encoding="utf-8")
    assert 'administratie = "De Korenschoof B.V."\napi = "rest"\n\n# Elke nacht' in text


def test_new_tables_are_appended_at_the_end(config_path: Path) -> None:
    edit = ConfigFile.open(config_path)
    edit.set(("connections", "boekhouding_be", "system"), "eboekhouden")
    edit.set(("connections", "boekhouding_be", "country"), "BE")
    edit.set(("koppelingen", "inkoop", "mapping", "tegenrekening_inkoop"), "4000")
    edit.set(("koppelingen", "inkoop", "source"), "factuursturen")
    edit.set(("koppelingen", "inkoop", "target"), "boekhouding_be")
    edit.save()
    text = config_path.read_text(encoding="utf-8")
    assert text.startswith(CONFIG)
    assert text[len(CONFIG) :] == (
        "\n[connections.boekhouding_be]\n"
        'system = "eboekhouden"\n'
        'country = "BE"\n'
        "\n[koppelingen.inkoop]\n"
        'source = "factuursturen"\n'
        'target = "boekhouding_be"\n'
        "\n[koppelingen.inkoop.mapping]\n"
        'tegenrekening_inkoop = "4000"\n'
    )
    assert load_settings(config_path).koppelingen["inkoop"].target == "boekhouding_be"


def test_delete_a_mapping_value_and_a_table(config_path: Path) -> None:
    edit = ConfigFile.open(config_path)
    assert edit.delete(("koppelingen", "facturen", "mapping", "btw_codes", "verkoop:9"))
    assert not edit.delete(("koppelingen", "facturen", "mapping", "btw_codes", "verkoop:0"))
    assert edit.delete(("koppelingen", "facturen"))
    edit.set(("koppelingen", "facturen", "source"), "factuursturen")
    edit.set(("koppelingen", "facturen", "target"), "boekhouding")
    settings = edit.save()
    assert settings.koppelingen["facturen"].mapping.btw_codes == {}
    assert "# Koppelaar — Bakkerij De Korenschoof" in config_path.read_text(encoding="utf-8")


def test_invalid_edit_is_rejected_and_file_untouched(config_path: Path) -> None:
    before = config_path.read_bytes()
    edit = ConfigFile.open(config_path)
    edit.set(("koppelingen", "facturen", "schedule"), "'s nachts")
    with pytest.raises(ConfigError) as info:
        edit.save()
    assert info.value.key == "koppelingen.facturen.schedule"
    assert "niet veranderd" in str(info.value)
    assert config_path.read_bytes() == before
    assert not config_path.with_name("koppelaar.toml.bak").exists()


def test_edit_pointing_at_unknown_connection_is_rejected(config_path: Path) -> None:
    before = config_path.read_bytes()
    edit = ConfigFile.open(config_path)
    edit.set(("koppelingen", "facturen", "target"), "twinfield")
    with pytest.raises(ConfigError, match="'twinfield'"):
        edit.save()
    assert config_path.read_bytes() == before


def test_concurrent_modification_is_detected(config_path: Path) -> None:
    edit = ConfigFile.open(config_path)
    edit.set(("koppelingen", "facturen", "mapping", "tegenrekening_verkoop"), "8000")
    by_hand = CONFIG.replace('"8010"', '"8020"')
    config_path.write_text(by_hand, encoding="utf-8")
    with pytest.raises(ConfigError, match="gewijzigd sinds"):
        edit.save()
    assert config_path.read_text(encoding="utf-8") == by_hand


def test_two_saves_from_one_open_are_fine(config_path: Path) -> None:
    edit = ConfigFile.open(config_path)
    edit.set(("koppelingen", "facturen", "mapping", "tegenrekening_verkoop"), "8000")
    edit.save()
    edit.set(("koppelingen", "facturen", "paused"), True)
    settings = edit.save()
    assert settings.koppelingen["facturen"].paused
    assert '"8000"' in config_path.with_name("koppelaar.toml.bak").read_text(encoding="utf-8")


def test_save_preserves_mode_and_leaves_no_temp_files(config_path: Path) -> None:
    edit = ConfigFile.open(config_path)
    edit.set(("app", "language"), "en")
    edit.save()
    assert stat.S_IMODE(config_path.stat().st_mode) == 0o640
    assert stat.S_IMODE(config_path.with_name("koppelaar.toml.bak").stat().st_mode) == 0o640
    leftovers = [p.name for p in config_path.parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_edit_through_symlink_keeps_the_link(config_path: Path, tmp_path: Path) -> None:
    link = tmp_path / "etc-koppelaar.toml"
    link.symlink_to(config_path)
    edit = ConfigFile.open(link)
    edit.set(("app", "language"), "en")
    edit.save()
    assert link.is_symlink()
    assert load_settings(link).app.language == "en"


def test_invalid_file_can_be_repaired_through_an_edit(config_path: Path) -> None:
    config_path.write_text(CONFIG.replace('"15 3 * * *"', '"3 uur"'), encoding="utf-8")
    edit = ConfigFile.open(config_path)
    with pytest.raises(ConfigError):
        edit.settings()
    edit.set(("koppelingen", "facturen", "schedule"), "15 3 * * *")
    assert edit.save().koppelingen["facturen"].schedule == "15 3 * * *"
    assert "# na de back-up" in config_path.read_text(encoding="utf-8")


def test_set_on_a_table_is_refused(config_path: Path) -> None:
    edit = ConfigFile.open(config_path)
    with pytest.raises(ConfigError, match="is een tabel"):
        edit.set(("koppelingen", "facturen", "mapping"), "8000")


def leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for sub in value.values() for leaf in leaves(sub)]
    if isinstance(value, list):
        return [leaf for sub in value for leaf in leaves(sub)]
    return [value]


def test_every_leaf_handed_to_pydantic_is_a_builtin(config_path: Path) -> None:
    edit = ConfigFile.open(config_path)
    edit.set(("koppelingen", "facturen", "paused"), True)
    edit.set(("connections", "boekhouding", "rate_limit_per_second"), 2.5)
    edit.set(("connections", "boekhouding", "max_concurrency"), 2)
    data = edit.data()
    assert type(data) is dict
    kinds = {type(leaf) for leaf in leaves(data)}
    assert kinds == {str, bool, float, int}
    assert edit.settings().connections["boekhouding"].system == "eboekhouden"


def test_write_new_creates_a_valid_commented_file(tmp_path: Path) -> None:
    path = tmp_path / "koppelaar.toml"
    data = {
        "connections": {
            "factuursturen": {"system": "factuursturen", "username": "korenschoof"},
            "boekhouding": {"system": "eboekhouden", "username": "administratie@korenschoof.nl"},
        },
        "koppelingen": {
            "facturen": {
                "source": "factuursturen",
                "target": "boekhouding",
                "currency_policy": CurrencyPolicy.CONVERT_ECB,
                "mapping": {"tegenrekening_verkoop": "8000", "btw_codes": {"verkoop:21": "HOOG_VERK_21"}},
            }
        },
    }
    settings = write_new(
        path, data, "Koppelaar — aangemaakt door koppelaar connect\nGeheimen staan hier niet."
    )
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Koppelaar — aangemaakt door koppelaar connect\n# Geheimen staan hier niet.\n")
    assert load_settings(path) == settings
    assert settings.koppelingen["facturen"].mapping.tegenrekening_verkoop == "8000"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_write_new_refuses_to_overwrite(config_path: Path) -> None:
    with pytest.raises(ConfigError, match="bestaat al"):
        write_new(config_path, {}, "")
    assert config_path.read_text(encoding="utf-8") == CONFIG


def test_write_new_refuses_invalid_data(tmp_path: Path) -> None:
    path = tmp_path / "koppelaar.toml"
    data = {"koppelingen": {"facturen": {"source": "factuursturen", "target": "boekhouding"}}}
    with pytest.raises(ConfigError, match="niet aangemaakt"):
        write_new(path, data, "")
    assert not path.exists()


def test_non_utf8_file_gives_position(config_path: Path) -> None:
    config_path.write_bytes(CONFIG.encode("utf-8").replace(b"Korenschoof B.V.", b"Korenschoof B.V.\xe9"))
    with pytest.raises(ConfigError, match="UTF-8") as info:
        load_settings(config_path)
    assert info.value.line == line_of(CONFIG, "administratie =")


def test_unreadable_path_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "koppelaar.toml").mkdir()
    with pytest.raises(ConfigError, match="kan niet gelezen"):
        load_settings(tmp_path / "koppelaar.toml")


def test_disk_full_is_a_config_error_and_file_untouched(
    config_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(path: Path, data: bytes, *, mode: int, exclusive: bool = False) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    edit = ConfigFile.open(config_path)
    edit.set(("app", "language"), "en")
    monkeypatch.setattr(state.config, "atomic_write", disk_full)
    with pytest.raises(ConfigError, match="No space left on device"):
        edit.save()
    assert config_path.read_text(encoding="utf-8") == CONFIG


@pytest.mark.parametrize(
    ("written", "typo", "meant"),
    [
        ('schedule = "15 3 * * *"', 'schedul = "15 3 * * *"', "schedule"),
        ('target = "boekhouding"', 'target = "boekhouding"\nretrys = 2', "retries"),
    ],
)
def test_an_unknown_key_suggests_the_nearest_valid_one(
    config_path: Path, written: str, typo: str, meant: str
) -> None:
    config_path.write_text(CONFIG.replace(written, typo), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(config_path)
    assert f"bedoelt u '{meant}'?" in str(info.value), info.value


@pytest.mark.parametrize(
    ("schedule", "dutch"),
    [
        ("61 3 * * *", "61 is meer dan het maximum 59"),
        ("x 3 * * *", "'x' is geen geldige waarde voor de minuut"),
        ("*/0 3 * * *", "de stap na '/' moet groter zijn dan 0"),
        ("15 5-4 * * *", "in een bereik komt het kleinste getal eerst"),
    ],
)
def test_scheduler_messages_reach_the_user_in_dutch(config_path: Path, schedule: str, dutch: str) -> None:
    config_path.write_text(
        CONFIG.replace('schedule = "15 3 * * *"', f'schedule = "{schedule}"'), encoding="utf-8"
    )
    with pytest.raises(ConfigError) as info:
        load_settings(config_path)
    message = str(info.value)
    assert dutch in message, message
    for english in ("Error validating", "higher than", "Unrecognized", "Increment", "must not"):
        assert english not in message


@pytest.mark.parametrize(
    ("written", "wrong", "dutch"),
    [
        (
            'schedule = "15 3 * * *"',
            'schedule = "15 3 * * *"\nretries = "drie"',
            "moet een geheel getal zijn",
        ),
        ('schedule = "15 3 * * *"', 'schedule = "15 3 * * *"\npaused = "ja"', "moet true of false zijn"),
    ],
)
def test_value_errors_reach_the_user_in_dutch(
    config_path: Path, written: str, wrong: str, dutch: str
) -> None:
    config_path.write_text(CONFIG.replace(written, wrong), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(config_path)
    assert dutch in str(info.value) and "Input should" not in str(info.value), info.value


def test_a_bak_is_mentioned_only_when_there_is_one(config_path: Path) -> None:
    config_path.write_text(CONFIG + "\n[connections.exact\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(config_path)
    assert ".bak" not in str(info.value)

    config_path.with_name("koppelaar.toml.bak").write_text(CONFIG, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(config_path)
    assert "De vorige versie staat in koppelaar.toml.bak." in str(info.value)
