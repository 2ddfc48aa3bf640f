"""`ai-me serve` and `ai-me reply` on a tiny trained run: the official openai client against the
running server, validation errors, the API key, 20 concurrent requests, a client that leaves
mid-stream, the request-size limits (body, prompt, max_tokens; the key before the body), /health
during long work, and the chat page in headless Chromium."""

import asyncio
import contextlib
import json
import socket
import threading
import time
from urllib.parse import urlsplit

import httpx
import openai
import pytest
import torch
import uvicorn

from ingest.cli import main as ai_me
from tests.support.browser import chromium, needs_chromium
from tests.support.toy_data import write_toy_datasets
from training.config import load_preset
from training.inference import reply
from training.serving.api import completion_budget
from training.serving.cli import API_KEY_ENV
from training.serving.schemas import ChatRequest
from training.serving.server import create_app
from training.train import main

TINY = {
    "tiny.vocab_size": 400,
    "tiny.hidden_size": 64,
    "tiny.num_heads": 2,
    "tiny.intermediate_size": 128,
    "tiny.pretrain_steps": 4,
    "tiny.pretrain_batch_size": 8,
    "train.max_length": 256,
    "train.batch_size": 8,
    "train.max_steps": 2,
    "train.eval_steps": 2,
    "train.save_steps": 2,
    "train.cpu_threads": 1,
}
INCOMING = "Are you coming tonight?"
# The documented limits of `ai-me serve` (training/serving/server.py, serve_api.py, serve_models.py).
BODY_LIMIT = 1 << 20  # bytes of a request body
PROMPT_CHARS = 32_000  # characters of all messages together
MESSAGES = 1000  # messages in one request
TOKENS_CAP = 2048  # max_tokens (or max_completion_tokens) at most


def cli(argv):
    return ai_me(argv)  # the real `ai-me` entry point


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    root = tmp_path_factory.mktemp("warehouse")
    write_toy_datasets(root, n_train=40, n_val=8)
    main(load_preset("tiny-cpu", {**TINY, "warehouse": str(root), "run": "main"}))
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
    return reply(
        s.engine.model,
        s.engine.tokenizer,
        s.info,
        INCOMING,
        platform,
        max_new_tokens=max_tokens,
        temperature=1.0,
        top_p=0.95,
        seed=seed,
    )


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


@pytest.mark.parametrize(
    "request_body, status, param, code",
    [
        (body(model="gpt-4"), 404, "model", "model_not_found"),
        ({"messages": [{"role": "user", "content": "hi"}]}, 400, "model", None),
        (body(messages=[]), 400, "messages", None),
        (body(messages=[{"role": "tool", "content": "hi"}]), 400, "messages.0.role", None),
        (body(messages=[{"role": "user"}]), 400, "messages.0.content", None),
        (body(messages=[{"role": "user", "content": ["hi"]}]), 400, "messages.0.content", None),
        (
            body(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]),
            400,
            "messages.0.content",
            None,
        ),
        (body(messages=[{"role": "user", "content": "hi"}, {"role": "system", "content": "x"}]), 400, "messages", None),
        (
            body(messages=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]),
            400,
            "messages",
            None,
        ),
        (body(temperature=2.5), 400, "temperature", None),
        (body(temperature="hot"), 400, "temperature", None),
        (body(top_p=0), 400, "top_p", None),
        (body(max_tokens=0), 400, "max_tokens", None),
        (body(max_tokens=1000), 400, "max_tokens", "context_length_exceeded"),
        (body(max_tokens=10_000), 400, "max_tokens", "invalid_value"),
        (body(max_completion_tokens=10_000), 400, "max_completion_tokens", "invalid_value"),
        (body(messages=[{"role": "user", "content": "hi " * 1000}]), 400, "messages", "context_length_exceeded"),
        (body(n=3), 400, "n", None),
        (body(stop=["\n"]), 400, None, None),
        (body(tools=[{"type": "function", "function": {"name": "f"}}]), 400, None, None),
        (body(platform="myspace"), 400, "platform", None),
        (body(group_size=1), 400, "group_size", None),
    ],
)
def test_invalid_requests_get_openai_style_errors(served, request_body, status, param, code):
    answer = httpx.post(served[0] + "/v1/chat/completions", json=request_body, timeout=30)
    assert answer.status_code == status
    error = answer.json()["error"]
    assert (error["param"], error["code"]) == (param, code) and error["message"] and error["type"]


