"""Untrusted uploads: every refusal has the right status and a message; nothing valid is refused."""

from __future__ import annotations

import io

import pytest
import torch
from PIL import Image

from unlogit.serve.uploads import UploadError, UploadLimits, UploadStore, decode_upload


def encode(im: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt)
    return buf.getvalue()


def test_png_and_jpeg_are_centre_cropped_and_resized():
    im = Image.new("RGB", (90, 60), (255, 0, 0))
    im.paste((0, 0, 255), (0, 0, 15, 60))  # a blue strip that the centre crop removes
    for fmt in ("PNG", "JPEG"):
        x = decode_upload(encode(im, fmt), channels=3, size=32)
        assert x.shape == (3, 32, 32) and x.dtype == torch.uint8
        assert x[0].float().mean() > 240 and x[2].float().mean() < 15, fmt
    grey = decode_upload(encode(im), channels=1, size=28)
    assert grey.shape == (1, 28, 28)


@pytest.mark.parametrize(
    ("data", "status", "words"),
    [
        (b"", 400, "empty"),
        (b"not an image at all", 415, "not a readable"),
        (encode(Image.new("RGB", (8, 8)), "GIF"), 415, "only PNG and JPEG"),
        (encode(Image.new("RGB", (64, 64)))[:-40], 400, "truncated"),
    ],
)
def test_bad_uploads_are_refused_with_a_reason(data, status, words):
    with pytest.raises(UploadError) as err:
        decode_upload(data, 3, 32)
    assert err.value.status == status and words in err.value.message


def test_size_limit_and_decompression_bomb():
    data = encode(Image.new("RGB", (64, 64)))
    with pytest.raises(UploadError) as err:
        decode_upload(data, 3, 32, UploadLimits(max_bytes=len(data) - 1))
    assert err.value.status == 413 and "limit" in err.value.message
    # 6000 x 6000 one-bit pixels compress to a few KB but would decode to 36 M pixels.
    bomb = encode(Image.new("1", (6000, 6000)))
    assert len(bomb) < 100_000
    with pytest.raises(UploadError) as err:
        decode_upload(bomb, 3, 32)
    assert err.value.status == 413 and "6000x6000" in err.value.message


def test_store_is_bounded_and_returns_what_was_added():
    store = UploadStore(capacity=2)
    keys = [store.add(torch.full((1, 2, 2), i, dtype=torch.uint8)) for i in range(3)]
    assert len(store) == 2 and store.get(keys[0]) is None
    assert int(store.get(keys[2])[0, 0, 0]) == 2 and len(keys[1]) == 32
