"""Typed study configs (``configs/study/NAME.yaml``), read through the same :func:`~unlogit.config.from_dict`
as every other config, so an unknown key is an error that names its full dotted path.

A study config::

    name: replication
    data: {name: cifar10, val_size: 2000}          # shared data section (merged into every stage)
    classifiers:
      standard: {specs: [unlogit:cifar10-standard-s0, unlogit:cifar10-standard-s1, unlogit:cifar10-standard-s2],
                 preset: cifar10-cpu-standard, replicates: 3}    # a family: K replicates of one recipe
      robust:   {spec: unlogit:cifar10-robust-s0}                 # or one existing classifier
      eval-standard: {preset: cifar10-cpu-eval-standard}          # or train one
    evaluators: [eval-standard]                   # classifier stages that judge (independent ones)
    seeds: 2                                      # inverters per classifier (each its own derived train.seed)
    inverters:
      standard: {classifier: standard, preset: cifar10-cpu, method: gan, steps: 2500, max_minutes: 12}
    claim: {a: robust, b: standard, primary: retrieval@pixels, reason: "judge-free ..."}
    findings: {ids: [C2, C3, C6a], n: 500}
    compare: {n: 12, eval_size: 1000}
    report: true

Every stage can be overridden from the command line with a scoped key (``inverters.standard.steps=20``,
``classifiers.robust.overrides=[train.epochs=1]``) or for all stages at once (``train.steps=20``); the
whole config is validated, every stage's config built, before anything runs (:func:`plan_study`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from ..analysis.config import AnalyzeConfig
from ..config import check_name, check_positive, from_dict, presets_dir, read_yaml_mapping
from ..data.config import DataConfig
from ..errors import ConfigError
from ..runtime.rundir import StudyLayout
from .claim.config import ClaimConfig
from .findings.config import FindingsConfig

SET_BY_STUDY = ("dataset", "data_root", "evaluator")  # analyze keys a study fills in itself


@dataclass
class ClassifierStage:
    """Classifiers of one recipe: existing ones (``spec``: one; ``specs``: a family of replicates) or trained
    with ``preset`` (+ ``overrides``), ``replicates`` of them with ``train.seed = 0 .. replicates - 1``."""

    preset: str | None = None
    overrides: list[str] = field(default_factory=list)
    spec: str | None = None
    specs: list[str] = field(default_factory=list)
    replicates: int = 1

    def __post_init__(self) -> None:
        check_positive(self.replicates, "replicates")
        if self.spec is not None and self.specs:
            raise ConfigError("give either 'spec' (one classifier) or 'specs' (a family), not both")

    @property
    def existing(self) -> list[str]:
        """The classifier specs it names (empty: it is trained)."""
        return list(self.specs) or ([self.spec] if self.spec else [])

    def size(self, from_scratch: bool = False) -> int:
        """K: how many classifiers the stage has."""
        existing = self.existing
        return self.replicates if (from_scratch and self.preset) or not existing else len(existing)


@dataclass
class InverterStage:
    """An inverter of every classifier of a ``classifier`` stage (for every study seed).

    ``steps``: G steps (``train.steps``); the two arms of a claim must train for the same number.
    ``max_minutes``: a safety cap only (``train.max_minutes``); a run it stops is marked ``capped``.
    ``method``: a :data:`~unlogit.inversion.methods.METHODS` name (its preset ``configs/inverter/methods``).
    """

    classifier: str
    preset: str
    overrides: list[str] = field(default_factory=list)
    method: str | None = None
    steps: int | None = None
    max_minutes: float | None = None
    seeds: int | None = None  # default: the study's seeds (deterministic baselines need one)

    def __post_init__(self) -> None:
        if self.steps is not None:
            check_positive(self.steps, "steps")
        if self.max_minutes is not None:
            check_positive(self.max_minutes, "max_minutes")
        if self.seeds is not None:
            check_positive(self.seeds, "seeds")

    def run_overrides(self) -> list[str]:
        """The stage's own keys as config overrides (applied after ``overrides``)."""
        out = [f"train.steps={self.steps}"] if self.steps is not None else []
        if self.max_minutes is not None:
            out.append(f"train.max_minutes={self.max_minutes}")
        return out


