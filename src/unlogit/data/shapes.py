"""``shapes``: a procedural dataset with known nuisance factors (the embedded default).

Sample ``i`` of split ``s`` is a pure function of ``(seed, s, i)``: its class is ``i mod K`` (so
classes are balanced) and its nuisance factors are drawn from a NumPy generator keyed by
``(seed, split_id, i)``. Images are rendered vectorised from signed distance functions with
analytic anti-aliasing, 32x32 RGB.

Factors returned with every sample (all floats):
    pos_x, pos_y     centre in [-0.3, 0.3] (image coordinates span [-1, 1])
    scale            shape radius in [0.35, 0.6]
    rotation         angle in [0, 2*pi)
    obj_r/g/b        object colour in [0, 1]
    bg_r/g/b         background colour in [0, 1] (at least 0.45 away from the object colour)
    texture          stripe amplitude on the object, 0 (flat) or in [0.15, 0.35]

A testbed with known answers: the factors are partly class-correlated, so that a classifier's logits
can carry them and the logit information ceiling (``analyze factors``, the probe from logits) shows how
much they do. Class k's distributions overlap with every other class's:

    position   a class centre on a ring of radius 0.12 (angle 2*pi*k/K) plus uniform +-0.18
    scale      0.35 + 0.05 * (k mod 3) plus uniform [0, 0.15]
    colour     0.6 * the class's prototype (hue k/K, saturation 0.75, value 0.85) + 0.4 * uniform
    texture    striped with probability 0.25 (even k) or 0.75 (odd k)
    rotation and background colour are uniform (independent of the class).
"""

from __future__ import annotations

import numpy as np
import torch

from .base import ImageDataset

SHAPE_CLASSES = [
    "circle",
    "square",
    "triangle",
    "cross",
    "ring",
    "star",
    "hexagon",
    "crescent",
    "bar",
    "semicircle",
]
FACTOR_NAMES = [
    "pos_x",
    "pos_y",
    "scale",
    "rotation",
    "obj_r",
    "obj_g",
    "obj_b",
    "bg_r",
    "bg_g",
    "bg_b",
    "texture",
]
SPLIT_IDS = {"train": 0, "test": 1, "val": 2}
DEFAULT_SIZES = {"train": 50_000, "test": 10_000, "val": 5_000}
IMAGE_SIZE = 32


def class_prototype(k: int) -> np.ndarray:
    """Class k's prototype object colour (RGB in [0,1]): hue k/K, saturation 0.75, value 0.85."""
    import colorsys

    return np.array(colorsys.hsv_to_rgb(k / len(SHAPE_CLASSES), 0.75, 0.85))


def sample_factors(seed: int, split: str, indices: np.ndarray) -> np.ndarray:
    """Nuisance factors for the given sample indices: (N, len(FACTOR_NAMES)) float32 (class = index mod K)."""
    split_id = SPLIT_IDS[split]
    out = np.empty((len(indices), len(FACTOR_NAMES)), dtype=np.float32)
    prototypes = [class_prototype(k) for k in range(len(SHAPE_CLASSES))]
    for row, idx in enumerate(indices):
        k = int(idx) % len(SHAPE_CLASSES)
        rng = np.random.default_rng([seed, split_id, int(idx)])
        u = rng.random(12)
        obj = 0.6 * prototypes[k] + 0.4 * u[4:7]
        bg = rng.random(3)
        for _ in range(32):  # rejection keeps the object visible; deterministic per index
            if np.linalg.norm(obj - bg) >= 0.45:
                break
            bg = rng.random(3)
        else:
            bg = np.where(obj > 0.5, 0.0, 1.0)
        texture = 0.15 + 0.2 * u[8] if u[7] < (0.75 if k % 2 else 0.25) else 0.0
        angle = 2 * np.pi * k / len(SHAPE_CLASSES)
        out[row] = [
            0.12 * np.cos(angle) - 0.18 + 0.36 * u[0],
            0.12 * np.sin(angle) - 0.18 + 0.36 * u[1],
            0.35 + 0.05 * (k % 3) + 0.15 * u[2],
            2 * np.pi * u[3],
            *obj,
            *bg,
            texture,
        ]
    return out


def coverage(
    labels: np.ndarray,
    pos_x: np.ndarray,
    pos_y: np.ndarray,
    scale: np.ndarray,
    rotation: np.ndarray,
    size: int = IMAGE_SIZE,
) -> tuple[np.ndarray, np.ndarray]:
    """Anti-aliased shape masks (N,1,size,size) in [0,1] and the object-frame x coordinate (N,size,size)
    for (N,) labels and geometry (centre in [-1,1] image coordinates, radius, angle)."""
    n = len(labels)
    coords = (np.arange(size, dtype=np.float32) + 0.5) / size * 2 - 1
    gy, gx = np.meshgrid(coords, coords, indexing="ij")
    pos_x, pos_y, scale, rotation = (
        np.asarray(v, dtype=np.float32).reshape(n, 1, 1) for v in (pos_x, pos_y, scale, rotation)
    )
    cos, sin = np.cos(rotation), np.sin(rotation)
    dx, dy = gx[None] - pos_x, gy[None] - pos_y
    px = (cos * dx + sin * dy) / scale
    py = (-sin * dx + cos * dy) / scale
    sdf = np.empty((n, size, size), dtype=np.float32)
    for k, fn in enumerate(_SDFS):
        sel = labels == k
        if sel.any():
            sdf[sel] = fn(px[sel], py[sel])
    pixel = 2.0 / size
    return np.clip(0.5 - sdf * scale / pixel, 0.0, 1.0)[:, None], px


