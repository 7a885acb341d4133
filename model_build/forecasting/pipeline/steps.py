"""The pipeline's steps, in order: what the definition builder lays out.

Each step names the entry point it runs and the folders it reads and writes, laid out as
SageMaker lays them out. Local mode executes the built definition, not this list.
"""

from __future__ import annotations

from dataclasses import dataclass

PROCESSING = "/opt/ml/processing"
EVALUATION_FILE = "evaluation.json"
EVALUATION_PROPERTY_FILE = "EvaluationReport"
SPLITS = ("train", "validation", "test")
# The Lambda step that finds the approved version's model (lambdas/approved_model), its outputs
# (lambdas.approved_model.finding.OUTPUTS; a test pins the two) and, under the pipeline's prefix,
# where its marker for "none approved" goes.
FIND_APPROVED_MODEL = "FindApprovedModel"
APPROVED_MODEL_OUTPUTS = ("ModelDataUrl", "ModelPackageVersion", "ModelPackageArn", "ModelFamily")
NO_APPROVED_MODEL_PREFIX = "no-approved-model"


@dataclass(frozen=True)
class Step:
    name: str
    kind: str  # the SageMaker Pipelines step type
    module: str | None = None  # the entry point it runs, if any
    inputs: tuple[tuple[str, str], ...] = ()  # (name, container path)
    outputs: tuple[tuple[str, str], ...] = ()


STEPS: tuple[Step, ...] = (
    Step(
        "Preprocess",
        "Processing",
        "forecasting.steps.preprocess",
        inputs=(("data", f"{PROCESSING}/input/data"),),
        outputs=tuple((split, f"{PROCESSING}/output/{split}") for split in SPLITS),
    ),
    Step(
        "Train",
        "Training",
        "forecasting.steps.train",
        inputs=(
            ("train", "/opt/ml/input/data/train"),
            ("validation", "/opt/ml/input/data/validation"),
        ),
        outputs=(("model", "/opt/ml/model"),),
    ),
    Step(FIND_APPROVED_MODEL, "Lambda"),
    Step(
        "Evaluate",
        "Processing",
        "forecasting.steps.evaluate",
        inputs=(
            ("model", f"{PROCESSING}/model"),
            ("test", f"{PROCESSING}/test"),
            ("approved-model", f"{PROCESSING}/approved-model"),
        ),
        outputs=(("evaluation", f"{PROCESSING}/evaluation"),),
    ),
    Step("CheckMetric", "Condition"),
    Step("Register", "RegisterModel"),
    Step("MetricAboveThreshold", "Fail"),
)
# Jobs that run network-isolated: SageMaker copies their inputs and outputs, and they call no
# service themselves. A step that starts calling one (a tracking server, an API) leaves the set.
ISOLATED_STEPS = frozenset({"Preprocess", "Train", "Evaluate"})


def step(name: str) -> Step:
    return next(s for s in STEPS if s.name == name)
