"""`ai-me serve` with memory, driven by the official openai client: the sample data through ingest,
dbt (which builds the memory index) and a short tiny-cpu run, served by a real `ai-me serve`
process whose config sets [memory] k and a small max_tokens budget. The past exchanges lengthen the
prompt exactly as training.memory.prompt.Recall builds it, within the budget; a request's `memory`
overrides the default; memory never makes a request fail; bad values are 400s; nothing retrieved
reaches the server's output; the index opens lazily under --memory 0; the chat page sends the field."""

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter

import openai
import pytest
from transformers import AutoTokenizer

from ingest.cli import main as ai_me
from tests.support.browser import chromium, needs_chromium
from tests.support.paths import REPO
from tests.support.pipeline import sample_warehouse
from tests.support.processes import stop
from tests.training.test_serve import TINY, running, serve_via_cli
from training.inference import run_info
from training.memory.index import MemoryIndex
from training.memory.prompt import Recall
from training.prompt import system_prompt

K, BUDGET = 4, 150  # the config's [memory]: four exchanges take more than 150 tokens here
CONTEXT = 512  # the tiny model's context is its train.max_length
MAX_TOKENS = 8
PLATFORM = "whatsapp"
INCOMING = "Pub tonight? You free after work?"  # words the sample WhatsApp chats use


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    def with_memory(samples):
        config = samples / "ai_me.toml"
        config.write_text(config.read_text() + f"\n[memory]\nk = {K}\nmax_tokens = {BUDGET}\n")

    with pytest.MonkeyPatch.context() as mp:
        warehouse, config = sample_warehouse(tmp_path_factory.mktemp("serve-memory"), mp, 600, with_memory)
        settings = {**TINY, "train.max_length": CONTEXT}
        assert ai_me(["train", "--run", "main", *(a for k, v in settings.items() for a in ("--set", f"{k}={v}"))]) == 0
    return warehouse, config


class Oracle:
    """The prompts the server should build, from the run's tokenizer and the warehouse's memory."""

    def __init__(self, warehouse):
        run = warehouse / "models" / "main"
        self.tokenizer, self.info = AutoTokenizer.from_pretrained(run), run_info(run)
        self.index = MemoryIndex.open(warehouse)
        # The partner with the most WhatsApp exchanges: the same-partner preference has something to prefer.
        self.partner = Counter(
            p for p, s in zip(self.index.partners, self.index.platforms) if s == PLATFORM
        ).most_common(1)[0][0]

    def messages(self, incoming=INCOMING) -> list[dict]:
        system = system_prompt(self.info.me_name, PLATFORM, self.partner, 2, self.info.system_prompt)
        return [{"role": "system", "content": system}, {"role": "user", "content": incoming}]

    def tokens(self, messages) -> int:
        return len(self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=False))

    def with_memory(self, k, budget=BUDGET, limit=CONTEXT - MAX_TOKENS, incoming=INCOMING) -> int:
        messages = Recall(self.index, k, budget).into(
            self.messages(incoming), self.tokenizer, PLATFORM, self.partner, limit
        )
        return self.tokens(messages)

    def texts(self, incoming=INCOMING) -> list[str]:
        """The lines of the K exchanges retrieved for `incoming` long enough not to occur by chance."""
        found = self.index.search(incoming, PLATFORM, self.partner, K)
        return [line for e in found for line in (e.incoming + "\n" + e.reply).splitlines() if len(line) >= 8]


@pytest.fixture(scope="module")
def oracle(warehouse):
    return Oracle(warehouse[0])


@pytest.fixture(scope="module")
def server(warehouse, tmp_path_factory):
    """A real `ai-me serve` process on a free loopback port; yields its URL and its output's file."""
    warehouse, config = warehouse
    log = tmp_path_factory.mktemp("serve-output") / "serve.log"
    argv = ["serve", "--config", str(config), "--warehouse", str(warehouse), "--run", "main", "--port", "0"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "ingest.cli", *argv],
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        for _ in range(1200):
            started = re.search(r"Uvicorn running on (http://127\.0\.0\.1:\d+)", log.read_text())
            if started or process.poll() is not None:
                break
            time.sleep(0.05)
        assert started, log.read_text()
        yield started.group(1), log
    finally:
        stop(process, 20)


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server[0] + "/v1", api_key="unused", max_retries=0, timeout=60)


def ask(client, oracle, memory=None, incoming=INCOMING, **extra):
    """A request as the server's default system prompt fills it; `memory` None: the server's default."""
    body = {"platform": PLATFORM, "partner": oracle.partner} | ({"memory": memory} if memory is not None else {})
    return client.chat.completions.create(
        model="main",
        messages=[{"role": "user", "content": incoming}],
        **{"max_tokens": MAX_TOKENS, "temperature": 1.0, "seed": 3, **extra},
        extra_body=body,
    )


def test_memory_lengthens_the_prompt_within_its_budget(client, oracle):
    plain, remembered = ask(client, oracle, memory=0), ask(client, oracle)  # the default: the config's k
    choice = remembered.choices[0]
    assert choice.message.role == "assistant" and choice.finish_reason in ("stop", "length")
    assert 0 < remembered.usage.completion_tokens <= MAX_TOKENS
    assert plain.usage.prompt_tokens == oracle.tokens(oracle.messages())
    assert remembered.usage.prompt_tokens == oracle.with_memory(K)
    assert 0 < remembered.usage.prompt_tokens - plain.usage.prompt_tokens <= BUDGET
    # The budget is what held it back: all K exchanges take more.
    assert oracle.with_memory(K, budget=10**6, limit=None) - plain.usage.prompt_tokens > BUDGET


