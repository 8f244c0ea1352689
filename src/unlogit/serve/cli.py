"""``unlogit serve --inverter RUN [--inverter RUN ...]``: start the explorer on http://127.0.0.1:8000."""

from __future__ import annotations

import argparse
import ipaddress
from pathlib import Path

import yaml

from ..errors import UnlogitError


def load_gallery(run: str | Path, n: int, dataset: str | None = None, data_root: str | None = None):
    """The first ``n`` test images of the dataset an inverter run was trained on (or of ``dataset``)."""
    from ..config import from_dict
    from ..data.config import DataConfig

    cfg_path = Path(run) / "config.yaml"
    data = (yaml.safe_load(cfg_path.read_text()) or {}).get("data", {}) if cfg_path.is_file() else {}
    data = {**data, "test_size": n, "train_size": None}
    if dataset:
        data = {"name": dataset, "test_size": n}
    if data_root:
        data["root"] = data_root
    if "name" not in data:
        raise UnlogitError(f"{run} records no dataset (no config.yaml); pass --dataset NAME for the gallery")
    return from_dict(DataConfig, data, "data").load("test")


def inverter_names(runs: list[str]) -> list[str]:
    """Display names: each run directory's name, made unique with a suffix."""
    names: list[str] = []
    for run in runs:
        base = Path(run).resolve().name or "inverter"
        name, k = base, 2
        while name in names:
            name, k = f"{base}-{k}", k + 1
        names.append(name)
    return names


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def cmd_serve(args: argparse.Namespace) -> int:
    from ..inversion.inverter import load_inverter
    from .explorer import Explorer
    from .uploads import UploadLimits

    try:
        import uvicorn

        from .api import create_app
    except ImportError as exc:
        raise UnlogitError("`unlogit serve` needs the web extra: pip install -e '.[serve]'") from exc
    if args.gallery <= 0 or args.max_upload_mb <= 0 or args.max_upload_pixels <= 0:
        raise UnlogitError("--gallery, --max-upload-mb and --max-upload-pixels must be positive")
    inverters = {name: load_inverter(run, device=args.device)
                 for name, run in zip(inverter_names(args.inverter), args.inverter)}  # fmt: skip
    gallery = load_gallery(args.inverter[0], args.gallery, args.dataset, args.data_root)
    limits = UploadLimits(max_bytes=int(args.max_upload_mb * 1024 * 1024), max_pixels=args.max_upload_pixels)
    app = create_app(Explorer(inverters, gallery), limits)
    if not _is_loopback(args.host):
        print(f"warning: serving on {args.host}: anyone who can reach this machine can use the explorer")
    print(f"unlogit explorer: http://{args.host}:{args.port}/  (API docs: /docs; Ctrl-C stops)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def register(add) -> None:
    """Add ``serve`` to the CLI."""
    p = add(
        "serve",
        cmd_serve,
        "a local web explorer: reconstructions, logit editing, transforms and attacks",
        "unlogit serve --inverter runs/demo/inverters/robust --inverter runs/demo/inverters/standard",
    )
    p.add_argument("--inverter", action="append", required=True, help="inverter run directory (repeatable)")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default loopback only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--gallery", type=int, default=48, help="test images offered for picking")
    p.add_argument("--dataset", help="gallery dataset (default: the first inverter's training dataset)")
    p.add_argument("--data-root", help="folder searched first for dataset files")
    p.add_argument("--device", default="cpu", help="cpu, cuda ...")
    p.add_argument("--max-upload-mb", type=float, default=5.0, help="largest accepted upload")
    p.add_argument("--max-upload-pixels", type=int, default=4096 * 4096, help="largest declared width x height")
