"""Peak memory and throughput of scoring one inverter on N CIFAR-10 test images: streamed in batches
(``scoring.stream.stream_scores``, what ``unlogit evaluate`` runs) vs the whole split materialised as float32,
reconstructed and scored at once (``scoring.measure.score`` on every image, what evaluate did before); each in a
fresh process, on the same inverter, evaluator, images and noise.

    python -m benchmarks.evaluate_stream --inverter runs/cifar10-replication/inverters/robust \\
        --out docs/results/evaluate-stream/cpu-epyc.json

Both compute every per-image quantity (retrieval in every space and KID per image included) plus the
Frechet distance and KID in the evaluator's features. Target: the streamed peak grows only by the per-image
features (linear in N, far below the images), at no loss of throughput.
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
from unlogit import load_inverter
from unlogit.classifiers.registry import load_classifier
from unlogit.data.config import DataConfig
run, evaluator, n, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
inv = load_inverter(run, device='cpu')
data = DataConfig(name='cifar10', test_size=n).load('test').subset(n)
judges = {'judge': load_classifier(evaluator, 'cpu', classes=data.classes)}
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
if mode == 'streamed':
    from unlogit.scoring.metrics import frechet_from_features, kernel_distance_from_features
    from unlogit.scoring.stream import stream_scores
    out = stream_scores(inv, data, judges)
    scores, feats = out.scores, out.features['judge']
    fd, kid = frechet_from_features(*feats), kernel_distance_from_features(*feats)['kid']
else:
    from unlogit.scoring.measure import score
    from unlogit.scoring.metrics import ClassifierFeatures, frechet_distance, kernel_distance
    x, y = data.batch(torch.arange(n))
    logits = inv.logits(x)
    x_hat = inv.reconstruct_logits(logits, samples=1, seed=0)[:, 0].cpu()
    scores = score(x, x_hat, y, inv.classifier, judges, logits=logits, retrieval=True)
    extractor = ClassifierFeatures(judges['judge'])
    fd, kid = frechet_distance(x, x_hat, extractor), kernel_distance(x, x_hat, extractor)['kid']
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
summary = scores.summary()
print(json.dumps({'peak_growth_mb': (peak - base) / 1024, 'seconds': seconds, 'images_per_s': n / seconds,
                  'retrieval@pixels': summary['retrieval@pixels'], 'frechet': fd, 'kid': kid}))
"""


def probe(run: str, evaluator: str, n: int, mode: str) -> dict[str, Any]:
    args = [sys.executable, "-c", PROBE, run, evaluator, str(n), mode]
    out = subprocess.run(args, capture_output=True, text=True, check=False)
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.evaluate_stream", description=__doc__.splitlines()[0])
    p.add_argument("--inverter", required=True, help="a CIFAR-10 inverter run directory")
    p.add_argument("--evaluator", default="unlogit:cifar10-eval-standard")
    p.add_argument("--sizes", default="500,2000")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    result: dict[str, Any] = {"inverter": args.inverter, "evaluator": args.evaluator, "rows": []}
    for n in (int(s) for s in args.sizes.split(",")):
        row = {"n": n, **{mode: probe(args.inverter, args.evaluator, n, mode) for mode in ("streamed", "all_at_once")}}
        row["throughput_ratio_streamed"] = row["streamed"]["images_per_s"] / row["all_at_once"]["images_per_s"]
        row["memory_ratio_streamed"] = row["streamed"]["peak_growth_mb"] / row["all_at_once"]["peak_growth_mb"]
        print(json.dumps(row), flush=True)
        result["rows"].append(row)
    result["command"] = "python -m benchmarks.evaluate_stream " + " ".join(argv or sys.argv[1:])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