def test_a_requests_memory_overrides_the_servers_default(client, oracle):
    plain = oracle.tokens(oracle.messages())
    assert ask(client, oracle, memory=1).usage.prompt_tokens == oracle.with_memory(1) > plain
    assert ask(client, oracle, memory=0).usage.prompt_tokens == plain
    chunks = list(ask(client, oracle, memory=2, stream=True, stream_options={"include_usage": True}))
    assert chunks[-1].usage.prompt_tokens == oracle.with_memory(2)


def test_memory_never_makes_a_request_fail_that_would_succeed_without_it(client, oracle):
    incoming = INCOMING
    while oracle.tokens(oracle.messages(incoming + " " + INCOMING)) < CONTEXT - 16:
        incoming += " " + INCOMING
    without = oracle.tokens(oracle.messages(incoming))
    assert oracle.with_memory(K, limit=None, incoming=incoming) > without  # memory would not fit in the context
    full = ask(client, oracle, incoming=incoming, max_tokens=CONTEXT - without)
    assert full.usage.prompt_tokens == without and full.choices[0].finish_reason in ("stop", "length")
    with pytest.raises(openai.BadRequestError) as raised:  # one more token than fits: the error without memory
        ask(client, oracle, incoming=incoming, max_tokens=CONTEXT - without + 1)
    assert raised.value.code == "context_length_exceeded" and f"take {without} and" in raised.value.message
    assert not any(text in raised.value.message for text in oracle.texts(incoming))


@pytest.mark.parametrize("memory", [17, 99, -1, "four", 1.5])
def test_a_bad_memory_value_is_a_400(client, oracle, memory):
    with pytest.raises(openai.BadRequestError) as raised:
        ask(client, oracle, memory=memory)
    assert raised.value.param == "memory" and raised.value.type == "invalid_request_error"


def test_retrieved_exchanges_never_reach_the_servers_output(client, oracle, server):
    asked = [INCOMING, "You free tonight? Bring the cake?", "Legend mate, see you at the station"]
    for incoming in asked:
        assert ask(client, oracle, incoming=incoming).usage.prompt_tokens == oracle.with_memory(K, incoming=incoming)
        assert list(ask(client, oracle, incoming=incoming, stream=True))
        with pytest.raises(openai.BadRequestError):
            ask(client, oracle, incoming=incoming, max_tokens=CONTEXT)
    texts = [text for incoming in asked for text in oracle.texts(incoming)]
    assert len(texts) >= 10
    output = server[1].read_text()
    assert '"POST /v1/chat/completions HTTP/1.1" 200' in output  # the access log is there to look in
    assert "Traceback" not in output
    leaked = [text for text in texts + asked if text in output]
    assert not leaked, f"{len(leaked)} retrieved or sent texts in the server's output"


def test_serve_memory_flag_opens_the_index_at_start_or_on_first_use(warehouse, oracle, capsys):
    warehouse, config = warehouse
    assert serve_via_cli(warehouse, "--config", str(config))["app"].state.serving.memory.k == K
    eager = serve_via_cli(warehouse, "--config", str(config), "--memory", "2")["app"].state.serving.memory
    assert eager.k == 2 and eager.budget == BUDGET and eager.index is not None
    assert (
        ai_me(["serve", "--config", str(config), "--warehouse", str(warehouse), "--run", "main", "--memory", "17"]) == 2
    )
    assert "--memory must be between 0 and 16" in capsys.readouterr().err

    app = serve_via_cli(warehouse, "--config", str(config), "--memory", "0")["app"]
    assert app.state.serving.memory.index is None
    with running(app) as url:
        lazy = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
        assert ask(lazy, oracle).usage.prompt_tokens == oracle.tokens(oracle.messages())
        assert app.state.serving.memory.index is None  # nothing asked for memory yet
        assert ask(lazy, oracle, memory=2).usage.prompt_tokens == oracle.with_memory(2)


def test_a_warehouse_without_memory_serves_without_it(warehouse, oracle, tmp_path, capsys):
    warehouse, config = warehouse
    bare = tmp_path / "warehouse"
    shutil.copytree(warehouse / "models", bare / "models")  # the run and its base; no datasets, no memory
    assert ai_me(["serve", "--config", str(config), "--warehouse", str(bare), "--run", "main", "--memory", "2"]) == 2
    err = capsys.readouterr().err
    assert "config error" in err and "ai-me transform" in err
    app = serve_via_cli(bare, "--config", str(config), "--memory", "0")["app"]
    with running(app) as url:
        bare_client = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
        assert ask(bare_client, oracle).choices
        with pytest.raises(openai.BadRequestError) as raised:
            ask(bare_client, oracle, memory=2)
        assert (raised.value.code, raised.value.param) == ("memory_unavailable", "memory")
        assert str(bare) not in raised.value.message


@needs_chromium
def test_chat_page_sends_its_memory_setting(server, tmp_path):
    with chromium(server[0] + "/", tmp_path / "profile") as tab:
        tab.call("Network.enable")
        tab.wait_for("document.readyState === 'complete' && !!document.getElementById('form')")
        for done, memory in enumerate(("1", ""), 1):  # a number, then the server's default
            tab.eval(f"$('memory').value = '{memory}'; $('message').value = 'hi'; $('send').click(); true")
            tab.wait_for(
                f"document.querySelectorAll('#log li.assistant[data-state=done]').length === {done} "
                "|| !!document.querySelector('#log li.error')"
            )
        shown = tab.eval("[...document.querySelectorAll('#log li')].map(li => li.className)")
    sent = [
        json.loads(e["params"]["request"]["postData"])
        for e in tab.events
        if e["method"] == "Network.requestWillBeSent" and e["params"]["request"]["url"].endswith("/chat/completions")
    ]
    assert [body.get("memory") for body in sent] == [1, None]
    assert shown == ["user", "assistant", "user", "assistant"]