@dataclass
class CompareConfig:
    """The comparison stage: ``n`` Figure-1 images, ``eval_size`` scored images of ``split``, the noise seed.

    ``split``: ``test`` (a study's result, touched once) or ``val`` (a choice made before the test split is
    touched: a method, a preset, whether a fast path changes the verdict). The scored images are
    ``[first, first + eval_size)`` of the split's class-interleaved order. ``pilot_images``: the split's first
    images that pilots, tuning or earlier results have touched; a confirmatory claim (``claim.confirmatory``)
    refuses to score any of them."""

    n: int = 12
    eval_size: int = 500
    seed: int = 0
    split: Literal["test", "val"] = "test"
    first: int = 0
    pilot_images: int = 0

    def __post_init__(self) -> None:
        check_positive(self.n, "compare.n")
        check_positive(self.eval_size, "compare.eval_size")
        check_positive(self.first, "compare.first", allow_zero=True)
        check_positive(self.pilot_images, "compare.pilot_images", allow_zero=True)

    def images(self) -> dict[str, Any]:
        """The scored images, as claim.json records them."""
        return {
            "split": self.split,
            "first": self.first,
            "count": self.eval_size,
            "index_range": [self.first, self.first + self.eval_size - 1],
            "order": "class-interleaved",
            "pilot_images": self.pilot_images,
        }


