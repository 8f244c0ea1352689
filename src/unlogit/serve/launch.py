"""Starting the explorer: the gallery, display names, and uvicorn on a loopback address by default."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from pathlib import Path

from ..data.base import ImageDataset
from ..errors import UnlogitError


def _data_section(run: str | Path, dataset: str | None, data_root: str | None) -> dict:
    """The data section the explorer reads: ``dataset`` when the user names one, else the registered dataset the
    inverter run trained on. A run folder may come from someone else, so it never chooses a path: a run whose
    data is a folder or file (``images:``, ``imagefolder:``, ``npz:``) needs ``--dataset``, and its recorded
    ``root`` is not used (``--data-root`` and ``$UNLOGIT_DATA`` are)."""
    from ..config import read_yaml_mapping
    from ..runtime.rundir import RunLayout

    if dataset:
        data = {"name": dataset}
    else:
        cfg_path = RunLayout(Path(run)).config
        recorded = read_yaml_mapping(cfg_path, "the inverter's config").get("data", {}) if cfg_path.is_file() else {}
        if not isinstance(recorded, dict) or "name" not in recorded:
            raise UnlogitError(f"{run} records no dataset (no config.yaml); pass --dataset NAME for the gallery")
        if ":" in str(recorded["name"]):
            raise UnlogitError(
                f"{run} was trained on {recorded['name']!r}, a path its config.yaml names; the explorer shows only "
                "data you name yourself: pass --dataset (the same spec, if you trust it)"
            )
        kept = ("name", "part", "val_size", "seed", "channels", "image_size")
        data = {k: v for k, v in recorded.items() if k in kept}
    if data_root:
        data["root"] = data_root
    return data


def load_gallery(run: str | Path, n: int, dataset: str | None = None, data_root: str | None = None) -> ImageDataset:
    """The first ``n`` test images of the dataset an inverter run was trained on (or of ``dataset``)."""
    from ..config import from_dict
    from ..data.config import DataConfig

    data = {**_data_section(run, dataset, data_root), "test_size": n}
    return from_dict(DataConfig, data, "data").load("test")


def load_unit_images(
    run: str | Path, shape: tuple[int, int, int], dataset: str | None = None, data_root: str | None = None
):
    """The first :data:`~unlogit.inversion.edits.UNIT_IMAGES` training images (N,C,H,W) in [0,1] of the same
    dataset, at the inverters' image ``shape``: what sets the sliders' logit units."""
    import torch

    from ..config import from_dict
    from ..data.config import DataConfig
    from ..inversion.edits import UNIT_IMAGES

    data = {
        **_data_section(run, dataset, data_root),
        "train_size": UNIT_IMAGES,
        "channels": shape[0],
        "image_size": shape[1],
    }
    train = from_dict(DataConfig, data, "data").load("train")
    return train.batch(torch.arange(min(UNIT_IMAGES, len(train))))[0]


def inverter_names(runs: Sequence[str]) -> list[str]:
    """Display names: each run directory's name, made unique with a suffix."""
    names: list[str] = []
    for run in runs:
        base = Path(run).resolve().name or "inverter"
        name, k = base, 2
        while name in names:
            name, k = f"{base}-{k}", k + 1
        names.append(name)
    return names


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve_explorer(
    runs: Sequence[str],
    host: str,
    port: int,
    gallery: int,
    dataset: str | None,
    data_root: str | None,
    device: str,
    max_upload_mb: float,
    max_upload_pixels: int,
    allowed_hosts: Sequence[str] = (),
    classifier: str | None = None,
    header_timeout: float = 10.0,
    max_connections: int = 256,
) -> None:
    """Load the inverters and serve the explorer until interrupted."""
    from ..inversion.inverter import load_inverter
    from .explorer import Explorer
    from .uploads import UploadLimits

    try:
        import uvicorn

        from .api import MULTIPART_OVERHEAD, create_app
    except ImportError as exc:
        raise UnlogitError("`unlogit serve` needs the web extra: pip install -e '.[serve]'") from exc
    if gallery <= 0 or max_upload_mb <= 0 or max_upload_pixels <= 0:
        raise UnlogitError("--gallery, --max-upload-mb and --max-upload-pixels must be positive")
    inverters = {
        name: load_inverter(run, device=device, classifier=classifier) for name, run in zip(inverter_names(runs), runs)
    }
    images = load_gallery(runs[0], gallery, dataset, data_root)
    first = next(iter(inverters.values()))
    units = load_unit_images(runs[0], first.image_shape, dataset, data_root)
    limits = UploadLimits(max_bytes=int(max_upload_mb * 1024 * 1024), max_pixels=max_upload_pixels)
    hosts = [*allowed_hosts, *([host] if not is_loopback(host) and host not in ("0.0.0.0", "::") else [])]
    app = create_app(Explorer(inverters, images, units), limits, hosts=hosts)
    if not is_loopback(host):
        print(f"warning: serving on {host}: anyone who can reach this machine can use the explorer")
    print(f"unlogit explorer: http://{host}:{port}/  (API docs: /docs; Ctrl-C stops)", flush=True)
    options = server_options(header_timeout, max_connections, max_body=limits.max_bytes + MULTIPART_OVERHEAD)
    uvicorn.run(app, **options, host=host, port=port, log_level="warning")


def server_options(
    header_timeout: float, max_connections: int, min_body_rate: float = 16_384.0, max_body: int = 6 * 1024 * 1024
) -> dict:
    """uvicorn settings that keep slow or half-open clients from taking the explorer down (serve/protocol.py):
    a deadline for each request's head and body (the body at ``min_body_rate`` bytes a second, up to
    ``max_body``), a bound on connections."""
    from .protocol import install_log_limits, protocol_with

    if header_timeout <= 0 or max_connections <= 0 or min_body_rate <= 0:
        raise UnlogitError("--header-timeout, --max-connections and the body rate must be positive")
    install_log_limits()
    return {
        "http": protocol_with(header_timeout, max_connections, min_body_rate, max_body),
        "limit_concurrency": max_connections,
        "timeout_keep_alive": 5,
    }
