"""`ai-me serve` and `ai-me reply` on a tiny trained run: the official openai client against the
running server, validation errors, the API key, 20 concurrent requests, a client that leaves
mid-stream, and the chat page in headless Chromium."""
import asyncio
import contextlib
import json
import socket
import threading
import time

import httpx
import openai
import pytest
import torch
import uvicorn

from browser import chromium, needs_chromium
from training.config import load_config
from training.generate import reply
from ingest.cli import main as ai_me
from training.serve_cli import API_KEY_ENV
from training.toy_data import write_toy_datasets
from training.train import main

TINY = {
    "tiny.vocab_size": 400, "tiny.hidden_size": 64, "tiny.num_heads": 2, "tiny.intermediate_size": 128,
    "tiny.pretrain_steps": 4, "tiny.pretrain_batch_size": 8, "train.max_length": 256, "train.batch_size": 8,
    "train.max_steps": 2, "train.eval_steps": 2, "train.save_steps": 2, "train.cpu_threads": 1,
}
INCOMING = "Are you coming tonight?"


def cli(argv):
    return ai_me(argv)  # the real `ai-me` entry point


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    root = tmp_path_factory.mktemp("warehouse")
    write_toy_datasets(root, n_train=40, n_val=8)
    main(load_config("tiny-cpu", {**TINY, "warehouse": str(root), "run": "main"}))
    torch.set_num_threads(1)
    return root


def serve_via_cli(warehouse, *extra):
    """The app `ai-me serve` builds, and where it would bind, without binding it."""
    seen = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(uvicorn, "run", lambda app, host, port: seen.update(app=app, host=host, port=port))
        assert cli(["serve", "--warehouse", str(warehouse), "--run", "main", *extra]) == 0
    return seen


