"""Untrusted image uploads: size, format and pixel-count limits, decoded in memory only.

An upload is checked in this order, each failure an :class:`UploadError` with an HTTP status:

1. byte size <= ``max_bytes`` (413; the web app refuses larger bodies before reading them);
2. Pillow recognises it as PNG or JPEG (415 otherwise);
3. the *declared* width x height <= ``max_pixels`` — read from the header before any pixel is
   decoded, so a decompression bomb is refused without allocating its pixels (413);
4. it decodes completely (400 for a truncated or corrupt file).

The image is then centre-cropped to a square, resized to the inverter's size and kept as a small
uint8 tensor in a bounded in-memory store; nothing is written to disk.
"""

from __future__ import annotations

import io
import threading
import uuid
import warnings
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from ..data.files import to_mode
from ..errors import UnlogitError

ALLOWED_FORMATS = ("PNG", "JPEG")


class UploadError(Exception):
    """An upload that is refused; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class UploadLimits:
    """``max_bytes``: file size; ``max_pixels``: declared width x height (decompression-bomb guard);
    ``max_decodes``: uploads decoded at once (each may hold ~8 bytes per declared pixel); ``wait_seconds``: how
    long an upload waits for a decode slot before the answer is 503 with Retry-After."""

    max_bytes: int = 5 * 1024 * 1024
    max_pixels: int = 4096 * 4096
    max_decodes: int = 2
    wait_seconds: float = 5.0


def decode_upload(data: bytes, channels: int, size: int, limits: UploadLimits = UploadLimits()) -> torch.Tensor:
    """Validate and decode one uploaded PNG/JPEG into a (C,size,size) uint8 tensor.

    Raises :class:`UploadError` (with the HTTP status to answer) for anything that is refused.
    """
    if len(data) == 0:
        raise UploadError(400, "the uploaded file is empty; choose a PNG or JPEG image")
    if len(data) > limits.max_bytes:
        raise UploadError(
            413, f"the upload is {len(data)} bytes; the limit is {limits.max_bytes} bytes. Send a smaller image"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))  # reads the header only
    except (
        UnidentifiedImageError,
        Image.DecompressionBombWarning,
        Image.DecompressionBombError,
        OSError,
        ValueError,
    ) as exc:  # ValueError: e.g. a PNG text chunk that decompresses too large
        raise UploadError(415, f"the upload is not a readable PNG or JPEG image ({exc})") from exc
    with im:
        if im.format not in ALLOWED_FORMATS:
            raise UploadError(415, f"the upload is a {im.format} image; only PNG and JPEG are accepted")
        w, h = im.size
        if w * h > limits.max_pixels or w <= 0 or h <= 0:
            raise UploadError(
                413,
                f"the image declares {w}x{h} pixels; at most {limits.max_pixels} pixels are accepted "
                "(this also refuses decompression bombs). Downscale it first",
            )
        try:
            im.load()
            im = to_mode(im, "L" if channels == 1 else "RGB", "the upload")
        except UnlogitError as exc:
            raise UploadError(415, str(exc)) from exc
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise UploadError(400, f"the image could not be decoded ({exc}); it may be truncated or corrupt") from exc
        im = ImageOps.fit(im, (size, size), Image.Resampling.BILINEAR)
        arr = np.asarray(im, dtype=np.uint8)
    if arr.ndim == 2:
        arr = arr[..., None]
    return torch.from_numpy(arr.transpose(2, 0, 1).copy())


class UploadStore:
    """A bounded, thread-safe in-memory store of decoded uploads (oldest evicted first)."""

    def __init__(self, capacity: int = 256) -> None:
        self.capacity = capacity
        self._items: OrderedDict[str, torch.Tensor] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, image: torch.Tensor) -> str:
        """Store a (C,H,W) uint8 image; returns its id (32 hex characters)."""
        key = uuid.uuid4().hex
        with self._lock:
            self._items[key] = image
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return key

    def get(self, key: str) -> torch.Tensor | None:
        with self._lock:
            return self._items.get(key)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