@dataclass
class StudyConfig:
    """A whole study: classifiers, inverters, comparison, claim, findings, evaluate, analyze, report."""

    name: str
    data: dict[str, Any] = field(default_factory=dict)
    classifiers: dict[str, ClassifierStage] = field(default_factory=dict)
    inverters: dict[str, InverterStage] = field(default_factory=dict)
    compare: CompareConfig = field(default_factory=CompareConfig)
    evaluators: list[str] = field(default_factory=list)  # classifier stages that judge (independent ones)
    seeds: int = 1  # inverters per classifier, each with its own train.seed (derived: study.stages)
    claim: ClaimConfig | None = None
    findings: FindingsConfig | None = None
    evaluate: bool = False  # also `unlogit evaluate` the first inverter of every stage (FD, diversity, per class)
    analyze: AnalyzeConfig = field(default_factory=AnalyzeConfig)
    report: bool = True
    note: str = ""  # one paragraph the report shows under the verdict (what the study shows and does not)

    def __post_init__(self) -> None:
        # The section stays as written (it is overlaid on each stage's preset); parsed once, here.
        self._data_config = from_dict(DataConfig, self.data, "data.")
        check_positive(self.seeds, "seeds")
        check_name(self.name, "name")
        for group in ("classifiers", "inverters"):  # stage names become folder names
            for stage in getattr(self, group):
                check_name(stage, f"{group}.{stage}")
        for e in self.evaluators:
            if e not in self.classifiers:
                raise ConfigError(f"evaluator {e!r} is not one of the classifier stages {sorted(self.classifiers)}")
        for name, stage in self.classifiers.items():
            if stage.preset is None and not stage.existing:
                raise ConfigError(f"classifiers.{name} needs 'preset' (train it) or 'spec'/'specs' (use them)")
        for name, stage in self.inverters.items():
            if stage.classifier not in self.classifiers:
                raise ConfigError(
                    f"inverters.{name}.classifier {stage.classifier!r} is not a classifier stage "
                    f"({sorted(self.classifiers)})"
                )
        if not self.inverters:
            raise ConfigError("the study has no inverters")
        if self.claim is not None:
            self._check_claim(self.claim)
        for key in ("baseline", "architecture", "architecture_reference"):
            stage = getattr(self.findings, key, None)
            if stage is not None and stage not in self.inverters:
                raise ConfigError(f"findings.{key} {stage!r} is not an inverter stage ({sorted(self.inverters)})")
        if self.findings is not None and self.findings.architecture_reference is not None:
            self._check_architecture_reference(self.findings.architecture, self.findings.architecture_reference)
        surrogate = getattr(self.findings, "surrogate", None)
        if surrogate is not None:
            self._check_surrogate(surrogate)

    def _check_architecture_reference(self, architecture: str | None, reference: str) -> None:
        """C7's reference decoder: a ridge stage reading the architecture stage's logits, beside the claim's."""
        ref = self.inverters[reference]
        if architecture is None or ref.classifier != self.inverters[architecture].classifier:
            raise ConfigError(
                f"findings.architecture_reference {reference!r} must invert findings.architecture's classifier "
                f"({architecture!r}); it inverts {ref.classifier!r}"
            )
        if ref.method != "ridge" or self.claim is None or self.claim.reference_a is None:
            raise ConfigError(
                f"findings.architecture_reference {reference!r} must be a reference decoder (method: ridge) beside "
                "the claim's (claim.reference_a and claim.reference_b)"
            )

    def _check_surrogate(self, surrogate: str) -> None:
        """C8's surrogate must be a classifier stage that neither arm inverts and no judge is."""
        if surrogate not in self.classifiers:
            raise ConfigError(
                f"findings.surrogate {surrogate!r} is not a classifier stage ({sorted(self.classifiers)})"
            )
        arms = {self.inverters[s].classifier for s in (self.claim.a, self.claim.b)} if self.claim else set()
        if surrogate in arms or surrogate in self.evaluators:
            raise ConfigError(
                f"findings.surrogate {surrogate!r} is an arm's classifier or a judge; the transferred attack must come "
                "from a classifier that belongs to neither arm and judges nothing"
            )

    def _check_claim(self, claim: ClaimConfig) -> None:
        c = self.compare
        if claim.confirmatory and c.split == "test" and c.first < c.pilot_images:
            raise ConfigError(
                f"claim.confirmatory: the scored test images {c.first}-{c.first + c.eval_size - 1} include the pilot "
                f"set (the first {c.pilot_images}, compare.pilot_images), which earlier results have touched; "
                f"set compare.first={c.pilot_images} (or later) to score fresh images"
            )
        if claim.confirmatory and c.split != "test":
            raise ConfigError("claim.confirmatory scores the test split; set compare.split=test")
        for side in (claim.a, claim.b, *claim.dose_response):
            if side not in self.inverters:
                raise ConfigError(f"claim names inverter {side!r}, which is not a stage ({sorted(self.inverters)})")
        arms = [self.inverters[s] for s in (claim.a, claim.b, *claim.dose_response)]
        if len({s.steps for s in arms}) != 1 or arms[0].steps is None:
            raise ConfigError(
                "the arms of a claim must train for the same stated number of G steps: give every "
                f"claim stage the same 'steps' (now {[s.steps for s in arms]})"
            )
        for control in claim.controls:
            if control not in self.inverters:
                raise ConfigError(
                    f"claim.controls names {control!r}, which is not an inverter stage ({sorted(self.inverters)})"
                )
            ridge = self.inverters[control].method == "ridge"
            if ridge and claim.reference_a is None:
                raise ConfigError(
                    f"claim control {control!r} is a reference decoder; give claim.reference_a/b to compare it"
                )
            if not ridge and self.inverters[control].steps != self.inverters[claim.a].steps:
                raise ConfigError(
                    f"claim control {control!r} must train for the arms' G steps ({self.inverters[claim.a].steps})"
                )
        if claim.reference_a is not None:
            for arm, ref in ((claim.a, claim.reference_a), (claim.b, claim.reference_b)):
                if ref not in self.inverters:
                    raise ConfigError(f"claim names reference {ref!r}, which is not a stage ({sorted(self.inverters)})")
                if self.inverters[ref].classifier != self.inverters[arm].classifier:
                    raise ConfigError(
                        f"claim reference {ref!r} inverts {self.inverters[ref].classifier!r}, not arm {arm!r}'s "
                        f"{self.inverters[arm].classifier!r}; a reference decoder must read the same logits"
                    )

    def inverter_seeds(self, name: str) -> int:
        return self.inverters[name].seeds or self.seeds

    def data_config(self, **changes: Any) -> DataConfig:
        """The data section as a :class:`DataConfig` (validated once, when the study was read), with ``changes``
        (``train_size=...``, ``image_size=...``) applied to a copy."""
        return replace(self._data_config, **changes)

    def test_data(self, size: int):  # -> ImageDataset
        """``size`` images of the scored split (``compare.split``: test, or val) from ``compare.first`` on."""
        first = self.compare.first
        if self.compare.split == "test":
            test = self.data_config(test_size=first + size).load("test")
            if len(test) < first + size:
                raise ConfigError(
                    f"compare.first={first} with {size} images needs {first + size} test images; the test split "
                    f"has {len(test)}: lower compare.first or compare.eval_size"
                )
            return test.subset(slice(first, first + size)) if first else test
        data = self.data_config()
        if first + size > data.val_size:
            raise ConfigError(
                f"compare.split=val scores images {first}-{first + size - 1} but data.val_size is {data.val_size}; "
                f"set data.val_size>={first + size} or a smaller compare.first/eval_size"
            )
        val = data.load("val")
        return val.subset(slice(first, first + size)) if first + size < len(val) or first else val

    def analyze_config(self) -> AnalyzeConfig:
        """The analyze section with the study's dataset, data root and evaluator filled in."""
        data = self.data_config()
        return replace(self.analyze, dataset=data.name, data_root=data.root, evaluator=None)


def inverter_run(out: Path, name: str, member: int, seed: int) -> Path:
    """Where the inverter of classifier ``member`` of a stage, training seed ``seed``, lives."""
    return StudyLayout(out).inverter(name, seed, member)


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


