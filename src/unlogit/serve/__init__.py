"""``unlogit serve``: a local web explorer for reconstructions and logit editing.

:mod:`.explorer` computes (no web framework); :mod:`.uploads` validates untrusted images;
:mod:`.api` is the FastAPI app (needs the ``serve`` extra); :mod:`.launch` loads the inverters and
starts it with uvicorn. Importing this package loads nothing heavy (``unlogit --help`` stays fast).
"""
