"""Scoring one inverter in batches, and across processes: memory for the images is one batch, not the split.

Each process takes a :class:`Shard` of the images (batches of ``batch_size`` consecutive images, dealt to the
processes in turn), reads one batch at a time, reconstructs it with the noise rows of a draw for every image (so
an image gets the same noise whatever shard it falls in), and keeps
only what the set-level quantities need: each image's own values (:func:`~unlogit.scoring.measure.image_scores`)
and its features in every space (:func:`~unlogit.scoring.measure.space_features`). Rank 0 gathers those rows in
image order and computes retrieval, KID and the Frechet distance once
(:func:`~unlogit.scoring.measure.set_scores`). A batch is the same batch whatever process scores it, so one
process and several give the same numbers with the same ``batch_size`` (a generator's output can differ in the
last bit between batch sizes; tests/scoring/test_stream.py checks equality with two gloo processes).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..classifiers.normalized import NormalizedClassifier
from ..classifiers.stored import dataset_logits
from ..data.base import ImageDataset
from ..errors import UnlogitError
from ..inversion.inverter import Inverter
from ..runtime.dist import DistInfo
from ..runtime.placement import autocast_for
from ..runtime.progress import progress
from .measure import (
    FeatureMap,
    Originals,
    Scores,
    SpaceFeatures,
    chance_levels,
    image_scores,
    retrieval_spaces,
    set_scores,
)
from .measure import space_features as features_in
from .per_image import ValuesFn

SCORE_BATCH = 256  # images read, reconstructed and scored at a time
SCORING_AMP = ("auto", "bf16", "off")  # as train.amp: auto is bf16 on CUDA, off (float32) on the CPU


def scoring_precision(amp: str, device: torch.device) -> dict[str, str]:
    """What a scoring run records of its precision: the classifications and reconstructions in bf16 or float32
    (``amp``), the features of retrieval, KID and the Frechet distance always in float32."""
    bf16 = amp == "bf16" or (amp == "auto" and device.type == "cuda")
    return {"classify_and_reconstruct": "bf16" if bf16 else "float32", "features": "float32"}


@dataclass(frozen=True)
class Shard:
    """Which images this process scores: the images are cut into batches of consecutive images, dealt to the
    ``world`` processes in turn (batch b to rank b mod world)."""

    rank: int = 0
    world: int = 1

    @classmethod
    def of(cls, info: DistInfo) -> Shard:
        """The shard of a torchrun process (:func:`unlogit.runtime.dist.init_distributed`)."""
        return cls(info.rank, info.world_size)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def batch_size(self, n: int, wanted: int) -> int:
        """``wanted``, or fewer so that each process gets at least one batch of the n images."""
        if n < self.world:
            raise UnlogitError(f"{n} images cannot be shared by {self.world} processes; score more or use fewer")
        return max(1, min(wanted, n // self.world))

    def batches(self, n: int, batch_size: int) -> list[torch.Tensor]:
        """This process's batches of image indices (int64), in order."""
        starts = range(self.rank * batch_size, n, self.world * batch_size)
        return [torch.arange(s, min(s + batch_size, n)) for s in starts]


ONE_PROCESS = Shard()  # every image, in this process


@dataclass(frozen=True)
class Streaming:
    """How the images are scored: ``batch_size`` at a time, this process's ``shard`` of them, and ``amp``
    (:data:`SCORING_AMP`: bf16 autocast for classifying and reconstructing; ``auto`` is bf16 on CUDA only)."""

    shard: Shard = ONE_PROCESS
    batch_size: int = SCORE_BATCH
    amp: str = "auto"

    def __post_init__(self) -> None:
        if self.amp not in SCORING_AMP:
            raise UnlogitError(f"amp {self.amp!r}: choose one of {', '.join(SCORING_AMP)}")
        if self.batch_size < 1:
            raise UnlogitError(f"--batch-size {self.batch_size}: give 1 or more images")


ONE_BATCH_STREAM = Streaming()  # one process, batches of SCORE_BATCH, bf16 on CUDA


