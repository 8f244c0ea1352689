"""The ImageNet data path on this machine: prepare-data throughput, memory of training from a memory map, and the
cost of a batch from it, each against today's in-memory path measured in the same run.

    python -m benchmarks.data_pipeline --out docs/results/prepare-data/cpu.json

1. **Throughput.** ``unlogit prepare-data`` on a synthetic ImageNet-layout tree (``--images`` JPEGs at 500x375,
   333x500 and 640x480, smooth content that compresses like photos) with 1 and 2 decoding workers, against a bare
   PIL decode + resize of the same files in one process (the work without draft mode, the pool and the writes).
   Target: 2 workers >= 1.7x one.
2. **Memory.** A process (and each of 2 gloo ranks under torchrun) opens ``prepared:DIR``, trains an inverter for
   a few steps and reads every image once; the anonymous memory each byte of data adds (arrays of
   ``--memory-mb`` against a tenth of that), next to the same data read through ``npz:`` (today's in-memory
   path). Target: <= 0.10 bytes per byte of data.
3. **Batches.** Milliseconds to gather a random batch of 64-px images (uint8 -> float) from the memory map and
   from memory, with a warm page cache.
4. **Crops.** What ``--logit-size 224`` adds to the decode: the stored image alone vs the stored image and the
   224-px crop the classifier sees, from one decode.
5. **Step share.** A batch drawn for training (images and logits) from ``prepared:`` with stored logits and from
   today's in-memory path with the logit cache, against a whole step of the ``tiny`` preset on this CPU.
   Target: <= 5% of a step.
6. **Stored logits at 224.** ``prepare-data --logit-size 224`` with a ResNet-50's logits of the 224-px crops on
   ``--logits-device`` (the GPU check runs it on CUDA): images/s of the whole preparation, decode included.

The projection for the full ILSVRC2012 (1,281,167 + 50,000 images) scales the measured per-image cost; it is a
projection, not a measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from .synthetic_imagenet import make_imagenet_tree

ILSVRC = {"train": 1_281_167, "test": 50_000}


BENCH_SIZES = ((500, 375), (333, 500), (640, 480), (500, 333))


def make_tree(root: Path, images: int, classes: int = 20) -> Path:
    """``images`` training JPEGs in ``classes`` folders (and 2 per class in val/), about 43 kB each."""
    names = [f"n{k:08d}" for k in range(classes)]
    return make_imagenet_tree(root, classes, images // classes, 2, 0, BENCH_SIZES, 16, names)


def bare_pil_ms(files: list[Path], size: int) -> float:
    from PIL import Image

    start = time.perf_counter()
    for path in files:
        with Image.open(path) as im:
            np.asarray(im.convert("RGB").resize((size, size), Image.Resampling.BICUBIC))
    return 1000 * (time.perf_counter() - start) / len(files)


def throughput(tree: Path, size: int, work: Path) -> dict[str, Any]:
    from unlogit.data.prepare import PrepareOptions, prepare_data

    files = sorted((tree / "train").rglob("*.JPEG"))
    out: dict[str, Any] = {"images": len(files), "size": size, "bare_pil_ms_per_image": bare_pil_ms(files, size)}
    for workers in (1, 2):
        start = time.perf_counter()
        prepare_data(PrepareOptions(f"imagefolder:{tree}", size, ("train",)), work / f"w{workers}", workers=workers)
        seconds = time.perf_counter() - start
        out[f"workers_{workers}"] = {"seconds": seconds, "images_per_s": len(files) / seconds}
    out["ratio_2_over_1"] = out["workers_2"]["images_per_s"] / out["workers_1"]["images_per_s"]
    out["target_ratio"] = 1.7
    out["ms_per_image_1_worker"] = 1000 / out["workers_1"]["images_per_s"]
    return out


MEMORY_PROBE = """
import json, os, sys, torch
from unlogit import train_inverter
from unlogit.config import build_config
from unlogit.data.config import DataConfig
from unlogit.inversion.config import InverterRunConfig

def rss():
    status = {l.split(':')[0]: int(l.split()[1]) * 1024 for l in open('/proc/self/status') if l.startswith('Rss')}
    return status['RssAnon'], status['RssFile']

