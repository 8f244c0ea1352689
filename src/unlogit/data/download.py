"""Downloading CIFAR-10 the way torchvision and Keras users expect: into a cache folder, size and destination
said first, a progress bar, the published MD5 checked before anything is unpacked.

Nothing downloads unless asked (``unlogit demo`` asks, unless ``--offline`` or ``$UNLOGIT_OFFLINE`` is
set; tests and CI set it). The archive is unpacked with :func:`torchvision.datasets.utils.extract_archive`
and read with the pickle-free reader of :mod:`.cifar_batches`.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path

from ..errors import DataNotFoundError
from ..runtime.atomic import atomic_path
from ..runtime.progress import progress
from .search import cache_root

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"  # torchvision's published checksum of that archive
CIFAR10_BYTES = 170_498_071
CIFAR10_FOLDER = "cifar-10-batches-py"
OFFLINE_ENV = "UNLOGIT_OFFLINE"
TIMEOUT_S = 20.0


def offline() -> bool:
    return os.environ.get(OFFLINE_ENV, "").lower() not in ("", "0", "false", "no")


def download_cifar10(root: Path | None = None, url: str | None = None, md5: str | None = None) -> Path:
    """Download and unpack CIFAR-10 into ``root`` (default :func:`cache_root`); returns the root. Raises
    :class:`~unlogit.errors.DataNotFoundError` naming the reason (no network, a bad checksum...)."""
    from torchvision.datasets.utils import extract_archive

    root = Path(root or cache_root())
    url, md5 = url or CIFAR10_URL, md5 or CIFAR10_MD5
    if (root / CIFAR10_FOLDER).is_dir():
        return root
    archive = root / Path(url).name
    print(f"downloading CIFAR-10 ({CIFAR10_BYTES / 1e6:.0f} MB) from {url} into {root} ...", flush=True)
    try:
        root.mkdir(parents=True, exist_ok=True)
        with atomic_path(archive) as tmp:
            digest = _fetch(url, tmp)
            if digest != md5:
                raise DataNotFoundError(
                    f"the download from {url} has MD5 {digest}, not the published {md5}; it was not unpacked"
                )
        extract_archive(str(archive), str(root))
    except (OSError, urllib.error.URLError, TimeoutError) as exc:
        raise DataNotFoundError(f"could not download CIFAR-10 from {url}: {exc}") from exc
    finally:
        archive.unlink(missing_ok=True)
    return root


def _fetch(url: str, dest: Path) -> str:
    """Stream ``url`` into ``dest`` with a progress bar; returns the MD5 of what arrived."""
    h = hashlib.md5(usedforsecurity=False)
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, dest.open("wb") as fh:
        total = int(response.headers.get("Content-Length") or 0) or None
        chunks = iter(lambda: response.read(1 << 20), b"")
        with progress(chunks, total=total and (total + (1 << 20) - 1) >> 20, desc="CIFAR-10 (MB)") as bar:
            for chunk in bar:
                fh.write(chunk)
                h.update(chunk)
    return h.hexdigest()
