"""The kernel-ridge probe of classifier families: which control recipe is worth inverting with the GAN.

    UNLOGIT_DATA=../shared/data python -m benchmarks.recipe_probe \
        --family robust=unlogit:cifar10-robust-s0,unlogit:cifar10-robust-s1,unlogit:cifar10-robust-s2 \
        --family standard=... --family epoch-matched=... --family noise=... \
        --work runs/recipe-probe --out docs/results/recipe-probe/probe.json

For every classifier of every family this fits the reference decoder (``method: ridge``, closed form, seconds; the
``--preset`` inverter settings, resumable under ``--work``) and scores it on the first ``--images`` validation
images (the test split is not touched): retrieval of each image among them from its reconstruction, in every
judge-free band. Each family is then compared with the first (``--family`` order; the robust one) under the
claim's crossed-design interval (K classifiers per family, one fit each), on ``--endpoint``: a control family
whose probe matches the robust one's says the gap a regression reads from the logits is not about adversarial
training; one that matches the standard family's says it is. The JSON holds per family the per-classifier means
and each comparison; the per-image values go beside it (``probe_values.safetensors``, ``FAMILY/KEY`` ->
(K, 1, N)).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import torch

from unlogit.config import build_config, deep_merge, load_preset_dict
from unlogit.data.config import DataConfig
from unlogit.inversion.config import InverterRunConfig
from unlogit.inversion.inverter import load_inverter
from unlogit.runtime.atomic import write_atomic, write_json_atomic
from unlogit.runtime.rundir import RunLayout
from unlogit.scoring.held_out import train_and_score
from unlogit.scoring.measure import PIXEL_SPACES, rank_score, retrieval_ranks
from unlogit.study.protocol import Endpoint, compare


def fit(spec: str, out: Path, preset: str, overrides: list[str]) -> Path:
    """The reference decoder of classifier ``spec`` in ``out`` (fitted once; a finished fit is reused)."""
    if RunLayout(out).state() != "done":
        extra = deep_merge(load_preset_dict("inverter", "methods/ridge"), {"classifier": spec})
        cfg = build_config(InverterRunConfig, "inverter", preset, ["train.progress=false", *overrides], extra)
        train_and_score(cfg, out, resume=False)
    return out


def band_values(run: Path, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Retrieval (N,) of each image among the N from its reconstruction, in every judge-free band."""
    inv = load_inverter(run, device="cpu")
    rec = inv.reconstruct(x, samples=1, seed=0)[:, 0].cpu()
    out = {}
    for name, space in PIXEL_SPACES.items():
        ranks = retrieval_ranks(space.features(x), space.features(rec))["retrieval_rank"]
        out[f"retrieval@{name}"] = rank_score(ranks, len(x))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.recipe_probe", description=__doc__.splitlines()[0])
    p.add_argument("--family", action="append", required=True, metavar="NAME=SPEC,SPEC,...")
    p.add_argument("--dataset", default="cifar10")
    p.add_argument("--preset", default="cifar10-cpu")
    p.add_argument("--images", type=int, default=1000, help="validation images scored")
    p.add_argument("--endpoint", default="retrieval@layout")
    p.add_argument("--work", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("overrides", nargs="*", help="KEY=VALUE reference-decoder overrides")
    args = p.parse_intermixed_args(argv)
    families = {}
    for item in args.family:
        name, _, specs = item.partition("=")
        if not specs:
            p.error(f"--family {item!r}: give NAME=SPEC,SPEC,...")
        families[name] = specs.split(",")
    val = DataConfig(name=args.dataset, val_size=2000).load("val")
    x = val.batch(torch.arange(min(args.images, len(val))))[0]
    work = Path(args.work)
    values: dict[str, dict[str, torch.Tensor]] = {}
    result: dict[str, Any] = {
        "command": " ".join(["python -m benchmarks.recipe_probe", *sys.argv[1:]]),
        "endpoint": args.endpoint,
        "n_images": len(x),
        "split": "val",
        "families": {},
    }
    for name, specs in families.items():
        per = [band_values(fit(s, work / f"{name}-c{k}", args.preset, args.overrides), x) for k, s in enumerate(specs)]
        values[name] = {key: torch.stack([v[key] for v in per])[:, None] for key in per[0]}
        result["families"][name] = {
            "classifiers": specs,
            "means": {key: [float(v[key].mean()) for v in per] for key in per[0]},
        }
        print(f"{name}: {args.endpoint} {[round(m, 4) for m in result['families'][name]['means'][args.endpoint]]}")
    first = next(iter(families))
    endpoint = Endpoint(args.endpoint, args.endpoint, True, True, 0.02)
    result["against_" + first] = {
        name: compare(endpoint, values[first][args.endpoint], values[name][args.endpoint]).to_dict()
        for name in families
        if name != first
    }
    for name, c in result["against_" + first].items():
        print(f"{first} minus {name}: {c['estimate']:+.4f} [{c['ci_low']:+.4f}, {c['ci_high']:+.4f}] {c['verdict']}")
    out = Path(args.out)
    write_json_atomic(out, result)
    from safetensors.torch import save_file

    tensors = {f"{f}/{k}": v.contiguous() for f, vals in values.items() for k, v in vals.items()}
    write_atomic(out.with_name("probe_values.safetensors"), lambda tmp: save_file(tensors, str(tmp)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