def test_malformed_json_unknown_paths_and_client_errors(served, client):
    url = served[0]
    answer = httpx.post(
        url + "/v1/chat/completions", content=b'{"model": ', timeout=30, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 400 and answer.json()["error"]["type"] == "invalid_request_error"
    assert httpx.get(url + "/v1/nothing-here").json()["error"]["message"] == "Not Found"
    assert httpx.get(url + "/v1/chat/completions").status_code == 405
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-4", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.BadRequestError, match="context length"):
        ask(client, max_tokens=1000)
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


def test_api_key_flag_is_required_of_clients_on_loopback_too(warehouse, monkeypatch):
    monkeypatch.delenv(API_KEY_ENV, raising=False)
    seen = serve_via_cli(warehouse, "--api-key", "fl4g")
    assert seen["host"] == "127.0.0.1"
    with running(seen["app"]) as url:
        assert httpx.get(url + "/v1/models").status_code == 401
        assert httpx.get(url + "/v1/models", headers={"authorization": "Bearer fl4g"}).status_code == 200


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
    with httpx.stream(
        "POST",
        url + "/v1/chat/completions",
        timeout=30,
        json=body(messages=[{"role": "user", "content": INCOMING}], temperature=0, max_tokens=150, stream=True),
    ) as r:
        lines = r.iter_lines()
        assert next(line for line in lines if '"content": ""' in line)  # the role chunk: generation is under way
    for _ in range(400):  # bounded: the worker notices at its next token
        if httpx.get(url + "/health").json()["pending"] == 0:
            break
        time.sleep(0.05)
    assert serving.engine.finished["cancelled"] == cancelled + 1
    assert ask(client).choices[0].message.content is not None


def raw_exchange(url, head: str, chunks=(), timeout=10.0):
    """`head` and then `chunks` on a fresh connection, like a client that may never finish its body;
    returns (status, headers, JSON body, seconds until the answer's head arrived)."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        start = time.perf_counter()
        sock.sendall(head.encode())
        try:
            for chunk in chunks:
                sock.sendall(chunk)
        except OSError:  # the server may answer and hang up before all is sent
            pass
        data = b""
        while b"\r\n\r\n" not in data:
            more = sock.recv(65536)
            assert more, "the server closed the connection without answering"
            data += more
        seconds = time.perf_counter() - start
        head_bytes, _, rest = data.partition(b"\r\n\r\n")
        status_line, *lines = head_bytes.decode("latin-1").split("\r\n")
        headers = {name.lower(): value.strip() for name, value in (line.split(":", 1) for line in lines)}
        while len(rest) < int(headers.get("content-length", 0)):
            more = sock.recv(65536)
            if not more:
                break
            rest += more
    return int(status_line.split()[1]), headers, json.loads(rest) if rest else None, seconds


def post_head(url, *headers: str) -> str:
    return "\r\n".join(
        [
            "POST /v1/chat/completions HTTP/1.1",
            f"Host: 127.0.0.1:{urlsplit(url).port}",
            "Content-Type: application/json",
            *headers,
            "",
            "",
        ]
    )


def assert_openai_error(answer: dict, code: str) -> None:
    error = answer["error"]
    assert error["code"] == code and error["type"] == "invalid_request_error" and error["message"]
    assert set(error) == {"message", "type", "param", "code"}


def test_a_body_over_the_limit_is_refused_from_its_content_length(served, client):
    # 20 MB announced, not one byte sent: the answer comes from the header alone.
    status, headers, answer, seconds = raw_exchange(served[0], post_head(served[0], "Content-Length: 20000000"))
    assert status == 413 and headers["content-type"] == "application/json" and seconds < 2
    assert_openai_error(answer, "request_too_large")
    assert str(BODY_LIMIT) in answer["error"]["message"]
    # The official client, sending a whole 2 MB body, gets the same answer as an APIStatusError.
    with pytest.raises(openai.APIStatusError) as raised:
        ask(client, messages=[{"role": "user", "content": "x" * (2 * BODY_LIMIT)}])
    assert raised.value.status_code == 413 and raised.value.code == "request_too_large"
    assert "xxxx" not in raised.value.message
    assert ask(client).choices  # the server is none the worse


def test_a_chunked_body_is_cut_off_at_the_limit(served):
    # No length announced and no end ever sent: reading stops as soon as the body passes the limit.
    piece = b"x" * 65536
    chunks = [b"%x\r\n%s\r\n" % (len(piece), piece)] * (BODY_LIMIT // len(piece) + 2)
    status, _, answer, seconds = raw_exchange(served[0], post_head(served[0], "Transfer-Encoding: chunked"), chunks)
    assert status == 413 and seconds < 5
    assert_openai_error(answer, "request_too_large")
    # Just under the limit is read and parsed (here: invalid JSON, an ordinary 400).
    piece = b"x" * (BODY_LIMIT - 1)
    status, _, answer, _ = raw_exchange(
        served[0], post_head(served[0], "Transfer-Encoding: chunked"), [b"%x\r\n%s\r\n0\r\n\r\n" % (len(piece), piece)]
    )
    assert status == 400 and answer["error"]["type"] == "invalid_request_error"


def test_the_api_key_is_checked_before_the_body_is_read(served):
    with running(create_app(served[1], api_key="s3cret")) as url:
        huge = "Content-Length: 200000000"
        for key in ([], ["Authorization: Bearer wrong"]):
            status, _, answer, seconds = raw_exchange(url, post_head(url, huge, *key))
            assert status == 401 and seconds < 2
            assert answer["error"]["code"] == "invalid_api_key"
        status, _, answer, seconds = raw_exchange(url, post_head(url, huge, "Authorization: Bearer s3cret"))
        assert status == 413 and seconds < 2
        # Any other /v1 path wants the key too; the page and /health do not.
        assert httpx.get(url + "/v1/nothing-here").status_code == 401
        assert httpx.get(url + "/health").status_code == 200 and httpx.get(url + "/").status_code == 200


def test_prompt_characters_and_messages_are_capped_before_tokenising(served, client, monkeypatch):
    def no_tokenising(messages):
        raise AssertionError("an oversized prompt must be refused before it is tokenised")

    monkeypatch.setattr(served[1].engine, "encode", no_tokenising)
    secret = "my bank PIN is 4921 "
    too_long = [
        [{"role": "user", "content": secret * (PROMPT_CHARS // len(secret) + 1)}],
        [
            {"role": "assistant", "content": secret * (PROMPT_CHARS // len(secret) // 2)},
            {"role": "user", "content": secret * (PROMPT_CHARS // len(secret) // 2 + 1)},
        ],
    ]
    for messages in too_long:
        with pytest.raises(openai.BadRequestError) as raised:
            ask(client, messages=messages)
        error = raised.value
        assert (error.code, error.param) == ("string_above_max_length", "messages")
        assert str(PROMPT_CHARS) in error.message and "PIN" not in error.message
    with pytest.raises(openai.BadRequestError) as raised:
        ask(client, messages=[{"role": "user", "content": "a"}] * (MESSAGES + 1))
    assert (raised.value.code, raised.value.param) == ("array_above_max_length", "messages")


def test_max_tokens_is_capped_whatever_the_context(served, client, monkeypatch):
    engine = served[1].engine

    def no_generating(job):
        raise AssertionError("an oversized max_tokens must be refused, not generated")

    monkeypatch.setattr(engine, "context_length", 131_072)  # Llama 3.1's
    monkeypatch.setattr(engine, "submit", no_generating)
    for field in ("max_tokens", "max_completion_tokens"):
        with pytest.raises(openai.BadRequestError) as raised:
            ask(client, **{"max_tokens": None, field: 100_000})
        error = raised.value
        assert (error.code, error.param) == ("invalid_value", field) and str(TOKENS_CAP) in error.message
    # At the cap it is granted; without max_tokens the default short reply is asked for.
    at_cap = ChatRequest(**body(max_tokens=TOKENS_CAP))
    assert completion_budget(at_cap, 10, 131_072, TOKENS_CAP) == TOKENS_CAP
    assert completion_budget(ChatRequest(**body()), 10, 131_072, TOKENS_CAP) == 128


def test_serve_takes_its_max_tokens_cap_from_the_command_line(warehouse, capsys):
    assert serve_via_cli(warehouse)["app"].state.serving.max_tokens == TOKENS_CAP
    assert serve_via_cli(warehouse, "--max-tokens", "64")["app"].state.serving.max_tokens == 64
    assert cli(["serve", "--warehouse", str(warehouse), "--run", "main", "--max-tokens", "0"]) == 2
    assert "--max-tokens must be at least 1" in capsys.readouterr().err


def health_seconds(url) -> float:
    start = time.perf_counter()
    assert httpx.get(url + "/health", timeout=30).status_code == 200
    return time.perf_counter() - start


def test_health_answers_while_a_prompt_is_tokenised_and_a_reply_generated(served, client, monkeypatch):
    url, serving = served
    engine, encode = serving.engine, serving.engine.encode

    def slow_encode(messages):  # as a long prompt on a slow machine
        time.sleep(3)
        return encode(messages)

    monkeypatch.setattr(engine, "encode", slow_encode)
    answers = []
    asking = threading.Thread(target=lambda: answers.append(ask(client)))
    asking.start()
    time.sleep(0.5)
    during_tokenising = health_seconds(url)
    asking.join(30)
    assert answers and answers[0].choices
    assert during_tokenising < 1.5, f"/health took {during_tokenising:.2f} s while a prompt was tokenised"
    monkeypatch.setattr(engine, "encode", encode)

    with httpx.stream(
        "POST",
        url + "/v1/chat/completions",
        timeout=30,
        json=body(messages=[{"role": "user", "content": INCOMING}], temperature=0, max_tokens=150, stream=True),
    ) as r:
        lines = r.iter_lines()
        assert next(line for line in lines if '"content": ""' in line)
        during_generating = max(health_seconds(url) for _ in range(5))
        assert [line for line in lines if line][-1] == "data: [DONE]"
    assert during_generating < 1.5, f"/health took {during_generating:.2f} s during a generation"


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
        tab.wait_for(
            "document.querySelector('#log li.assistant')?.dataset.state === 'done' "
            "|| !!document.querySelector('#log li.error')"
        )
        shown = tab.eval("[...document.querySelectorAll('#log li')].map(li => [li.className, li.textContent])")
        images = tab.eval("document.querySelectorAll('img').length")
        model = tab.eval("document.getElementById('model').textContent")
        tab.eval("$('temperature').value = '5'; $('message').value = 'again?'; $('send').click(); true")
        tab.wait_for("!!document.querySelector('#log li.error')")
        after_error = tab.eval(
            "[...document.querySelectorAll('#log li')].map(li => li.className + ': ' + li.textContent)"
        )
    expected = client.chat.completions.create(
        model="main",
        messages=[{"role": "user", "content": message}],
        temperature=1,
        seed=9,
        extra_body={"platform": "instagram"},
    )
    assert shown == [["user", message], ["assistant", expected.choices[0].message.content]]
    assert images == 0 and model == "main"
    assert after_error[2:] == ["user: again?", "error: temperature: Input should be less than or equal to 2"]
