"""``unlogit evaluate``: every inverter on the same images with the same noise, one table.

The per-image quantities come from :func:`unlogit.scoring.measure.score` (names in
:data:`unlogit.scoring.measure.QUANTITIES`); this module adds the set-level ones. Columns, on every image of
the split given, noise seed fixed:

    psnr, ssim, logit_error, own_label_agreement    pixel fidelity; the inverted classifier's view
    true_label_agreement@E, evaluator_label_agreement@E   each independent evaluator E
    median_retrieval_rank@S                         instance retrieval: median rank of x among all scored
                                                    images by distance to G(f(x)), S = pixels or E's features
    kid@E, frechet@E                                realism in E's features: KID (unbiased, with a band in
                                                    the JSON) and the Frechet distance (biased by d/n: compare
                                                    Frechet distances only at equal n)
    diversity_pixel, diversity_feature              several reconstructions of the same logits
    seconds_per_image                               wall time of reconstruction per image (one draw)

Evaluators must be independent of every inverted classifier: checked by weight digest, never by path.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from ..classifiers.normalized import NormalizedClassifier
from ..classifiers.registry import load_classifier
from ..classifiers.stored import dataset_logits, logits_record
from ..data.base import ImageDataset
from ..errors import UnlogitError
from ..inversion.inverter import Inverter, load_inverter
from ..runtime.atomic import write_json_atomic, write_text_atomic
from ..runtime.tables import Column, csv_text, markdown
from .evaluators import check_independent, load_evaluators
from .measure import key, score
from .metrics import ClassifierFeatures, MetricProvenance, diversity, frechet_distance, kernel_distance


def table_columns(evaluators: Sequence[str], extra_frechet: Sequence[str] = ()) -> list[Column]:
    """The documented columns for these evaluator names (and any extra Frechet feature spaces)."""
    cols = [
        Column("inverter"),
        Column("method"),
        Column("psnr"),
        Column("ssim"),
        Column("logit_error"),
        Column("own_label_agreement"),
        Column("median_retrieval_rank@pixels"),
    ]
    for name in evaluators:
        cols += [
            Column(key("true_label_agreement", name)),
            Column(key("evaluator_label_agreement", name)),
            Column(f"median_retrieval_rank@{name}"),
            Column(f"kid@{name}"),
            Column(f"frechet@{name}"),
        ]
    cols += [Column(f"frechet@{name}") for name in extra_frechet]
    return [*cols, Column("diversity_pixel"), Column("diversity_feature"), Column("seconds_per_image")]


def _per_class(data: ImageDataset, correct: torch.Tensor, img_psnr: torch.Tensor) -> dict[str, dict[str, Any]]:
    out = {}
    for k, name in enumerate(data.classes):
        sel = data.labels == k
        if sel.any():
            out[name] = {
                "n": int(sel.sum()),
                "true_label_agreement": float(correct[sel].mean()),
                "psnr": float(img_psnr[sel].mean()),
            }
    return out


def evaluate_inverter(
    inv: Inverter,
    data: ImageDataset,
    evaluators: Mapping[str, NormalizedClassifier],
    seed: int = 0,
    samples: int = 4,
    diversity_n: int = 100,
    extractors: Mapping[str, torch.nn.Module] | None = None,
) -> dict[str, Any]:
    """All metrics for one inverter on every image of ``data``; ``extractors`` add ``frechet@<name>``."""
    x, y = data.batch(torch.arange(len(data)))
    if tuple(x.shape[1:]) != inv.image_shape:
        raise UnlogitError(
            f"inverter of {inv.meta.classifier} makes {inv.image_shape} images, the data has "
            f"{tuple(x.shape[1:])}; "
            "evaluate inverters on the data they were trained for (or set data.image_size / data.channels)"
        )
    labels = y if data.labels_for(inv.classifier.classes) else None  # else: label numbers do not apply
    start = time.perf_counter()
    logits = dataset_logits(inv.classifier, data, device=inv.device)
    x_hat = inv.reconstruct_logits(logits, samples=1, seed=seed)[:, 0].cpu()
    seconds = (time.perf_counter() - start) / len(x)
    scores = score(x, x_hat, labels, inv.classifier, evaluators, logits=logits, retrieval=True, seed=seed)
    row: dict[str, Any] = {
        "method": inv.method,
        **scores.summary(),
        "chance": scores.chance,
        "logits": logits_record(inv.classifier, data),
    }
    features = {name: ClassifierFeatures(judge) for name, judge in evaluators.items()}
    for name, extractor in {**features, **(extractors or {})}.items():
        row[f"frechet@{name}"] = frechet_distance(x, x_hat, extractor)
    for name, extractor in features.items():
        kid = kernel_distance(x, x_hat, extractor, seed=seed)
        row[f"kid@{name}"], row[f"kid_band@{name}"] = kid["kid"], [kid["ci_low"], kid["ci_high"]]
    k = min(diversity_n, len(x))
    if samples >= 2 and inv.stochastic:
        row.update(
            diversity(inv.reconstruct(x[:k], samples=samples, seed=seed + 1).cpu(), next(iter(features.values())))
        )
    else:  # deterministic nets: every draw is the same image
        row.update({"diversity_pixel": 0.0, "diversity_feature": 0.0})
    first = key("true_label_agreement", next(iter(evaluators)))
    if labels is not None:
        row["per_class"] = _per_class(data, scores[first], scores["psnr"])
    else:
        row.update(dict.fromkeys(label_columns(evaluators), NOT_APPLICABLE))
        row["per_class"] = NOT_APPLICABLE
    row["seconds_per_image"] = seconds
    return row


NOT_APPLICABLE = "n/a"  # a label-dependent number on data whose labels are not the classifier's classes


def label_columns(evaluators: Mapping[str, NormalizedClassifier]) -> list[str]:
    """The columns that need the data's labels to be the classifier's classes."""
    return ["own_true_label_agreement", *(key("true_label_agreement", e) for e in evaluators)]


def evaluate(
    runs: Sequence[str | Path],
    data: ImageDataset,
    evaluator_specs: str | Sequence[str],
    seed: int = 0,
    samples: int = 4,
    out: Path | None = None,
    extractor_specs: Sequence[str] = (),
    inception_weights: str | None = None,
    classifier: str | None = None,
    device: str | torch.device = "auto",
) -> dict[str, Any]:
    """Evaluate several inverters on the same images; write evaluate.{json,csv,md} to ``out``.

    ``extractor_specs``: further classifier specs whose penultimate features give extra Frechet
    distances. ``inception_weights``: a local FID Inception weights file (pt_inception-2015-12-05);
    Inception FID is computed only from such a file, never downloaded. ``device``: where the inverters, their
    classifiers and the evaluators run (``auto``: CUDA when present); the metrics' statistics stay on the CPU.
    """
    from ..runtime.device import resolve_device

    device = resolve_device(device) if isinstance(device, str) else device
    evaluator_specs = [evaluator_specs] if isinstance(evaluator_specs, str) else list(evaluator_specs)
    evaluators = load_evaluators(evaluator_specs, data, device)
    extractors, provenance_extra = _extra_extractors(extractor_specs, inception_weights, data, device)
    rows: dict[str, dict[str, Any]] = {}
    for run in runs:
        inv = load_inverter(run, device=device, classifier=classifier)
        check_independent(evaluators, inv.classifier, run)
        rows[Path(run).name] = {
            "run": str(run),
            **evaluate_inverter(inv, data, evaluators, seed, samples, extractors=extractors),
        }
    provenance = {
        name: MetricProvenance(f"evaluator:{spec}", judge.weights_digest(), len(data), seed).to_dict()
        for (name, judge), spec in zip(evaluators.items(), evaluator_specs)
    }
    columns = table_columns(list(evaluators), list(extractors))
    table_rows = [{"inverter": name, **row} for name, row in rows.items()]
    result = {
        "dataset": data.name,
        "split": data.split,
        "n": len(data),
        "seed": seed,
        "provenance": provenance,
        "samples": samples,
        "evaluators": {
            name: {"spec": spec, "summary": judge.info.get("summary", {})}
            for (name, judge), spec in zip(evaluators.items(), evaluator_specs)
        },
        "extra_extractors": provenance_extra,
        "inverters": rows,
        "table": markdown(table_rows, columns),
    }
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        write_json_atomic(out / "evaluate.json", result)
        write_text_atomic(out / "evaluate.csv", csv_text(table_rows, columns))
        write_text_atomic(out / "evaluate.md", result["table"] + "\n")
    return result


def _extra_extractors(
    specs: Sequence[str], inception_weights: str | None, data: ImageDataset, device: torch.device
):  # fmt: skip
    """User-given feature extractors (name -> module, classifiers on ``device``) and their provenance records."""
    from ..runtime.checkpoint import file_sha256

    extractors: dict[str, torch.nn.Module] = {}
    provenance: dict[str, dict[str, Any]] = {}
    for i, spec in enumerate(specs):
        clf = load_classifier(spec, device=device, classes=data.classes)
        name = f"extractor{i + 1}"
        extractors[name] = ClassifierFeatures(clf)
        provenance[name] = MetricProvenance(spec, clf.weights_digest(), len(data), None).to_dict()
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
            self.net = NoTrainInceptionV3(
                name="inception-v3-compat", features_list=["2048"], feature_extractor_weights_path=str(weights)
            )
        except (ModuleNotFoundError, ImportError) as exc:
            raise UnlogitError("Inception FID needs torch-fidelity: pip install 'unlogit[fid]'") from exc

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
        return self.net((x.clamp(0, 1) * 255).to(torch.uint8)).float()
