"""Other people's names in message texts become their pseudonyms (README: Privacy).

The rule (dbt_project/macros/names.sql): a full name is always replaced, in any case; a first
name alone only when one known person has it and it is none of my names' words, no title and no
month; a one-word name that is also a common word ("Will", "Mark") or shorter than three letters
only when written capitalised in mid-sentence. The macros are rendered and run in DuckDB directly;
one small dbt build (`built`) checks the models, the data test that proves no name is left, and
that my names reach dbt off the command line and never as Jinja.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import duckdb
import jinja2
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.core.config import Config, MeConfig
from ingest.landing import to_raw_table
from ingest.transform.build import build
from ingest.transform.dbt_runner import ME_ENV, invoke_dbt
from ingest.transform.pseudonyms import keyed_hash, load_or_create_key
from tests.support.paths import REPO

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


# --- the macros, rendered and run in DuckDB --------------------------------------------------------

# (name as int_people__names keys it, pseudonym, cautious)
NAMES = [
    ("alex morgan", "P00000a", False),
    ("priya shah", "P00000b", False),
    ("priya", "P00000b", False),
    ("sam okafor", "P00000c", False),
    ("sam", "P00000c", False),
    ("дмитрий волков", "P00000d", False),
    ("дмитрий", "P00000d", False),
    ("ნინო", "P00000e", False),
    ("zoë ñúñez", "P00000f", False),
    ("zoë", "P00000f", False),
    ("o brien", "P00000g", False),
    ("mark", "P00000h", True),
    ("will", "P00000i", True),
    ("jo", "P00000j", True),
]


@pytest.fixture(scope="module")
def macros():
    return jinja2.Environment().from_string((REPO / "dbt_project" / "macros" / "names.sql").read_text()).module


@pytest.fixture(scope="module")
def replace(macros):
    """text -> text with NAMES replaced, through the same macros the model uses."""
    con = duckdb.connect()
    con.execute("create table names (name varchar, pseudonym varchar, cautious boolean)")
    con.executemany("insert into names values (?, ?, ?)", NAMES)
    con.execute(
        f"create table rules as select name, cautious, {macros.name_pattern('name', 'cautious')} as pattern, "
        f"{macros.name_replacement('pseudonym', 'cautious')} as replacement from names"
    )
    sql = (
        f"select {macros.replace_names('t', 'n')} from (select ? as t) cross join "
        "(select list({'pattern': pattern, 'replacement': replacement, 'cautious': cautious} "
        " order by length(name) desc, name) as n from rules)"
    )
    return lambda text: con.execute(sql, [text]).fetchone()[0]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Kind regards,\nAlex Morgan\nSenior Partner", "Kind regards,\nP00000a\nSenior Partner"),
        ("Chat with Priya Shah", "Chat with P00000b"),
        ("did u see what sam posted", "did u see what P00000c posted"),
        ("SAM OKAFOR said hi to Sam, sam and Sam's mum", "P00000c said hi to P00000c, P00000c and P00000c's mum"),
        ("Sam\nOkafor", "P00000c"),
        ("Samsung, sam_2, sam2 and okafor stay", "Samsung, sam_2, sam2 and okafor stay"),
        ("Дмитрий Волков и дмитрий", "P00000d и P00000d"),
        ("ნინო, გამარჯობა", "P00000e, გამარჯობა"),
        ("ZOË ÑÚÑEZ and zoë", "P00000f and P00000f"),
        ("zoe stays (no diaeresis)", "zoe stays (no diaeresis)"),
        ("ask O’Brien or O'Brien", "ask P00000g or P00000g"),
        # cautious: capitalised, mid-sentence only
        ("Hi Mark, can you mark the date?", "Hi P00000h, can you mark the date?"),
        ("thanks, Mark", "thanks, P00000h"),
        ("(Mark) and [Mark]", "(P00000h) and [P00000h]"),
        ("Hi Mark, Mark", "Hi P00000h, P00000h"),
        ("Mark here. I will mark it", "Mark here. I will mark it"),
        ("done. Mark said so! Mark?", "done. Mark said so! Mark?"),
        ("see you\nMark", "see you\nMark"),
        ("Will you come? I will. Ask Will", "Will you come? I will. Ask P00000i"),
        ("MARK and WILL shout", "MARK and WILL shout"),
        ("jo, Jo and Jo.", "jo, P00000j and P00000j."),
        ("", ""),
    ],
)
def test_names_golden(replace, text, expected):
    assert replace(text) == expected


def test_marker_characters_in_a_text_do_not_confuse_it(replace):
    assert replace("a\x01Sam\x02b sam") == "aSamb P00000c"


plain_words = st.lists(
    st.from_regex(r"[a-z]{1,7}", fullmatch=True).filter(
        lambda w: w not in {n for name, _, _ in NAMES for n in name.split()}
    ),
    max_size=6,
)
separators = st.sampled_from([" ", ", ", "\n", " - ", "! ", " (", ") "])


@settings(max_examples=120, deadline=None)
@given(
    before=plain_words,
    after=plain_words,
    sep=separators,
    name=st.sampled_from([n for n, _, cautious in NAMES if not cautious]),
    case=st.sampled_from([str.lower, str.upper, str.title]),
)
def test_a_planted_name_never_survives(replace, before, after, sep, name, case):
    out = replace(sep.join([*before, case(name), *after]))
    words = duckdb.execute(r"select regexp_extract_all(lower(?), '[\pL\pM\pN_]+')", [out]).fetchone()[0]
    assert name.split()[0] not in words


@settings(max_examples=120, deadline=None)
@given(
    st.text(
        alphabet=st.characters(codec="utf-8", exclude_characters="\x01\x02", exclude_categories=("Cs",)), max_size=60
    )
)
def test_text_without_names_is_left_alone(replace, text):
    words = set(duckdb.execute(r"select regexp_extract_all(lower(?), '[\pL\pM\pN_]+')", [text]).fetchone()[0])
    if not words & {w for name, _, _ in NAMES for w in name.split()}:
        assert replace(text) == text


# --- one dbt build with planted names ------------------------------------------------------------

TEMPLATE_NAME = "Robin {{ run_query('create table pwned as select 42 as x') }}"
ME = MeConfig(names=(TEMPLATE_NAME, "Robin", "Robbie"))
PEOPLE = ["Robin", "Sam Okafor", "Mark Jones", "Alex Chen", "Alex Morgan", "Will", "Robbie"]
CHAT = [  # (sender, text): a WhatsApp group; Robbie (me, per config only) is listed but never writes
    ("Sam Okafor", "hey Robin, Mark Jones says hi and alex is coming"),
    ("Robin", "thanks Sam! tell Mark I will mark the date. Will do"),
    ("Will", "Will you bring the cake? sam okafor said Alex Morgan can't"),
    ("Robin", "ask Will. Alex Chen and Sam are in"),
]
MAIL = ("sam.okafor@example.com", "Chat with Sam Okafor", "Dear Robin,\n\nsee you soon.\n\nKind regards,\nSam Okafor")
EXPECTED = [  # the texts as the messages mart has them; {name} is that person's pseudonym
    "hey Robin, {mark jones} says hi and alex is coming",
    "thanks {sam okafor}! tell {mark jones} I will mark the date. Will do",
    "Will you bring the cake? {sam okafor} said {alex morgan} can't",
    "ask {will}. {alex chen} and {sam okafor} are in",
]


def chat_rows() -> dict:
    n = len(CHAT)
    return {
        "conversation_id": ["group"] * n,
        "message_id": [f"w{i}" for i in range(n)],
        "timestamp_ms": [1_700_000_000_000 + i * 60_000 for i in range(n)],
        "sender": [s for s, _ in CHAT],
        "direction": ["outbound" if s == "Robin" else "inbound" for s, _ in CHAT],
        "participants": [PEOPLE] * n,
        "body_raw": [t for _, t in CHAT],
        "body_text": [t for _, t in CHAT],
        "content_type": ["text"] * n,
        "source_ref": [f"chat.txt:{i + 1}" for i in range(n)],
    }


def mail_rows() -> dict:
    sender, subject, body = MAIL
    return {
        "conversation_id": ["t1", "t1"],
        "message_id": ["<m1@x>", "<m2@x>"],
        "timestamp_ms": [1_700_000_000_000, 1_700_000_600_000],
        "sender": [sender, "robin.vale@gmail.com"],
        "direction": ["inbound", "outbound"],
        "participants": [[sender, "robin.vale@gmail.com"]] * 2,
        "subject": [subject, "Re: " + subject],
        "body_raw": [body, "thanks!! x"],
        "body_text": [body, "thanks!! x"],
        "reply_to_message_id": [None, "<m1@x>"],
        "content_type": ["email", "email"],
        "source_ref": ["mbox:0", "mbox:100"],
    }


def land(warehouse: Path, platform: str, rows: dict) -> None:
    folder = warehouse / "raw" / platform
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(to_raw_table(rows, platform, f"{platform}1"), folder / f"{platform}1.parquet")


def query(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse / "ai_me.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The chat and mail above in a warehouse whose path holds a quote; every dbt command recorded."""
    warehouse = tmp_path_factory.mktemp("names") / "it's a warehouse"
    land(warehouse, "whatsapp", chat_rows())
    land(warehouse, "gmail", mail_rows())
    cfg = Config(me=ME)
    calls = []
    real_run = subprocess.run

    def recording_run(cmd, *args, **kwargs):
        calls.append((list(cmd), dict(kwargs.get("env") or {})))
        return real_run(cmd, *args, **kwargs)

    with mock.patch("ingest.transform.dbt_runner.subprocess.run", recording_run):
        report = build(cfg, warehouse)
        ok, line = report.ok, report.line
    key = load_or_create_key(warehouse)
    pseudonyms = {name: "P" + keyed_hash(key, f"person:{name}")[:12] for name in map(str.lower, PEOPLE)}
    return SimpleNamespace(warehouse=warehouse, cfg=cfg, ok=ok, line=line, calls=calls, pseudonyms=pseudonyms)


