"""``unlogit evaluate``: every inverter on the same images with the same noise, one table.

Columns (all on the first ``n`` images of the split, noise seed fixed):
    psnr, ssim                      pixel fidelity (mean over images)
    logit_rel_error                 ||f(x_hat) - f(x)|| / ||f(x)|| under the inverted classifier f
    logit_argmax_agreement          argmax f(x_hat) == argmax f(x)
    evaluator_top1, evaluator_top5  an independent classifier labels x_hat with the true label
    frechet_evaluator               Frechet distance real vs reconstructed, evaluator features
    diversity_pixel, diversity_feature   several reconstructions of the same logits
    seconds_per_image               wall time of reconstruction per image (one noise draw)
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from .classifiers.normalized import NormalizedClassifier
from .classifiers.registry import load_classifier
from .data.base import ImageDataset
from .errors import UnlogitError
from .inversion.inverter import Inverter, load_inverter
from .metrics import (
    ClassifierFeatures,
    MetricProvenance,
    diversity,
    evaluator_agreement,
    frechet_distance,
    logit_consistency,
    psnr,
    ssim,
)
from .runtime.atomic import write_json_atomic, write_text_atomic

COLUMNS = [
    "inverter", "method", "psnr", "ssim", "logit_rel_error", "logit_argmax_agreement", "evaluator_top1",
    "evaluator_top5", "frechet_evaluator", "diversity_pixel", "diversity_feature", "seconds_per_image",
]  # fmt: skip


def evaluate_inverter(
    inv: Inverter,
    data: ImageDataset,
    evaluator: NormalizedClassifier,
    seed: int = 0,
    samples: int = 4,
    diversity_n: int = 100,
) -> dict[str, Any]:
    """All metrics for one inverter on ``data`` (uses every image of ``data``)."""
    x, y = data.batch(torch.arange(len(data)))
    if tuple(x.shape[1:]) != inv.image_shape:
        raise UnlogitError(
            f"inverter of {inv.meta.get('classifier')} makes {inv.image_shape} images, the data has "
            f"{tuple(x.shape[1:])}; "
            "evaluate inverters on the data they were trained for (or set data.image_size / data.channels)"
        )
    start = time.perf_counter()
    x_hat = inv.reconstruct(x, samples=1, seed=seed)[:, 0].cpu()
    seconds = (time.perf_counter() - start) / len(x)
    extractor = ClassifierFeatures(evaluator)
    row: dict[str, Any] = {
        "method": inv.method,
        "psnr": float(psnr(x, x_hat).clamp(max=100).mean()),
        "ssim": float(ssim(x, x_hat).mean()),
        **logit_consistency(inv.classifier, x, x_hat),
        **evaluator_agreement(evaluator, x_hat, y),
        "frechet_evaluator": frechet_distance(x, x_hat, extractor),
        "seconds_per_image": seconds,
    }
    k = min(diversity_n, len(x))
    if samples >= 2 and inv.method != "pixel" and inv.method != "dosovitskiy":
        row.update(diversity(inv.reconstruct(x[:k], samples=samples, seed=seed + 1).cpu(), extractor))
    else:  # deterministic decoders: every draw is the same image
        row.update({"diversity_pixel": 0.0, "diversity_feature": 0.0})
    per_class = {}
    top1 = evaluator.predict_logits(x_hat).argmax(1).cpu() == y
    img_psnr = psnr(x, x_hat).clamp(max=100)
    for k_cls, name in enumerate(data.classes):
        sel = y == k_cls
        if sel.any():
            per_class[name] = {"n": int(sel.sum()), "evaluator_top1": float(top1[sel].float().mean()),
                               "psnr": float(img_psnr[sel].mean())}  # fmt: skip
    row["per_class"] = per_class
    return row


def evaluate(
    runs: Sequence[str | Path],
    data: ImageDataset,
    evaluator_spec: str,
    seed: int = 0,
    samples: int = 4,
    out: Path | None = None,
) -> dict[str, Any]:
    """Evaluate several inverters on the same images; write evaluate.{json,csv,md} to ``out``."""
    evaluator = load_classifier(evaluator_spec, classes=data.classes)
    if evaluator.num_classes != data.num_classes:
        raise UnlogitError(
            f"evaluator {evaluator_spec} has {evaluator.num_classes} classes, the data {data.num_classes}; "
            "use an evaluator trained on the same data"
        )
    rows: dict[str, dict[str, Any]] = {}
    for run in runs:
        inv = load_inverter(run)
        if str(Path(inv.meta["classifier"]).resolve()) == str(Path(evaluator_spec).resolve()):
            raise UnlogitError(
                f"the evaluator {evaluator_spec} is the classifier that {run} inverts; use an independent one "
                "(another architecture and seed trained on the same data)"
            )
        rows[Path(run).name] = {"run": str(run), **evaluate_inverter(inv, data, evaluator, seed, samples)}
    provenance = MetricProvenance(
        extractor=f"evaluator:{evaluator_spec}",
        weights_sha256=evaluator.info.get("weights_sha256"),
        n=len(data),
        seed=seed,
    )
    result = {
        "dataset": data.name,
        "split": data.split,
        "provenance": provenance.to_dict(),
        "samples": samples,
        "evaluator": {"spec": evaluator_spec, "summary": evaluator.info.get("summary", {})},
        "inverters": rows,
    }
    result["table"] = markdown_table(rows)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        write_json_atomic(out / "evaluate.json", result)
        write_text_atomic(out / "evaluate.csv", csv_table(rows))
        write_text_atomic(out / "evaluate.md", result["table"] + "\n")
    return result


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def markdown_table(rows: dict[str, dict[str, Any]]) -> str:
    """The documented columns as a markdown table."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for name, row in rows.items():
        lines.append("| " + " | ".join(_fmt(name if c == "inverter" else row.get(c, "")) for c in COLUMNS) + " |")
    return "\n".join(lines)


def csv_table(rows: dict[str, dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(COLUMNS)
    for name, row in rows.items():
        writer.writerow([name if c == "inverter" else row.get(c, "") for c in COLUMNS])
    return buf.getvalue()
