"""Peak memory of retrieval ranks against N: blocked (``scoring.measure.retrieval_ranks``) vs the full N x N
float64 distance matrix it replaced, each in a fresh process, at N = 1,000, 5,000 and 20,000 in a 512-d feature
space.

    python -m benchmarks.metric_memory --out docs/results/metric-memory/cpu-epyc.json

Target: growth linear in N, and <= 1.5 GB at 20,000. KID is not blocked yet; its memory is not measured here.
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
if mode == 'blocked':
    from unlogit.scoring.measure import retrieval_ranks
    ranks = retrieval_ranks(f, g, labels)['retrieval_rank']
else:
    dist = torch.cdist(g.double(), f.double())
    own = dist.diagonal()
    ranks = 1.0 + (dist < own[:, None]).sum(1).double() + 0.5 * ((dist == own[:, None]).sum(1).double() - 1.0)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({'peak_growth_mb': (peak - base) / 1024, 'seconds': seconds, 'mean_rank': float(ranks.mean())}))
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
    args = p.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    result: dict[str, Any] = {"feature_dim": 512, "target_peak_mb_at_20000": 1536, "rows": []}
    for n in sizes:
        row = {"n": n, **{mode: probe(n, mode) for mode in ("blocked", "full_matrix")}}
        print(json.dumps(row), flush=True)
        result["rows"].append(row)
    first, last = result["rows"][0], result["rows"][-1]
    result["growth_ratio_blocked"] = last["blocked"]["peak_growth_mb"] / max(first["blocked"]["peak_growth_mb"], 1e-9)
    result["n_ratio"] = last["n"] / first["n"]
    result["command"] = "python -m benchmarks.metric_memory " + " ".join(argv or sys.argv[1:])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