@dataclass
class StreamedScores:
    """One inverter's scores on every image, in image order (on rank 0).

    Attributes:
        scores: every per-image quantity of :func:`~unlogit.scoring.measure.score` with ``retrieval=True``.
        features: extractor name -> (features of the originals (N,D), of the reconstructions (N,D)), for every
            evaluator and every extra extractor: what the Frechet distance and KID are computed from.
        seconds_per_image: this process's wall time of classifying and reconstructing, per image.
    """

    scores: Scores
    features: SpaceFeatures
    seconds_per_image: float


@torch.no_grad()
def stream_scores(
    inv: Inverter,
    data: ImageDataset,
    evaluators: Mapping[str, NormalizedClassifier],
    extractors: Mapping[str, FeatureMap] | None = None,
    seed: int = 0,
    distractors: int = 10,
    streaming: Streaming = ONE_BATCH_STREAM,
) -> StreamedScores | None:
    """Score ``inv`` on every image of ``data`` (one noise draw per image from ``seed``), this process taking
    ``streaming.shard`` of them; returns the gathered scores on rank 0 and None on the other ranks (which must all
    call this together). ``extractors``: extra feature spaces (name -> images -> (N,D)) kept for the Frechet
    distance only. The features of retrieval, KID and the Frechet distance are float32 whatever
    ``streaming.amp`` says."""
    shard, amp, n = streaming.shard, streaming.amp, len(data)
    batch_size = shard.batch_size(n, streaming.batch_size)
    labelled = data.labels_for(inv.classifier.classes)  # else the label numbers are not the classifier's
    noise = inv.sample_noise(n, seed)  # every image's row, whatever shard it is in
    retrieval = retrieval_spaces(evaluators)
    spaces = {**retrieval, **(extractors or {})}
    values: list[dict[str, torch.Tensor]] = []
    seconds = 0.0
    batches = shard.batches(n, batch_size)
    for index in progress(batches, desc=f"score {inv.method}"):
        x, y = data.batch(index)
        labels = y if labelled else None
        with autocast_for(amp, inv.device):
            start = time.perf_counter()
            logits = dataset_logits(inv.classifier, data, index, device=inv.device)
            x_hat = inv.generate(logits, noise[index]).float().cpu()
            seconds += time.perf_counter() - start
            batch = image_scores(x, x_hat, labels, inv.classifier, evaluators, logits)
        for name, (f, f_hat) in features_in(x, x_hat, spaces).items():
            batch[f"{name}/x"], batch[f"{name}/x_hat"] = f, f_hat
        values.append(batch)
    rows = gather_rows({k: torch.cat([v[k] for v in values]) for k in values[0]}, shard, n, batch_size)
    if rows is None:
        return None
    features = {name: (rows.pop(f"{name}/x"), rows.pop(f"{name}/x_hat")) for name in spaces}
    labels = data.labels if labelled else None
    scores = set_scores(rows, {k: features[k] for k in retrieval}, labels, set(evaluators), distractors, seed)
    scores.chance.update(chance_levels(scores.per_image, inv.classifier, evaluators, labels))
    kept = {name: features[name] for name in [*evaluators, *(extractors or {})]}
    return StreamedScores(scores, kept, seconds / sum(len(b) for b in batches))


def gather_rows(
    rows: Mapping[str, torch.Tensor], shard: Shard, n: int, batch_size: int
) -> dict[str, torch.Tensor] | None:
    """Every process's rows (key -> (images of its :meth:`Shard.batches`, ...) on the CPU, in batch order) ->
    every image's rows in image order (key -> (n, ...)) on rank 0; None on the other ranks. One process: the
    rows as they are. Under NCCL the rows travel through the process's current CUDA device."""
    if shard.world == 1:
        return dict(rows)
    owned = [torch.cat(Shard(r, shard.world).batches(n, batch_size)) for r in range(shard.world)]
    longest = max(len(o) for o in owned)
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else None
    out: dict[str, torch.Tensor] = {}
    for key in sorted(rows):  # the same order on every rank
        mine = rows[key]
        padded = torch.zeros(longest, *mine.shape[1:], dtype=mine.dtype, device=device)
        padded[: len(mine)] = mine
        parts = [torch.empty_like(padded) for _ in range(shard.world)] if shard.is_main else None
        dist.gather(padded, parts, dst=0)
        if parts is not None:
            full = torch.empty(n, *mine.shape[1:], dtype=mine.dtype)
            for index, part in zip(owned, parts):
                full[index] = part[: len(index)].cpu()
            out[key] = full
    return out if shard.is_main else None


