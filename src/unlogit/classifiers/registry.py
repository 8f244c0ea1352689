"""Classifier sources: one spec string -> a frozen :class:`NormalizedClassifier`.

Every source is one entry of :data:`SOURCES`, matched in registration order by its prefix (or, for the
unprefixed forms, by a test on the spec). A spec may carry URL-style options after ``?``
(:mod:`.spec`); they are split off before any source is matched. The loaders live with their formats: the
project's own in :mod:`.runs`, third-party ones in :mod:`.external`. Adding a source is one loader
function and one row of the table at the end of this module (worked example:
``docs/examples/add_classifier_source.py``).

==================================  ==================================================  =============
spec                                what it loads                                       from a file
==================================  ==================================================  =============
``unlogit:NAME``                    project weights shipped in the package              yes
``runs/clf``                        a run directory of ``unlogit train-classifier``     yes
``onnx:PATH``                       an ONNX graph (onnx2torch)                          yes
``torchvision:NAME`` or ``NAME``    a torchvision model, weights from the local cache   yes
``timm:NAME?weights=FILE``          a timm model, weights from a local file             yes
``robustbench:NAME?model_dir=DIR``  a RobustBench model in its folder layout            yes
``torchscript:PATH``                a TorchScript program                               no
``export:PATH`` or ``PATH.pt2``     a ``torch.export`` program                          no
``pkg.module:factory@STATE.pt``     ``factory()`` (code), then a state dict             no
==================================  ==================================================  =============

"From a file" is whether a spec *read from a file* (an inverter's ``model.json``, a study config) may name
the source: only sources whose loading reads data through safe loaders (safetensors,
``torch.load(weights_only=True)``, JSON, ONNX protobuf) into architectures of the installed packages.
TorchScript and ``torch.export`` programs carry their own graph (and torch's export loader would unpickle
parts of an archive), and a factory imports and runs a module: they load only when the user names them
(``--classifier SPEC`` or Python). ``.pt2`` archives are checked for pickled entries before torch reads them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from ..errors import UnlogitError
from ..runtime.checkpoint import check_finite
from ..runtime.registry import Registry
from . import external, runs
from .normalized import NormalizedClassifier
from .spec import SourceRequest, split_options


@dataclass(frozen=True)
class ClassifierSource:
    """One way of getting a classifier.

    Attributes:
        name: the registry key. summary: one line for help texts.
        load: ``SourceRequest -> NormalizedClassifier``.
        prefix: the spec prefix that selects it (``onnx:``), or None for the unprefixed forms.
        matches: ``base -> bool`` for specs without the prefix (a folder, a ``.pt2`` file, a bare name).
        from_file: whether a spec read from a file may name it (see the module docstring).
        executes: what loading it can execute, in words (docs/reliability.md's Limits).
    """

    name: str
    summary: str
    load: Callable[[SourceRequest], NormalizedClassifier]
    prefix: str | None = None
    matches: Callable[[str], bool] | None = None
    from_file: bool = False
    executes: str = "nothing: data only"
    examples: tuple[str, ...] = field(default_factory=tuple)

    def claims(self, base: str) -> bool:
        """Whether a spec (without options) is this source's."""
        if self.prefix is not None and base.startswith(self.prefix):
            return True
        return self.matches is not None and self.matches(base)


SOURCES: Registry[ClassifierSource] = Registry("classifier source")


def find_source(spec: str) -> tuple[ClassifierSource, str, dict[str, str]]:
    """The source of ``spec`` (the first that claims it, in registration order), its base and options."""
    base, options = split_options(spec)
    for source in SOURCES.values():
        if source.claims(base):
            return source, base, options
    if "/" in base or base.startswith("."):
        raise UnlogitError(f"classifier run directory {spec!r} does not exist; check the path")
    raise UnlogitError(f"cannot resolve classifier {spec!r}: not {spec_forms()}")


FROM_FILE_FIX = (
    "If you trust it, name it yourself: --classifier SPEC on the command line, or load_classifier(SPEC) in Python"
)


def check_spec_from_file(spec: str, where: str, fix: str = FROM_FILE_FIX) -> ClassifierSource:
    """The allow-list, in one place: a classifier spec read from a file (``where`` names the file or the config
    key) may only name a source whose loading reads data (``from_file``), never one that carries or runs code.
    Returns the source; raises an :class:`UnlogitError` naming the spec, the source and ``fix``."""
    if not isinstance(spec, str) or not spec:
        raise UnlogitError(f"{where}: a classifier spec must be a non-empty string, got {spec!r}")
    return _data_only(find_source(spec)[0], spec, where, fix)


def _data_only(source: ClassifierSource, spec: str, where: str, fix: str) -> ClassifierSource:
    if not source.from_file:
        raise UnlogitError(
            f"{where} names the classifier {spec!r}, a {source.name} ({source.executes}); unlogit never loads code "
            f"because a data file points at it. {fix}"
        )
    return source


def spec_forms() -> str:
    """Every accepted spec form, in words (for help texts and errors)."""
    return ", ".join(e for source in SOURCES.values() for e in source.examples)


def load_classifier(
    spec: str,
    device: str | torch.device = "cpu",
    classes: Sequence[str] | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    num_classes: int | None = None,
    from_data: bool = False,
) -> NormalizedClassifier:
    """Resolve ``spec`` (see the module docstring) into a frozen classifier on ``device``.

    ``from_data``: the spec was read from a file (an inverter's ``model.json``, a study config), not named by
    the user; it may then only name a source whose loading reads data (``from_file``), never one that
    carries or runs code. The check runs on the source the spec resolves to, after its options are split off.
    """
    if not isinstance(spec, str) or not spec:
        raise UnlogitError(f"a classifier spec must be a non-empty string, got {spec!r}")
    source, base, options = find_source(spec)
    if from_data:
        _data_only(source, spec, "a data file", FROM_FILE_FIX)
    request = SourceRequest(spec, base, options, source.prefix, classes, mean, std, num_classes)
    clf = source.load(request)
    check_finite(dict(clf.model.state_dict()), f"classifier {spec!r}")
    return clf.to(device).frozen()


# The table: one row per spec form, matched in this order.
for _source in (
    ClassifierSource(
        name="shipped",
        summary="project-trained weights shipped in the package",
        load=runs.load_shipped,
        prefix=runs.SHIPPED_PREFIX,
        from_file=True,
        examples=("unlogit:NAME",),
    ),
    ClassifierSource(
        name="run directory",
        summary="a run directory of `unlogit train-classifier`",
        load=runs.load_run,
        matches=runs.is_run_dir,
        from_file=True,
        examples=("a run directory",),
    ),
    ClassifierSource(
        name="onnx",
        summary="an ONNX graph, converted by onnx2torch",
        load=external.load_onnx,
        prefix="onnx:",
        from_file=True,
        examples=("onnx:PATH",),
    ),
    ClassifierSource(
        name="timm",
        summary="a timm architecture with weights from a local file",
        load=external.load_timm,
        prefix="timm:",
        from_file=True,
        examples=("timm:NAME?weights=FILE",),
    ),
    ClassifierSource(
        name="robustbench",
        summary="a RobustBench model in its own folder layout",
        load=external.load_robustbench,
        prefix="robustbench:",
        from_file=True,
        examples=("robustbench:NAME",),
    ),
    ClassifierSource(
        name="torchvision",
        summary="a torchvision model, weights from the local cache or a file",
        load=external.load_torchvision,
        prefix="torchvision:",
        matches=external.is_torchvision_name,
        from_file=True,
        examples=("torchvision:NAME (or a bare torchvision name)",),
    ),
    ClassifierSource(
        name="torchscript program",
        summary="a TorchScript program",
        load=external.load_torchscript,
        prefix="torchscript:",
        executes="the file's TorchScript graph",
        examples=("torchscript:PATH",),
    ),
    ClassifierSource(
        name="torch.export program",
        summary="a torch.export program",
        load=external.load_export,
        prefix="export:",
        matches=lambda base: base.endswith(".pt2"),
        executes="the file's exported graph",
        examples=("export:PATH or PATH.pt2",),
    ),
    ClassifierSource(
        name="factory",
        summary="Python code: pkg.module:factory, then an optional state dict",
        load=external.load_factory,
        matches=external.looks_like_factory,
        executes="any Python code (it imports a module and calls a function)",
        examples=("pkg.module:factory@weights.pt",),
    ),
):
    SOURCES.register(_source.name, _source)
