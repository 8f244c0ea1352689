"""``unlogit demo``: CIFAR-10 — found on the dataset search path, or downloaded into the cache — else the offline
``shapes`` study, saying so in its first line and in the report's.

The CIFAR-10 demo uses project-trained classifiers shipped in the package (``unlogit:cifar10-*``, recorded in
``unlogit/weights/MANIFEST.json`` with their commands and SHA-256); ``--from-scratch`` trains them instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import DataNotFoundError

CIFAR_STUDY = "demo-cifar10"
SHAPES_STUDY = "demo"
REPLICATION = "docs/results/cifar10-replication"


@dataclass(frozen=True)
class DemoChoice:
    """Which study the demo runs, and the header line its report shows first."""

    study: str
    header: str
    data_root: str | None = None


def choose_demo(data_root: str | None = None, offline: bool = False) -> DemoChoice:
    """CIFAR-10 if it is found or can be downloaded (unless ``offline`` or ``$UNLOGIT_OFFLINE``), else shapes."""
    from ..data.download import download_cifar10
    from ..data.download import offline as offline_env
    from ..data.registry import get_dataset

    try:
        ds = get_dataset("cifar10", "test", data_root)
        return DemoChoice(CIFAR_STUDY, f"CIFAR-10 from {ds.source}.", data_root)
    except DataNotFoundError as exc:
        missing = exc
    if not (offline or offline_env()):
        try:
            root = download_cifar10()
            ds = get_dataset("cifar10", "test", data_root)
            return DemoChoice(CIFAR_STUDY, f"CIFAR-10, downloaded into {root}.", data_root)
        except DataNotFoundError as exc:
            reason = f"the download failed: {exc}"
    else:
        reason = "offline (--offline or $UNLOGIT_OFFLINE), so nothing was downloaded"
    print(
        f"Offline fallback: CIFAR-10 was not found and {reason}. The demo runs the procedural shapes study "
        f"instead.\n{missing}\nFor the natural-image demo: rerun online (it downloads CIFAR-10, 170 MB, into the "
        "cache), or point --data-root / UNLOGIT_DATA at cifar10/train.npz + test.npz or torchvision's "
        "cifar-10-batches-py.",
        flush=True,
    )
    header = f"Offline fallback: procedural shapes, not CIFAR-10 ({reason}; see the demo's log for where it looked)."
    return DemoChoice(SHAPES_STUDY, header, data_root)
