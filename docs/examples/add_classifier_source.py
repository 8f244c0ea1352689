"""Worked example: add a classifier source (docs/architecture.md, "Where to add").

A source is one loader function and one :class:`unlogit.classifiers.registry.ClassifierSource` row in ``SOURCES``,
matched by its prefix.
This one, ``random-linear:K?seed=S``, is a fixed random linear map of the image to K logits (a null model
for sanity checks). It builds its network from code of this module, not from a file, so ``from_file`` is
left False: a spec read from a run directory may not select it (what keeps data from choosing code).
"""

from __future__ import annotations

from pathlib import Path

import torch

from unlogit.classifiers.registry import SOURCES, ClassifierSource
from unlogit.classifiers.spec import SourceRequest


def load(req: SourceRequest):
    k = int(req.target)
    conv = req.convention(allowed=("seed",))
    torch.manual_seed(int(req.options.get("seed", 0)))
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, k))
    return req.external(model, conv, arch="random-linear", num_classes=k)


SOURCE = ClassifierSource(  # the table row (classifiers/registry.py holds the package's own)
    name="random linear",
    summary="a fixed random linear map (an example)",
    load=load,
    prefix="random-linear:",
    executes="this example's code",
    examples=("random-linear:K",),
)


def demonstrate(folder: Path) -> None:
    """Register the source, load a classifier from a spec, and show a file cannot name it."""
    from unlogit import load_classifier
    from unlogit.errors import UnlogitError

    SOURCES.register(SOURCE.name, SOURCE)
    try:
        clf = load_classifier("random-linear:7?seed=3")
        assert clf(torch.rand(2, 3, 32, 32)).shape == (2, 7) and clf.num_classes == 7
        again = load_classifier("random-linear:7?seed=3")
        assert clf.weights_digest() == again.weights_digest()  # the seed fixes the weights
        try:
            load_classifier("random-linear:7", from_data=True)
        except UnlogitError as exc:
            assert "data file points at it" in str(exc)
        else:
            raise AssertionError("a spec read from a file selected a code source")
    finally:
        SOURCES.unregister(SOURCE.name)