@contextlib.contextmanager
def running(app):
    """`app` on a free loopback port; yields its base URL and shuts it down."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    assert server.started
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture(scope="module")
def served(warehouse):
    seen = serve_via_cli(warehouse)
    assert (seen["host"], seen["port"]) == ("127.0.0.1", 8000)
    with running(seen["app"]) as url:
        yield url, seen["app"].state.serving


@pytest.fixture(scope="module")
def client(served):
    return openai.OpenAI(base_url=served[0] + "/v1", api_key="unused", max_retries=0, timeout=60)


def ask(client, **extra):
    body = {"model": "main", "messages": [{"role": "user", "content": INCOMING}], "max_tokens": 8, **extra}
    return client.chat.completions.create(**body)


def same_reply_offline(serving, platform, seed, max_tokens=8):
    s = serving
    return reply(s.engine.model, s.engine.tokenizer, s.info, INCOMING, platform, max_new_tokens=max_tokens,
                 temperature=1.0, top_p=0.95, seed=seed)


def test_models_list_names_the_run(client):
    assert [m.id for m in client.models.list().data] == ["main"]


def test_completion_is_prompted_as_training_with_the_requested_platform(client, served):
    for platform in ("whatsapp", "instagram"):
        answer = ask(client, temperature=1.0, top_p=0.95, seed=11, extra_body={"platform": platform})
        choice = answer.choices[0]
        assert choice.message.role == "assistant" and choice.finish_reason in ("stop", "length")
        assert choice.message.content.strip() == same_reply_offline(served[1], platform, seed=11)
        assert 0 < answer.usage.completion_tokens <= 8 and answer.model == "main"
    parts = [{"type": "text", "text": INCOMING[:8]}, {"type": "text", "text": INCOMING[8:]}]
    answer = ask(client, messages=[{"role": "user", "content": parts}], temperature=1.0, seed=11)
    assert answer.choices[0].message.content.strip() == same_reply_offline(served[1], "whatsapp", seed=11)


def test_streamed_completion_matches_the_plain_one(client):
    plain = ask(client, temperature=1.0, seed=5)
    chunks = list(ask(client, temperature=1.0, seed=5, stream=True, stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == plain.choices[0].message.content
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == plain.choices[0].finish_reason
    assert chunks[-1].usage.total_tokens == plain.usage.total_tokens


def body(**changes):
    return {"model": "main", "messages": [{"role": "user", "content": "hi"}], **changes}


@pytest.mark.parametrize("request_body, status, param, code", [
    (body(model="gpt-4"), 404, "model", "model_not_found"),
    ({"messages": [{"role": "user", "content": "hi"}]}, 400, "model", None),
    (body(messages=[]), 400, "messages", None),
    (body(messages=[{"role": "tool", "content": "hi"}]), 400, "messages.0.role", None),
    (body(messages=[{"role": "user"}]), 400, "messages.0.content", None),
    (body(messages=[{"role": "user", "content": ["hi"]}]), 400, "messages.0.content", None),
    (body(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]), 400,
     "messages.0.content", None),
    (body(messages=[{"role": "user", "content": "hi"}, {"role": "system", "content": "x"}]), 400, "messages", None),
    (body(messages=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]), 400, "messages",
     None),
    (body(temperature=2.5), 400, "temperature", None),
    (body(temperature="hot"), 400, "temperature", None),
    (body(top_p=0), 400, "top_p", None),
    (body(max_tokens=0), 400, "max_tokens", None),
    (body(max_tokens=10_000), 400, "max_tokens", "context_length_exceeded"),
    (body(messages=[{"role": "user", "content": "hi " * 1000}]), 400, "messages", "context_length_exceeded"),
    (body(n=3), 400, "n", None),
    (body(stop=["\n"]), 400, None, None),
    (body(tools=[{"type": "function", "function": {"name": "f"}}]), 400, None, None),
    (body(platform="myspace"), 400, "platform", None),
    (body(group_size=1), 400, "group_size", None),
])
def test_invalid_requests_get_openai_style_errors(served, request_body, status, param, code):
    answer = httpx.post(served[0] + "/v1/chat/completions", json=request_body, timeout=30)
    assert answer.status_code == status
    error = answer.json()["error"]
    assert (error["param"], error["code"]) == (param, code) and error["message"] and error["type"]


def test_malformed_json_unknown_paths_and_client_errors(served, client):
    url = served[0]
    answer = httpx.post(url + "/v1/chat/completions", content=b'{"model": ', timeout=30,
                        headers={"content-type": "application/json"})
    assert answer.status_code == 400 and answer.json()["error"]["type"] == "invalid_request_error"
    assert httpx.get(url + "/v1/nothing-here").json()["error"]["message"] == "Not Found"
    assert httpx.get(url + "/v1/chat/completions").status_code == 405
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-4", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.BadRequestError, match="context length"):
        ask(client, max_tokens=100_000)
    assert httpx.get(url + "/health").json()["status"] == "ok"


def test_a_full_queue_answers_429(served, monkeypatch):
    monkeypatch.setattr(served[1].engine, "max_pending", 0)
    answer = httpx.post(served[0] + "/v1/chat/completions", json=body(), timeout=30)
    assert answer.status_code == 429 and answer.json()["error"]["code"] == "queue_full"


def test_without_a_key_only_loopback_host_names_are_served(served):
    assert httpx.get(served[0] + "/health", headers={"host": "attacker.example"}).status_code == 400
    for host in ("localhost", "localhost:8000", "[::1]:8000"):
        assert httpx.get(served[0] + "/health", headers={"host": host}).status_code == 200
    for host in ("attacker.example:8000", "127.0.0.1.attacker.example", "[::1", ""):
        answer = httpx.get(served[0] + "/v1/models", headers={"host": host})
        assert answer.status_code == 400 and answer.json()["error"]["message"] == "Invalid host header"


def test_off_loopback_needs_an_api_key(warehouse, monkeypatch, capsys):
    monkeypatch.delenv(API_KEY_ENV, raising=False)
    assert cli(["serve", "--warehouse", str(warehouse), "--run", "main", "--host", "0.0.0.0"]) == 2
    assert "needs an API key" in capsys.readouterr().err

    monkeypatch.setenv(API_KEY_ENV, "s3cret")
    seen = serve_via_cli(warehouse, "--host", "0.0.0.0", "--port", "8123")
    assert (seen["host"], seen["port"]) == ("0.0.0.0", 8123)
    with running(seen["app"]) as url:
        for key in ("wrong", "s3cre"):
            with pytest.raises(openai.AuthenticationError):
                ask(openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0))
        no_header = httpx.get(url + "/v1/models")
        assert no_header.status_code == 401 and no_header.json()["error"]["code"] == "invalid_api_key"
        assert ask(openai.OpenAI(base_url=url + "/v1", api_key="s3cret", max_retries=0)).choices
        assert httpx.get(url + "/health", headers={"host": "my-server.lan"}).status_code == 200


def test_twenty_concurrent_requests_all_get_answers(served):
    url, serving = served
    before = sum(serving.engine.finished.values())

    async def one(c, i):
        messages = [{"role": "user", "content": f"message {i}"}]
        if i % 2:
            stream = await c.chat.completions.create(model="main", max_tokens=6, messages=messages, stream=True)
            return [chunk.choices[0].finish_reason async for chunk in stream][-1]
        answer = await c.chat.completions.create(model="main", max_tokens=6, messages=messages)
        return answer.choices[0].finish_reason

    async def twenty():
        async with openai.AsyncOpenAI(base_url=url + "/v1", api_key="unused", max_retries=0, timeout=120) as c:
            return await asyncio.gather(*[one(c, i) for i in range(20)])

    assert set(asyncio.run(twenty())) <= {"stop", "length"}
    health = httpx.get(url + "/health").json()
    assert health["pending"] == 0 and sum(health["finished"].values()) == before + 20


def test_a_client_leaving_mid_stream_frees_its_slot(served, client):
    url, serving = served
    greedy = ask(client, temperature=0, max_tokens=150)
    assert greedy.choices[0].finish_reason == "length", "the tiny model should not stop on its own here"
    cancelled = serving.engine.finished["cancelled"]
    with httpx.stream("POST", url + "/v1/chat/completions", timeout=30, json=body(
            messages=[{"role": "user", "content": INCOMING}], temperature=0, max_tokens=150, stream=True)) as r:
        lines = r.iter_lines()
        assert next(line for line in lines if '"content": ""' in line)  # the role chunk: generation is under way
    for _ in range(400):  # bounded: the worker notices at its next token
        if httpx.get(url + "/health").json()["pending"] == 0:
            break
        time.sleep(0.05)
    assert serving.engine.finished["cancelled"] == cancelled + 1
    assert ask(client).choices[0].message.content is not None


def test_reply_prints_one_reply_without_a_server(warehouse, served, capsys):
    assert cli(["reply", INCOMING, "--platform", "messenger", "--warehouse", str(warehouse), "--run", "main"]) == 0
    s = served[1]
    expected = reply(s.engine.model, s.engine.tokenizer, s.info, INCOMING, "messenger")
    assert capsys.readouterr().out == expected + "\n"


@needs_chromium
def test_chat_page_sends_a_message_and_shows_the_reply(served, client, tmp_path):
    message = 'see you <img src=x onerror="document.title=1"> tonight?'
    with chromium(served[0] + "/", tmp_path / "profile") as tab:
        tab.wait_for("document.readyState === 'complete' && !!document.getElementById('form')")
        tab.eval(f"""$('temperature').value = '1'; $('seed').value = '9'; $('platform').value = 'instagram';
            $('message').value = {json.dumps(message)}; $('send').click(); true""")
        tab.wait_for("document.querySelector('#log li.assistant')?.dataset.state === 'done' "
                     "|| !!document.querySelector('#log li.error')")
        shown = tab.eval("[...document.querySelectorAll('#log li')].map(li => [li.className, li.textContent])")
        images = tab.eval("document.querySelectorAll('img').length")
        model = tab.eval("document.getElementById('model').textContent")
        tab.eval("$('temperature').value = '5'; $('message').value = 'again?'; $('send').click(); true")
        tab.wait_for("!!document.querySelector('#log li.error')")
        after_error = tab.eval("[...document.querySelectorAll('#log li')]"
                               ".map(li => li.className + ': ' + li.textContent)")
    expected = client.chat.completions.create(model="main", messages=[{"role": "user", "content": message}],
                                              temperature=1, seed=9, extra_body={"platform": "instagram"})
    assert shown == [["user", message], ["assistant", expected.choices[0].message.content]]
    assert images == 0 and model == "main"
    assert after_error[2:] == ["user: again?", "error: temperature: Input should be less than or equal to 2"]
