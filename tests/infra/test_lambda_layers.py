"""The publish Lambda's plotting layer: pinned set, pip's platform flags, bundling offline."""

from __future__ import annotations

import re
import subprocess
from importlib import metadata
from pathlib import Path

import pytest
from aws_cdk import App, Stack
from aws_cdk.assertions import Match
from packaging.requirements import Requirement

from infra import lambda_layers
from infra.inference_layout import LAMBDA_RUNTIME, PUBLISH_HANDLER
from infra.lambda_layers import (
    REQUIREMENTS,
    SKIP_BUNDLING_CONTEXT,
    pip_arguments,
    plotting_layer,
    python_version,
)

PIN = re.compile(r"^([A-Za-z0-9._-]+)==([A-Za-z0-9.+!-]+)$")


def pinned() -> dict[str, str]:
    lines = [line.strip() for line in REQUIREMENTS.read_text().splitlines()]
    pins = {}
    for line in lines:
        if not line or line.startswith("#"):
            continue
        match = PIN.match(line)
        assert match, f"{REQUIREMENTS}: {line!r}; expected name==version"
        pins[canonical(match[1])] = match[2]
    return pins


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(root: str, environment: dict[str, str]) -> set[str]:
    """Every distribution ``root`` needs, from the installed metadata (extras left out)."""
    seen, todo = set(), [root]
    while todo:
        name = canonical(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        for text in metadata.requires(name) or []:
            requirement = Requirement(text)
            marker = requirement.marker
            if marker is None or marker.evaluate({**environment, "extra": ""}):
                todo.append(requirement.name)
    return seen


def test_layer_pins_matplotlibs_whole_closure_at_the_versions_local_mode_draws_with():
    """--no-deps installs exactly the pins: a missing dependency would fail at import in the
    Lambda; a version apart from the local one would draw the plots differently."""
    lambda_python = {
        "python_version": python_version(LAMBDA_RUNTIME),
        "python_full_version": f"{python_version(LAMBDA_RUNTIME)}.0",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": "x86_64",
        "os_name": "posix",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
    }
    pins = pinned()
    assert set(pins) == closure("matplotlib", lambda_python)
    assert {"matplotlib", "numpy"} <= set(pins)
    local = {name: metadata.version(name) for name in pins}
    assert pins == local


def test_pip_takes_only_wheels_for_the_lambda_runtime():
    assert python_version(LAMBDA_RUNTIME) == "3.14"
    arguments = pip_arguments("/out/python", "3.14")
    joined = " ".join(arguments)
    assert "--only-binary=:all:" in arguments and "--no-deps" in arguments
    assert "--platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64" in joined
    assert "--implementation cp --python-version 3.14 --target /out/python" in joined
    with pytest.raises(ValueError, match="expected a Python Lambda runtime"):
        python_version(LAMBDA_RUNTIME.NODEJS_22_X)


def test_publish_function_runs_with_the_plotting_layer(default_app):
    template = default_app.template
    layers = template.find_resources(
        "AWS::Lambda::LayerVersion",
        {"Properties": {"CompatibleRuntimes": [LAMBDA_RUNTIME.name]}},
    )
    (layer_id,) = layers
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": PUBLISH_HANDLER,
            "Layers": [{"Ref": layer_id}],
            "Environment": {"Variables": Match.object_like({"MPLCONFIGDIR": "/tmp/matplotlib"})},
        },
    )


def synth_layer(tmp_path: Path, context: dict) -> Path:
    app = App(outdir=str(tmp_path / "cdk.out"), context=context)
    plotting_layer(Stack(app, "LayerStack"), "PlottingLayer", LAMBDA_RUNTIME)
    app.synth()
    return tmp_path / "cdk.out"


def test_synth_bundles_with_local_pip_and_tests_skip_it(tmp_path, monkeypatch):
    calls: list[list[str]] = []

    def fake_pip(command, cwd, check):
        calls.append(command)
        target = Path(command[command.index("--target") + 1])
        (target / "matplotlib").mkdir(parents=True)
        (target / "matplotlib" / "__init__.py").write_text("")
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(lambda_layers.subprocess, "run", fake_pip)
    synth_layer(tmp_path / "skipped", SKIP_BUNDLING_CONTEXT)
    assert calls == []  # what the test fixtures synthesize never runs pip

    out = synth_layer(tmp_path / "bundled", {})
    (command,) = calls
    assert command[1:4] == ["-m", "pip", "install"]
    assert command[command.index("--python-version") + 1] == "3.14"
    assert list(out.glob("asset.*/python/matplotlib/__init__.py"))  # what the layer ships


def test_failed_local_pip_falls_back_to_docker(monkeypatch, capsys):
    def failing(command, cwd, check):
        raise subprocess.CalledProcessError(1, command)

    monkeypatch.setattr(lambda_layers.subprocess, "run", failing)
    assert lambda_layers.PipOnThisMachine("3.14").try_bundle("/nowhere") is False
    assert "falling back to Docker bundling" in capsys.readouterr().err