spec, out, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
anon0, file0 = rss()
cfg = build_config(InverterRunConfig, 'inverter', 'tiny', [
    f'data.name={spec}', 'data.val_size=500', 'data.test_size=64', 'model.ch_g=4', 'model.ch_d=4',
    'model.dim_z=16', f'train.steps={steps}', 'train.batch_size=16', 'train.eval_size=32', 'train.progress=false',
    'train.logit_cache=false', 'train.standing_stats_batches=2', 'train.device=cpu'],
    {'classifier': 'unlogit:cifar10-eval-standard'})  # host memory is what is measured: the CPU, also on a GPU node
train_inverter(cfg, out)
train = DataConfig(name=spec, val_size=500).load('train')
for start in range(0, len(train), 4096):  # every image read once
    train.batch(torch.arange(start, min(start + 4096, len(train))))
anon1, file1 = rss()
rank = int(os.environ.get('RANK', 0))
print(json.dumps({'rank': rank, 'anon_growth': anon1 - anon0, 'file_growth': file1 - file0}))
"""


def _probe(spec: str, run: Path, ranks: int = 1, steps: int = 20) -> list[dict[str, int]]:
    """The probe's record per process (``steps`` training steps): one process, or ``ranks`` gloo ranks under
    torchrun."""
    script = run.with_suffix(".py")
    script.write_text(MEMORY_PROBE)
    launcher = ["-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={ranks}"] if ranks > 1 else []
    env = {**os.environ, "OMP_NUM_THREADS": "1", "UNLOGIT_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, *launcher, str(script), spec, str(run), str(steps)], capture_output=True, text=True, env=env
    )
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    records = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    return sorted(records, key=lambda r: r["rank"])


def memory(work: Path, megabytes: int, steps: int = 20) -> dict[str, Any]:
    """The memory a dataset adds to a training process: the same probe on data of ``megabytes`` and of a tenth
    of it; the difference of the two growths over the difference of the two arrays is what each byte of data
    costs the process (the training machinery's own memory cancels)."""
    from unlogit.data.prepare import PrepareOptions, prepare_data

    rng = np.random.default_rng(0)
    out: dict[str, Any] = {"target_growth_fraction": 0.10}
    sizes = {}
    for label, mb in (("small", megabytes // 10), ("large", megabytes)):
        n = mb * 1024**2 // (32 * 32 * 3)
        folder = work / label
        folder.mkdir()
        x = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
        np.savez(folder / "train.npz", x=x, y=np.arange(n) % 10)
        np.savez(folder / "test.npz", x=x[:1000], y=np.arange(min(n, 1000)) % 10)
        del x
        prepare_data(PrepareOptions(f"npz:{folder}", 32), folder / "prep")
        sizes[label] = n * 32 * 32 * 3
        for name, spec, ranks in PROBES:
            run = folder / f"run-{name}"
            out.setdefault(name, {})[label] = _probe(spec.format(folder=folder), run, ranks, steps)
    out["array_bytes"] = sizes
    extra = sizes["large"] - sizes["small"]
    for name, _, ranks in PROBES:
        out[name]["anon_bytes_per_data_byte"] = [
            (out[name]["large"][r]["anon_growth"] - out[name]["small"][r]["anon_growth"]) / extra for r in range(ranks)
        ]
    return out


PROBES = (  # (name, dataset spec, processes)
    ("prepared", "prepared:{folder}/prep", 1),
    ("prepared_2_gloo_ranks", "prepared:{folder}/prep", 2),
    ("in_memory_npz", "npz:{folder}", 1),
)


def batches(prepared: Path, iters: int = 200) -> dict[str, Any]:
    import torch

    from unlogit.data.config import DataConfig

    mapped = DataConfig(name=f"prepared:{prepared}", val_size=10).load("train")
    in_memory = mapped.subset(slice(None))
    in_memory.images = mapped.images.clone()
    out = {}
    for name, ds in (("prepared", mapped), ("in_memory", in_memory)):
        times = []
        for _ in range(iters):
            index = torch.randint(0, len(ds), (64,))
            start = time.perf_counter()
            ds.batch(index)
            times.append(1000 * (time.perf_counter() - start))
        out[f"{name}_ms_per_batch64"] = statistics.median(times)
    out["image_shape"] = list(mapped.image_shape)
    return out


def crop_cost(tree: Path, size: int, logit_size: int = 224, limit: int = 400) -> dict[str, Any]:
    """What the classifier's crop adds to the decode: ms per image for the stored image alone and for the stored
    image plus the ``logit_size`` center crop from the same decode (``prepare-data --logit-size``), one process."""
    from unlogit.data.files import load_image_sizes

    files = sorted((tree / "train").rglob("*.JPEG"))[:limit]
    out: dict[str, Any] = {"images": len(files), "size": size, "logit_size": logit_size}
    for name, sizes in (("image_only", (size,)), ("image_and_crop", (size, logit_size))):
        start = time.perf_counter()
        for path in files:
            load_image_sizes(path, "RGB", sizes)
        out[f"{name}_ms_per_image"] = 1000 * (time.perf_counter() - start) / len(files)
    out["ratio"] = out["image_and_crop_ms_per_image"] / out["image_only_ms_per_image"]
    return out


STEP_SPEC = "unlogit:cifar10-robust-s0"  # a shipped 32-px classifier: its logits are stored by the benchmark


def step_share(tree: Path, work: Path, batch: int = 256, steps: int = 3) -> dict[str, Any]:
    """The data part of a training step: milliseconds to draw a batch (images gathered and converted, logits read)
    from ``prepared:`` with stored logits and from today's in-memory path (images in memory, the logit cache
    computed at start), and the share of a whole step (the ``tiny`` preset on this CPU) the draw takes."""
    import torch

    from unlogit.classifiers.stored import ClassifierLogits
    from unlogit.config import build_config
    from unlogit.data.prepare import PrepareOptions, prepare_data
    from unlogit.data.stored_logits import LogitWriters
    from unlogit.inversion.config import InverterRunConfig
    from unlogit.inversion.train.trainer import build_training
    from unlogit.runtime.dist import DistInfo

    writers = LogitWriters([ClassifierLogits(STEP_SPEC, 32, torch.device("cpu"))])
    prepare_data(PrepareOptions(f"imagefolder:{tree}", 32, ("train", "test")), work / "prep32", 2, writers)
    n = len(list((tree / "train").rglob("*.JPEG")))
    val, batch = max(2, n // 10), min(batch, n - max(2, n // 10))  # what the tree allows (the dry run's is small)
    common = [f"data.name=prepared:{work / 'prep32'}", f"data.val_size={val}", f"train.batch_size={batch}"]
    common += ["train.eval_size=16", "train.amp=off", "train.channels_last=false", "train.compile=false"]
    common += ["train.progress=false"]
    out: dict[str, Any] = {"batch": batch, "classifier": STEP_SPEC, "image_size": 32}
    for name, logits in (("prepared_stored_logits", "stored"), ("in_memory_computed_cache", "computed")):
        overrides = [*common, f"data.logits={logits}"]
        cfg = build_config(InverterRunConfig, "inverter", "tiny", overrides, {"classifier": STEP_SPEC})
        tr = build_training(cfg, work / f"run-{name}", False, torch.device("cpu"), DistInfo())
        if logits == "computed":
            tr.data.train_ds.images = tr.data.train_ds.images.clone()  # in memory, as npz: loads it
        draws = []
        for _ in range(50):
            start = time.perf_counter()
            tr.ctx.draw()
            draws.append(1000 * (time.perf_counter() - start))
        step_ms = []
        for _ in range(steps):
            start = time.perf_counter()
            tr.method.step(tr.ctx)
            step_ms.append(1000 * (time.perf_counter() - start))
        draw, step = statistics.median(draws), statistics.median(step_ms)
        out[name] = {"draw_ms": draw, "step_ms_cpu": step, "data_share_cpu": draw / step}
    out["target_share"] = 0.05
    return out


def logits_at_224(tree: Path, size: int, work: Path, device: str, arch: str, workers: int) -> dict[str, Any]:
    """``prepare-data --logit-size 224 --logits SPEC`` on ``device``: the stored ``size``-px images plus one
    torchvision ``arch``'s logits of the 224-px center crops (random weights saved to a local file: the work, not
    the values), images/s end to end with ``workers`` decoding processes (bf16 autocast on CUDA)."""
    import torch
    import torchvision.models as tvm
    from safetensors.torch import save_file

    from unlogit.classifiers.stored import ClassifierLogits
    from unlogit.data.prepare import PrepareOptions, prepare_data
    from unlogit.data.stored_logits import LogitWriters

    torch.manual_seed(0)
    weights = work / f"{arch}.safetensors"
    save_file({k: v.contiguous() for k, v in tvm.get_model(arch, weights=None).state_dict().items()}, weights)
    spec = f"torchvision:{arch}?weights={weights}&size=224"
    writers = LogitWriters([ClassifierLogits(spec, 224, torch.device(device))])
    n = len(list((tree / "train").rglob("*.JPEG")))
    start = time.perf_counter()
    prepare_data(PrepareOptions(f"imagefolder:{tree}", size, ("train",)), work / "logits224", workers, writers)
    seconds = time.perf_counter() - start
    return {
        "arch": arch,
        "device": device,
        "workers": workers,
        "images": n,
        "seconds": seconds,
        "images_per_s": n / seconds,
    }


def projection(ms_per_image_1: float) -> dict[str, Any]:
    """Full ILSVRC2012 from the measured per-image cost of one worker: hours with 1 worker and with 16 at ideal
    (linear) scaling, and the disk each stored size takes. The synthetic JPEGs are smooth and decode faster than
    photos, so these hours are a lower bound."""
    images = sum(ILSVRC.values())
    out: dict[str, Any] = {"label": "projection from the measured per-image cost, not a measurement"}
    out["hours_1_worker"] = images * ms_per_image_1 / 1000 / 3600
    out["hours_16_workers_linear"] = out["hours_1_worker"] / 16
    for size in (64, 128):
        out[f"disk_gb_{size}px"] = images * 3 * size * size / 1e9
    out["logits_disk_gb_per_classifier_float16"] = images * 1000 * 2 / 1e9
    return out


def machine() -> dict[str, Any]:
    """The CPU model and the vector extensions that decide its speed (machines here differ several-fold)."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "")
    flags = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_tile") if f" {f}" in info]
    return {"cpu": model or platform.machine(), "flags": flags, "cores": os.cpu_count()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.data_pipeline", description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--images", type=int, default=2000)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--memory-mb", type=int, default=400)
    p.add_argument("--memory-steps", type=int, default=20, help="training steps of each memory probe")
    p.add_argument("--logits-device", default="cpu", help="where step 6's classifier runs (cuda on the GPU check)")
    p.add_argument("--logits-arch", default="resnet50", help="step 6's torchvision classifier")
    p.add_argument("--logits-workers", type=int, default=2, help="step 6's decoding processes")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="unlogit-data-bench-") as tmp:
        work = Path(tmp)
        print("building the synthetic tree ...", flush=True)
        tree = make_tree(work / "tree", args.images)
        print("throughput ...", flush=True)
        result: dict[str, Any] = {"throughput": throughput(tree, args.size, work)}
        result["batches"] = batches(work / "w2")
        print("crops and steps ...", flush=True)
        result["crop_cost"] = crop_cost(tree, args.size)
        result["step_share"] = step_share(tree, work)
        print("logits at 224 ...", flush=True)
        result["logits_224"] = logits_at_224(
            tree, args.size, work, args.logits_device, args.logits_arch, args.logits_workers
        )
        print("memory ...", flush=True)
        (work / "mem").mkdir()
        result["memory"] = memory(work / "mem", args.memory_mb, args.memory_steps)
    t = result["throughput"]
    result["projection"] = projection(t["ms_per_image_1_worker"])
    result["machine"] = machine()
    result["command"] = "python -m benchmarks.data_pipeline " + " ".join(argv or sys.argv[1:])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
