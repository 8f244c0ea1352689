from __future__ import annotations

import json

import torch

import unlogit
from unlogit import train_inverter
from unlogit.config import build_config, deep_merge, load_preset_dict
from unlogit.data import get_dataset
from unlogit.inversion.config import InverterRunConfig
from unlogit.inversion.nets.baselines import OptimizationInverter, UpConvDecoder

from ..conftest import TINY_GAN_OVERRIDES


def _cfg(method, classifier, *overrides):
    extra = deep_merge(load_preset_dict("inverter", f"methods/{method}"), {"classifier": str(classifier)})
    return build_config(InverterRunConfig, "inverter", "tiny", [*TINY_GAN_OVERRIDES, *overrides], extra)


def _losses(run, key):
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [r[key] for r in lines if key in r and not r.get("final")]


def test_decoder_shapes():
    for res, ch in ((28, 1), (32, 3), (64, 3)):
        dec = UpConvDecoder(10, res, ch, ch=4)
        assert dec(torch.randn(2, 10)).shape == (2, ch, res, res)


def test_pixel_baseline_lowers_its_loss(tmp_path, tiny_classifier_run):
    # 32 training images the decoder can fit from their logits (on the full data a standard classifier's
    # logits carry little colour, and the pixel optimum is a blurry mean)
    cfg = _cfg(
        "pixel", tiny_classifier_run, "train.steps=60", "train.log_every=20", "model.ch_g=8", "data.train_size=32"
    )
    train_inverter(cfg, tmp_path / "pixel")
    loss = _losses(tmp_path / "pixel", "loss_img")
    assert loss[-1] < 0.7 * loss[0], loss
    inv = unlogit.load_inverter(tmp_path / "pixel")
    assert inv.method == "pixel"
    x = get_dataset("shapes", "test", size=3).batch(torch.arange(3))[0]
    assert inv.reconstruct(x, samples=2).shape == (3, 2, 3, 32, 32)


def test_dosovitskiy_baseline_uses_three_losses_and_lowers_them(tmp_path, tiny_classifier_run):
    cfg = _cfg(
        "dosovitskiy", tiny_classifier_run, "train.steps=40", "train.log_every=10", "model.ch_g=8", "data.train_size=32"
    )
    assert cfg.train.lambda_img > 0 and cfg.train.lambda_feat > 0 and cfg.train.lambda_adv > 0
    train_inverter(cfg, tmp_path / "dos")
    # the reconstruction part of its objective falls (the adversarial term is a game value, not a loss that
    # must fall on its own)
    img, feat = _losses(tmp_path / "dos", "loss_img"), _losses(tmp_path / "dos", "loss_feat")
    recon = [cfg.train.lambda_img * a + cfg.train.lambda_feat * b for a, b in zip(img, feat)]
    assert recon[-1] < 0.8 * recon[0], (img, feat)
    for key in ("loss_adv", "loss_d"):
        assert _losses(tmp_path / "dos", key), key


def test_optimization_inversion_lowers_the_logit_error(tiny_classifier_run):
    clf = unlogit.load_classifier(str(tiny_classifier_run))
    x = get_dataset("shapes", "test", size=8).batch(torch.arange(8))[0]
    target = clf.predict_logits(x)
    z = torch.randn(8, 3 * 32 * 32, generator=torch.Generator().manual_seed(0))
    start = OptimizationInverter(clf, 32, 3, steps=0)(target, z)
    result = OptimizationInverter(clf, 32, 3, steps=30)(target, z)

    def err(img):
        return float(((clf.predict_logits(img) - target) ** 2).mean())

    assert err(result) < 0.5 * err(start)

    def agreement(img):
        return float((clf.predict_logits(img).argmax(1) == target.argmax(1)).float().mean())

    assert agreement(result) > agreement(start)


def test_optimize_method_writes_a_loadable_run(tmp_path, tiny_classifier_run):
    cfg = _cfg("optimize", tiny_classifier_run, "model.opt_steps=5", "train.eval_size=4")
    summary = train_inverter(cfg, tmp_path / "opt")
    assert summary["method"] == "optimize" and summary["seconds_per_image"] > 0
    inv = unlogit.load_inverter(tmp_path / "opt")
    x = get_dataset("shapes", "test", size=2).batch(torch.arange(2))[0]
    rec = inv.reconstruct(x, samples=2, seed=0)
    assert rec.shape == (2, 2, 3, 32, 32) and not torch.equal(rec[:, 0], rec[:, 1])


def test_optimize_from_the_cli(tmp_path, tiny_classifier_run, capsys):
    from unlogit.cli import main

    code = main(
        [
            "train",
            "--method",
            "optimize",
            "--classifier",
            str(tiny_classifier_run),
            "--preset",
            "tiny",
            "--out",
            str(tmp_path / "opt"),
            "model.opt_steps=3",
            "train.eval_size=4",
        ]
    )
    assert code == 0
    assert "needs no training" in capsys.readouterr().out
