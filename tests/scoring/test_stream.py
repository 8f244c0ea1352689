"""Streamed and sharded scoring: batches and processes change nothing, per image."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pytest
import torch

from unlogit import load_inverter
from unlogit.classifiers.registry import load_classifier
from unlogit.data import get_dataset
from unlogit.errors import UnlogitError
from unlogit.scoring.measure import score
from unlogit.scoring.stream import Shard, Streaming, stream_scores


def test_streaming_in_batches_equals_scoring_everything_at_once(tiny_inverter_run, evaluator_run):
    inv = load_inverter(tiny_inverter_run, device="cpu")
    data = get_dataset("shapes", "test", size=30)
    judges = {"evaluator": load_classifier(str(evaluator_run), "cpu")}
    streamed = stream_scores(inv, data, judges, seed=3, streaming=Streaming(batch_size=7))  # 5 uneven batches
    x, y = data.batch(torch.arange(len(data)))
    logits, noise = inv.logits(x), inv.sample_noise(len(x), 3)
    x_hat = torch.cat([inv.generate(logits[i : i + 7], noise[i : i + 7]) for i in range(0, len(x), 7)])
    whole = score(x, x_hat, y, inv.classifier, judges, logits=logits, retrieval=True, seed=3)
    assert set(streamed.scores.per_image) == set(whole.per_image)
    assert any(k.startswith("retrieval_class@") for k in whole.per_image) and "kid@evaluator" in whole.per_image
    # The networks see batches of 7 here and 30 there, and a CPU backend may pick another kernel for another batch
    # size (on an AMX Xeon: the logit error differs by 3e-7, KID by 7e-6, the colour correlation by 1.5e-8 with one
    # thread), so the values agree to float32 rounding
    # of the forwards; the same batches give the same values bit for bit (tests/study/test_sharded.py).
    for k, values in whole.per_image.items():
        torch.testing.assert_close(streamed.scores[k], values, rtol=1e-4, atol=1e-5, msg=k)
    assert streamed.scores.chance == whole.chance
    assert streamed.scores.colour_correlation == pytest.approx(whole.colour_correlation, rel=1e-4, abs=1e-6)
    assert set(streamed.features) == {"evaluator"} and streamed.features["evaluator"][0].shape[0] == 30


def test_more_processes_than_images_is_refused(tiny_inverter_run, evaluator_run):
    inv = load_inverter(tiny_inverter_run, device="cpu")
    judges = {"evaluator": load_classifier(str(evaluator_run), "cpu")}
    with pytest.raises(UnlogitError, match="cannot be shared by 4 processes"):
        stream_scores(inv, get_dataset("shapes", "test", size=3), judges, streaming=Streaming(Shard(0, 4)))


def test_batches_are_dealt_in_turn_and_every_process_gets_one():
    shards = [Shard(r, 3).batches(10, 2) for r in range(3)]
    assert sorted(torch.cat([torch.cat(b) for b in shards]).tolist()) == list(range(10))
    assert [b.tolist() for b in shards[1]] == [[2, 3], [8, 9]]
    assert Shard(0, 4).batch_size(10, 256) == 2  # smaller, so that each of 4 processes gets a batch


def _evaluate(out, inverter, evaluator, extractor, launcher):
    args = ["evaluate", "--inverter", str(inverter), "--dataset", "shapes", "--images", "41", "--samples", "2"]
    args += ["--batch-size", "20"]  # 41 images: batches of 20, 20 and 1, dealt to 2 processes unevenly
    args += ["--evaluator", str(evaluator), "--extractor", str(extractor), "--device", "cpu", "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "UNLOGIT_THREADS": "1"}
    done = subprocess.run([*launcher, "-m", "unlogit", *args], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_two_gloo_processes_give_the_single_process_result_per_image(
    tmp_path, tiny_inverter_run, evaluator_run, tiny_classifier_run
):
    one, two = tmp_path / "one", tmp_path / "two"
    _evaluate(one, tiny_inverter_run, evaluator_run, tiny_classifier_run, [sys.executable])
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    done = _evaluate(two, tiny_inverter_run, evaluator_run, tiny_classifier_run, torchrun)
    assert "2 processes" in done.stdout
    name = tiny_inverter_run.name
    rows = [list(csv.DictReader((d / "per_image" / f"{name}.csv").read_text().splitlines())) for d in (one, two)]
    assert len(rows[0]) == 41 and [r["index"] for r in rows[1]] == [str(i) for i in range(41)]
    assert rows[0] == rows[1]  # every value of every image, written in full precision
    results = [json.loads((d / "evaluate.json").read_text())["inverters"][name] for d in (one, two)]
    for result in results:
        result.pop("seconds_per_image")
    assert results[0] == results[1]  # retrieval, KID, Frechet (evaluator and extractor), per-class, diversity


def test_bf16_reconstructs_in_bf16_and_keeps_the_features_float32(tiny_inverter_run, evaluator_run):
    from unlogit.scoring.stream import scoring_precision

    inv = load_inverter(tiny_inverter_run, device="cpu")
    data = get_dataset("shapes", "test", size=20)
    judges = {"evaluator": load_classifier(str(evaluator_run), "cpu")}
    full, half = (stream_scores(inv, data, judges, streaming=Streaming(amp=amp)) for amp in ("off", "bf16"))
    originals_full, hat_full = full.features["evaluator"]
    originals_half, hat_half = half.features["evaluator"]
    assert originals_half.dtype == torch.float32 and torch.equal(originals_half, originals_full)  # never autocast
    assert not torch.equal(hat_half, hat_full)  # the reconstructions were made in bf16 ...
    assert torch.allclose(half.scores["psnr"], full.scores["psnr"], atol=0.5)  # ... and are close to float32's
    from unlogit.scoring.measure import pixel_scores

    x, x_hat = data.batch(torch.arange(20))[0], torch.rand(20, *inv.image_shape)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # the metrics themselves never run in bf16
        inside = pixel_scores(x, x_hat)
    assert all(torch.equal(inside[k], v) for k, v in pixel_scores(x, x_hat).items())
    assert scoring_precision("auto", torch.device("cpu"))["classify_and_reconstruct"] == "float32"
    assert scoring_precision("auto", torch.device("cuda"))["classify_and_reconstruct"] == "bf16"
    with pytest.raises(UnlogitError, match="choose one of auto, bf16, off"):
        Streaming(amp="fp16")


def test_a_streamed_unit_equals_score_per_draw_and_keeps_logits_and_reconstructions(tiny_inverter_run, evaluator_run):
    from unlogit.scoring.measure import Originals
    from unlogit.scoring.stream import stream_unit

    inv = load_inverter(tiny_inverter_run, device="cpu")
    data = get_dataset("shapes", "test", size=30)
    judges = {"evaluator": load_classifier(str(evaluator_run), "cpu")}
    x, y = data.batch(torch.arange(30))
    logits, seen = inv.logits(x), Originals(x)
    recs = inv.reconstruct_logits(logits, samples=3, seed=2)
    whole: dict = {}  # score() on every image at once, draw by draw, averaged over the draws
    for s in range(3):
        draw = score(x, recs[:, s], y, inv.classifier, judges, logits, retrieval=True, seed=2, originals=seen)
        for k, v in draw.per_image.items():
            whole[k] = whole.get(k, 0) + v.double() / 3
    shared: dict = {}
    unit = stream_unit(inv, data, judges, draws=3, seed=2, originals=shared)  # one batch: the same generator chunks
    assert set(unit.values) == set(whole) and all(torch.equal(unit.values[k], v) for k, v in whole.items())
    assert torch.equal(unit.recs, inv.reconstruct_logits(inv.logits(x), samples=3, seed=2))
    assert unit.logits.shape == (30, inv.classifier.num_classes) and list(shared) == [0]
    batched = stream_unit(inv, data, judges, draws=3, seed=2, streaming=Streaming(batch_size=7))
    for k, v in whole.items():  # other batches: the generator may differ in the last bit, nothing more
        assert torch.allclose(batched.values[k], v, atol=1e-5), k
