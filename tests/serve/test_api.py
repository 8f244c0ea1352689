"""The JSON API through FastAPI's test client, a bounded schemathesis run, and the page in chromium."""

from __future__ import annotations

import io
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import schemathesis
import torch
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from schemathesis.checks import not_a_server_error

from unlogit.data.config import DataConfig
from unlogit.inversion.inverter import load_inverter
from unlogit.serve.api import create_app
from unlogit.serve.explorer import Explorer
from unlogit.serve.uploads import UploadLimits


@pytest.fixture(scope="module")
def explorer(tiny_inverter_run) -> Explorer:
    gallery = DataConfig(name="shapes", test_size=6).load("test")
    inverters = {"robust": load_inverter(tiny_inverter_run), "standard": load_inverter(tiny_inverter_run)}
    return Explorer(inverters, gallery)


@pytest.fixture(scope="module")
def app(explorer):
    limits = UploadLimits(max_bytes=200_000, max_pixels=1024 * 1024)
    return create_app(explorer, limits, hosts=["testserver"])  # schemathesis's ASGI host


HEADERS = {"X-Unlogit": "1"}  # what the page sends on every POST


@pytest.fixture(scope="module")
def client(app):
    return TestClient(app, base_url="http://127.0.0.1", headers=HEADERS)


def png(size=(40, 40), colour=(200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="PNG")
    return buf.getvalue()


def explore(client, **body):
    return client.post("/api/explore", json={"image": {"gallery": 0}, "samples": 2, **body})


def test_info_page_and_gallery(client):
    info = client.get("/api/info").json()
    assert [i["name"] for i in info["inverters"]] == ["robust", "standard"]
    assert len(info["classes"]) == 10 and info["image_shape"] == [3, 32, 32] and info["gallery_size"] == 6
    page = client.get("/")
    assert page.status_code == 200 and "unlogit explorer" in page.text and 'id="upload"' in page.text
    img = client.get("/api/gallery/1.png")
    assert img.headers["content-type"] == "image/png" and Image.open(io.BytesIO(img.content)).size == (128, 128)
    assert client.get("/api/gallery/6.png").status_code == 404
    assert "/api/explore" in client.get("/openapi.json").json()["paths"]


def test_explore_answers_and_follows_a_slider(client, explorer):
    a = explore(client).json()
    assert len(a["inverters"]) == 2 and len(a["inverters"][0]["reconstructions"]) == 2
    assert a["input"].startswith("data:image/png;base64,") and len(a["inverters"][0]["top5"]) == 5
    assert {"class", "name", "prob", "logit"} <= set(a["inverters"][0]["top5"][0])
    assert explore(client).json()["inverters"][0]["reconstructions"] == a["inverters"][0]["reconstructions"]
    b = explore(client, logits={"scale": 3.0, "shift": 2.0}).json()
    assert b["inverters"][0]["reconstructions"] != a["inverters"][0]["reconstructions"]
    units = explorer.units["robust"]  # scale about the class mean, shift in mean class sigmas
    mu, sigma = float(units.mean[0]), float(units.sigma)
    expected = mu + 3 * (a["inverters"][0]["logits"][0] - mu) + 2 * sigma
    assert b["inverters"][0]["edited_logits"][0] == pytest.approx(expected, rel=1e-5)
    c = explore(client, transform={"hflip": True, "rotate": 30}, attack={"norm": "l2", "eps": 0.5, "steps": 2}).json()
    assert c["input"] != a["input"]


def test_upload_then_explore_it(client):
    up = client.post("/api/uploads", files={"file": ("red.png", png(), "image/png")})
    assert up.status_code == 201, up.text
    uid = up.json()["id"]
    r = client.post("/api/explore", json={"image": {"upload": uid}, "logits": {"other": {"gallery": 2}, "alpha": 0.5}})
    assert r.status_code == 200 and len(r.json()["inverters"][1]["reconstructions"]) == 4
    grid = client.post("/api/grid.png", json={"image": {"upload": uid}, "samples": 3})
    assert grid.headers["content-type"] == "image/png"
    w, h = Image.open(io.BytesIO(grid.content)).size
    assert w > h > 0  # two rows (inverters) of four tiles (input + three samples)


@pytest.mark.parametrize(
    ("call", "status", "words"),
    [
        (lambda c: c.post("/api/uploads", files={"file": ("x.png", b"\x89PNG broken", "image/png")}), 415, "PNG"),
        (lambda c: c.post("/api/uploads", files={"file": ("big.png", b"0" * 300_000, "image/png")}), 413, "limit"),
        (lambda c: c.post("/api/uploads", files={"file": ("huge.png", png((2000, 2000)), "image/png")}), 413, "pixels"),
        (lambda c: c.post("/api/uploads", data={"nothing": "here"}), 422, "file"),
        (lambda c: c.post("/api/explore", json={"image": {"upload": "0" * 32}}), 404, "no upload"),
        (lambda c: c.post("/api/explore", json={"image": {"gallery": 99}}), 404, "out of range"),
        (lambda c: c.post("/api/explore", json={"image": {}}), 422, "exactly one"),
        (lambda c: c.post("/api/explore", json={"image": {"gallery": 0}, "samples": 500}), 422, "samples"),
        (lambda c: c.post("/api/explore", content=b"{not json", headers={"content-type": "application/json"}), 422, ""),
        (lambda c: explore(c, logits={"class_deltas": [1.0, 2.0]}), 422, "one per class"),
        (lambda c: explore(c, logits={"alpha": 0.5}), 422, "second image"),
        (lambda c: explore(c, attack={"norm": "linf", "eps": 0.1, "against": 7}), 422, "against"),
        (lambda c: explore(c, surprise=1), 422, "surprise"),
    ],
)
def test_bad_requests_get_clear_4xx(client, call, status, words):
    r = call(client)
    assert r.status_code == status, r.text
    assert words in r.text


def test_concurrent_requests_are_safe_and_consistent(client):
    bodies = [{"logits": {"shift": float(i % 3)}} for i in range(12)]
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda b: explore(client, **b), bodies))
    assert all(r.status_code == 200 for r in answers)
    by_shift: dict[int, str] = {}
    for i, r in enumerate(answers):
        first = r.json()["inverters"][0]["reconstructions"][0]
        assert by_shift.setdefault(i % 3, first) == first  # the same request always gives the same images


