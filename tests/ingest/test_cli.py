"""The `ai-me` command line: summaries, exit codes and errors a user understands."""

import subprocess
import sys

import pytest

from ingest.cli import main
from tests.support.paths import FIXTURES


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no ./ai_me.toml from the repo or the user
    monkeypatch.delenv("AI_ME_CONFIG", raising=False)
    monkeypatch.setenv("AI_ME_WAREHOUSE", str(tmp_path / "wh"))


HEAVY = ("dbt", "torch", "transformers", "dagster", "duckdb", "pyarrow", "datasets", "peft", "trl")


def test_the_command_line_loads_no_heavy_library():
    """`ai-me --help` and every verb's parser start in a fraction of a second: the pipeline's libraries
    load when a verb runs, not when the parser is built."""
    code = (
        f"import sys, ingest.cli; ingest.cli.build_parser(); print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""


def test_every_verb_has_help(capsys):
    for verb in ("ingest", "sample-data", "status", "transform"):
        with pytest.raises(SystemExit) as e:
            main([verb, "--help"])
        assert e.value.code == 0
        assert "usage: ai-me " + verb in capsys.readouterr().out


def test_ingest_prints_one_line_summary_and_status_counts(tmp_path, capsys):
    assert main(["ingest", "instagram", str(FIXTURES / "meta" / "instagram"), "--me", "Robin Vale"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("instagram: 1 export(s), ")
    assert "0 rejected" in out[0] and str(tmp_path / "wh" / "raw" / "instagram") in out[0]
    assert main(["status"]) == 0
    assert "raw/instagram: " in capsys.readouterr().out


def test_missing_path_fails_with_its_name(tmp_path, capsys):
    assert main(["ingest", "instagram", str(tmp_path / "nope")]) == 1
    assert f"{tmp_path / 'nope'}" in capsys.readouterr().err


def test_no_path_and_nothing_configured_is_explained(capsys):
    assert main(["ingest", "gmail"]) == 2
    assert "no gmail export given and none configured" in capsys.readouterr().err


def test_config_errors_exit_2_naming_the_key(tmp_path, capsys):
    (tmp_path / "ai_me.toml").write_text("[me]\nname = 'x'\n")
    assert main(["status"]) == 2
    assert "unknown key me.name" in capsys.readouterr().err


def test_bad_timezone_flag_is_a_config_error(capsys):
    assert main(["ingest", "whatsapp", "x.txt", "--tz", "Nowhere/City"]) == 2
    assert "--tz: unknown time zone" in capsys.readouterr().err


@pytest.mark.parametrize(
    "flags, first_utc",
    [
        # 3 April 2023, 10:00 in Berlin (CEST, UTC+2)
        (["--date-order", "dmy", "--tz", "Europe/Berlin"], (2023, 4, 3, 8, 0)),
        # 4 March 2023, 10:00 in New York (EST, UTC-5: daylight saving starts 12 March)
        (["--date-order", "mdy", "--tz", "America/New_York"], (2023, 3, 4, 15, 0)),
    ],
)
def test_tz_and_date_order_flags_reach_the_whatsapp_parser(tmp_path, monkeypatch, flags, first_utc):
    import datetime as dt

    import pyarrow.parquet as pq

    chat = tmp_path / "WhatsApp Chat with Casey Jones.txt"
    chat.write_text("03/04/2023, 10:00 - Casey Jones: first\n05/04/2023, 11:00 - Robin: second\n", encoding="utf-8")
    wh = tmp_path / "-".join(flags)
    monkeypatch.setenv("AI_ME_WAREHOUSE", str(wh))
    assert main(["ingest", "whatsapp", str(chat), "--me", "Robin", *flags]) == 0
    [landed] = (wh / "raw" / "whatsapp").glob("*.parquet")
    rows = pq.read_table(landed).to_pylist()
    expected = dt.datetime(*first_utc, tzinfo=dt.UTC).timestamp() * 1000
    assert [r["timestamp_ms"] for r in rows][0] == expected
    assert [r["direction"] for r in rows] == ["inbound", "outbound"]
