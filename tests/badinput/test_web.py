"""Bad input, surface: the web explorer. Whatever arrives, the answer is a 4xx with a reason, never a 500."""

from __future__ import annotations

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


def test_slow_clients_are_timed_out_and_a_normal_request_succeeds_again():
    """Partial request heads on loopback (a bounded Slowloris): each is closed after the header timeout, past
    the connection bound new ones are closed at once, and a normal request is answered again."""
    import socket
    import threading
    import time

    import httpx
    import uvicorn
    from fastapi import FastAPI

    from unlogit.serve.launch import server_options

    app = FastAPI()
    app.get("/ping")(lambda: {"ok": True})
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, **server_options(header_timeout=1.0, max_connections=8), log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
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
    finally:
        server.should_exit = True
        thread.join(timeout=5)


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
