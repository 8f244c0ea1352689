"""Colour-blind factor readout for ``shapes``: what geometry a (reconstructed) image shows.

The object mask is the set of pixels far from the background colour (the median of the 1-pixel
border); soft coverage (each pixel's colour distance from the background relative to the object's
median distance) gives the centroid (position) and the area (scale), and, by render-and-compare against
the class's own shape at that position and size, the rotation modulo the class's symmetry order
(circles and rings have none and are left out of rotation). None of it looks at colour values, so an
inverter cannot score by guessing colours.

Endpoints (per image, reconstruction vs original; :data:`FACTOR_ENDPOINTS`):
    mask_iou          IoU of the two foreground masks (higher is better)
    centroid_error    distance between the mask centroids, image width = 2 (lower is better)
    area_error        |sqrt(area_hat) - sqrt(area)| / sqrt(area) (lower is better)
    rotation_error    angular distance modulo 2*pi/k, as a fraction of the largest possible, pi/k
                      (lower is better; only classes with a finite symmetry order k)
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..data.shapes import SHAPE_CLASSES, coverage

FACTOR_ENDPOINTS = ("mask_iou", "centroid_error", "area_error", "rotation_error")
SYMMETRY = {
    "circle": 0,
    "square": 4,
    "triangle": 3,
    "cross": 4,
    "ring": 0,
    "star": 5,
    "hexagon": 6,
    "crescent": 1,
    "bar": 2,
    "semicircle": 1,
}  # 0: every angle (no rotation to read)
ORDER = np.array([SYMMETRY[c] for c in SHAPE_CLASSES])
THRESHOLD = 0.2  # colour distance (images in [0,1]) from the background that counts as object
ANGLES = 24  # render-and-compare candidates over one symmetry period


def foreground(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Object masks (N,H,W) bool and soft coverage (N,H,W) in [0,1] of images (N,C,H,W) in [0,1]."""
    border = torch.cat([x[..., 0, :], x[..., -1, :], x[..., :, 0], x[..., :, -1]], dim=-1)  # (N,C,4W)
    bg = border.median(dim=-1).values[..., None, None]
    dist = (x - bg).norm(dim=1)
    mask = dist > THRESHOLD
    typical = torch.stack([d[m].median() if m.any() else d.new_tensor(1.0) for d, m in zip(dist, mask)])
    return mask, (dist / typical.clamp_min(1e-6)[:, None, None]).clamp(0, 1)


def geometry(soft: torch.Tensor) -> dict[str, torch.Tensor]:
    """Centroid (pos_x, pos_y in [-1,1]) and area (fraction of the image) of soft masks (N,H,W)."""
    _, h, w = soft.shape
    m = soft.double()
    area = m.flatten(1).sum(1)
    ys = (torch.arange(h, dtype=torch.float64) + 0.5) / h * 2 - 1
    xs = (torch.arange(w, dtype=torch.float64) + 0.5) / w * 2 - 1
    safe = area.clamp_min(1.0)
    pos_x = (m.sum(1) * xs).sum(1) / safe
    pos_y = (m.sum(2) * ys).sum(1) / safe
    return {"pos_x": pos_x, "pos_y": pos_y, "area": area / (h * w)}


def rotation(
    mask: torch.Tensor, labels: torch.Tensor, geo: dict[str, torch.Tensor], scale: torch.Tensor
) -> torch.Tensor:
    """Best-matching angle in [0, 2*pi/k) per image (NaN for classes without a symmetry order).

    An image with no object (an empty mask, so area and scale 0) has no angle to read: it reads as 0, the first
    candidate, without rendering a shape of radius 0; its error is then the original's angle from 0, chance on
    average."""
    labels_np = labels.cpu().numpy()
    order = ORDER[labels_np]
    period = np.where(order > 0, 2 * math.pi / np.maximum(order, 1), 2 * math.pi)
    steps = np.arange(ANGLES) / ANGLES
    angles = period[:, None] * steps[None]  # (N, A)
    n = len(labels_np)
    best_index = torch.zeros(n, dtype=torch.long)
    seen = mask.flatten(1).any(1)
    if seen.any():
        rows = seen.numpy()
        rep = lambda v: np.repeat(np.asarray(v, dtype=np.float32)[rows], ANGLES)  # noqa: E731
        masks, _ = coverage(
            np.repeat(labels_np[rows], ANGLES),
            rep(geo["pos_x"]),
            rep(geo["pos_y"]),
            rep(scale),
            angles[rows].reshape(-1),
            mask.shape[-1],
        )
        cand = torch.from_numpy(masks[:, 0] > 0.5).view(int(rows.sum()), ANGLES, *mask.shape[1:])
        inter = (cand & mask[seen, None]).flatten(2).sum(2).double()
        union = (cand | mask[seen, None]).flatten(2).sum(2).double().clamp_min(1)
        best_index[seen] = (inter / union).argmax(1)
    best = torch.from_numpy(angles)[torch.arange(n), best_index]
    return torch.where(torch.from_numpy(order > 0), best, torch.full_like(best, math.nan))


def scale_from_area(area: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Shape radius from mask area: each class's unit-radius area, rendered once, scales with radius^2."""
    unit, _ = coverage(np.arange(len(SHAPE_CLASSES)), np.zeros(10), np.zeros(10), np.full(10, 0.5), np.zeros(10), 64)
    unit_area = torch.from_numpy(unit.reshape(10, -1).mean(1) / 0.25).double()  # area fraction at radius 1
    return (area / unit_area[labels.cpu()]).clamp_min(0).sqrt()


def read_factors(x: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
    """Mask, position, area, scale and rotation read from images x (N,C,H,W in [0,1]) of classes ``labels``."""
    mask, soft = foreground(x.float().cpu())
    geo = geometry(soft)
    scale = scale_from_area(geo["area"], labels)
    return {"mask": mask, **geo, "scale": scale, "rotation": rotation(mask, labels, geo, scale)}


def factor_errors(
    orig: dict[str, torch.Tensor], rec: dict[str, torch.Tensor], labels: torch.Tensor
) -> dict[str, torch.Tensor]:
    """The four endpoints per image (rotation only for classes with a symmetry order)."""
    inter = (orig["mask"] & rec["mask"]).flatten(1).sum(1).double()
    union = (orig["mask"] | rec["mask"]).flatten(1).sum(1).double().clamp_min(1)
    centroid = torch.hypot(orig["pos_x"] - rec["pos_x"], orig["pos_y"] - rec["pos_y"])
    area = (rec["area"].sqrt() - orig["area"].sqrt()).abs() / orig["area"].sqrt().clamp_min(1e-6)
    order = torch.from_numpy(ORDER)[labels.cpu()]
    has = order > 0
    period = 2 * math.pi / order[has].double()
    diff = (rec["rotation"][has] - orig["rotation"][has]).abs() % period
    rot = torch.minimum(diff, period - diff) / (period / 2)
    return {"mask_iou": inter / union, "centroid_error": centroid, "area_error": area, "rotation_error": rot}


@torch.no_grad()
def factor_endpoint_values(inv, x: torch.Tensor, y: torch.Tensor, seed: int, draws: int = 4) -> dict[str, torch.Tensor]:
    """The factor endpoints of one inverter on shapes images, averaged over ``draws`` noise draws."""
    orig = read_factors(x, y)
    recs = inv.reconstruct(x, samples=draws, seed=seed).cpu()
    totals: dict[str, torch.Tensor] = {}
    for s in range(draws):
        for k, v in factor_errors(orig, read_factors(recs[:, s], y), y).items():
            totals[k] = totals.get(k, 0) + v / draws
    return totals