@dataclass
class StreamedUnit:
    """One inverter of an arm on every image, in image order (on rank 0): its logits (N,K), reconstructions
    (N, draws, C, H, W) in [0,1] on the CPU, and every per-image value (N,) float64 averaged over the draws
    (the values of :mod:`unlogit.scoring.per_image`)."""

    logits: torch.Tensor
    recs: torch.Tensor
    values: dict[str, torch.Tensor]


@torch.no_grad()
def stream_unit(
    inv: Inverter,
    data: ImageDataset,
    evaluators: Mapping[str, NormalizedClassifier],
    draws: int,
    seed: int = 0,
    distractors: int = 10,
    extra: Sequence[ValuesFn] = (),
    streaming: Streaming = ONE_BATCH_STREAM,
    originals: dict[int, Originals] | None = None,
) -> StreamedUnit | None:
    """The per-image values (:mod:`unlogit.scoring.per_image`) of ``inv`` on every image of ``data`` (``draws`` noise
    draws per image from ``seed``, the rows :meth:`~unlogit.inversion.inverter.Inverter.reconstruct_logits` would
    draw), streamed in batches and sharded like :func:`stream_scores`; the logits and reconstructions are kept for
    the findings. ``originals``: batch start -> the judges' view of that batch's images, shared across the draws
    and across every inverter scored on the same images (each judge classifies and embeds x once). Returns on
    rank 0, None on the other ranks."""
    shard, n = streaming.shard, len(data)
    batch_size = shard.batch_size(n, streaming.batch_size)
    noise = inv.sample_noise(n * draws, seed).view(n, draws, -1)
    spaces = retrieval_spaces(evaluators)
    parts: list[dict[str, torch.Tensor]] = []
    originals = {} if originals is None else originals
    for index in progress(shard.batches(n, batch_size), desc=f"score {inv.method}"):
        seen = originals.setdefault(int(index[0]), Originals(data.batch(index)[0]))
        x, labels = seen.x, data.labels[index]  # the study's images: their labels are the classifiers' classes
        with autocast_for(streaming.amp, inv.device):
            logits = dataset_logits(inv.classifier, data, index, device=inv.device)
            rep = logits.repeat_interleave(draws, dim=0)
            recs = inv.generate(rep, noise[index].flatten(0, 1)).float().cpu().view(len(index), draws, *inv.image_shape)
        batch = {"logits": logits.float().cpu(), "recs": recs}
        for s in range(draws):
            with autocast_for(streaming.amp, inv.device):
                values = image_scores(x, recs[:, s], labels, inv.classifier, evaluators, logits, seen)
            for name, (f, f_hat) in features_in(x, recs[:, s], spaces, seen).items():
                values[f"{name}/x"], values[f"{name}/x_hat"] = f, f_hat
            batch.update({f"{s}:{k}": v for k, v in values.items()})
        parts.append(batch)
    rows = gather_rows({k: torch.cat([p[k] for p in parts]) for k in parts[0]}, shard, n, batch_size)
    if rows is None:
        return None
    labels = data.labels
    x = data.batch(torch.arange(n))[0] if extra else None
    totals: dict[str, torch.Tensor] = {}
    for s in range(draws):
        mine = {k.split(":", 1)[1]: v for k, v in rows.items() if k.startswith(f"{s}:")}
        features = {name: (mine.pop(f"{name}/x"), mine.pop(f"{name}/x_hat")) for name in spaces}
        values = set_scores(mine, features, labels, set(evaluators), distractors, seed).per_image
        for fn in extra:  # on every image at once: a factor may be read on some images only (a circle's rotation)
            values.update(fn(x, rows["recs"][:, s], labels))
        for k, v in values.items():
            totals[k] = totals.get(k, 0) + v.double() / draws
    return StreamedUnit(rows["logits"], rows["recs"], totals)
