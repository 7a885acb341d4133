"""The model-family registry: every family provides the whole interface, the layers above it
never name a family, and the defaults the README and the pipeline show are the families' own."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

from forecasting.errors import ConfigError
from forecasting.families import FAMILIES, family
from forecasting.models.family import Family
from forecasting.pipeline.settings import DEFAULT_GATES as PIPELINE_GATES
from forecasting.pipeline.settings import METRICS, PipelineSettings
from forecasting.steps import train

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "model_build" / "forecasting"
# The layers that dispatch through the registry (local mode's runner is being rewritten apart).
DISPATCHERS = [
    *sorted((PACKAGE / "steps").glob("*.py")),
    PACKAGE / "artifact.py",
    PACKAGE / "inference" / "handler.py",
    PACKAGE / "pipeline" / "settings.py",
    ROOT / "local_mode" / "cli.py",
    ROOT / "local_mode" / "commands.py",
    ROOT / "local_mode" / "inputs.py",
]


def protocol_members() -> set[str]:
    methods = {n for n, v in vars(Family).items() if inspect.isfunction(v) and n[0] != "_"}
    return methods | set(Family.__annotations__)


@pytest.mark.parametrize("name", list(FAMILIES))
def test_every_family_provides_the_whole_interface(name):
    each = FAMILIES[name]
    assert each.name == name
    missing = {m for m in protocol_members() if not hasattr(each, m)}
    assert not missing, f"{name} lacks {sorted(missing)}"
    for method in protocol_members() - set(Family.__annotations__):
        wanted = list(inspect.signature(getattr(Family, method)).parameters)[1:]
        assert list(inspect.signature(getattr(each, method)).parameters) == wanted, method


@pytest.mark.parametrize("name", list(FAMILIES))
def test_a_familys_defaults_are_consistent(name):
    each = FAMILIES[name]
    metric, threshold = each.default_gate
    assert metric in each.metrics and threshold > 0
    assert set(each.table_metrics) <= set(each.metrics)
    assert set(each.windows) == {"seq_len", "pred_len"}
    args = train.parse_args(["--model", name])
    assert {k: getattr(args, k) for k in each.fit_defaults} == each.fit_defaults
    assert train.parse_args(list(each.tiny_arguments)).model == name


def test_an_unknown_family_is_a_configuration_error_naming_the_known_ones():
    with pytest.raises(ConfigError, match="'prophet'; expected one of informer, tft"):
        family("prophet")


def test_the_pipeline_settings_take_gates_and_metrics_from_the_families():
    assert {n: f.default_gate for n, f in FAMILIES.items()} == PIPELINE_GATES
    assert {n: f.metrics for n, f in FAMILIES.items()} == METRICS
    default = PipelineSettings()
    assert (default.metric_name, default.metric_threshold) == FAMILIES[default.model].default_gate


@pytest.mark.parametrize("path", DISPATCHERS, ids=lambda p: p.name)
def test_the_layers_above_the_families_never_compare_a_family_name(path):
    """Adding a family is one folder and one registry line: nothing above them branches on a
    family's name (a comparison, a membership test or a dict keyed by it)."""
    names = "|".join(FAMILIES)
    pattern = re.compile(rf"""(==|!=|\bin\b|\{{)\s*\(?["']({names})["']|["']({names})["']\s*:""")
    hits = [
        f"{path.name}:{number}: {line.strip()}"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert not hits, hits


def test_the_registry_imports_without_torch_pandas_or_numpy():
    """The pipeline builder reads the families' defaults at synth time and in CodeBuild, which
    installs the package without its dependencies."""
    script = (
        "import sys\n"
        "import forecasting.families, forecasting.pipeline.settings\n"
        "print(sorted({'torch', 'pandas', 'numpy', 'lightning'} & set(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"


def readme_hyperparameters() -> dict[str, tuple[str, str]]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("### Hyperparameters") :]
    rows = {}
    for line in section.splitlines()[1:]:
        if line.startswith("## "):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] and not cells[0].startswith("---"):
            rows[cells[0]] = (cells[1], cells[2])
    return rows


def as_number(text: str) -> float | None:
    return None if text in ("–", "-") else float(text.split()[0])