def load_study(name_or_path: str, overrides: dict[str, Any] | None = None) -> StudyConfig:
    """Read and validate a study config (every key checked, with the file named in errors); ``overrides`` is
    a nested mapping merged into the file first (scoped command-line keys such as ``inverters.x.steps``)."""
    from ..config import deep_merge

    path = study_path(name_or_path)
    raw = read_yaml_mapping(path, "study")
    raw.setdefault("name", path.stem)
    if overrides:
        raw = deep_merge(raw, overrides)
    for k in SET_BY_STUDY:
        if k in (raw.get("analyze") or {}):
            raise ConfigError(f"study {path}: analyze.{k} is set by the study itself (its data and evaluator)")
    try:
        return from_dict(StudyConfig, raw)
    except ConfigError as exc:
        raise ConfigError(f"study {path}: {exc}") from exc


STAGE_GROUPS = ("classifiers", "inverters")
SMOKE = (
    "inverters.*.steps=30",
    "inverters.*.train.eval_size=32",
    "inverters.*.train.log_every=10",
    "classifiers.*.train.epochs=1",
    "classifiers.*.data.train_size=512",
    "classifiers.*.train.eval_robust_size=16",
    "data.train_size=1024",
    "data.val_size=64",
    "compare.eval_size=64",
    "compare.n=4",
    "findings.n=64",
    "claim.noise_draws=2",
    "analyze.n=4",
    "analyze.pool=64",
    "analyze.train_sample=256",
)


@dataclass
class StudyOverrides:
    """Command-line ``KEY=VALUE`` items sorted by what they change: the study file (``study``: ``seeds=1``,
    ``claim.noise_draws=2``), stages (``stages[(group, name or "*")]``: ``inverters.robust.steps=20`` sets a
    stage key, ``inverters.*.train.lr_g=1e-3`` adds a config override to every inverter stage) and every
    stage's config (``every``: ``train.threads=2`` applies to every classifier and inverter run)."""

    study: dict[str, Any] = field(default_factory=dict)
    stages: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    every: list[str] = field(default_factory=list)

    def apply(self, cfg: StudyConfig) -> StudyConfig:
        """Apply the stage items to the matching stages (``*``: all of a group); unknown names are errors, and
        the result is validated again (equal steps for a claim's arms...)."""
        from ..config import parse_overrides, to_dict

        for (group, name), items in self.stages.items():
            stages = getattr(cfg, group)
            if name != "*" and name not in stages:
                raise ConfigError(f"override {group}.{name}.*: no such stage; {group}: {sorted(stages)}")
            for stage_name, stage in list(stages.items()):
                if name not in ("*", stage_name):
                    continue
                keys = set(to_dict(stage))
                own = [i for i in items if i.split("=", 1)[0] in keys]
                data = {**to_dict(stage), **parse_overrides(own)}
                data["overrides"] = [*data["overrides"], *(i for i in items if i not in own)]
                stages[stage_name] = from_dict(type(stage), data, f"{group}.{stage_name}.")
        return from_dict(StudyConfig, to_dict(cfg))


def scoped_overrides(items: list[str], smoke: bool = False) -> StudyOverrides:
    """Sort ``items`` (see :class:`StudyOverrides`); ``smoke`` first adds :data:`SMOKE` (a whole study in
    about a minute)."""
    from dataclasses import fields

    from ..config import deep_merge, parse_overrides

    out = StudyOverrides()
    study_keys = {f.name for f in fields(StudyConfig)} - set(STAGE_GROUPS)
    for item in [*(SMOKE if smoke else ()), *items]:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form key.path=value (e.g. inverters.*.steps=20)")
        parts = item.split("=", 1)[0].strip().split(".")
        if parts[0] in STAGE_GROUPS:
            if len(parts) < 3:
                raise ConfigError(
                    f"override {item!r}: name a stage key, e.g. {parts[0]}.NAME.preset=... or "
                    f"{parts[0]}.*.train.steps=20"
                )
            out.stages.setdefault((parts[0], parts[1]), []).append(item.split(".", 2)[2])
        elif parts[0] in study_keys:
            out.study = deep_merge(out.study, parse_overrides([item]))
        else:
            out.every.append(item)
    return out


@dataclass(frozen=True)
class OpenedStudy:
    """A study read for a run: its validated config (overrides applied), the overrides left for every stage's
    config (``train.threads=2``) and the file it came from (hashed with the claim)."""

    cfg: StudyConfig
    every: list[str]
    source: Path


def open_study(
    name_or_path: str, overrides: Sequence[str] = (), smoke: bool = False, data_root: str | None = None
) -> OpenedStudy:
    """The one way a study is read, by the CLI and the API alike: the file (a name in ``configs/study`` or a
    path), the scoped command-line ``overrides`` (``smoke`` first adds :data:`SMOKE`) and a data root."""
    scoped = scoped_overrides(list(overrides), smoke=smoke)
    if data_root:
        scoped.study.setdefault("data", {})["root"] = data_root
    cfg = scoped.apply(load_study(name_or_path, scoped.study))
    return OpenedStudy(cfg, list(scoped.every), study_path(name_or_path))
