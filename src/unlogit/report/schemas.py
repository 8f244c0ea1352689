"""The shape of every JSON file the report reads (JSON Schema, checked with ``jsonschema``): the fields the report
shows, with their types. Other fields are allowed (a newer unlogit may add some); a field of the wrong type, a
missing one the page needs, or a claim without exactly one primary endpoint is one named error that says where
(``$.endpoints[0].ci_low``), before anything is drawn."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from ..errors import UnlogitError
from ..runtime.json_schema import first_problem

Schema = dict[str, Any]

TEXT: Schema = {"type": "string", "maxLength": 100_000}
NAME: Schema = {"type": "string", "minLength": 1, "maxLength": 200}
NUMBER: Schema = {"type": ["number", "null"]}
COUNT: Schema = {"type": "integer", "minimum": 0}
OPTIONAL_TEXT: Schema = {"type": ["string", "null"], "maxLength": 100_000}
ANY_SCALAR: Schema = {"type": ["number", "string", "boolean", "null"]}


def obj(required: dict[str, Schema], optional: dict[str, Schema] | None = None, **more: Any) -> Schema:
    """An object with ``required`` and ``optional`` typed fields; other fields allowed unless ``more`` says."""
    return {"type": "object", "required": list(required), "properties": {**required, **(optional or {})}, **more}


def mapping_of(values: Schema) -> Schema:
    return {"type": "object", "additionalProperties": values}


INTERVAL = {"estimate": NUMBER, "ci_low": NUMBER, "ci_high": NUMBER}

ENDPOINT = obj(
    {"endpoint": NAME, "label": TEXT, "primary": {"type": "boolean"}, "verdict": NAME, **INTERVAL},
    {"se": NUMBER, "chance": NUMBER, "margin": NUMBER, "a_mean": NUMBER, "b_mean": NUMBER, "p_holm": NUMBER},
)
DOSE = obj({"dose": {"type": "number"}, "n_classifiers": COUNT, "verdict": NAME, **INTERVAL})
REFERENCE = obj(
    {
        "a": NAME,
        "b": NAME,
        "summary": TEXT,
        **{key: {"type": "array", "items": ENDPOINT} for key in ("gap", "a_over_reference", "b_over_reference")},
    }
)

CLAIM = obj(
    {
        "a": NAME,
        "b": NAME,
        "statement": TEXT,
        "primary": NAME,
        "verdict": NAME,
        "excluded": {"type": "array", "items": TEXT},
        "n_classifiers": mapping_of(COUNT),
        "n_seeds": mapping_of(COUNT),
        "n_images": COUNT,
        "endpoints": {
            "type": "array",
            "items": ENDPOINT,
            "contains": obj({"primary": {"const": True}}),
            "minContains": 1,
            "maxContains": 1,
        },
    },
    {
        "reason": OPTIONAL_TEXT,
        "inference": OPTIONAL_TEXT,
        "realism": OPTIONAL_TEXT,
        "protocol": obj({}, {"noise_draws": COUNT}),
        "dose_response": {"type": "array", "items": DOSE},
        "reference": REFERENCE,
        "images": obj(
            {
                "split": NAME,
                "order": NAME,
                "index_range": {"type": "array", "items": COUNT, "minItems": 2, "maxItems": 2},
            },
            {"pilot_images": COUNT, "confirmatory": {"type": "boolean"}},
        ),
    },
)

RESULT = obj({"verdict": NAME, **INTERVAL}, {"se": NUMBER})  # one interval with its verdict
FINDING_REFERENCE = obj(
    {"a": NAME, "b": NAME},
    {
        "applies": {"type": "boolean"},
        "why": TEXT,
        "verdict": NAME,
        "summary": TEXT,
        **{key: RESULT for key in ("gap", "b_within", "a_over_reference", "b_over_reference")},
    },
)
FINDING = obj(
    {"id": NAME, "title": TEXT, "statement": TEXT, "primary": NAME, "verdict": NAME, **INTERVAL},
    {
        "n_images": {"type": ["integer", "null"]},
        "note": OPTIONAL_TEXT,
        "figure": OPTIONAL_TEXT,
        "a": NAME,
        "b": NAME,
        "b_within": RESULT,  # a within-arm finding: arm B's own result beside A's
        "reference": FINDING_REFERENCE,
    },
    dependentRequired={"b_within": ["a", "b"]},
)
FINDINGS = obj({"findings": {"type": "array", "items": FINDING}})

SUMMARY_ROW = obj(
    {},
    {
        key: NUMBER
        for key in ("own_label_agreement", "colour_correlation", "psnr", "ssim", "logit_error")  # the table's
    },
    patternProperties={"^evaluator_label_agreement@": NUMBER},
)
SUMMARY = obj(
    {},
    {
        "header": OPTIONAL_TEXT,
        "note": OPTIONAL_TEXT,
        "figure": OPTIONAL_TEXT,
        "columns": {"type": "array", "items": TEXT},
        "inverters": mapping_of(SUMMARY_ROW),
    },
)

EXPERIMENT = obj(
    {"experiment": NAME},
    {"figures": mapping_of(TEXT), "inverters": {"type": "object"}, "originals": mapping_of(ANY_SCALAR)},
)

EVALUATE = obj(
    {"inverters": mapping_of({"type": "object"})},
    {"dataset": ANY_SCALAR, "n": ANY_SCALAR, "evaluators": mapping_of(obj({"spec": TEXT}))},
)

MODEL = {
    "type": "object",
    "required": ["kind"],
    "properties": {"kind": NAME},
    "allOf": [
        {
            "if": obj({"kind": {"const": "unlogit.classifier"}}),
            "then": obj(
                {},
                {
                    "arch": obj({}, {"arch": TEXT}),
                    "summary": obj(
                        {},
                        {
                            "dataset": ANY_SCALAR,
                            "adversarial_training": ANY_SCALAR,
                            "epochs": NUMBER,
                            "val_acc": NUMBER,
                            "clean_acc": NUMBER,
                            "robust_acc": NUMBER,
                            "robust_attack": {
                                "type": ["object", "null"],
                                "properties": {"norm": ANY_SCALAR, "eps": {"type": "number"}},
                            },
                        },
                    ),
                },
            ),
        },
        {
            "if": obj({"kind": {"const": "unlogit.inverter"}}),
            "then": obj(
                {},
                {
                    "method": ANY_SCALAR,
                    "classifier": ANY_SCALAR,
                    "summary": obj(
                        {},
                        {
                            "steps": NUMBER,
                            "capped": ANY_SCALAR,
                            "stopped_early": ANY_SCALAR,
                            "train_minutes": NUMBER,
                            "own_label_agreement": NUMBER,
                            "colour_correlation": NUMBER,
                            "psnr": NUMBER,
                        },
                    ),
                },
            ),
        },
    ],
}

for _schema in (CLAIM, FINDINGS, SUMMARY, EXPERIMENT, EVALUATE, MODEL):
    Draft202012Validator.check_schema(_schema)


def check_input(data: Any, schema: Schema, path: Path) -> dict:
    """``data`` when it matches ``schema``; otherwise one named error with the first problem's place in the file."""
    problem = first_problem(data, schema)
    if problem is None:
        return data
    raise UnlogitError(
        f"report input {path} is malformed {problem}; it was not written by this unlogit or was edited since: "
        "regenerate it, or leave it out of the report"
    )
