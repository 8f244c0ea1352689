"""``unlogit demo``: CIFAR-10 when it is on the dataset search path (or downloaded on request), else the
offline ``shapes`` study, saying so.

The CIFAR-10 demo uses project-trained classifiers shipped in the package (``unlogit:cifar10-*``,
recorded in ``unlogit/weights/MANIFEST.json`` with their commands and SHA-256) so that it fits about 12
minutes on 2 CPU cores; ``--from-scratch`` trains them with the study's presets instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import DataNotFoundError

CIFAR_STUDY = "demo-cifar10"
SHAPES_STUDY = "demo"
CIFAR_DOWNLOAD = "CIFAR-10 from torchvision is one 163 MB archive (cifar-10-python.tar.gz, 178 MB unpacked)"


@dataclass(frozen=True)
class DemoChoice:
    """Which study the demo runs, and the header line its report shows."""

    study: str
    header: str
    data_root: str | None = None


def choose_demo(data_root: str | None = None, download: bool = False) -> DemoChoice:
    """CIFAR-10 if it can be found (or ``download``), else the shapes fallback with the reason."""
    from ..data.registry import get_dataset
    from ..data.search import search_roots

    if download:
        print(f"{CIFAR_DOWNLOAD}; downloading it with torchvision into {search_roots(data_root)[0]} ...", flush=True)
    try:
        ds = get_dataset("cifar10", "test", data_root, download=download)
    except DataNotFoundError as exc:
        print(f"CIFAR-10 was not found, so the demo runs the offline shapes study instead.\n{exc}\n"
              "For the natural-image demo: unlogit demo --download (needs internet), or point --data-root / "
              "UNLOGIT_DATA at a folder with cifar10/train.npz + test.npz or torchvision's cifar-10-batches-py.",
              flush=True)  # fmt: skip
        return DemoChoice(SHAPES_STUDY, "Offline fallback: procedural shapes (CIFAR-10 was not on the dataset "
                          "search path; see the demo's log for where it looked).", data_root)  # fmt: skip
    return DemoChoice(CIFAR_STUDY, f"CIFAR-10 from {ds.source}.", data_root)
