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

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from ..classifiers.normalized import NormalizedClassifier
from ..classifiers.registry import load_classifier
from ..classifiers.stored import logits_record
from ..data.base import ImageDataset
from ..errors import UnlogitError
from ..inversion.inverter import Inverter, load_inverter
from ..runtime.atomic import write_json_atomic, write_text_atomic
from ..runtime.device import resolve_device
from ..runtime.tables import Column, csv_text, markdown
from .evaluators import check_independent, load_evaluators
from .measure import Scores, key
from .metrics import (
    ClassifierFeatures,
    MetricProvenance,
    diversity,
    frechet_from_features,
    kernel_distance_from_features,
)
from .stream import ONE_BATCH_STREAM, Streaming, scoring_precision, stream_scores


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
    streaming: Streaming = ONE_BATCH_STREAM,
) -> tuple[dict[str, Any], Scores] | None:
    """All metrics for one inverter on every image of ``data``; ``extractors`` add ``frechet@<name>``. Returns the
    table row and the per-image scores (image order) on rank 0, None on the other ranks of ``streaming.shard``."""
    if tuple(data.image_shape) != inv.image_shape:
        raise UnlogitError(
            f"inverter of {inv.meta.classifier} makes {inv.image_shape} images, the data has "
            f"{tuple(data.image_shape)}; "
            "evaluate inverters on the data they were trained for (or set data.image_size / data.channels)"
        )
    streamed = stream_scores(inv, data, evaluators, extractors, seed, streaming=streaming)
    if streamed is None:
        return None
    scores, features = streamed.scores, streamed.features
    row: dict[str, Any] = {
        "method": inv.method,
        **scores.summary(),
        "chance": scores.chance,
        "logits": logits_record(inv.classifier, data),
    }
    for name, (real, fake) in features.items():
        row[f"frechet@{name}"] = frechet_from_features(real, fake)
    for name in evaluators:
        kid = kernel_distance_from_features(*features[name], seed=seed)
        row[f"kid@{name}"], row[f"kid_band@{name}"] = kid["kid"], [kid["ci_low"], kid["ci_high"]]
    k = min(diversity_n, len(data))
    if samples >= 2 and inv.stochastic:
        x = data.batch(torch.arange(k))[0]
        judge = ClassifierFeatures(next(iter(evaluators.values())))
        row.update(diversity(inv.reconstruct(x, samples=samples, seed=seed + 1).cpu(), judge))
    else:  # deterministic nets: every draw is the same image
        row.update({"diversity_pixel": 0.0, "diversity_feature": 0.0})
    first = key("true_label_agreement", next(iter(evaluators)))
    if first in scores:
        row["per_class"] = _per_class(data, scores[first], scores["psnr"])
    else:  # the data's labels are not the classifier's classes
        row.update(dict.fromkeys(label_columns(evaluators), NOT_APPLICABLE))
        row["per_class"] = NOT_APPLICABLE
    row["seconds_per_image"] = streamed.seconds_per_image
    return row, scores


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
    streaming: Streaming = ONE_BATCH_STREAM,
) -> dict[str, Any] | None:
    """Evaluate several inverters on the same images; write evaluate.{json,csv,md} and each inverter's per-image
    values (``per_image/<inverter>.csv``, one row per image in data order) to ``out``.

    ``extractor_specs``: further classifier specs whose penultimate features give extra Frechet distances.
    ``inception_weights``: a local FID Inception weights file (pt_inception-2015-12-05), never downloaded.
    ``device``: where the inverters, their classifiers and the evaluators run (``auto``: CUDA when present); the
    metrics' statistics stay on the CPU. ``streaming``: batches, this process's share of the images under
    torchrun and bf16 autocast (:class:`~unlogit.scoring.stream.Streaming`): rank 0 gathers, writes and returns
    the result, the others return None. The same batches give the same numbers in one process or several.
    """
    device = resolve_device(device) if isinstance(device, str) else device
    evaluator_specs = [evaluator_specs] if isinstance(evaluator_specs, str) else list(evaluator_specs)
    evaluators = load_evaluators(evaluator_specs, data, device)
    extractors, provenance_extra = _extra_extractors(extractor_specs, inception_weights, data, device)
    rows: dict[str, dict[str, Any]] = {}
    per_image: dict[str, Scores] = {}
    for run in runs:
        inv = load_inverter(run, device=device, classifier=classifier)
        check_independent(evaluators, inv.classifier, run)
        measured = evaluate_inverter(inv, data, evaluators, seed, samples, extractors=extractors, streaming=streaming)
        if measured is not None:
            name = Path(run).name
            rows[name], per_image[name] = {"run": str(run), **measured[0]}, measured[1]
    if not streaming.shard.is_main:
        return None
    columns = table_columns(list(evaluators), list(extractors))
    table_rows = [{"inverter": name, **row} for name, row in rows.items()]
    result = {
        "dataset": data.name,
        "split": data.split,
        "n": len(data),
        "seed": seed,
        "samples": samples,
        "batch_size": streaming.shard.batch_size(len(data), streaming.batch_size),
        "processes": streaming.shard.world,
        "precision": scoring_precision(streaming.amp, device),
        **judges_record(evaluators, evaluator_specs, len(data), seed),
        "extra_extractors": provenance_extra,
        "inverters": rows,
        "table": markdown(table_rows, columns),
    }
    if out is not None:
        write_evaluation(out, result, csv_text(table_rows, columns), per_image, data)
    return result


def judges_record(
    evaluators: Mapping[str, NormalizedClassifier], specs: Sequence[str], n: int, seed: int
) -> dict[str, Any]:
    """What evaluate.json says of its judges: ``provenance`` (weights digests) and ``evaluators`` (specs and the
    training summaries their runs recorded)."""
    pairs = list(zip(evaluators.items(), specs))
    return {
        "provenance": {
            name: MetricProvenance(f"evaluator:{spec}", judge.weights_digest(), n, seed).to_dict()
            for (name, judge), spec in pairs
        },
        "evaluators": {name: {"spec": spec, "summary": judge.info.get("summary", {})} for (name, judge), spec in pairs},
    }


def write_evaluation(
    out: Path, result: dict[str, Any], table_csv: str, per_image: Mapping[str, Scores], data: ImageDataset
) -> None:
    """evaluate.{json,csv,md} and ``per_image/<inverter>.csv`` in ``out``, each written atomically."""
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "evaluate.json", result)
    write_text_atomic(out / "evaluate.csv", table_csv)
    write_text_atomic(out / "evaluate.md", result["table"] + "\n")
    for name, scores in per_image.items():
        write_text_atomic(out / "per_image" / f"{name}.csv", per_image_csv(scores, data))


def per_image_csv(scores: Scores, data: ImageDataset) -> str:
    """One row per image in data order: its index, label and every per-image quantity (float64 written in full,
    so the file reproduces the values exactly)."""
    keys = sorted(scores.per_image)
    lines = [",".join(["index", "label", *keys])]
    columns = [scores[k].tolist() for k in keys]
    for i, label in enumerate(data.labels.tolist()):
        lines.append(",".join([str(i), str(label), *(repr(c[i]) for c in columns)]))
    return "\n".join(lines) + "\n"


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