def render(labels: np.ndarray, factors: np.ndarray, size: int = IMAGE_SIZE) -> np.ndarray:
    """Render images for (N,) labels and (N, F) factors: (N, 3, size, size) uint8."""
    n = len(labels)
    f = {name: factors[:, i].reshape(n, 1, 1) for i, name in enumerate(FACTOR_NAMES)}
    alpha, px = coverage(labels, f["pos_x"], f["pos_y"], f["scale"], f["rotation"], size)  # (N,1,H,W)
    stripes = 1.0 + f["texture"][:, None] * np.sin(9.0 * px)[:, None]  # in object frame
    obj = np.stack([f["obj_r"], f["obj_g"], f["obj_b"]], axis=1)  # (N,3,1,1)
    bg = np.stack([f["bg_r"], f["bg_g"], f["bg_b"]], axis=1)
    img = alpha * np.clip(obj * stripes, 0, 1) + (1 - alpha) * bg
    return np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)


def generate(seed: int, split: str, start: int, stop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Samples ``start..stop-1`` of a split: images (N,3,32,32) uint8, labels (N,), factors (N,F)."""
    if split not in SPLIT_IDS:
        raise ValueError(f"shapes has splits {sorted(SPLIT_IDS)}, not {split!r}")
    idx = np.arange(start, stop)
    labels = (idx % len(SHAPE_CLASSES)).astype(np.int64)
    factors = sample_factors(seed, split, idx)
    images = np.concatenate([render(labels[i : i + 2048], factors[i : i + 2048]) for i in range(0, len(idx), 2048)])
    return images, labels, factors


def load_shapes(split: str = "train", size: int | None = None, seed: int = 0, start: int = 0) -> ImageDataset:
    """The ``shapes`` dataset: ``size`` samples (default 50k train / 5k val / 10k test) from index
    ``start``, fixed by ``seed``."""
    n = DEFAULT_SIZES[split] if size is None else int(size)
    images, labels, factors = generate(seed, split, start, start + n)
    return ImageDataset(
        images=torch.from_numpy(images),
        labels=torch.from_numpy(labels),
        classes=list(SHAPE_CLASSES),
        name="shapes",
        split=split,
        factors={name: torch.from_numpy(factors[:, i].copy()) for i, name in enumerate(FACTOR_NAMES)},
        source=f"procedural(seed={seed})",
    )


# --- signed distance functions in the object frame (shapes have radius ~1) ---------------------
def _box(px: np.ndarray, py: np.ndarray, bx: float, by: float) -> np.ndarray:
    qx, qy = np.abs(px) - bx, np.abs(py) - by
    outside = np.hypot(np.maximum(qx, 0), np.maximum(qy, 0))
    return outside + np.minimum(np.maximum(qx, qy), 0)


def _circle(px, py):
    return np.hypot(px, py) - 1.0


def _square(px, py):
    return _box(px, py, 0.8, 0.8)


def _triangle(px, py):
    r, k = 0.95, np.sqrt(3.0)
    x, y = np.abs(px) - r, py + r / k
    flip = x + k * y > 0
    x2, y2 = np.where(flip, (x - k * y) / 2, x), np.where(flip, (-k * x - y) / 2, y)
    x2 = x2 - np.clip(x2, -2 * r, 0)
    return -np.hypot(x2, y2) * np.sign(y2)


def _cross(px, py):
    return np.minimum(_box(px, py, 1.0, 0.3), _box(px, py, 0.3, 1.0))


def _ring(px, py):
    return np.abs(np.hypot(px, py) - 0.72) - 0.28


def _star(px, py):
    theta = np.arctan2(py, px)
    return (np.hypot(px, py) - (0.62 + 0.38 * np.cos(5 * theta))) * 0.7


def _hexagon(px, py):
    d = np.abs(px)
    for ang in (np.pi / 3, 2 * np.pi / 3):
        d = np.maximum(d, np.abs(px * np.cos(ang) + py * np.sin(ang)))
    return d - 0.85


def _crescent(px, py):
    return np.maximum(np.hypot(px, py) - 1.0, -(np.hypot(px - 0.5, py) - 0.75))


def _bar(px, py):
    return _box(px, py, 1.0, 0.32)


def _semicircle(px, py):
    y = py + 0.4
    return np.maximum(np.hypot(px, y) - 1.0, -y)


_SDFS = [_circle, _square, _triangle, _cross, _ring, _star, _hexagon, _crescent, _bar, _semicircle]
assert len(_SDFS) == len(SHAPE_CLASSES)
