"""The ``openai`` backend against a real HTTP server on 127.0.0.1 speaking streaming chat completions."""

from __future__ import annotations

import base64
import io
import json
import select
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from PIL import Image

from gem_core.backends import GenerationParams, Interpreter, available_backends, get_backend
from gem_core.backends.openai_compat import OpenAIInterpreter
from gem_core.ecg import ECG
from gem_core.errors import GemError
from gem_core.settings import Settings
from tests.conftest import free_port

WORDS = ["Sinus", " rhythm", " at", " 75", " bpm", "."]


class ChatServer:
    """A chat-completions server: streams ``words`` as SSE, or answers ``status`` with a JSON error.

    A request without ``"stream": true`` gets one JSON ``chat.completion`` after ``delay_s``: ``reply(body)``
    when set, else the next of ``answers`` (the last one repeats), else the words joined; requests after
    the first ``fail_after`` get HTTP 503. ``statuses`` (consumed one per request) are answered before
    ``status``: e.g. ``[503, 503]`` then success.
    """

    def __init__(self):
        self.reset()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_POST(self):
                with server.lock:
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    self.answer()
                finally:
                    with server.lock:
                        server.in_flight -= 1

            def answer(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), **body})
                with server.lock:
                    status = server.statuses.pop(0) if server.statuses else server.status
                if status != 200:
                    payload = json.dumps({"error": {"message": f"status {status} on purpose"}}).encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                if not body.get("stream"):
                    self.completion(body)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                try:
                    for word in server.words:
                        if self.client_hung_up():
                            server.hung_up.set()
                            return
                        self.event({"role": "assistant", "content": word})
                        server.sent += 1
                        time.sleep(server.delay_s)
                    self.wfile.write(b"data: [DONE]\n\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    server.hung_up.set()

            def completion(self, body):
                time.sleep(server.delay_s)
                with server.lock:
                    server.answered += 1
                    failing = server.fail_after is not None and server.answered > server.fail_after
                if failing:
                    status, payload = 503, {"error": {"message": "overloaded on purpose"}}
                else:
                    if server.reply:
                        content = server.reply(body)
                    else:
                        with server.lock:
                            if len(server.answers) > 1:
                                content = server.answers.pop(0)
                            else:
                                content = server.answers[0] if server.answers else "".join(server.words)
                    status, payload = (
                        200,
                        {
                            "id": "c1",
                            "object": "chat.completion",
                            "created": 0,
                            "model": body.get("model", "m"),
                            "choices": [
                                {
                                    "index": 0,
                                    "message": {"role": "assistant", "content": content},
                                    "finish_reason": "stop",
                                }
                            ],
                            "usage": {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110},
                        },
                    )
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def client_hung_up(self) -> bool:
                readable, _, _ = select.select([self.connection], [], [], 0)
                return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""

            def event(self, delta):
                chunk = {
                    "id": "c1",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": "m",
                    "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
                }
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def reset(self):
        self.words, self.status, self.delay_s = list(WORDS), 200, 0.0
        self.reply, self.fail_after, self.answered = None, None, 0
        self.answers: list[str] = []
        self.statuses: list[int] = []
        self.lock = threading.Lock()
        self.in_flight = self.max_in_flight = 0  # requests being answered now / at most at once
        self.requests: list[dict] = []
        self.sent = 0
        self.hung_up = threading.Event()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def running_server():
    srv = ChatServer()
    yield srv
    srv.close()


@pytest.fixture
def server(running_server):
    running_server.reset()
    return running_server


@pytest.fixture(scope="module")
def ecg():
    rng = np.random.default_rng(1)
    return ECG.from_array(rng.normal(0, 0.1, (12, 5000)), fs=500, record_id="noise")


def gem_served(url) -> OpenAIInterpreter:
    return OpenAIInterpreter(url, model="gem-7b", api_key="secret", timeout_s=10)


def test_streams_the_server_chunks(server, ecg):
    backend = gem_served(server.url)
    assert isinstance(backend, Interpreter) and backend.is_gem and backend.device == server.url
    chunks = list(backend.stream(ecg, "Interpret.", GenerationParams(max_new_tokens=50, seed=3)))
    assert chunks == WORDS
    req = server.requests[0]
    assert req["path"] == "/v1/chat/completions" and req["auth"] == "Bearer secret"
    assert req["stream"] is True and req["model"] == "gem-7b" and req["max_tokens"] == 50
    assert req["temperature"] == 0 and req["seed"] == 3


def test_request_carries_png_image_and_question(server, ecg):
    list(gem_served(server.url).stream(ecg, "Interpret."))
    content = server.requests[0]["messages"][0]["content"]
    url = next(p["image_url"]["url"] for p in content if p["type"] == "image_url")
    assert url.startswith("data:image/png;base64,")
    image = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert image.format == "PNG" and image.width > 500
    text = next(p["text"] for p in content if p["type"] == "text")
    assert text == "Interpret."  # a served GEM gets GEM's own input: no measurements text


def test_general_model_also_gets_the_measurements_text(server, synthetic):
    from gem_core.features import machine_measurements_text, measure

    ecg = synthetic(heart_rate=75)
    backend = OpenAIInterpreter(server.url, model="qwen2-vl", timeout_s=10)
    assert not backend.is_gem and "not GEM" in backend.label
    list(backend.stream(ecg, "Interpret.", image=Image.new("RGB", (40, 30))))
    text = next(p["text"] for p in server.requests[0]["messages"][0]["content"] if p["type"] == "text")
    assert text.startswith("Interpret.") and machine_measurements_text(measure(ecg)) in text


def test_stop_closes_the_stream(server, ecg):
    server.words = [f" w{i}" for i in range(200)]
    server.delay_s = 0.01
    stop = threading.Event()
    got = []
    for chunk in gem_served(server.url).stream(ecg, "Q", stop=stop):
        got.append(chunk)
        if len(got) == 2:
            stop.set()
    assert got == [" w0", " w1"]
    assert server.hung_up.wait(5)  # the connection was closed, so the server stopped sending
    assert server.sent < 200


def test_server_down_is_a_clear_error(ecg):
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(GemError, match="cannot reach") as err:
        list(gem_served(url).stream(ecg, "Q"))
    assert "GEM_OPENAI_BASE_URL" in str(err.value)


@pytest.mark.parametrize(
    ("status", "hint"),
    [
        (401, "API_KEY"),
        (404, "GEM_OPENAI_MODEL"),
        (500, "server's log"),
        (503, "server's log"),
        (400, "request"),
    ],
)
def test_http_errors_are_clear(server, ecg, status, hint):
    server.status = status
    with pytest.raises(GemError, match=f"HTTP {status}") as err:
        list(gem_served(server.url).stream(ecg, "Q"))
    assert f"status {status} on purpose" in str(err.value) and hint in str(err.value)


def test_from_settings(server):
    settings = Settings(openai_base_url=server.url, openai_model="gem", request_timeout_s=5)
    backend = get_backend("openai", settings)
    assert isinstance(backend, OpenAIInterpreter) and backend.model == "gem"
    assert "openai" in available_backends(settings)
    with pytest.raises(GemError, match="GEM_OPENAI_BASE_URL"):
        OpenAIInterpreter.from_settings(Settings())