def test_the_readme_hyperparameter_table_shows_the_defaults():
    rows = readme_hyperparameters()
    for column, name in enumerate(("informer", "tft")):
        fit = FAMILIES[name].fit_defaults
        cell = {label: values[column] for label, values in rows.items()}
        assert as_number(cell["batch size (global, split across ranks)"]) == fit["batch_size"]
        assert as_number(cell["learning rate"]) == fit["learning_rate"]
        assert as_number(cell["gradient clip"]) == fit["gradient_clip"]
        epochs, patience = cell["max epochs / early-stopping patience"].split(" / ")
        assert (float(epochs), float(patience)) == (fit["max_epochs"], fit["patience"])
        assert as_number(cell["weight averaging (`--ema-decay`)"]) == fit["ema_decay"]
    from forecasting.models.informer.defaults import ARCHITECTURE as INFORMER
    from forecasting.models.tft.defaults import ARCHITECTURE as TFT

    informer, tft = rows["model"]
    assert f"d_model {INFORMER['d_model']}, {INFORMER['n_heads']} heads" in informer
    assert f"{INFORMER['e_layers']} encoder layers" in informer
    assert f"{INFORMER['d_layers']} decoder layer" in informer
    assert f"d_ff {INFORMER['d_ff']}" in informer
    assert f"{INFORMER['attention']} attention" in informer
    windows = FAMILIES["tft"].windows
    assert f"hidden {TFT['hidden_size']}, {TFT['attention_head_size']} attention heads" in tft
    assert f"hidden-continuous {TFT['hidden_continuous_size']}" in tft
    assert f"encoder {windows['seq_len']}, horizon {windows['pred_len']}" in tft
    assert f"dropout {train.parse_args(['--model', 'tft']).dropout}" in tft


def readme_layout_entry(folder: str) -> str:
    """The README layout's text for ``folder/`` (its line and the indented lines after it)."""
    text = (ROOT / "README.md").read_text()
    layout = text[text.index("## Repository layout") :]
    lines = layout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(f"{folder}/"))
    entry = [lines[start].strip()[len(folder) + 1 :]]
    for line in lines[start + 1 :]:
        if line.strip() and line.index(line.strip()) < 20:  # the next folder's own line
            break
        entry.append(line.strip())
    return " ".join(entry)


@pytest.mark.parametrize("name", list(FAMILIES))
def test_the_readme_layout_names_every_module_of_a_family(name):
    described = set(re.findall(r"[a-z_]+", readme_layout_entry(name)))
    modules = {p.stem for p in (PACKAGE / "models" / name).glob("*.py") if p.stem != "__init__"}
    assert modules - described == set()


@pytest.mark.parametrize(
    ("name", "wanted"),
    [("informer", "ett (ETT's published borders"), ("tft", "holdout")],
)
def test_a_family_names_the_split_its_preprocess_applied(name, wanted, tmp_path):
    """What a local run announces after Preprocess, read from the written channel."""
    from forecasting.channels import read_channel
    from forecasting.steps import preprocess

    windows = ["--seq-len", "16", "--pred-len", "4"]
    preprocess.main(["--model", name, "--dataset", "demo", *windows, "--output-dir", str(tmp_path)])
    train = read_channel(tmp_path / "train")
    assert family(train.recorded.model).split_text(train).startswith(wanted)


def test_the_preprocess_step_gives_the_families_typed_options_not_argparse():
    """The step parses its flags once; data preparation and serving read a PreprocessOptions."""
    from forecasting.models.family import PreprocessOptions
    from forecasting.steps import preprocess

    argv = ["--model", "tft", "--targets", " volume , ", "--static-reals", "a,b", "--seq-len", "8"]
    options = preprocess.preprocess_options(preprocess.resolved_args(argv))
    assert isinstance(options, PreprocessOptions)
    assert (options.targets, options.covariates) == (("volume",), ())
    assert (options.static_reals, options.known_reals) == (("a", "b"), ())
    assert (options.seq_len, options.pred_len) == (8, FAMILIES["tft"].windows["pred_len"])
    for each in FAMILIES.values():
        for method in ("prepare", "future_request"):
            annotation = inspect.signature(getattr(each, method)).parameters["options"].annotation
            assert annotation in (PreprocessOptions, "PreprocessOptions"), (each.name, method)
    readers = [*PACKAGE.glob("models/*/preparation.py"), *PACKAGE.glob("models/*/serving.py")]
    assert readers and not [p for p in readers if "argparse" in p.read_text()]
