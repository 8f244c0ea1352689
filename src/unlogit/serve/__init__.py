"""``unlogit serve``: a local web explorer for reconstructions and logit editing.

:mod:`.explorer` computes (no web framework); :mod:`.uploads` validates untrusted images;
:mod:`.api` is the FastAPI app (needs the ``serve`` extra); :mod:`.cli` starts it with uvicorn.
"""

from .explorer import AttackEdit, Exploration, Explorer, ImageEdit, LogitEdit, apply_image_edit, apply_logit_edit

__all__ = ["AttackEdit", "Exploration", "Explorer", "ImageEdit", "LogitEdit", "apply_image_edit", "apply_logit_edit"]
