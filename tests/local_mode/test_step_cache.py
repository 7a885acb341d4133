"""Local mode reuses an unchanged step as SageMaker Pipelines does, and only then.

SageMaker's rule ("Default cache key attributes by pipeline step type",
https://docs.aws.amazon.com/sagemaker/latest/dg/pipelines-default-keys.html): a Processing or
Training step whose ``CacheConfig`` is enabled is reused when a successful run of it with the
same key attributes exists within ``ExpireAfter``. These tests run the real steps on tiny data:
one run, then reruns that change one input of each kind (code, data, a parameter, the image).
"""

from __future__ import annotations

import copy
import shutil
from datetime import UTC, datetime, timedelta

import pytest

from forecasting.errors import ForecastingError
from local_mode import interpreter, runs, step_cache
from local_mode import runner as runner_module
from local_mode.cli import build_parser
from local_mode.layout import Home
from local_mode.runner import Runner
from tests.local_mode.test_interpreter import TINY
from tests.model_build.steps.conftest import write_tiny_csv

CACHED = ("Preprocess", "Train", "Evaluate")


def run(home, run_id, config=TINY, definition=None, stop_after="Evaluate", **options):
    said: list[str] = []
    runner = Runner(home, run_id, config, say=said.append, definition=definition, **options)
    runner.execute(stop_after=stop_after)
    return runner, "\n".join(said)


def reused(said: str) -> list[str]:
    return [name for name in CACHED if f"{name}: cached from run" in said]


@pytest.fixture(scope="module", autouse=True)
def one_tracking_store(tmp_path_factory):
    """The tracking URI is in Train's key (its Environment): one store for every copied home."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", tmp_path_factory.mktemp("mlruns").as_uri())
        yield


@pytest.fixture(scope="module")
def first(tmp_path_factory):
    """A home whose run "first" finished Preprocess, Train and Evaluate."""
    home = Home(tmp_path_factory.mktemp("home"))
    runner, said = run(home, "first")
    assert reused(said) == []
    return home, runner


@pytest.fixture
def home(first, tmp_path):
    """A copy of that home, so each test sees only its own later runs."""
    copied = Home(tmp_path / "home")
    shutil.copytree(first[0].root, copied.root)
    for entry in copied.root.joinpath(step_cache.CACHE_DIR).rglob("*.json"):
        text = entry.read_text().replace(str(first[0].root), str(copied.root))
        entry.write_text(text)
    return copied


def mutated(home, change):
    """The definition of a new run with one thing changed, as an edit of the builder would."""
    definition = copy.deepcopy(Runner(home, "probe", TINY).definition)
    change({s.name: s.definition for s in interpreter.plan(definition)})
    return definition


def test_an_unchanged_run_reuses_every_cached_step_and_says_from_which_run(home, first):
    runner, said = run(home, "second")
    assert reused(said) == list(CACHED)
    assert "Preprocess: cached from run first" in said
    assert runner.properties["Train"] == first[1].properties["Train"]
    # the reused outputs are where this run's later steps read them
    assert (runner.output("Train", "model") / "config.json").is_file()
    assert (runner.output("Evaluate", "evaluation") / "evaluation.json").is_file()


def test_no_cache_reruns_every_step(home, first):
    runner, said = run(home, "forced", stop_after="Preprocess", use_cache=False)
    assert reused(said) == []
    assert runner.properties["Preprocess"] != first[1].properties["Preprocess"]


def test_a_changed_parameter_misses_the_steps_that_read_it(home, first):
    config = TINY.__class__(**{**TINY.to_dict(), "parameters": {"MaxEpochs": "2"}})
    runner, said = run(home, "epochs", config=config, stop_after="Train")
    assert reused(said) == ["Preprocess"]  # MaxEpochs is a Train hyperparameter only
    assert runner.properties["Train"] != first[1].properties["Train"]


def test_another_host_count_misses_train(home, first):
    """ResourceConfig is no key attribute of a Training step; the count reaches its key
    through the step's Environment (forecasting.pipeline.caching)."""
    config = TINY.__class__(**{**TINY.to_dict(), "hosts": 2})
    runner, said = run(home, "two-hosts", config=config, stop_after="Train")
    assert reused(said) == ["Preprocess"]
    assert runner.properties["Train"] != first[1].properties["Train"]


