"""``unlogit train`` and ``unlogit reconstruct``."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..errors import UnlogitError
from .options import AddCommand, add_classifier_override, add_config_options, config_extra, run_dir_for


def cmd_train(args: argparse.Namespace) -> int:
    from ..config import build_config, deep_merge, load_preset_dict
    from ..inversion.config import InverterRunConfig
    from ..scoring.held_out import train_and_score

    extra = config_extra(args)
    if args.classifier:
        extra["classifier"] = args.classifier
    if args.method:
        from ..inversion.methods import METHODS

        METHODS.get(args.method)  # an unknown method lists the methods, not the presets
        extra = deep_merge(load_preset_dict("inverter", f"methods/{args.method}"), extra)
    cfg = build_config(InverterRunConfig, "inverter", args.preset, args.overrides, extra)
    out = run_dir_for(args, "inv", cfg.data.name, args.preset)
    if os.environ.get("RANK", "0") != "0":  # under torchrun only rank 0 talks
        train_and_score(cfg, out, resume=args.resume)
        return 0
    print(f"training {cfg.model.method} inverter of {cfg.classifier} -> {out}", flush=True)
    s = train_and_score(cfg, out, resume=args.resume)
    numbers = (
        f"on {s['n']} held-out images the classifier gives the reconstruction the original's label for "
        f"{s['own_label_agreement']:.1%}; mean-colour correlation {s['colour_correlation']:.2f}; "
        f"PSNR {s['psnr']:.1f} dB"
    )
    if "seconds_per_image" in s:
        print(
            f"{cfg.model.method} needs no training: {s['seconds_per_image'] * 1000:.1f} ms per image; {numbers}. "
            f"Run: {out}"
        )
    else:
        print(f"done after {s['steps']} G steps ({s['train_minutes']:.1f} min): {numbers}. Run: {out}")
    return 0


def cmd_reconstruct(args: argparse.Namespace) -> int:
    import torch

    from ..data.config import DataConfig
    from ..data.files import load_image_files
    from ..inversion.inverter import load_inverter
    from ..runtime.rundir import RunLayout
    from ..scoring.reconstructions import write_reconstructions

    inv = load_inverter(args.inverter, device=args.device or "auto", classifier=args.classifier)
    c, h, _ = inv.image_shape
    if args.images:
        x = load_image_files([Path(p) for p in args.images], c, h)
    elif args.dataset:
        data = DataConfig(name=args.dataset, root=args.data_root, test_size=args.n, channels=c, image_size=h)
        ds = data.load(args.split)
        x = ds.batch(torch.arange(min(args.n, len(ds))))[0]
    else:
        raise UnlogitError("give --images FILE [FILE ...] or --dataset NAME [--n N]")
    out = Path(args.out) if args.out else RunLayout(args.inverter).reconstructions
    r = write_reconstructions(inv, x, args.samples, args.seed, out)
    print(
        f"wrote {r['png']} (original | {args.samples} reconstructions) and {r['npz']}; "
        f"classifier label agreement {r['own_label_agreement']:.1%}"
    )
    return 0


def register(add: AddCommand) -> None:
    p = add(
        "train",
        cmd_train,
        "train a logit inverter (logit-conditioned BigGAN, hinge loss)",
        "unlogit train --classifier runs/clf-robust --dataset shapes --preset tiny --out runs/inv-robust",
    )
    p.add_argument("--classifier", help="classifier to invert: run dir or registry spec")
    p.add_argument(
        "--method",
        help="gan (the paper, default) or a baseline (see unlogit.inversion.methods); "
        "applies configs/inverter/methods/METHOD.yaml",
    )
    add_config_options(p, "inverter", "tiny")

    p = add(
        "reconstruct",
        cmd_reconstruct,
        "reconstruct images from their logits with a trained inverter",
        "unlogit reconstruct --inverter runs/inv-robust --dataset shapes --n 16 --samples 4",
    )
    p.add_argument("--inverter", required=True, help="inverter run directory")
    add_classifier_override(p)
    p.add_argument("--images", nargs="+", help="image files (PNG/JPEG), resized to the inverter's size")
    p.add_argument("--dataset", help="dataset registry name (uses the test split by default)")
    p.add_argument("--data-root", help="folder searched first for dataset files")
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--n", type=int, default=16, help="images from --dataset")
    p.add_argument("--samples", type=int, default=4, help="noise draws per image")
    p.add_argument("--seed", type=int, default=0, help="noise seed")
    p.add_argument("--out", help="output folder (default RUN/reconstructions)")
    p.add_argument("--device", help="auto (the default: CUDA when present), cpu, cuda:N")
