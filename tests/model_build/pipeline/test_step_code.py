"""Each step's code tarball holds the code it runs, so an edit misses only the steps that run it.

SageMaker keys a cached Processing step on ``ProcessingInputs`` and a Training step on
``InputDataConfig`` and ``HyperParameters`` (https://docs.aws.amazon.com/sagemaker/latest/dg/
pipelines-default-keys.html): the URIs, never what lies under them. The code's URI is named by
its tarball's digest, so the tarball must hold exactly what the step runs: these tests edit a
copy of the real source and compare the keys, and run every step from its own tarball on tiny
data to check that the set read from the imports is complete.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from dataclasses import replace
from pathlib import Path

import pytest

from forecasting.pipeline import step_code
from forecasting.pipeline.definition import Images, build_definition
from forecasting.pipeline.settings import PipelineSettings
from forecasting.pipeline.source import package_sources, source_key
from tests.model_build.inference.test_handler import tft_request
from tests.model_build.pipeline.test_caching import resolved_keys
from tests.model_build.pipeline.test_definition import RESOURCES
from tests.model_build.steps.conftest import (
    PRED_LEN,
    SEQ_LEN,
    TINY_MODEL,
    TINY_TFT,
    write_tiny_csv,
)

MODEL_BUILD = Path(__file__).resolve().parents[3] / "model_build"
STEPS = ("Preprocess", "Train", "Evaluate")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the real source, to edit."""
    root = tmp_path / "model_build"
    shutil.copytree(
        MODEL_BUILD / "forecasting",
        root / "forecasting",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    shutil.copy(MODEL_BUILD / step_code.TRAIN_PROGRAM, root)
    return root


def append(path: Path, line: str = "# edited\n") -> None:
    path.write_text(path.read_text() + line)


def keys(root: Path) -> dict[str, str]:
    """Each cached step's key for one execution of the definition built from ``root``."""
    code_uris = {
        step: f"s3://artifacts/{source_key('code', digest)}"
        for step, (_, digest) in package_sources(root).items()
    }
    resources = replace(RESOURCES, code_uris=code_uris, images=Images("t:1", "p:1", "i:1"))
    return resolved_keys(build_definition(PipelineSettings(), resources), "e")


def changed(before: dict[str, str], after: dict[str, str]) -> set[str]:
    return {step for step in before if after[step] != before[step]}


def test_a_copied_tree_gives_the_same_keys(tree):
    assert keys(tree) == keys(MODEL_BUILD)


@pytest.mark.parametrize(
    ("edited", "missed"),
    [
        ("forecasting/steps/evaluate.py", {"Evaluate"}),
        ("forecasting/steps/preprocess.py", {"Preprocess"}),
        ("forecasting/steps/train.py", {"Train"}),
        ("forecasting/trainer.py", {"Train"}),
        ("entry_train.py", {"Train"}),  # the program the training toolkit runs
        # modules every step imports (the families' serving code, imported when called, uses
        # the inference handler)
        ("forecasting/inference/handler.py", set(STEPS)),
        ("forecasting/errors.py", set(STEPS)),
        ("forecasting/__init__.py", set(STEPS)),
        ("forecasting/families.py", set(STEPS)),
        # MLflow tracking: the steps that record into the training run
        ("forecasting/tracking.py", {"Train", "Evaluate"}),
        # the pipeline builder never runs in a job
        ("forecasting/pipeline/definition.py", set()),
    ],
)
def test_an_edit_misses_exactly_the_steps_that_run_the_file(tree, edited, missed):
    before = keys(tree)
    append(tree / edited)
    assert changed(before, keys(tree)) == missed


def test_a_new_family_reaches_every_step_that_imports_the_registry(tree):
    """The registry may dispatch to any family folder, whether it names it yet or not."""
    before = keys(tree)
    family = tree / "forecasting" / "models" / "other"
    family.mkdir()
    (family / "__init__.py").write_text("")
    (family / "family.py").write_text("from forecasting.models.other import helper\n")
    (family / "helper.py").write_text("X = 1\n")
    after = keys(tree)
    assert changed(before, after) == set(STEPS)
    append(family / "helper.py")
    assert changed(after, keys(tree)) == set(STEPS)


def test_imports_are_read_at_any_depth_but_not_for_type_checking(tmp_path):
    package = tmp_path / "forecasting"
    for name in ("__init__", "a", "b", "c", "d", "e", "sub/__init__", "sub/f"):
        (package / f"{name}.py").parent.mkdir(parents=True, exist_ok=True)
        (package / f"{name}.py").write_text("")
    (package / "a.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "import forecasting.b\n"
        "if TYPE_CHECKING:\n    from forecasting import c\nelse:\n    import json\n"
        "def later():\n    from forecasting import d\n"
        "class K:\n    def m(self):\n        from .sub import f\n"
    )
    (package / "sub" / "f.py").write_text("from .. import e\nfrom ..b import name\n")
    modules = step_code.package_modules(tmp_path, ("forecasting.a",))
    assert modules == {
        "forecasting", "forecasting.a", "forecasting.b", "forecasting.d", "forecasting.e",
        "forecasting.sub", "forecasting.sub.f",
    }  # fmt: skip


def test_a_missing_entry_point_is_an_error(tree):
    (tree / "forecasting" / "steps" / "evaluate.py").unlink()
    with pytest.raises(step_code.ConfigError, match=r"steps\.evaluate: no such module"):
        package_sources(tree)


# --- the guard: what each step really imports is in its set ---------------------------------

REPORT = "FORECASTING_MODULES="
# Run the step as its job does and print the package modules it loaded, whatever its outcome.
RUNNER = (
    "import atexit, json, runpy, sys\n"
    "atexit.register(lambda: print({report!r} + json.dumps(sorted(\n"
    "    m for m in sys.modules if m.split('.')[0] == 'forecasting'))))\n"
    "sys.argv = [{entry!r}, *sys.argv[1:]]\n"
    "{run}\n"
)


def unpack(step: str, target: Path) -> Path:
    data, _ = package_sources(MODEL_BUILD)[step]
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        tar.extractall(target, filter="data")
    return target


def run_from(code: Path, entry: str, *argv: str) -> set[str]:
    """``entry`` (a module, or a file in ``code``) run with ``code`` first on the path, as the
    processing script (``cd code; python -m``) and the training toolkit run it."""
    if entry.endswith(".py"):
        run = f"runpy.run_path({entry!r}, run_name='__main__')"
    else:
        run = f"runpy.run_module({entry!r}, run_name='__main__', alter_sys=True)"
    script = RUNNER.format(report=REPORT, entry=entry, run=run)
    done = subprocess.run(
        [sys.executable, "-c", script, *argv],
        cwd=code,
        env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": ""},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith(REPORT))
    loaded = set(json.loads(line.removeprefix(REPORT)))
    assert "forecasting" in loaded
    return loaded


def family_flags(family: str, csv: Path) -> tuple[list[str], list[str]]:
    """The preprocess step's data flags and the train step's model flags of a tiny run."""
    if family == "tft":
        data = ["--model", "tft", "--dataset", "demo", "--seq-len", str(SEQ_LEN),
                "--pred-len", str(PRED_LEN)]  # fmt: skip
        return data, TINY_TFT
    return ["--data", str(csv), "--seq-len", "16", "--pred-len", "4"], TINY_MODEL


@pytest.mark.parametrize("family", ["informer", "tft"])
def test_every_step_runs_from_its_own_tarball_and_loads_only_its_set(tmp_path, family):
    """A module the import reading missed would fail the job (the tarball holds nothing else)
    or, found elsewhere on the path, be named here. Each family, as each dispatches to its own
    modules."""
    sets = {s: step_code.package_modules(MODEL_BUILD, step_code.ENTRY_POINTS[s]) for s in STEPS}
    csv = write_tiny_csv(tmp_path / "tiny.csv")
    data_flags, model_flags = family_flags(family, csv)
    channels, model, evaluation = tmp_path / "channels", tmp_path / "model", tmp_path / "evaluation"
    loaded = {
        "Preprocess": run_from(
            unpack("Preprocess", tmp_path / "preprocess"), "forecasting.steps.preprocess",
            *data_flags, "--output-dir", str(channels),
        ),
        "Train": run_from(
            unpack("Train", tmp_path / "train"), step_code.TRAIN_PROGRAM, *model_flags,
            "--train", str(channels / "train"), "--validation", str(channels / "validation"),
            "--model-dir", str(model), "--output-data-dir", str(tmp_path / "output"),
            "--checkpoint-dir", str(tmp_path / "checkpoints"), "--max-epochs", "1",
        ),
        "Evaluate": run_from(
            unpack("Evaluate", tmp_path / "evaluate"), "forecasting.steps.evaluate",
            "--model-dir", str(model), "--test", str(channels / "test"),
            "--output-dir", str(evaluation),
        ),
    }  # fmt: skip
    assert (evaluation / "evaluation.json").is_file()
    # the artifact serves with the train step's code: the inference container imports
    # code/inference.py with code/ on the path
    request = tmp_path / "request.csv"
    if family == "tft":
        tft_request(channels / "test").to_csv(request, index=False)
    else:  # the first 40 rows of the data
        request.write_text("".join(csv.read_text().splitlines(keepends=True)[:41]))
    (model / "code" / "serve.py").write_text(
        "import sys, inference\nm = inference.model_fn(sys.argv[1])\n"
        "body = inference.input_fn(open(sys.argv[2], 'rb').read(), 'text/csv')\n"
        "print(inference.output_fn(inference.predict_fn(body, m), 'text/csv'))\n"
    )
    loaded["Train"] |= run_from(model / "code", "serve.py", str(model), str(request))
    for step, modules in loaded.items():
        assert modules <= sets[step], (step, sorted(modules - sets[step]))
