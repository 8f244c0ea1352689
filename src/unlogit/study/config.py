"""Typed study configs (``configs/study/NAME.yaml``), read through the same :func:`~unlogit.config.from_dict`
as every other config, so an unknown key is an error that names its full dotted path.

A study config::

    name: demo
    data: {name: shapes}                      # shared data section (merged into every stage)
    classifiers:
      standard: {preset: tiny, overrides: [...]}
      robust:   {preset: tiny-robust}
      evaluator: {preset: tiny-evaluator}       # other architecture and seed: judges reconstructions
    evaluator: evaluator                        # which classifier stage is the independent judge
    inverters:
      standard: {classifier: standard, preset: tiny, overrides: [train.max_minutes=3]}
    compare: {n: 12, eval_size: 500}
    analyze: {experiments: [reconstruct, noise, ...], n: 8, pool: 500}
    report: true
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..analysis.config import AnalyzeConfig
from ..config import check_positive, from_dict, presets_dir, read_yaml_mapping
from ..data.config import DataConfig
from ..errors import ConfigError
from ..runtime.rundir import StudyLayout
from .claim import ClaimConfig

SET_BY_STUDY = ("dataset", "data_root", "evaluator")  # analyze keys a study fills in itself


@dataclass
class StageSpec:
    """One stage: train with ``preset`` (+ ``overrides``), or (classifiers) use an existing one, ``spec``
    (any classifier spec: a run directory, ``unlogit:NAME`` project weights, a torchvision name ...).
    Inverters name their ``classifier`` stage."""

    preset: str | None = None
    overrides: list[str] = field(default_factory=list)
    classifier: str | None = None  # inverters: the name of a classifier stage (or a classifier spec)
    spec: str | None = None  # classifiers: use this classifier instead of training one


@dataclass
class CompareConfig:
    """The comparison stage: ``n`` Figure-1 images, ``eval_size`` scored test images, the noise seed."""

    n: int = 12
    eval_size: int = 500
    seed: int = 0

    def __post_init__(self) -> None:
        check_positive(self.n, "compare.n")
        check_positive(self.eval_size, "compare.eval_size")


@dataclass
class StudyConfig:
    """A whole study: classifiers, inverters, comparison, evaluate, analyze, report."""

    name: str
    data: dict[str, Any] = field(default_factory=dict)
    classifiers: dict[str, StageSpec] = field(default_factory=dict)
    inverters: dict[str, StageSpec] = field(default_factory=dict)
    compare: CompareConfig = field(default_factory=CompareConfig)
    evaluators: list[str] = field(default_factory=list)  # classifier stages that judge (independent ones)
    seeds: int = 1  # every inverter is trained with train.seed = 0 .. seeds-1
    claim: ClaimConfig | None = None
    analyze: AnalyzeConfig = field(default_factory=AnalyzeConfig)
    report: bool = True

    def __post_init__(self) -> None:
        from_dict(DataConfig, self.data, "data.")  # the shared section must be a valid data section
        check_positive(self.seeds, "seeds")
        for e in self.evaluators:
            if e not in self.classifiers:
                raise ConfigError(f"evaluator {e!r} is not one of the classifier stages {sorted(self.classifiers)}")
        for name, spec in self.classifiers.items():
            if spec.preset is None and spec.spec is None:
                raise ConfigError(f"classifiers.{name} needs 'preset' (train it) and/or 'spec' (use it)")
        for name, spec in self.inverters.items():
            if spec.classifier is None or spec.preset is None:
                raise ConfigError(f"inverters.{name} needs 'classifier' (a classifier stage name) and 'preset'")
        if not self.inverters:
            raise ConfigError("the study has no inverters")
        if self.claim is not None:
            for side in (self.claim.a, self.claim.b):
                if side not in self.inverters:
                    raise ConfigError(f"claim names inverter {side!r}, which is not a stage ({sorted(self.inverters)})")

    @property
    def evaluator(self) -> str | None:
        """The first evaluator (the one that judges the analyze experiments)."""
        return self.evaluators[0] if self.evaluators else None

    def inverter_run(self, out: Path, name: str, seed: int) -> Path:
        """``inverters/NAME`` for seed 0, ``inverters/NAME-seedK`` for the others."""
        return StudyLayout(out).inverter(name, seed)

    def analyze_config(self) -> AnalyzeConfig:
        """The analyze section with the study's dataset, data root and evaluator filled in."""
        return replace(self.analyze, dataset=self.data.get("name", "shapes"), data_root=self.data.get("root"),
                       evaluator=None)


def study_path(name_or_path: str) -> Path:
    """``configs/study/NAME.yaml`` or a YAML path, or an error listing the shipped studies."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    path = presets_dir() / "study" / f"{name_or_path}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in (presets_dir() / "study").glob("*.yaml"))
        raise ConfigError(f"unknown study {name_or_path!r}; choose one of {known} or pass a YAML path")
    return path


def load_study(name_or_path: str) -> StudyConfig:
    """Read and validate a study config (every key checked, with the file named in errors)."""
    path = study_path(name_or_path)
    raw = read_yaml_mapping(path, "study")
    raw.setdefault("name", path.stem)
    for k in SET_BY_STUDY:
        if k in (raw.get("analyze") or {}):
            raise ConfigError(f"study {path}: analyze.{k} is set by the study itself (its data and evaluator)")
    try:
        return from_dict(StudyConfig, raw)
    except ConfigError as exc:
        raise ConfigError(f"study {path}: {exc}") from exc
