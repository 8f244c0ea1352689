"""``unlogit demo``: CIFAR-10 when it is on the search path or can be downloaded (checksum verified), the shapes
fallback (saying so first) when it cannot."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import tarfile
import threading

import pytest
import torch

from unlogit.data import download
from unlogit.study.demo import CIFAR_STUDY, SHAPES_STUDY, choose_demo

from ..badinput.test_datasets import _cifar_folder
from ..conftest import report_layout


def test_offline_without_cifar10_the_demo_says_so_first_and_falls_back(capsys):
    choice = choose_demo()  # the tests run with UNLOGIT_OFFLINE set
    assert choice.study == SHAPES_STUDY and choice.header.startswith("Offline fallback")
    printed = capsys.readouterr().out
    assert printed.startswith("Offline fallback") and "Looked in" in printed


def test_with_cifar10_on_the_search_path_the_demo_uses_it(shared_data, monkeypatch):
    monkeypatch.setenv("UNLOGIT_DATA", str(shared_data))
    choice = choose_demo()
    assert choice.study == CIFAR_STUDY and "CIFAR-10" in choice.header


@pytest.fixture
def archive_server(tmp_path):
    """A loopback HTTP server holding a small cifar-10-python.tar.gz (torchvision's layout); yields its URL
    and the archive's MD5."""
    folder = _cifar_folder(tmp_path / "src")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(folder / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    body = buf.getvalue()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/cifar-10-python.tar.gz", hashlib.md5(body).hexdigest()
    server.shutdown()


def test_online_the_demo_downloads_cifar10_into_the_cache_checksum_first(archive_server, monkeypatch, tmp_path, capsys):
    url, md5 = archive_server
    monkeypatch.delenv("UNLOGIT_OFFLINE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(download, "CIFAR10_URL", url)
    monkeypatch.setattr(download, "CIFAR10_MD5", md5)
    choice = choose_demo()
    assert choice.study == CIFAR_STUDY and "downloaded into" in choice.header
    assert (tmp_path / "cache" / "unlogit" / "data" / "cifar-10-batches-py" / "test_batch").is_file()
    assert "downloading CIFAR-10 (170 MB)" in capsys.readouterr().out  # size and destination first


def test_a_download_with_the_wrong_checksum_is_not_unpacked_and_the_demo_falls_back(
    archive_server, monkeypatch, tmp_path
):
    url, _ = archive_server
    monkeypatch.delenv("UNLOGIT_OFFLINE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(download, "CIFAR10_URL", url)
    choice = choose_demo()
    assert choice.study == SHAPES_STUDY and "MD5" in choice.header
    assert not (tmp_path / "cache" / "unlogit" / "data" / "cifar-10-batches-py").exists()


def test_the_cifar10_demo_runs_end_to_end_in_miniature(shared_data, monkeypatch, tmp_path, browser):
    """The real demo study and its shipped classifiers, every stage cut to seconds (``--smoke``); its report
    fits 1,280 px in headless chromium with the verdict on the first screen."""
    from unlogit.study.config import load_study, scoped_overrides
    from unlogit.study.runner import run_study

    monkeypatch.setenv("UNLOGIT_DATA", str(shared_data))
    scoped = scoped_overrides(["train.amp=off", "train.channels_last=false", "train.progress=false"], smoke=True)
    cfg = scoped.apply(load_study(CIFAR_STUDY, scoped.study))
    from unlogit.report.page import build_report

    summary = run_study(cfg, tmp_path / "demo", scoped.every, header="CIFAR-10 (test)", reporter=build_report)
    shipped = {f"unlogit:cifar10-{n}" for n in ("standard-s0", "robust-s0", "eval-standard", "eval-robust")}
    assert {r for refs in summary["classifiers"].values() for r in refs} <= shipped
    claim = json.loads((tmp_path / "demo" / "claim.json").read_text())
    assert claim["n_images"] == 64 and claim["dataset"] == "cifar10" and claim["verdict"]
    assert claim["primary"] == "retrieval@layout" and claim["training"]["robust"]["steps"] == [30]
    findings = json.loads((tmp_path / "demo" / "findings.json").read_text())["findings"]
    assert {f["id"] for f in findings} == {"C2", "C3", "C6a", "C6b", "C6c", "C8", "C9"}
    page = (tmp_path / "demo" / "report" / "index.html").read_text()
    assert "CIFAR-10 (test)" in page and "The claim:" in page and "about these two weight files" in page
    layout = report_layout(browser, tmp_path / "demo" / "report" / "index.html", tmp_path / "demo-report.png")
    assert layout["width"] <= 1280, f"the CIFAR-10 demo report is {layout['width']} px wide at 1280 px"
    assert 0 <= layout["verdict_top"] < 800 and all(done and w > 0 for done, w in layout["images"])
    from unlogit.data.config import DataConfig

    first = DataConfig(name="cifar10").load("test").labels[:12]
    assert len(torch.unique(first)) == 10  # Figure 1 spans the classes (the test npz is sorted by class)


def test_the_offline_demo_loads_the_shipped_shapes_classifiers_and_trains_them_only_from_scratch(tmp_path):
    """No classifier training in the offline demo (the zoo has them); ``--from-scratch`` plans the presets."""
    from unlogit.study.config import load_study
    from unlogit.study.stages import plan_study

    cfg = load_study(SHAPES_STUDY)
    shipped = plan_study(cfg, tmp_path / "a").classifiers
    assert shipped == {name: [f"unlogit:shapes-{name}"] for name in cfg.classifiers}
    assert not [r for r in plan_study(cfg, tmp_path / "b").runs() if r.kind == "classifier"]
    scratch = [r for r in plan_study(cfg, tmp_path / "c", from_scratch=True).runs() if r.kind == "classifier"]
    assert sorted(r.stage for r in scratch) == sorted(cfg.classifiers)


def test_a_capped_arm_gets_no_verdict_and_a_non_zero_exit(tmp_path, capsys):
    """The demo with one arm stopped by a time cap: claim.json, every finding and the report's first line say
    "not comparable" and name the cap; the command exits 3 with the fix, not 0 with a verdict."""
    from unlogit.cli import main

    out = tmp_path / "capped"
    argv = ["study", "demo", "--smoke", "--out", str(out), "inverters.standard.max_minutes=0.001"]
    assert main([*argv, "train.amp=off", "train.channels_last=false", "train.progress=false"]) == 3
    err = capsys.readouterr().err
    assert "no verdict" in err and "standard capped at" in err and "without max_minutes" in err
    claim = json.loads((out / "claim.json").read_text())
    assert claim["verdict"] == "not comparable"
    assert any(r.startswith("not comparable: standard capped at") for r in claim["excluded"])
    findings = json.loads((out / "findings.json").read_text())["findings"]
    assert findings and all(f["verdict"] == "not comparable" and "capped" in f["why"] for f in findings)
    page = (out / "report" / "index.html").read_text()
    first = page[page.index('class="verdict"') :][:600]
    assert "not comparable" in first and "standard capped at" in first
