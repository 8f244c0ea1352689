"""CLI subcommands of the inversion package: ``train`` and ``reconstruct``."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..errors import UnlogitError


def cmd_train(args: argparse.Namespace) -> int:
    from ..cli import _data_extra, _run_dir
    from ..config import build_config, deep_merge, load_preset_dict
    from .config import InverterRunConfig
    from .trainer import train_inverter

    extra = _data_extra(args)
    if args.classifier:
        extra["classifier"] = args.classifier
    if args.method:
        extra = deep_merge(load_preset_dict("inverter", f"methods/{args.method}"), extra)
    cfg = build_config(InverterRunConfig, "inverter", args.preset, args.overrides, extra)
    out = _run_dir(args, "inv", cfg.data.name, args.preset)
    if os.environ.get("RANK", "0") != "0":  # under torchrun only rank 0 talks
        return 0 if train_inverter(cfg, out, resume=args.resume) is not None else 1
    print(f"training {cfg.model.method} inverter of {cfg.classifier} -> {out}", flush=True)
    summary = train_inverter(cfg, out, resume=args.resume)
    if summary and summary.get("method") == "optimize":
        print(
            f"optimisation inversion needs no training: {summary['seconds_per_image'] * 1000:.1f} ms per image; "
            f"label agreement {summary['label_agreement']:.1%} on {summary['n']} held-out images. Run: {out}"
        )
    elif summary:
        print(
            f"done after {summary['steps']} G steps ({summary['train_minutes']:.1f} min): on {summary['n']} held-out "
            f"images the classifier gives the reconstruction the original's label for "
            f"{summary['label_agreement']:.1%}; mean-colour correlation {summary['colour_correlation']:.2f}; "
            f"PSNR {summary['psnr']:.1f} dB. Run: {out}"
        )
    return 0


def cmd_reconstruct(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from ..data.config import DataConfig
    from ..data.files import load_image_file
    from ..figures import comparison_grid, save_png
    from ..runtime.atomic import write_atomic
    from .inverter import load_inverter

    inv = load_inverter(args.inverter, device=args.device or "cpu")
    c, h, _ = inv.image_shape
    if args.images:
        arrays = [load_image_file(Path(p), "L" if c == 1 else "RGB", size=h) for p in args.images]
        x = torch.from_numpy(np.stack(arrays).transpose(0, 3, 1, 2).copy()).float() / 255.0
    elif args.dataset:
        ds = DataConfig(name=args.dataset, root=args.data_root, test_size=args.n, channels=c, image_size=h).load(
            args.split
        )
        x = ds.batch(torch.arange(min(args.n, len(ds))))[0]
    else:
        raise UnlogitError("give --images FILE [FILE ...] or --dataset NAME [--n N]")
    recon = inv.reconstruct(x, samples=args.samples, seed=args.seed)  # (N,S,C,H,W)
    out = Path(args.out or Path(args.inverter) / "reconstructions")
    out.mkdir(parents=True, exist_ok=True)
    grid = comparison_grid([x, *recon.unbind(1)], upscale=2)
    png = save_png(grid, out / "reconstructions.png")
    logits = inv.logits(x)
    write_atomic(out / "reconstructions.npz", lambda tmp: np.savez_compressed(
        open(tmp, "wb"), originals=x.numpy(), reconstructions=recon.cpu().numpy(), logits=logits.cpu().numpy(),
        seed=np.int64(args.seed)))  # fmt: skip
    agree = (inv.logits(recon.flatten(0, 1)).argmax(1).view(len(x), -1) == logits.argmax(1)[:, None]).float().mean()
    print(f"wrote {png} (original | {args.samples} reconstructions) and {out / 'reconstructions.npz'}; "
          f"classifier label agreement {float(agree):.1%}")  # fmt: skip
    return 0


def register(add) -> None:
    """Add ``train`` and ``reconstruct`` to the CLI."""
    from ..cli import _add_common_config

    p = add(
        "train",
        cmd_train,
        "train a logit inverter (logit-conditioned BigGAN, hinge loss)",
        "unlogit train --classifier runs/clf-robust --dataset shapes --preset tiny --out runs/inv-robust",
    )
    p.add_argument("--classifier", help="classifier to invert: run dir or registry spec")
    p.add_argument(
        "--method",
        choices=["gan", "pixel", "dosovitskiy", "optimize"],
        help="gan (the paper, default), or a baseline; applies configs/inverter/methods/METHOD.yaml",
    )
    _add_common_config(p, "inverter", "tiny")

    p = add(
        "reconstruct",
        cmd_reconstruct,
        "reconstruct images from their logits with a trained inverter",
        "unlogit reconstruct --inverter runs/inv-robust --dataset shapes --n 16 --samples 4",
    )
    p.add_argument("--inverter", required=True, help="inverter run directory")
    p.add_argument("--images", nargs="+", help="image files (PNG/JPEG), resized to the inverter's size")
    p.add_argument("--dataset", help="dataset registry name (uses the test split by default)")
    p.add_argument("--data-root", help="folder searched first for dataset files")
    p.add_argument("--split", default="test", choices=["train", "test"])
    p.add_argument("--n", type=int, default=16, help="images from --dataset")
    p.add_argument("--samples", type=int, default=4, help="noise draws per image")
    p.add_argument("--seed", type=int, default=0, help="noise seed")
    p.add_argument("--out", help="output folder (default RUN/reconstructions)")
    p.add_argument("--device", help="cpu, cuda ...")