def test_openapi_fuzz_never_5xx(app):
    """A bounded schemathesis run over every operation: whatever the schema admits, never a 5xx."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/api/explore", "/api/uploads", "/api/grid.png", "/api/info"}
    seen: list[int] = []

    @given(case=st.one_of([op.as_strategy() for op in operations]))
    @settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    def fuzz(case):
        response = case.call_and_validate(checks=[not_a_server_error], headers=HEADERS)
        seen.append(response.status_code)

    torch.set_flush_denormal(False)  # hypothesis needs IEEE subnormals; conftest flushes them for speed
    try:
        fuzz()
    finally:
        torch.set_flush_denormal(True)
    assert len(seen) >= 30 and all(code < 500 for code in seen)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(app):
    import uvicorn

    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


def test_page_in_chromium_upload_and_slider_change_the_reconstruction(server, browser, tmp_path):
    (tmp_path / "upload.png").write_bytes(png((48, 48), (20, 160, 40)))
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server + "/")
    page.wait_for_function("document.querySelector('#recon-0-0') && document.querySelector('#recon-0-0').src")
    first = page.get_attribute("#recon-0-0", "src")
    page.set_input_files("#upload", str(tmp_path / "upload.png"))
    page.wait_for_function(f"document.querySelector('#recon-0-0').src !== {first!r}")
    uploaded = page.get_attribute("#recon-0-0", "src")
    page.eval_on_selector("#shift", "el => { el.value = 6; el.dispatchEvent(new Event('input')); }")
    page.wait_for_function(f"document.querySelector('#recon-0-0').src !== {uploaded!r}")
    assert page.text_content("#shift + output") == "6"
    assert page.locator(".recon").count() == 8  # two inverters x four samples
    against = page.eval_on_selector_all("#attack-against option", "os => os.map(o => o.textContent)")
    info = page.evaluate("fetch('/api/info').then(r => r.json())")
    assert against == [f"{i['classifier']} (of {i['name']})" for i in info["inverters"]]  # classifiers, named
    with page.expect_download() as dl:
        page.click("#download")
    assert dl.value.suggested_filename == "unlogit-grid.png"
    page.close()
    assert not errors, errors
