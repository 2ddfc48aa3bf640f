"""The pseudonym key and hash (ingest/transform/pseudonyms.py, dbt_plugin.py): HMAC-SHA256 keyed
with a per-warehouse secret that is created once, owner-only, and replaced atomically on rotation."""

from __future__ import annotations

import os
import stat

import duckdb
import pytest

from ingest.transform.pseudonyms import KEY_BYTES, key_path, keyed_hash, load_or_create_key, rotate_key


@pytest.fixture(autouse=True)
def permissive_umask():
    """The modes must come from the code, not from a strict umask of the test process."""
    old = os.umask(0o022)
    yield
    os.umask(old)


# RFC 4231 (HMAC-SHA256 test vectors), cases 1 and 2: a plain or truncated hash gives other digests.
@pytest.mark.parametrize(
    "key, text, digest",
    [
        (b"\x0b" * 20, "Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
        (b"Jefe", "what do ya want for nothing?", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
    ],
)
def test_keyed_hash_is_hmac_sha256(key, text, digest):
    assert keyed_hash(key, text) == digest


def test_keyed_hash_encodes_text_as_utf8():
    # the same letters as bytes of another encoding must not collide with the UTF-8 ones
    assert keyed_hash(b"k", "Zoë") != keyed_hash(b"k", "Zoe") and len(keyed_hash(b"k", "Zoë")) == 64


def test_key_path_is_inside_the_warehouse_secrets(tmp_path):
    assert key_path(tmp_path) == tmp_path / "secrets" / "pseudonym.key"
    assert key_path(str(tmp_path)) == tmp_path / "secrets" / "pseudonym.key"


def test_the_key_is_created_once_owner_only_and_differs_per_warehouse(tmp_path):
    first = load_or_create_key(tmp_path / "a")
    assert load_or_create_key(tmp_path / "a") == first  # stable: the same pseudonyms run after run
    assert load_or_create_key(tmp_path / "b") != first  # another warehouse, another key
    assert len(first) == KEY_BYTES == 32
    assert stat.S_IMODE(key_path(tmp_path / "a").stat().st_mode) == 0o600
    assert stat.S_IMODE(key_path(tmp_path / "a").parent.stat().st_mode) == 0o700
    assert keyed_hash(first, "person:alex") == keyed_hash(load_or_create_key(tmp_path / "a"), "person:alex")
    assert [p.name for p in key_path(tmp_path / "a").parent.iterdir()] == ["pseudonym.key"]  # no temp file left


def test_a_key_created_meanwhile_by_another_process_is_kept(tmp_path, monkeypatch):
    theirs = b"t" * KEY_BYTES
    real_link = os.link

    def link_after_them(src, dst):
        key_path(tmp_path).write_bytes(theirs)  # the other process wins the race
        real_link(src, dst)

    monkeypatch.setattr(os, "link", link_after_them)
    assert load_or_create_key(tmp_path) == theirs
    assert [p.name for p in key_path(tmp_path).parent.iterdir()] == ["pseudonym.key"]


def test_a_link_planted_at_the_temp_name_is_not_followed(tmp_path):
    target = tmp_path / "elsewhere.txt"
    target.write_bytes(b"keep")
    key_path(tmp_path).parent.mkdir(parents=True)
    (key_path(tmp_path).parent / f".pseudonym.key.{os.getpid()}.tmp").symlink_to(target)
    with pytest.raises(OSError):
        load_or_create_key(tmp_path)
    assert target.read_bytes() == b"keep" and not key_path(tmp_path).exists()


def test_a_stale_temp_file_is_overwritten_whole(tmp_path):
    key_path(tmp_path).parent.mkdir(parents=True)
    (key_path(tmp_path).parent / f".pseudonym.key.{os.getpid()}.tmp").write_bytes(b"s" * 40)  # a crash's leftover
    assert len(load_or_create_key(tmp_path)) == KEY_BYTES


def test_a_key_copied_in_with_loose_permissions_is_made_owner_only(tmp_path):
    path = key_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"x" * KEY_BYTES)
    path.chmod(0o640)
    assert load_or_create_key(tmp_path) == b"x" * KEY_BYTES
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_key_of_the_wrong_length_is_refused_with_its_path(tmp_path):
    path = key_path(tmp_path)
    path.parent.mkdir(parents=True, mode=0o700)
    for size in (KEY_BYTES - 1, KEY_BYTES + 1):
        path.write_bytes(b"k" * size)
        path.chmod(0o600)
        with pytest.raises(ValueError) as e:
            load_or_create_key(tmp_path)
        assert str(e.value) == f"{path}: expected a 32-byte key, found {size} bytes"


def test_rotation_replaces_the_key_atomically_owner_only(tmp_path):
    old = load_or_create_key(tmp_path)
    rotate_key(tmp_path)
    assert stat.S_IMODE(key_path(tmp_path).stat().st_mode) == 0o600  # created so, not mended by a later read
    new = load_or_create_key(tmp_path)
    assert len(new) == KEY_BYTES and new != old
    assert stat.S_IMODE(key_path(tmp_path).stat().st_mode) == 0o600
    assert [p.name for p in key_path(tmp_path).parent.iterdir()] == ["pseudonym.key"]


def test_rotation_creates_the_secrets_folder_of_a_new_warehouse(tmp_path):
    rotate_key(tmp_path / "new")
    assert len(load_or_create_key(tmp_path / "new")) == KEY_BYTES
    assert stat.S_IMODE(key_path(tmp_path / "new").parent.stat().st_mode) == 0o700


def test_plugin_registers_the_keyed_hash(tmp_path, monkeypatch):
    from ingest.transform.dbt_plugin import Plugin

    monkeypatch.setenv("AI_ME_WAREHOUSE", str(tmp_path))
    plugin = Plugin(name="pseudonyms", plugin_config={})
    con = duckdb.connect()
    plugin.configure_connection(con)
    found = con.execute("select ai_me_keyed_hash('person:sam'), ai_me_keyed_hash(null)").fetchone()
    assert found == (keyed_hash(load_or_create_key(tmp_path), "person:sam"), None)
