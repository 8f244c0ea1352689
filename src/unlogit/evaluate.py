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
    frechet_distance,
    logit_consistency,
    psnr,
    ssim,
    topk_agreement,
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
    extractors: dict[str, torch.nn.Module] | None = None,
) -> dict[str, Any]:
    """All metrics for one inverter on ``data`` (uses every image of ``data``).

    ``extractors`` adds ``frechet_<name>`` columns in other feature spaces (user-given extractors).
    """
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
    judged = evaluator.predict_logits(x_hat).cpu()
    img_psnr = psnr(x, x_hat).clamp(max=100)
    row: dict[str, Any] = {
        "method": inv.method,
        "psnr": float(img_psnr.mean()),
        "ssim": float(ssim(x, x_hat).mean()),
        **logit_consistency(inv.classifier, x, x_hat),
        **topk_agreement(judged, y),
        "frechet_evaluator": frechet_distance(x, x_hat, extractor),
        "seconds_per_image": seconds,
    }
    for name, extra in (extractors or {}).items():
        row[f"frechet_{name}"] = frechet_distance(x, x_hat, extra)
    k = min(diversity_n, len(x))
    if samples >= 2 and inv.method != "pixel" and inv.method != "dosovitskiy":
        row.update(diversity(inv.reconstruct(x[:k], samples=samples, seed=seed + 1).cpu(), extractor))
    else:  # deterministic decoders: every draw is the same image
        row.update({"diversity_pixel": 0.0, "diversity_feature": 0.0})
    per_class = {}
    top1 = judged.argmax(1) == y
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
    extractor_specs: Sequence[str] = (),
    inception_weights: str | None = None,
) -> dict[str, Any]:
    """Evaluate several inverters on the same images; write evaluate.{json,csv,md} to ``out``.

    ``extractor_specs``: further classifier specs whose penultimate features give extra Frechet
    distances. ``inception_weights``: a local FID Inception weights file (pt_inception-2015-12-05);
    Inception FID is computed only from such a file, never downloaded.
    """
    evaluator = load_classifier(evaluator_spec, classes=data.classes)
    extractors, provenance_extra = _extra_extractors(extractor_specs, inception_weights, data)
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
        rows[Path(run).name] = {"run": str(run), **evaluate_inverter(inv, data, evaluator, seed, samples,
                                                                      extractors=extractors)}  # fmt: skip
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
        "extra_extractors": provenance_extra,
        "inverters": rows,
    }
    result["table"] = markdown_table(rows)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        write_json_atomic(out / "evaluate.json", result)
        write_text_atomic(out / "evaluate.csv", csv_table(rows))
        write_text_atomic(out / "evaluate.md", result["table"] + "\n")
    return result


def _extra_extractors(specs: Sequence[str], inception_weights: str | None, data: ImageDataset):
    """User-given feature extractors (name -> module) and their provenance records."""
    from .runtime.checkpoint import file_sha256

    extractors: dict[str, torch.nn.Module] = {}
    provenance: dict[str, dict[str, Any]] = {}
    for i, spec in enumerate(specs):
        clf = load_classifier(spec, classes=data.classes)
        name = f"extractor{i + 1}"
        extractors[name] = ClassifierFeatures(clf)
        provenance[name] = MetricProvenance(spec, clf.info.get("weights_sha256"), len(data), None).to_dict()
    if inception_weights:
        path = Path(inception_weights)
        if not path.is_file():
            raise UnlogitError(
                f"Inception weights file {path} not found; FID is never computed from downloaded weights"
            )
        extractors["inception"] = _InceptionFeatures(path)
        provenance["inception"] = MetricProvenance("inception-v3-fid", file_sha256(path), len(data), None).to_dict()
    return extractors, provenance


class _InceptionFeatures(torch.nn.Module):
    """torchmetrics' FID Inception (2048-d pool features) from a local weights file; needs torch-fidelity."""

    num_features = 2048

    def __init__(self, weights: Path) -> None:
        super().__init__()
        try:
            from torchmetrics.image.fid import NoTrainInceptionV3
        except ImportError as exc:  # pragma: no cover - depends on the optional extra
            raise UnlogitError("Inception FID needs torch-fidelity: pip install 'unlogit[fid]'") from exc
        try:
            self.net = NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048"],
                                          feature_extractor_weights_path=str(weights))  # fmt: skip
        except (ModuleNotFoundError, ImportError) as exc:
            raise UnlogitError("Inception FID needs torch-fidelity: pip install 'unlogit[fid]'") from exc

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
        return self.net((x.clamp(0, 1) * 255).to(torch.uint8)).float()


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _columns(rows: dict[str, dict[str, Any]]) -> list[str]:
    extra = sorted({k for r in rows.values() for k in r if k.startswith("frechet_") and k not in COLUMNS})
    return [*COLUMNS[:-1], *extra, COLUMNS[-1]]


def markdown_table(rows: dict[str, dict[str, Any]]) -> str:
    """The documented columns (plus any extra Frechet columns) as a markdown table."""
    cols = _columns(rows)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for name, row in rows.items():
        lines.append("| " + " | ".join(_fmt(name if c == "inverter" else row.get(c, "")) for c in cols) + " |")
    return "\n".join(lines)


def csv_table(rows: dict[str, dict[str, Any]]) -> str:
    cols = _columns(rows)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(cols)
    for name, row in rows.items():
        writer.writerow([name if c == "inverter" else row.get(c, "") for c in cols])
    return buf.getvalue()
