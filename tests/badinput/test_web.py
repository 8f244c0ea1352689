"""Bad input, surface: the web explorer. Whatever arrives, the answer is a 4xx with a reason, never a 500."""

from __future__ import annotations

import contextlib
import io
import json
import zlib

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from unlogit.data.config import DataConfig
from unlogit.inversion.inverter import load_inverter
from unlogit.serve.api import create_app
from unlogit.serve.explorer import Explorer
from unlogit.serve.uploads import UploadLimits

HEADERS = {"X-Unlogit": "1"}
NUMBER_FIELDS = [
    ("transform", "rotate"),
    ("transform", "brightness"),
    ("transform", "crop"),
    ("attack", "eps"),
    ("logits", "shift"),
    ("logits", "scale"),
    ("logits", "noise_std"),
    ("logits", "alpha"),
]


@pytest.fixture(scope="module")
def client(tiny_inverter_run):
    gallery = DataConfig(name="shapes", test_size=4).load("test")
    app = create_app(Explorer({"a": load_inverter(tiny_inverter_run)}, gallery), UploadLimits(max_bytes=100_000))
    return TestClient(app, base_url="http://127.0.0.1", headers=HEADERS)


@pytest.mark.parametrize("section,field", NUMBER_FIELDS)
@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e308", "-1e308"])
def test_non_finite_and_huge_numbers_are_422_with_a_json_body(client, section, field, value):
    body = json.dumps({"image": {"gallery": 0}, section: {field: "VALUE"}}).replace('"VALUE"', value)
    r = client.post("/api/explore", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert json.loads(r.text)["detail"]  # a valid JSON answer naming the problem


def _png_with_text_chunk(size: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, format="PNG")
    png = buf.getvalue()
    payload = b"Comment\x00\x00" + zlib.compress(b"A" * size, 9)  # zTXt: tiny on disk, huge decompressed
    chunk = len(payload).to_bytes(4, "big") + b"zTXt" + payload
    chunk += zlib.crc32(b"zTXt" + payload).to_bytes(4, "big")
    return png[:33] + chunk + png[33:]  # after the IHDR chunk


def test_a_decompression_bomb_text_chunk_is_refused(client):
    r = client.post("/api/uploads", files={"file": ("bomb.png", _png_with_text_chunk(100_000_000), "image/png")})
    assert 400 <= r.status_code < 500 and "PNG or JPEG" in r.json()["detail"]


def test_a_body_over_the_limit_is_refused_before_it_is_read(client):
    r = client.post("/api/uploads", files={"file": ("big.png", b"\x89PNG" + b"0" * 400_000, "image/png")})
    assert r.status_code == 413 and "larger than" in r.json()["detail"]


def test_foreign_hosts_and_cross_site_posts_are_refused(client, tiny_inverter_run):
    assert client.get("/api/info", headers={"host": "evil.example"}).status_code == 400  # DNS rebinding
    bare = TestClient(client.app, base_url="http://127.0.0.1")  # no X-Unlogit header: another site's form
    r = bare.post("/api/uploads", files={"file": ("x.png", b"\x89PNG", "image/png")})
    assert r.status_code == 403 and "X-Unlogit" in r.json()["detail"]
    info = client.get("/api/info").json()
    assert all("/" not in inv["classifier"] for inv in info["inverters"])  # no paths of this machine


@pytest.mark.parametrize("index", [True, "3", 1.5])
def test_an_index_that_is_not_an_integer_is_refused(client, index):
    response = client.post("/api/explore", json={"image": {"gallery": index}})
    assert response.status_code == 422


@contextlib.contextmanager
def _served(app, **options):
    """``app`` served by uvicorn with the explorer's protocol limits on a free loopback port; yields the port."""
    import socket
    import threading
    import time

    import uvicorn

    from unlogit.serve.launch import server_options

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, **server_options(**options), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(timeout=5)


def test_slow_clients_are_timed_out_and_a_normal_request_succeeds_again():
    """Partial request heads on loopback (a bounded Slowloris): each is closed after the header timeout, past
    the connection bound new ones are closed at once, and a normal request is answered again."""
    import socket
    import time

    import httpx
    from fastapi import FastAPI

    app = FastAPI()
    app.get("/ping")(lambda: {"ok": True})
    with _served(app, header_timeout=1.0, max_connections=8) as port:
        slow = []
        for _ in range(20):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never finishes the head
            slow.append(s)
        time.sleep(1.8)
        closed = 0
        for s in slow:
            s.settimeout(0.5)
            try:
                closed += s.recv(1) == b""
            except (ConnectionResetError, TimeoutError, OSError):
                closed += 1
            s.close()
        assert closed == len(slow)
        assert httpx.get(f"http://127.0.0.1:{port}/ping", timeout=5).json() == {"ok": True}


def test_a_slow_body_cannot_hold_its_connection_past_the_request_deadline():
    """A complete head, then one body byte at a time: the request's one deadline (head time plus the declared
    body at the minimum rate) closes it; a normal POST in the meantime is answered."""
    import socket
    import time

    import httpx
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def echo(request) -> JSONResponse:
        return JSONResponse({"bytes": len(await request.body())})

    app = Starlette(routes=[Route("/echo", echo, methods=["POST"])])
    slow: list = []
    with _served(app, header_timeout=1.0, max_connections=8, min_body_rate=100_000, max_body=1 << 20) as port:
        for _ in range(6):  # 42 kB declared: allowed 1.0 + 0.42 s in all
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 42000\r\n\r\nx")
            slow.append(s)
        start, closed = time.monotonic(), set()
        while len(closed) < len(slow) and time.monotonic() - start < 6:
            for i, s in enumerate(slow):
                if i in closed:
                    continue
                try:
                    s.sendall(b"x")  # one byte now and then: uvicorn alone would wait for ever
                except OSError:
                    closed.add(i)
            time.sleep(0.3)
        assert len(closed) == len(slow) and time.monotonic() - start < 4, (len(closed), time.monotonic() - start)
        answer = httpx.post(f"http://127.0.0.1:{port}/echo", content=b"y" * 42000, timeout=5)
        assert answer.json() == {"bytes": 42000}
    for s in slow:
        s.close()


def test_the_failed_accept_message_is_rate_limited(caplog):
    import logging

    from unlogit.serve.protocol import install_log_limits

    limiter = install_log_limits(interval=60)
    limiter.dropped, limiter._last = 0, {}
    try:
        with caplog.at_level(logging.ERROR, logger="asyncio"):
            for _ in range(1000):
                logging.getLogger("asyncio").error("socket.accept() out of system resource", exc_info=OSError(24))
        assert len([r for r in caplog.records if "accept" in r.getMessage()]) == 1 and limiter.dropped == 999
    finally:
        logging.getLogger("asyncio").removeFilter(limiter)


def test_uploads_decode_a_few_at_a_time_and_overload_is_503_with_retry_after(tiny_inverter_run, monkeypatch):
    """Decoding is bounded (each decode may hold ~8 bytes per declared pixel): past ``max_decodes`` busy slots
    an upload waits ``wait_seconds`` and is then answered 503 with Retry-After, never 500."""
    import threading

    import unlogit.serve.api as api

    gallery = DataConfig(name="shapes", test_size=4).load("test")
    app = create_app(
        Explorer({"a": load_inverter(tiny_inverter_run)}, gallery),
        UploadLimits(max_bytes=100_000, max_decodes=1, wait_seconds=0.2),
    )
    client = TestClient(app, base_url="http://127.0.0.1", headers={"X-Unlogit": "1"})
    release, entered = threading.Event(), threading.Event()
    real = api.decode_upload

    def slow_decode(*args, **kwargs):
        entered.set()
        release.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(api, "decode_upload", slow_decode)
    buf = io.BytesIO()
    Image.new("RGB", (40, 40), (9, 9, 9)).save(buf, format="PNG")
    files = {"file": ("a.png", buf.getvalue(), "image/png")}
    first: list = []
    worker = threading.Thread(target=lambda: first.append(client.post("/api/uploads", files=files)))
    worker.start()
    assert entered.wait(10)
    busy = client.post("/api/uploads", files=files)
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "2" and "busy" in busy.json()["detail"]
    release.set()
    worker.join(10)
    assert first[0].status_code == 201
    assert client.post("/api/uploads", files=files).status_code == 201  # the slot is free again


def test_running_out_of_memory_is_503_with_retry_after(client, monkeypatch):
    import unlogit.serve.api as api

    def exhausted(*_args, **_kwargs):
        raise MemoryError

    monkeypatch.setattr(api, "decode_upload", exhausted)
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, format="PNG")
    answer = client.post("/api/uploads", files={"file": ("a.png", buf.getvalue(), "image/png")})
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "2"
