"""Peak memory against N of the two N x N metrics: retrieval ranks, blocked (``scoring.measure.retrieval_ranks``)
vs the full float64 distance matrix it replaced, and KID with its standard error, from blocked kernel row sums
(``scoring.metrics.mmd2_jackknife``) vs the three full float64 kernels it replaced; each in a fresh process, at
N = 1,000, 5,000 and 20,000 in a 512-d feature space (the full KID kernels only up to ``--kid-full-max``: at
20,000 they alone are 9.6 GB).

    python -m benchmarks.metric_memory --out docs/results/metric-memory/cpu-epyc.json

Target: growth linear in N, and <= 1.5 GB at 20,000.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

PROBE = """
import json, resource, sys, time, torch
n, mode = int(sys.argv[1]), sys.argv[2]
gen = torch.Generator().manual_seed(0)
f = torch.rand(n, 512, generator=gen)
g = 0.1 * f + 0.9 * torch.rand(n, 512, generator=gen)
labels = torch.arange(n) % 10
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
if mode == 'kid_blocked':
    from unlogit.scoring.metrics import mmd2_jackknife
    value = mmd2_jackknife(f.double(), g.double(), paired=True)[0]
elif mode == 'kid_full':
    fd, gd = f.double(), g.double()
    k = [(a @ b.T / 512 + 1) ** 3 for a, b in ((fd, fd), (gd, gd), (fd, gd))]
    off = [(m.sum() - m.diagonal().sum()) / (n * (n - 1)) for m in k[:2]]
    value = float(off[0] + off[1] - 2 * k[2].mean())
elif mode == 'blocked':
    from unlogit.scoring.measure import retrieval_ranks
    ranks = retrieval_ranks(f, g, labels)['retrieval_rank']
else:
    dist = torch.cdist(g.double(), f.double())
    own = dist.diagonal()
    ranks = 1.0 + (dist < own[:, None]).sum(1).double() + 0.5 * ((dist == own[:, None]).sum(1).double() - 1.0)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
what = {'kid': value} if mode.startswith('kid') else {'mean_rank': float(ranks.mean())}
print(json.dumps({'peak_growth_mb': (peak - base) / 1024, 'seconds': seconds, **what}))
"""


def probe(n: int, mode: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-c", PROBE, str(n), mode], capture_output=True, text=True, check=False)
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.metric_memory", description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--sizes", default="1000,5000,20000")
    p.add_argument("--kid-full-max", type=int, default=5000, help="largest N of the full-kernel KID (memory)")
    args = p.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    result: dict[str, Any] = {"feature_dim": 512, "target_peak_mb_at_20000": 1536, "rows": []}
    for n in sizes:
        modes = ["blocked", "full_matrix", "kid_blocked", *(["kid_full"] if n <= args.kid_full_max else [])]
        row = {"n": n, **{mode: probe(n, mode) for mode in modes}}
        print(json.dumps(row), flush=True)
        result["rows"].append(row)
    first, last = result["rows"][0], result["rows"][-1]
    for mode in ("blocked", "kid_blocked"):
        key = "growth_ratio_blocked" if mode == "blocked" else "growth_ratio_kid_blocked"
        result[key] = last[mode]["peak_growth_mb"] / max(first[mode]["peak_growth_mb"], 1e-9)
    result["n_ratio"] = last["n"] / first["n"]
    result["command"] = "python -m benchmarks.metric_memory " + " ".join(argv or sys.argv[1:])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