@pytest.mark.slow
def test_build_passes_with_names_replaced_in_texts(built):
    assert built.ok, built.line
    texts = [
        t
        for (t,) in query(
            built.warehouse, "select body_text from messages where platform = 'whatsapp' order by timestamp_ms"
        )
    ]
    assert texts == [e.format_map(built.pseudonyms) for e in EXPECTED]
    raw = [
        t
        for (t,) in query(
            built.warehouse, "select body_raw from messages where platform = 'whatsapp' order by timestamp_ms"
        )
    ]
    assert raw == texts


@pytest.mark.slow
def test_names_known_from_chats_are_replaced_in_mail_subjects_and_signatures(built):
    sam = built.pseudonyms["sam okafor"]
    rows = query(
        built.warehouse,
        "select subject, subject_norm, body_text, body_raw from messages "
        "where platform = 'gmail' order by timestamp_ms",
    )
    assert rows[0] == (
        f"Chat with {sam}",
        f"chat with {sam.lower()}",
        f"Dear Robin,\n\nsee you soon.\n\nKind regards,\n{sam}",
        f"Dear Robin,\n\nsee you soon.\n\nKind regards,\n{sam}",
    )
    assert rows[1][0] == f"Re: Chat with {sam}"
    (incoming,) = query(built.warehouse, "select messages[2].content from training_examples where platform = 'gmail'")[
        0
    ]
    assert incoming.startswith(f"Subject: Chat with {sam}\n\n") and "Sam" not in incoming and "Okafor" not in incoming


