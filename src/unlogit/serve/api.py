"""The JSON API and page of ``unlogit serve`` (FastAPI; OpenAPI spec at ``/openapi.json``, docs at ``/docs``).

Endpoints:
    GET  /                          the explorer page
    GET  /api/info                  inverters, classes, image shape, gallery size, upload limits
    GET  /api/gallery/{index}.png   one gallery image (the inverter's dataset, test split)
    POST /api/uploads               multipart ``file`` (PNG/JPEG) -> ``{"id": ...}``
    POST /api/explore               transform / attack / logit edits -> images (PNG data URLs) + top-5
    POST /api/grid.png              the same request -> one PNG grid (a row per inverter)

Every refusal is a 4xx with ``{"detail": "<what is wrong and how to fix it>"}``.
"""

from __future__ import annotations

import base64
import io
import threading
import time
from collections.abc import Sequence
from importlib import resources
from pathlib import Path as Path_
from typing import Annotated, Literal

import torch
from torchvision.utils import save_image

from ..errors import UnlogitError
from ..inversion.edits import LogitEdit
from ..runtime.figures import comparison_grid
from .explorer import AttackEdit, Exploration, Explorer, ImageEdit, top_k
from .guards import BodyLimit, SameOrigin, allowed_hosts, validation_error
from .uploads import UploadError, UploadLimits, UploadStore, decode_upload

try:
    from fastapi import FastAPI, File, HTTPException, Path, UploadFile
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse, Response
    from pydantic import BaseModel, ConfigDict, Field, model_validator
    from starlette.middleware.trustedhost import TrustedHostMiddleware
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise UnlogitError(
        "`unlogit serve` needs the web extra: pip install -e '.[serve]' (FastAPI, uvicorn, python-multipart)"
    ) from exc

UPLOAD_ID = r"^[0-9a-f]{32}$"
MULTIPART_OVERHEAD = 64 * 1024  # form boundaries and headers around the file itself


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)  # 3 is an index; true and "3" are not


class ImageRef(_Strict):
    """Exactly one of ``gallery`` (an index into the gallery) or ``upload`` (an id from /api/uploads)."""

    gallery: int | None = Field(None, ge=0, le=1_000_000)
    upload: str | None = Field(None, pattern=UPLOAD_ID)

    @model_validator(mode="after")
    def _one(self) -> ImageRef:
        if (self.gallery is None) == (self.upload is None):
            raise ValueError("give exactly one of 'gallery' (an index) or 'upload' (an upload id)")
        return self


class TransformBody(_Strict):
    hflip: bool = False
    rotate: float = Field(0.0, ge=-180, le=180, description="degrees, counter-clockwise")
    brightness: float = Field(1.0, ge=0, le=3, description="factor; 1 = unchanged")
    crop: float = Field(1.0, ge=0.25, le=1, description="centre crop keeping this fraction of each side")


class AttackBody(_Strict):
    norm: Literal["none", "linf", "l2"] = "none"
    eps: float = Field(0.0, ge=0, le=8, description="L-inf in [0,1] pixel units, or an L2 radius")
    steps: int = Field(10, ge=1, le=50)
    target: int | None = Field(None, ge=0, le=100_000, description="targeted PGD towards this class")
    against: int = Field(0, ge=0, le=1000, description="index of the inverter whose classifier is attacked")


class LogitBody(_Strict):
    """A logit edit (unlogit.inversion.edits.LogitEdit) in the classifier's logit units: its per-class mean and
    standard deviation sigma on training images."""

    shift: float = Field(0.0, ge=-100, le=100, description="every logit moved by this many mean class sigmas")
    scale: float = Field(1.0, ge=-10, le=10, description="factor about the class means (1 = unchanged)")
    noise_std: float = Field(0.0, ge=0, le=100, description="Gaussian noise, in each class's sigma")
    noise_seed: int = Field(0, ge=0, le=2**31 - 1)
    class_deltas: list[Annotated[float, Field(ge=-100, le=100)]] = Field(
        default_factory=list,
        max_length=100_000,
        description="one value per class, in that class's sigma, added to its logit; or empty",
    )
    alpha: float = Field(0.0, ge=0, le=1, description="interpolation weight towards 'other'")
    other: ImageRef | None = None


