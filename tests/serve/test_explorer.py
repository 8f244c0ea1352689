"""The explorer's computations, without a web server."""

from __future__ import annotations

import pytest
import torch

from unlogit.data.config import DataConfig
from unlogit.errors import UnlogitError
from unlogit.inversion.edits import LogitEdit, logit_units
from unlogit.inversion.inverter import Inverter, load_inverter
from unlogit.inversion.metadata import InverterMeta
from unlogit.inversion.net_spec import NetSpec
from unlogit.inversion.nets.baselines import UpConvDecoder
from unlogit.inversion.nets.logit_encoder import LogitEncoder
from unlogit.serve.explorer import AttackEdit, Explorer, ImageEdit, apply_image_edit, top_k
from unlogit.serve.launch import inverter_names, load_gallery


@pytest.fixture(scope="module")
def explorer(tiny_inverter_run) -> Explorer:
    gallery = DataConfig(name="shapes", test_size=8).load("test")
    return Explorer({"a": load_inverter(tiny_inverter_run), "b": load_inverter(tiny_inverter_run)}, gallery)


def test_the_sliders_are_in_each_classifiers_logit_units(explorer, tiny_inverter_run):
    """Without training images the gallery's images set the units; a class delta of 1 is that class's sigma."""
    gallery_x = explorer.gallery.batch(torch.arange(len(explorer.gallery)))[0]
    units = logit_units(load_inverter(tiny_inverter_run).classifier, gallery_x)
    torch.testing.assert_close(explorer.units["a"].std, units.std)
    torch.testing.assert_close(explorer.units["a"].mean, units.mean)
    own = Explorer({"a": load_inverter(tiny_inverter_run)}, explorer.gallery, unit_images=gallery_x[:4])
    assert not torch.equal(own.units["a"].std, explorer.units["a"].std)  # given training images set them


def test_image_edit_identity_and_flip():
    x = torch.rand(2, 3, 16, 16)
    assert torch.equal(apply_image_edit(x, ImageEdit()), x)
    assert torch.equal(apply_image_edit(x, ImageEdit(hflip=True)), x.flip(-1))
    cropped = apply_image_edit(x, ImageEdit(crop=0.5, brightness=0.0))
    assert cropped.shape == x.shape and float(cropped.abs().max()) == 0.0


def test_top_k_sorted_probabilities():
    rows = top_k(torch.tensor([0.0, 3.0, 1.0]), ["a", "b", "c"], k=2)
    assert [r["name"] for r in rows] == ["b", "c"] and rows[0]["prob"] > rows[1]["prob"] > 0


def test_explore_is_deterministic_and_follows_edits(explorer):
    x = explorer.gallery_image(0)
    base = explorer.explore(x, samples=3, seed=5)
    again = explorer.explore(x, samples=3, seed=5)
    assert len(base.views) == 2 and base.views[0].reconstructions.shape == (3, 3, 32, 32)
    assert torch.equal(base.views[0].reconstructions, again.views[0].reconstructions)
    assert torch.equal(base.views[0].edited, base.views[0].logits)
    shifted = explorer.explore(x, logit_edit=LogitEdit(class_deltas=[2.0] + [0.0] * 9), samples=3, seed=5)
    sigma = float(explorer.units["a"].std[0])
    assert float(shifted.views[0].edited[0] - base.views[0].logits[0]) == pytest.approx(2.0 * sigma, rel=1e-5)
    assert not torch.equal(shifted.views[0].reconstructions, base.views[0].reconstructions)
    other = explorer.explore(x, logit_edit=LogitEdit(alpha=1.0), other=explorer.gallery_image(1), seed=5)
    target = explorer.explore(explorer.gallery_image(1), seed=5)
    torch.testing.assert_close(other.views[0].edited, target.views[0].logits)


def test_attack_stays_in_the_eps_ball_and_moves_the_logits(explorer):
    x = explorer.gallery_image(2)
    clean = explorer.explore(x, samples=1)
    adv = explorer.explore(x, attack=AttackEdit(norm="linf", eps=8 / 255, steps=5), samples=1)
    assert float((adv.input - x).abs().max()) <= 8 / 255 + 1e-6
    assert not torch.equal(adv.views[0].logits, clean.views[0].logits)
    with pytest.raises(UnlogitError, match="attack.target"):
        explorer.explore(x, attack=AttackEdit(norm="linf", eps=0.1, target=99))


def test_mismatched_inverters_and_bad_shapes_are_refused(explorer, tiny_inverter_run):
    inv = load_inverter(tiny_inverter_run)
    meta = InverterMeta("pixel", NetSpec("pixel", num_classes=5, resolution=32, channels=3, ch_g=4), "x")
    odd = Inverter(UpConvDecoder(num_classes=5, resolution=32, ch=4), LogitEncoder(5), inv.classifier, meta)
    with pytest.raises(UnlogitError, match="one dataset together"):
        Explorer({"a": inv, "b": odd}, explorer.gallery)
    with pytest.raises(UnlogitError, match="at least one"):
        Explorer({}, explorer.gallery)
    with pytest.raises(UnlogitError, match="shape"):
        explorer.explore(torch.rand(3, 28, 28))
    with pytest.raises(IndexError, match="out of range"):
        explorer.gallery_image(len(explorer.gallery))


def test_gallery_comes_from_the_inverter_run(tiny_inverter_run, tmp_path):
    gallery = load_gallery(tiny_inverter_run, 5)
    assert gallery.name == "shapes" and len(gallery) == 5
    with pytest.raises(UnlogitError, match="--dataset"):
        load_gallery(tmp_path, 5)
    assert inverter_names(["runs/a", "other/a", "b"]) == ["a", "a-2", "b"]