def test_changed_code_misses(home):
    def other_code(steps):
        inputs = steps["Preprocess"]["Arguments"]["ProcessingInputs"]
        code = next(i for i in inputs if i["InputName"] == "code")["S3Input"]
        moved = code["S3Uri"].replace("/source/", "/source-edited/")
        source = home.local_path(code["S3Uri"])
        target = home.local_path(moved)
        target.parent.mkdir(parents=True)
        shutil.copy(source, target)  # same bytes under another content key: a new tarball
        code["S3Uri"] = moved

    _, said = run(home, "code", definition=mutated(home, other_code), stop_after="Preprocess")
    assert reused(said) == []


def test_an_edit_of_the_evaluation_code_reruns_evaluate_alone(home, first, tmp_path, monkeypatch):
    """The push of issue 23: each step's code is a tarball of what it runs, so Preprocess and
    Train keep their code URIs and are reused from the first run."""
    source = tmp_path / "model_build"
    shutil.copytree(
        runs.SOURCE_DIR / "forecasting",
        source / "forecasting",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    shutil.copy(runs.SOURCE_DIR / "entry_train.py", source)
    evaluate = source / "forecasting" / "steps" / "evaluate.py"
    evaluate.write_text(evaluate.read_text() + "# an edit of the evaluation code\n")
    monkeypatch.setattr(runner_module, "SOURCE_DIR", source)
    runner, said = run(home, "evaluation-edited")
    assert reused(said) == ["Preprocess", "Train"]
    assert "Preprocess: cached from run first" in said and "Train: cached from run first" in said
    before, after = (
        {name: r.resources.code_uri(name) for name in CACHED} for r in (first[1], runner)
    )
    assert {n for n in CACHED if before[n] != after[n]} == {"Evaluate"}


def test_a_changed_image_misses(home):
    def other_image(steps):
        steps["Preprocess"]["Arguments"]["AppSpecification"]["ImageUri"] = "local:2"

    _, said = run(home, "image", definition=mutated(home, other_image), stop_after="Preprocess")
    assert reused(said) == []


def test_changed_data_misses_and_the_same_data_hits(home, tmp_path):
    config = TINY.__class__(**{**TINY.to_dict(), "dataset": None})
    data = write_tiny_csv(tmp_path / "load.csv")
    one = config.__class__(**{**config.to_dict(), "data": str(data)})
    _, said = run(home, "data-1", config=one, stop_after="Preprocess")
    assert reused(said) == []
    _, said = run(home, "data-2", config=one, stop_after="Preprocess")
    assert reused(said) == ["Preprocess"]
    write_tiny_csv(data, rows=420)  # same file name, other content
    _, said = run(home, "data-3", config=one, stop_after="Preprocess")
    assert reused(said) == []


def test_an_expired_entry_is_not_reused(home):
    runner = Runner(home, "late", TINY, say=lambda _: None)
    later = datetime.now(UTC) + timedelta(days=31)  # the builder's default expiry is P30D
    runner.step_cache = step_cache.StepCache(home.root, now=lambda: later)
    said: list[str] = []
    runner.say = said.append
    runner.execute(stop_after="Preprocess")
    assert reused("\n".join(said)) == []


def test_a_failed_step_is_not_cached(tmp_path):
    home = Home(tmp_path / "fresh")

    def too_long(steps):  # a window longer than the data: the preprocess step refuses it
        steps["Preprocess"]["Arguments"]["AppSpecification"]["ContainerArguments"] += [
            "--seq-len", "1000000"
        ]  # fmt: skip

    with pytest.raises(ForecastingError):
        run(home, "failed", definition=mutated(home, too_long), stop_after="Preprocess")
    assert not list((home.root / step_cache.CACHE_DIR).rglob("*.json"))


def test_cache_is_honoured_only_on_the_step_types_sagemaker_caches():
    condition = {"Name": "CheckMetric", "Type": "Condition", "CacheConfig": {"Enabled": True}}
    with pytest.raises(interpreter.UnsupportedError, match="a Condition step is not cached"):
        interpreter.check_cache_config(condition)
    wrong = {"Name": "Train", "Type": "Training",
             "CacheConfig": {"Enabled": True, "ExpireAfter": "30 days"}}  # fmt: skip
    with pytest.raises(Exception, match="step Train: ExpireAfter '30 days'"):
        interpreter.check_cache_config(wrong)


def test_the_run_command_takes_no_cache():
    assert build_parser().parse_args(["run", "--no-cache"]).no_cache is True
    assert build_parser().parse_args(["run"]).no_cache is False
