import pytest

from ingest.core.config import ConfigError, load_config
from tests.support.paths import REPO

EXAMPLE = REPO / "ai_me.example.toml"


def write(tmp_path, text):
    p = tmp_path / "ai_me.toml"
    p.write_text(text)
    return p


def test_example_config_is_valid():
    cfg = load_config(EXAMPLE)
    assert "Robin Vale" in cfg.me.names
    assert cfg.split.test_fraction == 0.1
    assert cfg.identity().is_me("robin.vale@gmail.com")


def test_relative_paths_resolve_against_the_file(tmp_path, monkeypatch):
    monkeypatch.delenv("AI_ME_WAREHOUSE", raising=False)
    cfg = load_config(write(tmp_path, '[exports]\nwhatsapp = ["chats"]\n[warehouse]\nroot = "wh"\n'))
    assert cfg.export_paths("whatsapp") == [tmp_path / "chats"]
    assert cfg.warehouse_root == tmp_path / "wh"


def test_env_overrides_warehouse_root(tmp_path, monkeypatch):
    monkeypatch.setenv("AI_ME_WAREHOUSE", str(tmp_path / "elsewhere"))
    assert load_config(write(tmp_path, "")).warehouse_root == tmp_path / "elsewhere"


@pytest.mark.parametrize(
    "text, message",
    [
        ("[me]\nnmes = ['x']\n", "unknown key me.nmes"),
        ("[mee]\n", "unknown key mee"),
        ("[me]\nnames = 3\n", "me.names must be a list of strings"),
        ("[ingest]\ntimezone = 'Mars/Olympus'\n", "ingest.timezone: unknown time zone"),
        ("[ingest]\ndate_order = 'ddmm'\n", "ingest.date_order must be one of auto, dmy, mdy, ymd"),
        ("[split]\ntest_fraction = 0.7\n", "split.test_fraction must be between 0 and 0.5"),
        ("[filters]\nmin_chars = 'two'\n", "filters.min_chars must be a int"),
        ("me = 1\n", "[me] must be a table"),
        ("[me\n", "ai_me.toml"),
    ],
)
def test_wrong_keys_and_values_name_the_key(tmp_path, text, message):
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, text))
    assert message in str(e.value)
    assert "ai_me.toml" in str(e.value)


def test_missing_explicit_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")


def test_fixed_offsets_are_valid_timezones(tmp_path):
    assert load_config(write(tmp_path, "[ingest]\ntimezone = '+05:30'\n")).ingest.timezone == "+05:30"


def test_cli_me_values_are_sorted_into_emails_phones_and_names():
    me = load_config(EXAMPLE).identity(("me@work.example", "+1 415 555 0100", "Robbie"))
    assert me.is_my_email("ME@work.example")
    assert me.is_me("(415) 555-0100") and me.is_me("robbie")
    assert "me@work.example" not in me.names
