"""Shared fixtures: offline, CPU, small. Trained models are session-scoped and built once."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("UNLOGIT_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(autouse=True, scope="session")
def _cpu_threads():
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    torch.set_flush_denormal(True)


@pytest.fixture(autouse=True)
def _isolated_data_env(monkeypatch, tmp_path):
    """No test reads the user's ./data or ~/.cache, or downloads: run in a temp dir with UNLOGIT_DATA unset and
    UNLOGIT_OFFLINE set."""
    monkeypatch.delenv("UNLOGIT_DATA", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("UNLOGIT_OFFLINE", "1")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)


def missing_in_ci_fails(message: str) -> None:
    """A test's missing prerequisite: a failure in CI (``.ci/run`` provides every one), a skip elsewhere."""
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "cifar10" / "lossless_subsets.npz").is_file():
        missing_in_ci_fails(f"shared test data not found at {SHARED_DATA}; set UNLOGIT_SHARED_DATA")
    return SHARED_DATA


@pytest.fixture(scope="session")
def compile_toolchain() -> None:
    """torch.compile's CPU toolchain (a C++ compiler and Python.h; .ci/run installs g++)."""
    from unlogit.runtime.device import compile_toolchain_missing

    missing = compile_toolchain_missing(torch.device("cpu"))
    if missing:
        missing_in_ci_fails(f"torch.compile on CPU needs {missing} (.ci/run installs g++)")


@pytest.fixture(scope="session")
def cifar_npz(tmp_path_factory, shared_data) -> Path:
    """A small CIFAR-10 npz (first 200 lossless test images) in the loader's documented format."""
    import numpy as np

    with np.load(shared_data / "cifar10" / "lossless_subsets.npz") as z:
        x, y = z["x_test_first1000"][:200], z["y_test_first1000"][:200]
    path = tmp_path_factory.mktemp("cifar") / "test.npz"
    np.savez(path, x=x, y=y)
    return path


def write_idx(path: Path, array) -> None:
    """A gzipped uint8 IDX file (the MNIST family's format) holding ``array``."""
    import gzip
    import struct

    import numpy as np

    array = np.asarray(array)
    header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.astype(np.uint8).tobytes())