class ExploreRequest(_Strict):
    image: ImageRef
    transform: TransformBody = TransformBody()
    attack: AttackBody = AttackBody()
    logits: LogitBody = LogitBody()
    samples: int = Field(4, ge=1, le=8, description="noise draws per inverter")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="noise seed (fixed while editing)")


class TopClass(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    class_: int = Field(alias="class")
    name: str
    prob: float
    logit: float


class InverterAnswer(BaseModel):
    name: str
    method: str
    top5: list[TopClass]
    top5_edited: list[TopClass]
    logits: list[float]
    edited_logits: list[float]
    reconstructions: list[str] = Field(description="PNG data URLs, one per noise draw")
    reconstruction_labels: list[str]


class ExploreAnswer(BaseModel):
    input: str = Field(description="PNG data URL of the classifier's input (after transform and attack)")
    inverters: list[InverterAnswer]
    milliseconds: float


class UploadAnswer(BaseModel):
    id: str
    width: int
    height: int


def _png_bytes(image: torch.Tensor, upscale: int = 1) -> bytes:
    """(C,H,W) in [0,1] -> PNG bytes (nearest-neighbour upscaled)."""
    if upscale > 1:
        image = torch.nn.functional.interpolate(image[None], scale_factor=upscale, mode="nearest")[0]
    buf = io.BytesIO()
    save_image(image.clamp(0, 1), buf, format="png")
    return buf.getvalue()


def _data_url(image: torch.Tensor) -> str:
    return "data:image/png;base64," + base64.b64encode(_png_bytes(image)).decode("ascii")


RETRY = {"Retry-After": "2"}  # seconds a client should wait when the explorer is overloaded


def _grid(result: Exploration) -> torch.Tensor:
    """One row per inverter: classifier input | reconstructions."""
    n = len(result.views)
    columns = [result.input[None].expand(n, -1, -1, -1)]
    samples = len(result.views[0].reconstructions)
    columns += [torch.stack([v.reconstructions[s] for v in result.views]) for s in range(samples)]
    return comparison_grid(columns, upscale=4)


# long: the routes are closures over one explorer and upload store; the whole API reads in one place
def create_app(
    explorer: Explorer, limits: UploadLimits | None = None, store: UploadStore | None = None, hosts: Sequence[str] = ()
) -> FastAPI:
    """The FastAPI application serving ``explorer`` (default :class:`UploadLimits`, a fresh store), answering
    requests addressed to the loopback names and ``hosts`` only (see :mod:`.guards`)."""
    limits = limits or UploadLimits()
    store = store or UploadStore()
    decodes = threading.BoundedSemaphore(limits.max_decodes)
    app = FastAPI(
        title="unlogit explorer",
        version="1",
        description="Reconstruct images from a frozen classifier's logits; edit the logits and watch what comes back.",
    )
    page = resources.files(__package__).joinpath("static/index.html").read_text(encoding="utf-8")

    def _image(ref: ImageRef) -> torch.Tensor:
        if ref.upload is not None:
            img = store.get(ref.upload)
            if img is None:
                raise HTTPException(404, f"no upload with id {ref.upload} (uploads are kept in memory; upload again)")
            return img.float() / 255.0
        try:
            return explorer.gallery_image(int(ref.gallery))
        except IndexError as exc:
            raise HTTPException(404, str(exc)) from exc

    def _explore(req: ExploreRequest) -> Exploration:
        """Run one request; the explorer's UnlogitErrors become 422s through the handler below."""
        x = _image(req.image)
        other = _image(req.logits.other) if req.logits.other is not None else None
        return explorer.explore(
            x,
            ImageEdit(**req.transform.model_dump()),
            AttackEdit(**req.attack.model_dump()),
            LogitEdit(**req.logits.model_dump(exclude={"other"})),
            other=other,
            samples=req.samples,
            seed=req.seed,
        )

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get("/api/info")
    def info() -> dict:
        """Inverters served, class names, image shape, gallery size and upload limits."""
        return {
            "inverters": [  # names only: the page has no use for this machine's paths
                {"name": name, "method": inv.method, "classifier": Path_(inv.meta.classifier).name}
                for name, inv in explorer.inverters.items()
            ],
            "classes": explorer.classes,
            "image_shape": list(explorer.image_shape),
            "gallery_size": len(explorer.gallery),
            "gallery_dataset": explorer.gallery.name,
            "gallery_labels": [explorer.gallery.classes[int(y)] for y in explorer.gallery.labels],
            "max_upload_bytes": limits.max_bytes,
            "max_upload_pixels": limits.max_pixels,
        }

    @app.get("/api/gallery/{index}.png", response_class=Response, responses={200: {"content": {"image/png": {}}}})
    def gallery(index: Annotated[int, Path(ge=0, le=1_000_000)]) -> Response:
        """Gallery image ``index`` as a PNG (upscaled 4x for display)."""
        try:
            img = explorer.gallery_image(index)
        except IndexError as exc:
            raise HTTPException(404, str(exc)) from exc
        return Response(_png_bytes(img, upscale=4), media_type="image/png")

    @app.post("/api/uploads", response_model=UploadAnswer, status_code=201)
    def upload(file: Annotated[UploadFile, File(description="a PNG or JPEG image")]) -> UploadAnswer:
        """Upload an image; it is centre-cropped and resized to the inverters' size and kept in memory."""
        data = file.file.read(limits.max_bytes + 1)
        if not decodes.acquire(timeout=limits.wait_seconds):  # bounded memory: a few decodes at a time
            raise HTTPException(503, "the explorer is busy decoding other uploads; retry shortly", headers=RETRY)
        try:
            img = decode_upload(data, explorer.image_shape[0], explorer.image_shape[1], limits)
        except UploadError as exc:
            raise HTTPException(exc.status, exc.message) from exc
        finally:
            decodes.release()
        return UploadAnswer(id=store.add(img), width=img.shape[2], height=img.shape[1])

    @app.post("/api/explore", response_model=ExploreAnswer, response_model_by_alias=True)
    def explore(req: ExploreRequest) -> ExploreAnswer:
        """Transform and/or attack the image, edit its logits, and reconstruct with every inverter."""
        t0 = time.perf_counter()
        result = _explore(req)
        answers = []
        for view in result.views:
            inv = explorer.inverters[view.name]
            answers.append(
                InverterAnswer(
                    name=view.name,
                    method=inv.method,
                    top5=top_k(view.logits, explorer.classes),
                    top5_edited=top_k(view.edited, explorer.classes),
                    logits=view.logits.tolist(),
                    edited_logits=view.edited.tolist(),
                    reconstructions=[_data_url(r) for r in view.reconstructions],
                    reconstruction_labels=[explorer.classes[int(y)] for y in view.reconstruction_labels],
                )
            )
        return ExploreAnswer(
            input=_data_url(result.input), inverters=answers, milliseconds=(time.perf_counter() - t0) * 1000
        )

    @app.post("/api/grid.png", response_class=Response, responses={200: {"content": {"image/png": {}}}})
    def grid(req: ExploreRequest) -> Response:
        """The explore request rendered as one PNG: a row per inverter, input | reconstructions."""
        png = _png_bytes(_grid(_explore(req)))
        disposition = {"Content-Disposition": 'attachment; filename="unlogit-grid.png"'}
        return Response(png, media_type="image/png", headers=disposition)

    @app.exception_handler(MemoryError)
    def _overloaded(_request, _exc: MemoryError) -> JSONResponse:
        return JSONResponse({"detail": "the explorer ran out of memory for this request; retry"}, 503, RETRY)

    @app.exception_handler(UnlogitError)
    def _unlogit_error(_request, exc: UnlogitError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(RequestValidationError)
    def _invalid(_request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(validation_error(exc.errors()), status_code=422)

    app.add_middleware(SameOrigin)
    app.add_middleware(BodyLimit, max_bytes=limits.max_bytes + MULTIPART_OVERHEAD)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts(hosts))
    return app
