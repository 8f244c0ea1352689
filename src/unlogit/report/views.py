"""What the report shows, as plain values: the page's sections with their texts, tables (:class:`Grid`) and
figures. :mod:`unlogit.report.page` and :mod:`unlogit.report.claim` build them from the inputs;
``templates/report.html.j2`` draws them, escaping every text (Jinja2 autoescape), so no value from a file can
become markup."""

from __future__ import annotations

from dataclasses import dataclass

from ..runtime.tables import Grid


@dataclass(frozen=True)
class FigureView:
    """An embedded PNG: its ``data:image/png;base64,...`` URI and its caption."""

    uri: str
    caption: str


@dataclass(frozen=True)
class TitledGrid:
    title: str
    grid: Grid


@dataclass(frozen=True)
class VerdictView:
    """The answer in one sentence: ``verdict (why) — statement: endpoint interval (design; about inference)``;
    ``why`` names what kept the arms from being compared (a capped arm, unequal G steps, a failed gate)."""

    verdict: str
    why: str
    statement: str
    endpoint: str
    interval: str
    design: str
    about: str


@dataclass(frozen=True)
class MethodView:
    """The numbers the claim's method paragraph quotes."""

    n_images: int
    design: str
    inference: str
    draws: str
    images: str = ""  # which images: "test images 1000-2999 (class-interleaved order; pilot set 0-999 untouched)"


@dataclass(frozen=True)
class DoseView:
    figure: FigureView
    table: Grid


@dataclass(frozen=True)
class ReferenceView:
    """The reference decoder beside the arms: one sentence on the primary endpoint, the endpoints where an
    inverter is below its reference (``below``: "arm: endpoint" each), then every endpoint."""

    summary: str
    table: Grid
    below: tuple[str, ...] = ()


@dataclass(frozen=True)
class ClaimView:
    statement: str
    verdict: VerdictView
    primary: str
    reason: str
    excluded: tuple[str, ...]
    realism: str
    table: Grid
    method: MethodView
    forest: FigureView
    dose: DoseView | None
    controls: Grid | None = None  # the control recipes against both arms on the primary endpoint
    reference: ReferenceView | None = None


@dataclass(frozen=True)
class FindingView:
    """One finding's detail: ``anchor`` is the id the findings table links to."""

    id: str
    anchor: str
    title: str
    note: str
    figure: FigureView | None
    reference: str = ""  # what the reference decoders show on the primary endpoint, or why they do not apply


@dataclass(frozen=True)
class FindingsView:
    table: Grid | None  # None: the study has no findings
    details: tuple[FindingView, ...]


@dataclass(frozen=True)
class StudyView:
    header: str
    verdicts: tuple[VerdictView, ...]
    note: str
    findings: FindingsView | None
    figure1: FigureView | None
    claims: tuple[ClaimView, ...]
    summary_table: Grid | None


@dataclass(frozen=True)
class AnalysisView:
    experiment: str
    figures: tuple[FigureView, ...]
    tables: tuple[TitledGrid, ...]


@dataclass(frozen=True)
class EvaluateView:
    dataset: str
    n: str
    judges: str
    table: Grid


@dataclass(frozen=True)
class SetupView:
    classifiers: Grid | None
    inverters: Grid | None
    curves: FigureView | None


@dataclass(frozen=True)
class PageView:
    title: str
    studies: tuple[StudyView, ...]
    analyses: tuple[AnalysisView, ...]
    evaluations: tuple[EvaluateView, ...]
    setup: SetupView
    version: str
    sources: str
