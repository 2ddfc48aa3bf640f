"""From raw messages to training datasets: the dbt models on the sample exports, the datasets they
export, redaction, pseudonyms, the language step and the config that reaches dbt as vars.

One sample warehouse is built once for the module (`built`); `rebuilt` copies its raw data, keys
and language cache and builds again with other settings. The other tests run no dbt.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import stat
from pathlib import Path
from types import SimpleNamespace

import duckdb
import jinja2
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.core.config import Config, ConfigError, DatasetConfig, MeConfig, load_config
from ingest.core.platforms import PLATFORMS
from ingest.transform import language
from ingest.transform.build import build
from ingest.transform.datasets import SPLITS
from ingest.transform.dbt_runner import ME_ENV, dbt_args, dbt_command, dbt_env, dbt_vars, duckdb_timezone, me_vars
from ingest.transform.language import detect_languages, enrich_languages
from ingest.transform.pseudonyms import key_path, keyed_hash, load_or_create_key
from tests.support.paths import REPO
from training.prompt import system_prompt

SAMPLE_MESSAGES = 1500
CONTRACT_COLUMNS = {"messages", "example_id", "platform", "conversation_id", "session_id", "split", "partner"}

# The identifier checks of dbt_project/tests/assert_no_identifiers_in_training_data.sql.
LEFTOVER_PATTERNS = (
    r"[^\s@]+@[^\s@]+\.\pL{2,}",
    r"(?i)(https?://|www\.)\S",
    r"\+\d[\d\s().-]{5,}\d",
    r"\b\d{3}[\s.-]?\d{3}[\s.-]?\d{4}\b",
)

PLACEHOLDERS = ("[EMAIL]", "[URL]", "[PHONE]", "[CARD]", "[IBAN]", "[IP]")

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def query(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse / "ai_me.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def ingest_samples(root: Path) -> tuple[Config, Path]:
    from ingest.runner import ingest_platform
    from ingest.samples import generate

    summary = generate(root / "samples", messages=SAMPLE_MESSAGES, seed=7)
    cfg = load_config(summary.config_path)
    warehouse = root / "warehouse"
    for platform in PLATFORMS:
        report = ingest_platform(platform, cfg.export_paths(platform), cfg, warehouse=warehouse)
        assert report.ok and report.landed, report.summary()
    return cfg, warehouse


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("transforms")
    cfg, warehouse = ingest_samples(root)
    report = build(cfg, warehouse)
    ok, line = report.ok, report.line
    return SimpleNamespace(cfg=cfg, warehouse=warehouse, ok=ok, line=line)


@pytest.fixture(scope="module")
def rebuilt(built, tmp_path_factory):
    """The same landed data built again: German conversations only, conversation split, 2 context turns."""
    warehouse = tmp_path_factory.mktemp("rebuilt") / "warehouse"
    for folder in ("raw", "secrets", "enrich"):
        shutil.copytree(built.warehouse / folder, warehouse / folder)
    cfg = dataclasses.replace(
        built.cfg,
        filters=dataclasses.replace(built.cfg.filters, languages=("de",)),
        split=dataclasses.replace(built.cfg.split, strategy="conversation", val_fraction=0.2, test_fraction=0.2),
        dataset=dataclasses.replace(built.cfg.dataset, context_turns=2),
    )
    report = build(cfg, warehouse)
    ok, line = report.ok, report.line
    return SimpleNamespace(cfg=cfg, warehouse=warehouse, ok=ok, line=line)


def dataset_rows(warehouse: Path) -> list[dict]:
    return [row for split in SPLITS for row in pq.read_table(warehouse / "datasets" / f"{split}.parquet").to_pylist()]


# --- the build on the sample exports -------------------------------------------------------------


@pytest.mark.slow
def test_build_passes_and_exports_the_datasets(built):
    assert built.ok, built.line
    assert " 0 fail" in built.line and "unit_tests" in built.line
    counts = json.loads((built.warehouse / "datasets" / "counts.json").read_text())
    files = {s: pq.ParquetFile(built.warehouse / "datasets" / f"{s}.parquet").metadata.num_rows for s in SPLITS}
    assert {s: counts[s] for s in SPLITS} == files
    assert all(files.values())
    assert set(counts["by_platform"]) == set(PLATFORMS)
    assert sum(n for per_split in counts["by_platform"].values() for n in per_split.values()) == sum(files.values())
    for platform, per_split in counts["by_platform"].items():
        assert per_split.get("test"), f"{platform} has no test examples"


@pytest.mark.slow
def test_datasets_load_with_hf_datasets_in_chat_format(built, tmp_path):
    from datasets import load_dataset

    files = {s: str(built.warehouse / "datasets" / f"{s}.parquet") for s in SPLITS}
    loaded = load_dataset("parquet", data_files=files, cache_dir=str(tmp_path / "hf"))
    for split in SPLITS:
        assert set(loaded[split].column_names) == CONTRACT_COLUMNS
        assert set(loaded[split]["split"]) == {split}
        for messages in loaded[split]["messages"]:
            roles = [m["role"] for m in messages]
            assert roles[0] == "system" and roles[1] == "user" and roles[-1] == "assistant"
            assert roles[1:] == ["user", "assistant"] * ((len(roles) - 1) // 2)
            assert len(roles) - 2 <= built.cfg.dataset.context_turns
            assert all(m["content"] for m in messages)


@pytest.mark.slow
def test_system_prompts_are_exactly_the_training_prompt(built):
    rows = query(built.warehouse, "select platform, partner, group_size, messages[1].content from training_examples")
    me = built.cfg.me.names[0]
    assert all(prompt == system_prompt(me, platform, partner, size) for platform, partner, size, prompt in rows)
    assert {platform for platform, *_ in rows} == set(PLATFORMS)
    assert {size > 2 for _, _, size, _ in rows} == {True, False}  # groups and 1:1 chats both checked


@pytest.mark.slow
def test_sessions_and_reply_texts_never_straddle_splits(built):
    rows = dataset_rows(built.warehouse)
    splits_of_session, splits_of_reply = {}, {}
    for row in rows:
        splits_of_session.setdefault(row["session_id"], set()).add(row["split"])
        splits_of_reply.setdefault(row["messages"][-1]["content"], set()).add(row["split"])
    assert all(len(s) == 1 for s in splits_of_session.values())
    assert all(len(s) == 1 for s in splits_of_reply.values())


@pytest.mark.slow
def test_time_split_puts_the_newest_sessions_in_test(built):
    """Sessions go whole, in the order of their first reply: every val session starts after every
    train session, every test session after every val session (on each platform)."""
    rows = query(
        built.warehouse,
        "select platform, split, min(first_ms), max(first_ms) from "
        "(select platform, split, session_id, min(target_ms) as first_ms "
        " from training_examples group by all) group by all",
    )
    spans = {(p, s): (lo, hi) for p, s, lo, hi in rows}
    for platform in PLATFORMS:
        assert spans[(platform, "train")][1] <= spans[(platform, "val")][0]
        assert spans[(platform, "val")][1] <= spans[(platform, "test")][0]


@pytest.mark.slow
def test_no_planted_identifier_or_contact_name_reaches_training(built):
    from ingest.samples.persona import ME_EMAILS, ME_PHONE, PEOPLE, PII

    rows = dataset_rows(built.warehouse)
    texts = [m["content"] for row in rows for m in row["messages"]]
    planted = [*ME_EMAILS, ME_PHONE, *PII.values(), "https://", "@example."]
    assert not [p for p in planted if any(p in t for t in texts)]
    assert not [t for t in texts for pattern in LEFTOVER_PATTERNS if duckdb_matches(t, pattern)]
    # names travel nowhere: not in prompts or ids, and not in the texts (signatures, subjects,
    # greetings), where the full names and the first names (each unique here) are pseudonyms
    prompts_and_ids = [row["messages"][0]["content"] for row in rows] + [row["conversation_id"] for row in rows]
    names = [p.name for p in PEOPLE.values()] + [p.name.lower().replace(" ", "") for p in PEOPLE.values()]
    assert not [n for n in names if any(n in t for t in prompts_and_ids)]
    words = [
        set(duckdb.execute(r"select regexp_extract_all(lower(?), '[\pL\pM\pN_]+')", [t]).fetchone()[0]) for t in texts
    ]
    written = [p.name.lower().split() for p in PEOPLE.values() if any(c.isalpha() for c in p.name)]
    assert {" ".join(n): sum(set(n) <= w for w in words) for n in written} == {" ".join(n): 0 for n in written}
    placeholders = query(
        built.warehouse,
        "select count(*) filter (where body_text like '%[PHONE]%'), "
        "count(*) filter (where body_text like '%[EMAIL]%') from messages",
    )[0]
    assert all(placeholders), placeholders  # the planted identifiers were there, and redacted
    # and the names were there: Alex Morgan signs work mail, Priya's chats are "Chat with Priya Shah"
    alex, priya = (
        query(built.warehouse, f"select pseudonym from int_people__names where name = '{n}'")[0][0]
        for n in ("alex morgan", "priya shah")
    )
    signed, chats = query(
        built.warehouse,
        f"select count(*) filter (where contains(body_text, chr(10) || '{alex}' || chr(10) || 'Senior Partner')), "
        f"count(*) filter (where subject = 'Chat with {priya}') from messages",
    )[0]
    assert signed and chats, (signed, chats)


def duckdb_matches(text: str, pattern: str) -> bool:
    return duckdb.execute("select regexp_matches(?, ?)", [text, pattern]).fetchone()[0]


@pytest.mark.slow
def test_pseudonyms_come_from_the_warehouse_key(built):
    path = key_path(built.warehouse)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = load_or_create_key(built.warehouse)
    expected = "P" + keyed_hash(key, "person:sam okafor")[:12]  # 48 bits: no collision at any realistic contact count
    people = dict(query(built.warehouse, "select name, pseudonym from int_people where platform = 'whatsapp'"))
    assert people["Sam Okafor"] == expected
    partners = {p for (p,) in query(built.warehouse, "select partner from training_examples")}
    assert expected in partners
    # the key itself is never written where dbt writes
    for f in (built.warehouse / "dbt").rglob("*"):
        if f.is_file():
            assert key.hex() not in f.read_text(encoding="utf-8", errors="replace"), f


@pytest.mark.slow
def test_no_message_text_in_dbt_output(built):
    texts = [
        t
        for (t,) in query(
            built.warehouse,
            "select distinct body_text from int_messages__deduped "
            "where length(body_text) > 40 order by body_text limit 30",
        )
    ]
    assert len(texts) == 30
    outputs = [built.line] + [
        f.read_text(encoding="utf-8", errors="replace") for f in (built.warehouse / "dbt").rglob("*") if f.is_file()
    ]
    assert not [t for t in texts if any(t in out for out in outputs)]


@pytest.mark.slow
def test_every_landed_message_is_counted_once(built):
    landed = dict(query(built.warehouse, "select platform, count(*) from int_messages__unioned group by all"))
    counted = dict(
        query(
            built.warehouse,
            "select platform, sum(n) from filter_counts where stage in ('dedup', 'quality') group by all",
        )
    )
    assert landed == counted
    reasons = {
        r for (r,) in query(built.warehouse, "select distinct reason from filter_counts where stage = 'quality'")
    }
    assert {"kept", "system", "reaction", "deleted", "media_only", "automated"} <= reasons
    kept = query(built.warehouse, "select sum(n) from filter_counts where reason = 'kept'")[0][0]
    assert kept == query(built.warehouse, "select count(*) from messages")[0][0]


@pytest.mark.slow
def test_messages_mart_has_the_documented_columns(built):
    documented = [c["name"] for m in yaml_models("marts/_marts.yml") if m["name"] == "messages" for c in m["columns"]]
    columns = [name for name, *_ in query(built.warehouse, "describe messages")]
    assert columns == documented
    assert {
        "conversation_id",
        "message_id",
        "timestamp_ms",
        "date_iso",
        "sender",
        "direction",
        "participants",
        "body_raw",
        "body_text",
        "subject",
        "subject_norm",
        "reply_to_message_id",
        "account",
        "sender_domain",
        "partner_id",
        "is_reply",
        "turn_role",
        "content_type",
        "lang",
        "char_len",
        "token_est",
        "has_emoji",
        "thread_index",
        "thread_len",
        "platform",
    } <= set(columns)


def yaml_models(relative: str) -> list[dict]:
    import yaml

    return yaml.safe_load((REPO / "models_sql" / relative).read_text(encoding="utf-8"))["models"]


@pytest.mark.slow
def test_analysis_marts_describe_my_writing(built):
    months = query(
        built.warehouse,
        "select platform, my_messages, my_words_per_message, my_emoji_rate, "
        "my_reply_latency_median_minutes, my_vocabulary_size from writing_patterns_monthly",
    )
    assert {m[0] for m in months} == set(PLATFORMS)
    assert all(0 <= rate <= 1 for *_, rate, _, _ in months if rate is not None)
    top = query(built.warehouse, "select word from my_top_words order by rank limit 20")
    assert ("haha",) in top  # Robin's voice
    assert {e for (e,) in query(built.warehouse, "select emoji from my_top_emoji")} == {"😅", "🙌", "✨"}
    hours = query(built.warehouse, "select sum(messages) from activity_by_hour")[0][0]
    assert hours == query(built.warehouse, "select count(*) from messages")[0][0]


@pytest.mark.slow
def test_analysis_queries_in_the_docs_run(built):
    """Every ```sql block of docs/analysis.md runs against the built warehouse."""
    doc = (REPO / "docs" / "analysis.md").read_text(encoding="utf-8")
    blocks = [b.split("```", 1)[0] for b in doc.split("```sql\n")[1:]]
    assert len(blocks) >= 6
    with duckdb.connect(str(built.warehouse / "ai_me.duckdb"), read_only=True) as con:
        for sql in blocks:
            con.execute(sql).fetchall()


# --- a second build: other settings, same data ----------------------------------------------------


@pytest.mark.slow
def test_rebuild_reuses_the_language_cache(rebuilt):
    assert rebuilt.ok, rebuilt.line
    first = rebuilt.line.split(";")[0]
    assert " 0 detected" in first and "cached" in first


@pytest.mark.slow
def test_language_filter_keeps_only_the_configured_languages(rebuilt):
    langs = {lang for (lang,) in query(rebuilt.warehouse, "select distinct conversation_lang from messages")}
    assert langs and langs <= {"de", "und"}
    dropped = query(rebuilt.warehouse, "select sum(n) from filter_counts where reason = 'language'")[0][0]
    assert dropped > 0


@pytest.mark.slow
def test_conversation_split_and_shorter_context(rebuilt):
    rows = dataset_rows(rebuilt.warehouse)
    assert rows
    splits = {}
    for row in rows:
        splits.setdefault(row["conversation_id"], set()).add(row["split"])
        assert len(row["messages"]) <= 2 + 2
    assert all(len(s) == 1 for s in splits.values())


# --- redaction, rendered from the dbt macro and run in DuckDB -------------------------------------


@pytest.fixture(scope="module")
def redact():
    macros = jinja2.Environment().from_string((REPO / "dbt_project" / "macros" / "redact.sql").read_text())
    sql = f"select {macros.module.redact('t')} from (select ? as t)"
    con = duckdb.connect()
    return lambda text: con.execute(sql, [text]).fetchone()[0]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("mail me at robin.vale@gmail.com!", "mail me at [EMAIL]!"),
        ("zoë.núñez@correo.es", "[EMAIL]"),
        ("see https://example.com/a?b=1, or www.example.org", "see [URL], or [URL]"),
        ("it's on valeworks.co.uk/portfolio", "it's on [URL]"),
        ("card 4111 1111 1111 1111 exp 12/26", "card [CARD] exp 12/26"),
        ("card 5500-0000-0000-0004", "card [CARD]"),
        ("not a card 4111 1111 1111 1112", "not a card 4111 1111 1111 1112"),
        ("iban GB82 WEST 1234 5698 7654 32 ok", "iban [IBAN] ok"),
        ("DE89370400440532013000", "[IBAN]"),
        ("host 10.0.0.254 and 2001:db8:85a3::8a2e:370:7334", "host [IP] and [IP]"),
        ("call +44 7700 900456 or +1 (415) 555-0134", "call [PHONE] or [PHONE]"),
        ("ring 07700 900456, 020 7946 0958 or 415.555.0134", "ring [PHONE], [PHONE] or [PHONE]"),
        ("ჩემი ნომერი: +995 555 12 34 56", "ჩემი ნომერი: [PHONE]"),
        ("meet 10:30 on 01.02.2023 for 2-3 hours, £12.50", "meet 10:30 on 01.02.2023 for 2-3 hours, £12.50"),
        ("", ""),
        # every octet range of IPv4 (250-255, 200-249, 100-199, 10-99, 0-9) in each position
        ("mask 255.255.255.0 and 10.0.0.255", "mask [IP] and [IP]"),
        ("gateway 250.0.0.1 or 10.0.0.250", "gateway [IP] or [IP]"),
        ("hosts 10.20.30.40 and 10.1.2.199, 192.168.200.249, 10.0.0.201", "hosts [IP] and [IP], [IP], [IP]"),
        (
            "version 10.0.0.256 or 256.1.1.1",
            "version 10.0.0.256 or 256.1.1.1",
        ),  # no octet is 256; too short for a phone
        # IPv6 in full (one-digit groups too), and compressed with one group either side
        (
            "2001:0db8:0000:0000:0000:ff00:0042:8329, 2001:db8:0:0:0:0:2:1 or 2001:db8:0:0:0:0:2:10",
            "[IP], [IP] or [IP]",
        ),
        ("fe80::1 is the router", "[IP] is the router"),
        ("2001:db8:0:1::a and fe80::a:b", "[IP] and [IP]"),  # one-digit groups either side of ::
        # a link in angle brackets, as mail clients write them: the brackets stay
        ("<https://example.com/a> (see <valeworks.co.uk/portfolio>)", "<[URL]> (see <[URL]>)"),
        ("NO93 8601 1117 947", "[IBAN]"),  # Norway's, the shortest IBAN: 15 characters
        ("ref 123456789", "ref [PHONE]"),  # a run of 9 digits
        ("call +354 551", "call [PHONE]"),  # the shortest +number the rule takes: + and 7 characters
        ("card 4222222222222", "card [CARD]"),  # a 13-digit Visa number
    ],
)
def test_redaction_golden(redact, text, expected):
    assert redact(text) == expected


def luhn_complete(digits: str) -> str:
    total = 0
    for i, d in enumerate(reversed(digits + "0")):
        n = int(d) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return digits + str((10 - total % 10) % 10)


words = st.lists(st.from_regex(r"[a-zA-Z]{1,8}", fullmatch=True), min_size=0, max_size=4).map(" ".join)
emails = st.builds(
    "{}@{}.{}".format,
    st.from_regex(r"[a-z0-9]([a-z0-9._+-]{0,10}[a-z0-9])?", fullmatch=True),
    st.from_regex(r"[a-z0-9]{1,10}(-[a-z0-9]{1,5})?", fullmatch=True),
    st.from_regex(r"[a-z]{2,6}", fullmatch=True),
)
urls = st.builds(
    "{}{}.{}{}".format,
    st.sampled_from(["https://", "http://", "www.", "HTTPS://WWW."]),
    st.from_regex(r"[a-z0-9]{1,12}", fullmatch=True),
    st.sampled_from(["com", "org", "example", "io"]),
    st.from_regex(r"(/[A-Za-z0-9_?=&.-]{0,12}){0,3}", fullmatch=True),
)
phones = st.builds(
    lambda cc, groups, sep: f"+{cc}{sep}" + sep.join(groups),
    st.from_regex(r"[1-9][0-9]{0,2}", fullmatch=True),
    st.lists(st.from_regex(r"[0-9]{2,4}", fullmatch=True), min_size=3, max_size=4),
    st.sampled_from([" ", "-", ".", ""]),
)
us_phones = st.builds(
    "({}) {}-{}".format,
    st.from_regex(r"[2-9][0-9][0-9]", fullmatch=True),
    st.from_regex(r"[0-9]{3}", fullmatch=True),
    st.from_regex(r"[0-9]{4}", fullmatch=True),
)
cards = st.builds(
    lambda prefix, body, sep: sep.join(groups_of_four(luhn_complete(prefix + body))),
    st.sampled_from(["4", "51", "37", "6011"]),
    st.from_regex(r"[0-9]{11}", fullmatch=True),
    st.sampled_from([" ", "-", ""]),
)


def groups_of_four(digits: str) -> list[str]:
    return [digits[i : i + 4] for i in range(0, len(digits), 4)]


@settings(max_examples=150, deadline=None)
@given(before=words, after=words, value=st.one_of(emails, urls, phones, us_phones, cards))
def test_redaction_removes_any_identifier_in_any_text(redact, before, after, value):
    out = redact(f"{before} {value} {after}".strip())
    assert value not in out
    # its own placeholder, or another rule's where the value fits that one too (+1.10.10.10 is an IP)
    assert any(p in out for p in PLACEHOLDERS)
    assert not [p for p in LEFTOVER_PATTERNS if duckdb_matches(out, p)]


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Nd", "Cs")), max_size=60))
def test_redaction_leaves_text_without_digits_or_addresses_alone(redact, text):
    if not set(text) & set("@./:"):
        assert redact(text) == text


# --- the language step ----------------------------------------------------------------------------

LABELLED = {  # our own sentences, a few per language
    "en": ["I will be late for dinner tonight, sorry about that", "Could you send me the report before Friday?"],
    "de": ["Ich komme morgen nach der Arbeit vorbei", "Hast du schon gesehen, wie das Wetter wird?"],
    "es": ["Mañana te llamo para hablar de la fiesta", "¿Puedes traer algo de comer para todos?"],
    "fr": ["Je serai en retard ce soir, désolé", "Est-ce que tu peux m'envoyer les photos demain?"],
    "it": ["Ci vediamo domani sera al ristorante", "Non riesco a trovare le chiavi della macchina"],
    "pt": ["Vou chegar atrasado hoje, desculpa", "Você pode me mandar as fotos da viagem?"],
    "nl": ["Ik kom morgen na het werk langs", "Kun je de boodschappen meenemen vanavond?"],
    "pl": ["Będę jutro wieczorem w domu", "Czy możesz mi wysłać zdjęcia z wakacji?"],
    "ru": ["Я приду завтра вечером после работы", "Ты можешь прислать мне фотографии?"],
    "uk": ["Я прийду завтра ввечері після роботи", "Чи можеш ти надіслати мені фотографії?"],
    "ka": ["ხვალ საღამოს მოვალ", "გამარჯობა"],
    "el": ["Θα έρθω αύριο το βράδυ", "Ευχαριστώ πολύ"],
    "ja": ["明日の夜に行きます", "ありがとう"],
    "zh": ["我明天晚上过来", "谢谢你的帮助"],
    "ar": ["سأصل غدا في المساء بعد العمل", "هل يمكنك إرسال الصور لي؟"],
    "he": ["אני אגיע מחר בערב", "תודה רבה"],
}


def test_language_detection_on_labelled_sentences():
    texts = [(lang, t) for lang, ts in LABELLED.items() for t in ts]
    detected = detect_languages([t for _, t in texts])
    right = [lang for (lang, _), (found, _) in zip(texts, detected) if found == lang]
    # the README's figures: 31 of 32 in 16 languages, and langdetect itself (seeded) 27
    assert (len(LABELLED), len(texts)) == (16, 32)
    assert len(right) >= 31, [(lang, found) for (lang, _), (found, _) in zip(texts, detected)]
    from langdetect import DetectorFactory, detect

    DetectorFactory.seed = 0
    assert sum(detect(t) == lang for lang, t in texts) == 27


def test_script_shortcuts_and_short_texts():
    detected = detect_languages(["გამარჯობა", "ありがとう", "haha", "😂😂", "ok!!", "Привет"])
    assert detected[0] == ("ka", "script") and detected[1] == ("ja", "script")
    assert detected[2] == detected[3] == detected[4] == ("und", "short")
    assert detected[5][0] in SCRIPT_LANGUAGES_CYRILLIC and detected[5][1] == "ngram"


SCRIPT_LANGUAGES_CYRILLIC = language.SCRIPT_LANGUAGES["cyrillic"]


def test_language_cache_detects_each_text_once(tmp_path):
    from ingest.landing import to_raw_table

    warehouse = tmp_path / "warehouse"
    (warehouse / "raw" / "whatsapp").mkdir(parents=True)
    texts = ["Ich komme morgen nach der Arbeit vorbei", "see you tomorrow at the station then", "ok", None]
    rows = {
        "conversation_id": ["c"] * 4,
        "message_id": [f"m{i}" for i in range(4)],
        "timestamp_ms": list(range(4)),
        "sender": ["Sam"] * 4,
        "direction": ["inbound"] * 4,
        "participants": [["Sam", "Robin"]] * 4,
        "body_raw": texts,
        "body_text": texts,
        "content_type": ["text"] * 3 + ["photo"],
        "source_ref": [f"chat.txt:{i}" for i in range(4)],
    }
    pq.write_table(to_raw_table(rows, "whatsapp", "e1"), warehouse / "raw" / "whatsapp" / "e1.parquet")
    stale = language.cache_dir(warehouse) / "old-detector-1.parquet"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"")
    first = enrich_languages(warehouse)
    assert (first.texts, first.detected, first.cached) == (3, 3, 0)
    assert not stale.exists()
    again = enrich_languages(warehouse)
    assert (again.texts, again.detected, again.cached) == (3, 0, 3)
    parts = list(language.cache_dir(warehouse).glob("*.parquet"))
    assert len(parts) == 1 and stat.S_IMODE(parts[0].stat().st_mode) == 0o600
    cached = dict(duckdb.execute("select text_hash, lang from read_parquet(?)", [str(parts[0])]).fetchall())
    german = duckdb.execute("select md5(?)", [texts[0]]).fetchone()[0]
    assert cached[german] == "de"
    assert "Ich komme" not in first.summary()


def test_no_raw_data_means_nothing_to_detect(tmp_path):
    report = enrich_languages(tmp_path)
    assert (report.texts, report.detected) == (0, 0)


# --- config -> dbt vars ---------------------------------------------------------------------------


def test_dbt_vars_carry_the_config(tmp_path):
    path = tmp_path / "ai_me.toml"
    path.write_text(
        '[me]\nnames = ["Robin Vale", "robin.vale_"]\n[filters]\nlanguages = ["en", "de"]\nmin_chars = 3\n'
        '[split]\nstrategy = "conversation"\n[dataset]\ncontext_turns = 4\nsession_gap_hours = 2\n'
        '[ingest]\ntimezone = "+02:00"\n',
        encoding="utf-8",
    )
    found = dbt_vars(load_config(path))
    me = me_vars(load_config(path))
    assert me["me_name"] == "Robin Vale" and {"robin vale", "robin.vale_"} <= set(me["me_names"])
    assert (found["languages"], found["min_chars"], found["split_strategy"]) == (["en", "de"], 3, "conversation")
    assert (found["context_turns"], found["session_gap_hours"], found["timezone"]) == (4, 2.0, "Etc/GMT-2")
    assert found["system_prompt"] == DatasetConfig().system_prompt
    project = yaml_load(REPO / "dbt_project" / "dbt_project.yml")
    assert set(found) == set(project["vars"])


def yaml_load(path: Path) -> dict:
    import yaml

    return yaml.safe_load(path.read_text(encoding="utf-8"))


def test_default_vars_match_the_project_defaults():
    project = yaml_load(REPO / "dbt_project" / "dbt_project.yml")["vars"]
    found = dbt_vars(Config())
    assert found == project


def test_dbt_args_add_vars_only_where_dbt_compiles():
    build = dbt_args(["build", "--select", "marts"], Config())
    assert build[:3] == ["build", "--select", "marts"] and build[3] == "--vars"
    assert json.loads(build[4])["context_turns"] == 6
    assert dbt_args(["parse"], Config()) == ["parse"]


def test_my_names_travel_in_the_environment_never_on_the_command_line(tmp_path):
    cfg = Config(me=MeConfig(names=("Robin Vale", "robin.vale_")))
    command = " ".join(dbt_command(dbt_args(["build"], cfg), tmp_path, tmp_path))
    assert "Robin" not in command and "robin" not in command
    env = dbt_env(tmp_path, cfg)
    assert json.loads(env[ME_ENV]) == me_vars(cfg) and me_vars(cfg)["me_name"] == "Robin Vale"
    assert ME_ENV not in dbt_env(tmp_path)
    macro = (REPO / "dbt_project" / "macros" / "me.sql").read_text()
    assert ME_ENV in macro and not [
        m for m in ("me_name", "me_names") if m in yaml_load(REPO / "dbt_project" / "dbt_project.yml")["vars"]
    ]


@pytest.mark.parametrize(
    "key, field, value",
    [
        ("dataset.system_prompt", "system_prompt", "You are {me} {{ run_query('drop table messages') }}"),
        ("dataset.system_prompt", "system_prompt", "You are {me} {% do run_query('select 1') %}"),
        ("dataset.system_prompt", "system_prompt", "You are {me} {# hidden #}"),
        ("filters.languages", "languages", ("en", "{{ 1 }}")),
    ],
)
def test_template_syntax_in_a_dbt_var_is_a_config_error(key, field, value, tmp_path):
    """dbt renders string vars as Jinja: template syntax would run, so it never reaches dbt."""
    section = "filters" if field == "languages" else "dataset"
    cfg = dataclasses.replace(Config(), **{section: dataclasses.replace(getattr(Config(), section), **{field: value})})
    with pytest.raises(ConfigError, match=key):
        dbt_vars(cfg)
    with pytest.raises(ConfigError, match=key):
        build(cfg, tmp_path)
    assert not (tmp_path / "dbt").exists()  # refused before the language step and dbt


@pytest.mark.parametrize(
    "zone, expected",
    [
        ("Europe/London", "Europe/London"),
        ("UTC", "UTC"),
        ("+02:00", "Etc/GMT-2"),
        ("UTC-5", "Etc/GMT+5"),
        ("+05:30", "UTC"),
        ("+00:00", "UTC"),
    ],
)
def test_duckdb_timezone(zone, expected):
    assert duckdb_timezone(zone) == expected


def test_system_prompt_template_placeholders_are_checked(tmp_path):
    path = tmp_path / "ai_me.toml"
    path.write_text('[dataset]\nsystem_prompt = "You are {me} talking to {friend}"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="dataset.system_prompt"):
        load_config(path)
    path.write_text("[dataset]\ncontext_turns = 0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="dataset.context_turns"):
        load_config(path)
