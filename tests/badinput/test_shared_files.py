"""Second round of hostile inputs (#33): a study file, a run folder or a results folder shared by someone else.

Each test builds its own hostile file and checks the refusal (exit 2 or a named error), that the payload had no
effect, and that nothing outside the folder changed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from unlogit.errors import ConfigError, UnlogitError
from unlogit.runtime.rundir import RunDir, RunLayout

from ..conftest import mini_study_spec
from .programs import Marker, export_linear

RESULTS = Path(__file__).resolve().parents[2] / "docs" / "results" / "shapes-demo-offline"


def _study_file(tmp_path: Path, change) -> Path:
    import copy

    spec = copy.deepcopy(mini_study_spec(analyze=False))  # its override lists are shared module constants
    change(spec)
    path = tmp_path / "shared.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


ROUTES = {
    "an inverter stage's classifier= override": lambda s: s["inverters"]["robust"]["overrides"].append(
        "classifier=os:abort"
    ),
    "train.evaluators": lambda s: s["inverters"]["standard"]["overrides"].append("train.evaluators=[os:abort]"),
    "analyze.classifier": lambda s: s.update(analyze={"classifier": "os:abort"}),
    "a classifier stage": lambda s: s["classifiers"].update(standard={"spec": "os:abort"}),
}


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_a_study_file_reaches_no_code_by_any_route(route, tmp_path):
    """Each route that reaches load_classifier is refused at plan time, before anything runs (os.abort would
    kill the process with SIGABRT); --trust-code is the one switch that lets it through."""
    path = _study_file(tmp_path, ROUTES[route])
    argv = [sys.executable, "-m", "unlogit", "study", str(path), "--out", str(tmp_path / "s"), "--list-runs"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, (out.returncode, out.stderr)
    assert "os:abort" in out.stderr and "--trust-code" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "s").exists()  # nothing written
    trusted = subprocess.run([*argv, "--trust-code"], capture_output=True, text=True, timeout=120)
    assert trusted.returncode == 0, trusted.stderr  # planning loads nothing, so it lists the runs


@pytest.mark.parametrize("name", ["../outside", "a/b", ".hidden", "x" * 101, "sp ace"])
def test_stage_and_study_names_are_names_not_paths(name, tmp_path):
    from unlogit.study.config import load_study

    renamed = _study_file(tmp_path, lambda s: s["inverters"].update({name: s["inverters"].pop("standard")}))
    with pytest.raises(ConfigError, match="letters, digits"):
        load_study(str(renamed))
    called = _study_file(tmp_path, lambda s: s.update(name=name))
    with pytest.raises(ConfigError, match="'name' must be a name"):
        load_study(str(called))


def test_a_lock_that_is_a_link_or_a_fifo_is_refused_and_its_target_untouched(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    run = tmp_path / "run"
    run.mkdir()
    os.symlink(victim, RunLayout(run).lock)
    with pytest.raises(UnlogitError, match="symbolic link"):
        RunDir(run, "inverter", {"x": 1})
    assert victim.read_text() == "precious\n"  # not truncated, no PID written
    os.unlink(RunLayout(run).lock)
    os.mkfifo(RunLayout(run).lock)
    with pytest.raises(UnlogitError, match="not a regular file"):
        RunDir(run, "inverter", {"x": 1})  # refused at once, never blocking on the pipe


def test_a_linked_metrics_log_gets_no_line_appended(tmp_path):
    run_dir = RunDir(tmp_path / "run", "inverter", {"x": 1})
    victim = tmp_path / "victim.jsonl"
    victim.write_text("mine\n")
    run_dir.log({"step": 1})
    RunLayout(run_dir.path).metrics.unlink()
    os.symlink(victim, RunLayout(run_dir.path).metrics)
    with pytest.raises(UnlogitError, match="symbolic link"):
        run_dir.log({"step": 2})
    run_dir.close()
    assert victim.read_text() == "mine\n"


@pytest.fixture
def shared_results(tmp_path) -> Path:
    """A copy of a released study folder, to be made hostile."""
    folder = tmp_path / "shared" / "study"
    shutil.copytree(RESULTS, folder)
    return folder


def _edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_a_report_writes_nothing_outside_its_folder_whatever_the_arm_names(shared_results, tmp_path):
    from unlogit.report.page import build_report

    names = {"robust": "../../../escaped", "standard": "../x"}

    def rename(obj):  # the arms renamed everywhere, so the claim is otherwise well-formed
        if isinstance(obj, dict):
            return {names.get(k, k): rename(v) for k, v in obj.items()}
        return [rename(v) for v in obj] if isinstance(obj, list) else names.get(obj, obj)

    claim = json.loads((shared_results / "claim.json").read_text())
    assert {claim["a"], claim["b"]} == set(names)
    (shared_results / "claim.json").write_text(json.dumps(rename(claim)))
    out = tmp_path / "report"
    build_report([shared_results], out)
    written = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.png")} - {
        p.relative_to(tmp_path).as_posix() for p in (tmp_path / "shared").rglob("*.png")
    }
    assert written and all(w.startswith("report/") for w in written), written


XSS = "<img src=x onerror=alert(1)>"


def test_the_report_escapes_every_name_from_a_shared_file(shared_results, tmp_path):
    from unlogit.report.page import build_report

    def poison(findings):
        f = findings["findings"][0]
        f.update(id="C2'><script>alert(1)</script>", statement=XSS, primary=XSS, verdict=XSS, title=XSS, note=XSS)

    _edit_json(shared_results / "findings.json", poison)
    page = build_report([shared_results], tmp_path / "report").read_text()
    assert "<script>alert(1)" not in page and XSS not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page  # shown as text


def test_the_report_embeds_only_files_inside_the_reported_folder(shared_results, tmp_path):
    from PIL import Image

    from unlogit.report.page import build_report

    secret = tmp_path / "secret.png"
    Image.new("RGB", (40, 40), (1, 2, 3)).save(secret)
    os.symlink(secret, shared_results / "linked.png")
    _edit_json(shared_results / "summary.json", lambda s: s.update(figure=str(secret)))
    _edit_json(shared_results / "findings.json", lambda f: f["findings"][0].update(figure="linked.png"))
    _edit_json(shared_results / "findings.json", lambda f: f["findings"][1].update(figure="../../secret.png"))
    page = build_report([shared_results], tmp_path / "report").read_text()
    import base64

    assert base64.b64encode(secret.read_bytes()).decode()[:200] not in page


@pytest.mark.parametrize(
    "content", ['{"a": ', "[1, 2]", '{"findings": [{"id": 3}]}', "\udcff".encode("utf-8", "surrogatepass")]
)
def test_a_malformed_report_input_is_one_named_error(shared_results, tmp_path, content):
    target = shared_results / "findings.json"
    target.write_bytes(content if isinstance(content, bytes) else content.encode())
    out = subprocess.run(
        [sys.executable, "-m", "unlogit", "report", str(shared_results), "-o", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert "findings.json" in out.stderr or str(shared_results) in out.stderr
    assert not (tmp_path / "r" / "index.html").exists()


# --- integrity and numbers -------------------------------------------------------------------------
def _resaved(run: Path, dst: Path, kind: str, change) -> Path:
    """A copy of a run whose model checkpoint is changed by ``change(tensors)`` and saved again with fresh
    hashes: what someone who edits weights on purpose hands over."""
    from unlogit.runtime.checkpoint import checkpoint_body, load_checkpoint, save_checkpoint

    shutil.copytree(run, dst)
    tensors, meta = load_checkpoint(dst / "model", kind)
    change(tensors)
    save_checkpoint(dst / "model", tensors, checkpoint_body(meta), kind)
    return dst


def test_an_inverter_with_nan_weights_is_refused_before_any_number_is_made(tmp_path, tiny_inverter_run):
    import torch

    def poison(tensors):
        name = next(k for k, v in tensors.items() if not k.startswith("encoder.") and v.is_floating_point())
        tensors[name] = torch.full_like(tensors[name], float("nan"))

    run = _resaved(tiny_inverter_run, tmp_path / "nan", "unlogit.inverter", poison)
    argv = ["reconstruct", "--inverter", str(run), "--dataset", "shapes", "--n", "4", "--out", str(tmp_path / "rec")]
    out = subprocess.run([sys.executable, "-m", "unlogit", *argv], capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and "NaN or infinite" in out.stderr and "Traceback" not in out.stderr, out.stderr
    assert not (tmp_path / "rec").exists() or not any((tmp_path / "rec").rglob("*.png"))


def test_a_classifier_with_infinite_weights_is_refused(tmp_path, tiny_classifier_run):
    import torch

    from unlogit.classifiers.registry import load_classifier
    from unlogit.errors import CheckpointError

    def poison(tensors):
        name = next(k for k, v in tensors.items() if v.is_floating_point() and v.numel() > 1)
        tensors[name][0] = float("inf")

    run = _resaved(tiny_classifier_run, tmp_path / "inf", "unlogit.classifier", poison)
    with pytest.raises(CheckpointError, match="NaN or infinite"):
        load_classifier(str(run))
    assert torch.isfinite(load_classifier(str(tiny_classifier_run)).mean).all()


def test_images_with_nan_pixels_stop_with_a_named_error(tiny_inverter_run):
    import torch

    from unlogit.inversion.inverter import load_inverter

    inv = load_inverter(tiny_inverter_run)
    with torch.no_grad():
        next(p for p in inv.net.parameters() if p.is_floating_point()).fill_(float("nan"))
    with pytest.raises(UnlogitError, match="NaN or infinite pixels"):
        inv.generate(torch.zeros(2, inv.num_classes))


@pytest.mark.parametrize(
    "change,named",
    [
        (lambda m: m.update(step=-3), "'step' must be a whole number"),
        (lambda m: m.update(step=2.5), "'step' must be a whole number"),
        (lambda m: m.update(elapsed="soon"), "'elapsed'"),
        (lambda m: m.update(fast_path={"amp": "fp64", "channels_last": True, "compile": False, "reason": "x"}),
         "fast_path.amp"),
        (lambda m: m.update(fast_path={"amp": "off", "evil": 1}), "fast_path.evil"),
    ],
)  # fmt: skip
def test_an_edited_last_json_is_refused_on_resume(change, named, tmp_path, tiny_classifier_run, capsys):
    """last.json is read against a schema: a negative or fractional step, a bad fast path, unknown keys."""
    from unlogit.cli import main

    from ..conftest import TINY_GAN_OVERRIDES

    out = tmp_path / "inv"
    base = ["train", "--classifier", str(tiny_classifier_run), "--out", str(out), "--preset", "tiny"]
    assert main([*base, *TINY_GAN_OVERRIDES, "train.steps=3", "train.checkpoint_every=3"]) == 0
    (out / "model.json").unlink()  # as if it stopped after its checkpoint
    (out / "model.safetensors").unlink()
    last = out / "checkpoints" / "last.json"
    meta = json.loads(last.read_text())
    change(meta)
    last.write_text(json.dumps(meta))
    before = last.read_text()
    assert main([*base, "--resume", *TINY_GAN_OVERRIDES, "train.steps=4", "train.checkpoint_every=3"]) == 2
    assert named in capsys.readouterr().err
    assert last.read_text() == before and not (out / "model.json").exists()


# --- YAML the safe loader cannot build, and sizes that would allocate before any check ------------------
@pytest.mark.parametrize(
    "line,named", [("note: 2001-13-45", "month must be in 1..12"), ("seeds: " + "9" * 5000, "4300 digits")]
)
def test_yaml_values_python_refuses_are_one_named_error_with_the_line(line, named, tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text(f"name: x\ndata: {{name: shapes}}\n{line}\n")
    out = subprocess.run(
        [sys.executable, "-m", "unlogit", "study", str(path), "--list-runs"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 2 and "line 3" in out.stderr and named in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_mixed_key_types_are_named_not_a_traceback(tmp_path):
    from unlogit.study.config import load_study

    path = tmp_path / "study.yaml"
    path.write_text("1: a\nfoo: b\nname: x\n")
    with pytest.raises(ConfigError, match="unknown config key '1'"):
        load_study(str(path))


@pytest.mark.parametrize(
    "override,named",
    [("model.ch_g=100000", "model.ch_g"), ("model.dim_z=1000000000", "model.dim_z"),
     ("data.image_size=100000", "data.image_size"), ("data.train_size=10000000000", "data.train_size"),
     ("train.batch_size=10000000", "train.batch_size"), ("model.g_channels=[4,2,1,100000]", "g_channels")],
)  # fmt: skip
def test_sizes_are_bounded_before_anything_is_read_or_allocated(override, named, tmp_path):
    argv = ["train", "--classifier", "unlogit:shapes-standard", "--preset", "tiny", "--out", str(tmp_path / "inv")]
    out = subprocess.run([sys.executable, "-m", "unlogit", *argv, override], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and named in out.stderr and "Traceback" not in out.stderr, out.stderr
    assert not (tmp_path / "inv").exists()


def test_a_study_rerun_with_another_config_is_refused_and_study_yaml_kept(tmp_path):
    """study.yaml is written once; a rerun into the folder must be the same study (where the data lives may
    move), so claim.json always belongs to it; its SHA-256 is what the claim records."""
    from unlogit.runtime.rundir import StudyLayout
    from unlogit.study.config import load_study
    from unlogit.study.runner import settle_study_yaml

    path = _study_file(tmp_path, lambda s: None)
    layout = StudyLayout(tmp_path / "study")
    digest = settle_study_yaml(layout, load_study(str(path)))
    written = layout.study_yaml.read_text()
    assert settle_study_yaml(layout, load_study(str(path))) == digest  # the same study resumes
    moved = _study_file(tmp_path, lambda s: s["data"].update(root=str(tmp_path / "elsewhere")))
    assert settle_study_yaml(layout, load_study(str(moved))) == digest
    argv = [sys.executable, "-m", "unlogit", "study", str(path), "--out", str(layout.path), "seeds=2"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "seeds: 1 -> 2" in out.stderr and "new --out" in out.stderr, out.stderr
    assert layout.study_yaml.read_text() == written and not (layout.path / "classifiers").exists()


# --- torch.export archives -------------------------------------------------------------------------
def _rewritten(good: Path, evil: Path, config_edit, extra: dict[str, bytes]) -> Path:
    import zipfile

    with zipfile.ZipFile(good) as src, zipfile.ZipFile(evil, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("weights_config.json"):
                config = json.loads(data)
                config_edit(config["config"], info.filename.rsplit("/", 1)[0])
                data = json.dumps(config).encode()
            dst.writestr(info, data)
        for name, data in extra.items():
            dst.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED)
    return evil


def test_a_pt2_whose_config_routes_a_raw_entry_to_pickle_is_refused(tmp_path):
    """The bypass: an entry with use_pickle false whose path_name torch reads by its prefix as a pickled
    object. Refused from the config, before torch opens the archive; the payload never runs."""
    import pickle

    from unlogit.classifiers.registry import load_classifier

    marker = tmp_path / "ran"
    payload = pickle.dumps(Marker(str(marker)))
    good = export_linear(tmp_path / "good.pt2")

    def route(config, folder):
        key = next(iter(config))
        config[key]["path_name"] = "opaque_obj_0/payload"
        route.member = f"{folder}/opaque_obj_0/payload"

    evil = _rewritten(good, tmp_path / "evil.pt2", route, {})
    import zipfile

    with zipfile.ZipFile(evil, "a") as z:
        z.writestr(route.member, payload)
    with pytest.raises(UnlogitError, match="unpickle"):
        load_classifier(f"export:{evil}")
    renamed = _rewritten(good, tmp_path / "renamed.pt2", lambda c, _f: c[next(iter(c))].update(path_name="x_0"), {})
    with pytest.raises(UnlogitError, match="raw weight_"):
        load_classifier(f"export:{renamed}")
    assert not marker.exists()
    assert load_classifier(f"export:{good}", num_classes=10).num_classes == 10  # the honest archive loads


def test_a_pt2_that_decompresses_past_the_cap_is_refused_streaming(tmp_path):
    from unlogit.classifiers.registry import load_classifier

    good = export_linear(tmp_path / "good.pt2")
    bomb = _rewritten(good, tmp_path / "bomb.pt2", lambda c, f: None, {"extra/zeros.bin": bytes(8 << 20)})
    assert bomb.stat().st_size < 1 << 20  # 8 MB of zeros, stored in a few kB
    with pytest.raises(UnlogitError, match=r"over the 0.004 GB .*max_gb=N"):
        load_classifier(f"export:{bomb}?max_gb=0.004")
    from unlogit.classifiers.external import check_export_archive

    check_export_archive(bomb, 0.02 * 1024**3)  # raised above it, the archive passes the check
    with pytest.raises(UnlogitError, match="max_gb must be a positive number"):
        load_classifier(f"export:{good}?max_gb=lots")


def test_a_run_folder_never_chooses_the_explorers_gallery_path(tmp_path, tiny_inverter_run):
    """A downloaded run whose config.yaml names a private folder (images:/...) or a root: serve refuses to show
    that folder unless the user names the data; the recorded root is ignored."""
    from unlogit.serve.launch import load_gallery

    private = tmp_path / "private"
    private.mkdir()
    run = tmp_path / "run"
    shutil.copytree(tiny_inverter_run, run)
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["data"].update(name=f"images:{private}", root=str(private))
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(UnlogitError, match="pass --dataset"):
        load_gallery(run, 4)
    config["data"]["name"] = "shapes"
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    assert len(load_gallery(run, 4)) == 4  # a registered dataset; the recorded root is not used
    assert len(load_gallery(run, 3, dataset="shapes")) == 3


def test_a_full_disk_during_report_or_evaluate_is_one_named_error(shared_results, tmp_path, monkeypatch, capsys):
    import errno

    import unlogit.report.page as page
    from unlogit.cli import main

    def full(path, *_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(page, "write_text_atomic", full)
    assert main(["report", str(shared_results), "-o", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and "free some disk space" in err and "Traceback" not in err


def test_a_report_of_a_folder_whose_name_is_not_utf8(shared_results, tmp_path):
    from unlogit.report.page import build_report

    odd = tmp_path / os.fsdecode(b"caf\xe9-study")  # a Latin-1 name on a UTF-8 system
    shared_results.rename(odd)
    page = build_report([odd], tmp_path / "r").read_text(encoding="utf-8")
    assert "caf" in page


def test_a_model_too_large_for_the_device_is_refused_on_the_meta_device(tmp_path, tiny_classifier_run, monkeypatch):
    """Within every per-field limit, a combination can still need more memory than the device has: G and D are
    built on the meta device and counted first, before the run directory exists."""
    import torch

    import unlogit.runtime.device as device
    from unlogit.config import build_config
    from unlogit.inversion.config import InverterRunConfig
    from unlogit.inversion.train.state import check_fits
    from unlogit.scoring.held_out import train_and_score

    from ..conftest import TINY_GAN_OVERRIDES

    cfg = build_config(
        InverterRunConfig, "inverter", "tiny", TINY_GAN_OVERRIDES, {"classifier": str(tiny_classifier_run)}
    )
    monkeypatch.setattr(device, "device_memory_bytes", lambda _device: 64 * 1024)  # a 64 kB device
    with pytest.raises(UnlogitError, match=r"needs about .* GiB .* more than"):
        train_and_score(cfg, tmp_path / "inv")
    assert not (tmp_path / "inv").exists()
    monkeypatch.undo()
    state = torch.random.get_rng_state()
    check_fits(cfg, cfg.model.net_spec(10, 3, 32), torch.device("cpu"), None)  # the real machine: it fits
    assert torch.equal(torch.random.get_rng_state(), state)  # counting on the meta device draws no random numbers