def write_idx_dataset(root: Path, name: str = "fashion-mnist", n: int = 64) -> Path:
    """Tiny train and t10k IDX files for an MNIST-family dataset under ``root/name`` (no download, no apt)."""
    import numpy as np

    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for prefix in ("train", "t10k"):
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 255, (n, 28, 28)))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", np.arange(n) % 10)
    return root


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium driven headless by Playwright (both installed by .ci/run; required in CI)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if sync_playwright is None or not os.path.exists(CHROMIUM):
        missing_in_ci_fails("headless browser tests need playwright and Debian's chromium (installed by .ci/run)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def report_layout(browser, index: Path, screenshot: Path) -> dict:
    """A report page at 1,280 x 800 in headless chromium: its images, width, title and where the verdict is
    (a screenshot of the first screen is left at ``screenshot``)."""
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(index.as_uri())
    page.wait_for_load_state("load")
    out = {
        "images": page.evaluate("Array.from(document.images).map(i => [i.complete, i.naturalWidth])"),
        "width": page.evaluate("document.documentElement.scrollWidth"),
        "verdict_top": page.evaluate("document.querySelector('.verdict').getBoundingClientRect().top"),
        "title": page.title(),
    }
    page.screenshot(path=str(screenshot), full_page=False)
    page.close()
    return out


def _train_tiny_classifier(root: Path, name: str, *overrides: str) -> Path:
    from unlogit.classifiers.config import ClassifierRunConfig
    from unlogit.classifiers.training import train_classifier
    from unlogit.config import build_config

    cfg = build_config(
        ClassifierRunConfig,
        "classifier",
        "tiny",
        [
            "data.train_size=8000",
            "data.test_size=500",
            "model.width=12",
            "train.epochs=6",
            "train.lr=0.2",
            "train.batch_size=64",
            "train.progress=false",
            "train.eval_robust_size=100",
            *overrides,
        ],
    )
    out = root / name
    train_classifier(cfg, out)
    return out


@pytest.fixture(scope="session")
def tiny_classifier_run(tmp_path_factory) -> Path:
    """A small CNN trained on shapes for a few seconds (a run directory)."""
    return _train_tiny_classifier(tmp_path_factory.mktemp("runs"), "clf-tiny")


@pytest.fixture(scope="session")
def evaluator_run(tmp_path_factory) -> Path:
    """An independent judge of the tiny inverter: another width and seed (independent by weights, what evaluate
    checks), quick to train."""
    return _train_tiny_classifier(
        tmp_path_factory.mktemp("eval"), "evaluator", "model.width=8", "train.seed=1", "train.epochs=3"
    )


@pytest.fixture(scope="session")
def tiny_inverter_run(tmp_path_factory, tiny_classifier_run) -> Path:
    """A tiny GAN inverter trained for a handful of steps (a run directory)."""
    from unlogit import train_inverter
    from unlogit.config import build_config
    from unlogit.inversion.config import InverterRunConfig

    cfg = build_config(
        InverterRunConfig, "inverter", "tiny", TINY_GAN_OVERRIDES, {"classifier": str(tiny_classifier_run)}
    )
    out = tmp_path_factory.mktemp("runs") / "inv-tiny"
    train_inverter(cfg, out)
    return out


TINY_GAN_OVERRIDES = [
    "data.train_size=512",
    "data.test_size=64",
    "model.ch_g=4",
    "model.ch_d=4",
    "model.dim_z=16",
    "train.steps=6",
    "train.batch_size=16",
    "train.ema_start=2",
    "train.log_every=2",
    "train.sample_every=3",
    "train.checkpoint_every=3",
    "train.eval_size=32",
    "train.standing_stats_batches=2",
    "train.progress=false",
    "train.amp=off",  # the fast-path choice is measured (train/fastpath.py); its own tests cover it
    "train.channels_last=false",
    "train.compile=false",
]


MINI_CLF = [
    "data.train_size=3000",
    "data.test_size=300",
    "model.width=4",
    "train.epochs=1",
    "train.progress=false",
    "train.eval_robust_size=50",
]


RIDGE = ["data.train_size=512", "data.test_size=64", "model.ridge_anchors=128"]


def mini_study_spec(analyze: bool = True) -> dict:
    """A seconds-long study: standard, robust and evaluator classifiers, two GAN inverters, a baseline."""
    spec = {
        "name": "mini",
        "data": {"name": "shapes"},
        "classifiers": {
            "standard": {"preset": "tiny", "overrides": MINI_CLF},
            "robust": {"preset": "tiny-robust", "overrides": [*MINI_CLF, "train.attack.steps=1"]},
            "evaluator": {"preset": "tiny-evaluator", "overrides": [*MINI_CLF, "model.width=4", "data.part=b"]},
            "robust-evaluator": {
                "preset": "tiny-robust",
                "overrides": [*MINI_CLF, "data.part=b", "train.attack.steps=1", "train.seed=2"],
            },
        },
        "evaluators": ["evaluator", "robust-evaluator"],
        "inverters": {
            "standard": {"classifier": "standard", "preset": "tiny", "overrides": TINY_GAN_OVERRIDES, "steps": 6},
            "robust": {"classifier": "robust", "preset": "tiny", "overrides": TINY_GAN_OVERRIDES, "steps": 6},
            **{
                f"{arm}-ridge": {"classifier": arm, "preset": "tiny", "method": "ridge", "seeds": 1, "overrides": RIDGE}
                for arm in ("standard", "robust")
            },
            # a control recipe's probe; here the standard classifier once more (a test of the plumbing only)
            "control-ridge": {
                "classifier": "standard",
                "preset": "tiny",
                "method": "ridge",
                "seeds": 1,
                "overrides": RIDGE,
            },
        },
        "compare": {"n": 4, "eval_size": 40, "first": 40, "pilot_images": 40},
        "claim": {
            "a": "robust",
            "b": "standard",
            "confirmatory": True,
            "noise_draws": 2,
            "reference_a": "robust-ridge",
            "reference_b": "standard-ridge",
            "controls": ["control-ridge"],
        },
        "findings": {"n": 40, "ids": ["C2", "C3", "C6a", "C6b", "C6c", "C8"]},
        "evaluate": analyze,
        "report": analyze,
    }
    if analyze:
        experiments = [
            "reconstruct",
            "noise",
            "misclassified",
            "adversarial",
            "logit-shift",
            "logit-scale",
            "logit-perturb",
            "logit-interpolate",
            "transforms",
            "leakage",
            "factors",
            "ceiling",
            "draw-mean",
        ]
        spec["analyze"] = {"experiments": experiments, "n": 4, "pool": 120}
    return spec


@pytest.fixture(scope="session")
def mini_study_dir(tmp_path_factory) -> Path:
    """The mini study run once, with every experiment and the HTML report."""
    import yaml

    import unlogit

    root = tmp_path_factory.mktemp("study")
    (root / "mini.yaml").write_text(yaml.safe_dump(mini_study_spec(), sort_keys=False))
    out = root / "out"
    unlogit.run_study(root / "mini.yaml", out)
    return out