@pytest.mark.slow
def test_no_full_name_of_anyone_else_reaches_training(built):
    texts = [
        t
        for (t,) in query(
            built.warehouse, "select m.content from (select unnest(messages) as m from training_examples)"
        )
    ]
    assert texts
    for name in ["Sam Okafor", "Mark Jones", "Alex Chen", "Alex Morgan", "Okafor", "Jones"]:
        assert not [t for t in texts if name.lower() in t.lower()], name


@pytest.mark.slow
def test_the_identifier_data_test_finds_a_name_left_in_the_texts(built, tmp_path):
    assert "assert_no_identifiers_in_training_data" not in built.line
    tampered = tmp_path / "warehouse"
    shutil.copytree(built.warehouse, tampered, ignore=shutil.ignore_patterns("dbt", "datasets"))
    with duckdb.connect(str(tampered / "ai_me.duckdb")) as con:
        con.execute("update int_messages__redacted set body_text = 'see you, mark jones' where message_id = 'w0'")
    run = invoke_dbt(["test", "--select", "assert_no_identifiers_in_training_data"], built.cfg, tampered)
    assert not run.ok and "assert_no_identifiers_in_training_data" in run.line
    assert "mark jones" not in run.line.lower()


@pytest.mark.slow
def test_my_names_reach_dbt_in_the_environment_not_on_the_command_line(built):
    dbt_calls = [(cmd, env) for cmd, env in built.calls if "dbt.cli.main" in " ".join(cmd)]
    assert dbt_calls
    for cmd, env in dbt_calls:
        assert not [n for n in ("Robin", "robin", "Robbie", "robbie") if n in " ".join(cmd)]
        assert json.loads(env[ME_ENV])["me_name"] == TEMPLATE_NAME
    # Robbie writes nothing: only the config, through the environment, says it is me
    (participants,) = query(built.warehouse, "select participants from messages where platform = 'whatsapp' limit 1")[0]
    assert participants.count(TEMPLATE_NAME) == 2 and len(participants) == len(PEOPLE)


@pytest.mark.slow
def test_template_syntax_in_my_names_is_text_not_code(built):
    assert not query(built.warehouse, "select * from duckdb_tables() where table_name = 'pwned'")
    prompts = {p for (p,) in query(built.warehouse, "select messages[1].content from training_examples")}
    assert prompts and all(p.startswith(f"You are {TEMPLATE_NAME}.") for p in prompts)
