"""Tuning decision on the VALIDATION split under the protocol: gan-features vs gan, per classifier."""
import json, sys, torch
from unlogit.data.config import DataConfig
from unlogit.inversion.inverter import load_inverter
from unlogit.classifiers.registry import load_classifier
from unlogit.study.claim import ClaimConfig, score_inverter, decide
val = DataConfig(name="cifar10", root="/work/shared/data", val_size=2000).load("val").subset(500)
x, y = val.batch(torch.arange(len(val)))
judges = {"eval-standard": load_classifier("unlogit:cifar10-eval-standard"), "eval-robust": load_classifier("unlogit:cifar10-eval-robust")}
cfg = ClaimConfig(a="gan-features", b="gan", statement="gan-features beats gan", noise_draws=2, resamples=2000)
out = {}
for clf, runs in (("rob-l2-w16-e10", {"gan-features": "tq3-rob-feat-b16", "gan": "tq4-rob-gan-b16"}),):
    s = [score_inverter(m, [load_inverter(runs[m])], x, y, judges, cfg, 0) for m in ("gan-features", "gan")]
    r = decide(*s, list(judges), 10, cfg)
    out[clf] = r
    print(clf, r["verdict"], r["excluded"])
    for e in r["endpoints"]:
        print(f"  {e['endpoint']:42s} {e['a_mean']:.3f} {e['b_mean']:.3f} {e['estimate']:+.3f} [{e['ci_low']:+.3f},{e['ci_high']:+.3f}] {e['verdict']}")
json.dump(out, open("decide_method.json", "w"), indent=1, default=str)
