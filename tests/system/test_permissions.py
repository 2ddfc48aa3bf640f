"""Files holding message data are owner-only, and the pseudonym key behaves as promised.

One small warehouse is built the way a user builds it (`ai-me ingest` per platform, `ai-me
transform`: languages, dbt build, dataset export; a few steps of `ai-me train`, `ai-me evaluate`)
in subprocesses started with umask 022, so the 0600/0700 modes come from the project, not from
the test's environment. The same warehouse then shows the pseudonym key's properties:
CSPRNG-sized, owner-only, never printed, one key per warehouse (same name, other warehouse: other
pseudonym), stable across runs, changed by `ai-me purge --rotate-key`.
"""

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from ingest.samples import generate
from ingest.transform.pseudonyms import KEY_BYTES, key_path, keyed_hash

pytestmark = pytest.mark.slow

AI_ME = str(Path(sys.executable).parent / "ai-me")
PLATFORMS = ("whatsapp", "gmail")
PEOPLE_MODELS = "+int_people,resource_type:model"  # rebuild the pseudonyms only: models, no data tests


def ai_me(*args: str, warehouse: Path, config: Path) -> subprocess.CompletedProcess:
    """`ai-me ARGS` under umask 022 (group and others could read what is not made private)."""
    # cautious: with a partial --select, a data test runs only when all the models it reads were built
    env = {
        **os.environ,
        "AI_ME_WAREHOUSE": str(warehouse),
        "AI_ME_CONFIG": str(config),
        "DBT_INDIRECT_SELECTION": "cautious",
    }
    proc = subprocess.run(
        ["sh", "-c", 'umask 022; exec "$0" "$@"', AI_ME, *args],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=600,
    )
    assert proc.returncode == 0, (args, proc.stdout[-2000:], proc.stderr[-2000:])
    return proc


def people(warehouse: Path) -> dict[str, str]:
    """name -> pseudonym from the int_people model (ASCII names: SQL and Python case rules agree)."""
    with duckdb.connect(str(warehouse / "ai_me.duckdb"), read_only=True) as con:
        rows = con.execute("select name, pseudonym from int_people where not is_me").fetchall()
    return {name: p for name, p in rows if name.isascii()}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("perm")
    config = generate(root / "samples", messages=300, seed=5, platforms=list(PLATFORMS), preset="tiny-cpu").config_path
    wh = root / "wh"  # created by the pipeline itself
    outputs = [ai_me("ingest", platform, warehouse=wh, config=config).stdout for platform in PLATFORMS]
    outputs.append(ai_me("transform", warehouse=wh, config=config).stdout)
    outputs.append(
        ai_me(
            "train",
            "--set",
            "tiny.pretrain_steps=2",
            "--set",
            "train.max_steps=2",
            "--set",
            "train.eval_steps=2",
            warehouse=wh,
            config=config,
        ).stdout
    )
    outputs.append(
        ai_me("evaluate", "--max-examples", "4", "--max-new-tokens", "4", warehouse=wh, config=config).stdout
    )
    return wh, config, people(wh), "".join(outputs)


def test_every_file_is_0600_and_every_folder_0700(built):
    wh = built[0]
    assert (wh / "ai_me.duckdb").exists() and (wh / "datasets" / "counts.json").exists()
    assert list((wh / "dbt").rglob("*.json")) and list((wh / "enrich").rglob("*.parquet"))
    assert list((wh / "models").rglob("adapter_model.safetensors")) and list((wh / "models").rglob("report.html"))
    loose = []
    for path in [wh, *wh.rglob("*")]:
        mode = path.lstat().st_mode
        if stat.S_ISDIR(mode):
            want = 0o700
        elif stat.S_ISREG(mode):
            want = 0o600
        else:
            continue
        if stat.S_IMODE(mode) & 0o077:
            loose.append(f"{oct(stat.S_IMODE(mode))} (want {oct(want)}) {path.relative_to(wh.parent)}")
    assert loose == [], "\n" + "\n".join(loose)


def test_the_key_is_random_owner_only_and_never_printed(built):
    wh, _, names, output = built
    key = key_path(wh).read_bytes()
    assert len(key) == KEY_BYTES and len(set(key)) > 8  # 32 CSPRNG bytes, not a constant or a short text
    assert stat.S_IMODE(key_path(wh).stat().st_mode) == 0o600
    assert stat.S_IMODE(key_path(wh).parent.stat().st_mode) == 0o700
    assert key.hex() not in output
    logs = "".join(
        p.read_text(errors="replace")
        for p in (wh / "dbt").rglob("*")
        if p.is_file() and p.suffix in (".log", ".json", ".sql")
    )
    assert key.hex() not in logs and key.hex().upper() not in logs


def test_pseudonyms_are_the_keyed_hash_of_the_name(built):
    wh, _, names, _ = built
    key = key_path(wh).read_bytes()
    assert len(names) >= 3
    for name, pseudonym in names.items():
        assert pseudonym == "P" + keyed_hash(key, "person:" + name.strip(" ").lower())[:12], name


def test_same_warehouse_same_pseudonyms_across_runs(built):
    wh, config, names, _ = built
    ai_me("transform", "--select", PEOPLE_MODELS, warehouse=wh, config=config)
    assert people(wh) == names


@pytest.fixture(scope="module")
def second(built, tmp_path_factory):
    """Another warehouse with the same raw data (so the same names) and its own key."""
    wh, config, _, _ = built
    other = tmp_path_factory.mktemp("perm2") / "wh"
    other.mkdir(mode=0o700)
    shutil.copytree(wh / "raw", other / "raw")
    ai_me("transform", "--select", PEOPLE_MODELS, warehouse=other, config=config)
    return other, people(other)


def test_another_warehouse_has_another_key_and_other_pseudonyms(built, second):
    _, _, names, _ = built
    other, other_names = second
    assert key_path(other).read_bytes() != key_path(built[0]).read_bytes()
    assert set(other_names) == set(names)
    assert all(other_names[n] != names[n] for n in names)


def test_rotating_the_key_changes_every_pseudonym(built, second):
    other, before = second
    old_key = key_path(other).read_bytes()
    proc = ai_me("purge", "--rotate-key", "--yes", warehouse=other, config=built[1])
    assert old_key.hex() not in proc.stdout + proc.stderr
    assert not (other / "ai_me.duckdb").exists()  # made with the old key: purged with it
    assert stat.S_IMODE(key_path(other).stat().st_mode) == 0o600
    ai_me("transform", "--select", PEOPLE_MODELS, warehouse=other, config=built[1])
    after = people(other)
    assert set(after) == set(before) and all(after[n] != before[n] for n in before)


def test_zz_after_purge_all_keep_adapter_the_kept_run_still_generates(built):
    """On the real run: only adapter, tokenizer, run files and its tiny base are left, and they load.
    Runs last (named so, and last in the file): it empties the shared warehouse."""
    wh, config, _, _ = built
    ai_me("purge", "--all", "--keep-adapter", "--yes", warehouse=wh, config=config)
    left = {str(p.relative_to(wh)) for p in wh.rglob("*") if p.is_file()}
    assert not any(f.startswith(("raw/", "datasets/", "dbt/", ".cache/")) for f in left)
    assert "models/tiny-cpu/adapter_model.safetensors" in left and "models/tiny-cpu/eval/report.html" not in left
    assert not any("checkpoint" in f for f in left)
    assert ai_me(
        "generate", "--run", "tiny-cpu", "--max-new-tokens", "4", "pub tonight?", warehouse=wh, config=config
    ).stdout.strip()
