"""``unlogit serve --inverter RUN [--inverter RUN ...]``: the explorer on http://127.0.0.1:8000."""

from __future__ import annotations

import argparse

from .options import AddCommand, add_classifier_override


def cmd_serve(args: argparse.Namespace) -> int:
    from ..serve.launch import serve_explorer

    serve_explorer(
        args.inverter,
        args.host,
        args.port,
        args.gallery,
        args.dataset,
        args.data_root,
        args.device,
        args.max_upload_mb,
        args.max_upload_pixels,
        args.allowed_host or (),
        args.classifier,
        args.header_timeout,
        args.max_connections,
    )
    return 0


def register(add: AddCommand) -> None:
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
    p.add_argument(
        "--device", default="cpu", help="cpu (the default: the explorer has not run on a GPU yet), auto, cuda:N"
    )
    p.add_argument("--max-upload-mb", type=float, default=5.0, help="largest accepted upload")
    p.add_argument("--max-upload-pixels", type=int, default=4096 * 4096, help="largest declared width x height")
    p.add_argument(
        "--allowed-host",
        action="append",
        help="a Host name the server answers besides the loopback names (repeatable; e.g. behind a proxy)",
    )
    p.add_argument("--header-timeout", type=float, default=10.0, help="seconds a client has to send a request head")
    p.add_argument("--max-connections", type=int, default=256, help="open connections at most (more get 503/closed)")
    add_classifier_override(p)
