"""The project image: its Dockerfile (read statically: no Docker here), its content-addressed
tags, the definition's use of it, the jobs' network isolation and the on-push build."""

from __future__ import annotations

import base64
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from forecasting.errors import ConfigError
from forecasting.pipeline import image_build, images
from forecasting.pipeline.definition import build_definition
from forecasting.pipeline.project_image import (
    IMAGE_DIR,
    context_digest,
    image_builds,
    project_images,
)
from forecasting.pipeline.resources import Resources
from forecasting.pipeline.settings import TRAINING_FILE, PipelineSettings
from forecasting.pipeline.steps import ISOLATED_STEPS
from tests.model_build.pipeline.test_definition import RESOURCES

MODEL_BUILD = Path(__file__).resolve().parents[3] / "model_build"
REPOSITORY = RESOURCES.image_repository
CPU = PipelineSettings()
GPU = PipelineSettings(training_instance_type="ml.g5.xlarge", training_instance_count=2)
SETTINGS = [CPU, GPU, PipelineSettings.from_file(MODEL_BUILD / TRAINING_FILE)]


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text(encoding="utf-8"))
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


# --- the Dockerfile, statically --------------------------------------------------------------


def test_the_dockerfile_builds_from_the_base_the_build_passes_and_keeps_its_entry_points():
    steps = instructions(IMAGE_DIR / "Dockerfile")
    keywords = [k for k, _ in steps]
    # one stage, FROM the BASE_IMAGE build argument: the DLC from the SDK's table, nothing else
    assert steps[0] == ("ARG", "BASE_IMAGE") and keywords.count("FROM") == 1
    assert ("FROM", "${BASE_IMAGE}") in steps
    # the base's ENTRYPOINT/CMD start the toolkits, which read the base's SAGEMAKER_* variables
    # (SAGEMAKER_TRAINING_MODULE, SAGEMAKER_SERVING_MODULE): none is replaced here
    assert not {"ENTRYPOINT", "CMD", "WORKDIR", "USER"} & set(keywords)
    assert not any(k == "ENV" and "SAGEMAKER" in rest for k, rest in steps)
    # the build checks what it installed against the pins and imports the toolkit module
    run = " ".join(rest for k, rest in steps if k == "RUN")
    assert "pip install --no-cache-dir -r /opt/forecasting/image/requirements.txt" in run
    assert "check_image.py /opt/forecasting/image/requirements.txt" in run
    copied = next(rest for k, rest in steps if k == "COPY").split()[:-1]
    assert sorted(copied) == sorted(p.name for p in IMAGE_DIR.iterdir() if p.name != "Dockerfile")


def test_the_build_arguments_are_the_ones_the_dockerfile_declares():
    declared = {
        rest.split("=")[0] for k, rest in instructions(IMAGE_DIR / "Dockerfile") if k == "ARG"
    }
    calls: list[list[str]] = []
    build = image_builds(GPU, "eu-west-1", REPOSITORY)["training"]
    image_build.build_and_push(build, lambda argv, **_: calls.append(argv))
    passed = {calls[0][i + 1].split("=")[0] for i, a in enumerate(calls[0]) if a == "--build-arg"}
    assert passed <= declared and passed == {"BASE_IMAGE", "TORCH_BUILD"}


@pytest.mark.parametrize("settings", SETTINGS, ids=["cpu", "gpu", "training.json"])
def test_each_image_is_built_from_the_dlc_of_its_role(settings):
    bases = images.lookup_images("eu-west-1", settings.training_instance_type,
                                 settings.processing_instance_type)  # fmt: skip
    builds = image_builds(settings, "eu-west-1", REPOSITORY)
    for role, build in builds.items():
        assert build.base == getattr(bases, role)  # the same SDK table the definition used
        assert build.uri.startswith(f"{REPOSITORY}:{role.replace('processing', 'training')}-")
        gpu = images.uses_gpu(getattr(settings, f"{role}_instance_type", "ml.m5.xlarge"))
        assert build.torch_build == ("cuda" if gpu else "cpu")
        assert len(build.tag) <= 128  # ECR's tag limit


# --- content-addressed tags -----------------------------------------------------------------


@pytest.fixture
def context(tmp_path) -> Path:
    return Path(shutil.copytree(IMAGE_DIR, tmp_path / "image"))


def test_the_tag_changes_exactly_when_the_context_or_the_base_does(context):
    first = image_builds(CPU, "eu-west-1", REPOSITORY, context)
    assert image_builds(CPU, "eu-west-1", REPOSITORY, context) == first
    # another region's registry serves the same base: same tag
    other = image_builds(CPU, "us-east-1", REPOSITORY, context)
    assert {r: b.tag for r, b in other.items()} == {r: b.tag for r, b in first.items()}
    (context / "requirements.txt").write_text("torch==2.13.0\n")
    changed = image_builds(CPU, "eu-west-1", REPOSITORY, context)
    assert all(changed[r].tag != first[r].tag for r in first)
    # a GPU training type changes the training image only
    gpu = image_builds(GPU, "eu-west-1", REPOSITORY, context)
    assert gpu["training"].tag != changed["training"].tag
    assert gpu["inference"] == changed["inference"]


def test_a_context_without_a_dockerfile_or_a_repository_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="no Dockerfile"):
        context_digest(tmp_path)
    with pytest.raises(ConfigError, match="IMAGE_REPOSITORY_URI"):
        project_images(CPU, "eu-west-1", "")


# --- the definition runs the project images, installs nothing, needs no network ---------------


def job_requests(definition: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    steps, found = list(definition["Steps"]), []
    while steps:
        step = steps.pop(0)
        if step["Type"] == "Condition":
            steps += step["Arguments"]["IfSteps"] + step["Arguments"]["ElseSteps"]
        elif step["Type"] in ("Processing", "Training", "RegisterModel"):
            found.append((step["Type"], step["Arguments"]))
    return found


def image_of(kind: str, arguments: dict[str, Any]) -> str:
    if kind == "Processing":
        return arguments["AppSpecification"]["ImageUri"]
    if kind == "Training":
        return arguments["AlgorithmSpecification"]["TrainingImage"]
    return arguments["InferenceSpecification"]["Containers"][0]["Image"]


@pytest.mark.parametrize("settings", SETTINGS, ids=["cpu", "gpu", "training.json"])
def test_every_job_runs_a_project_image_and_installs_nothing(settings):
    definition = build_definition(settings, RESOURCES)
    project = project_images(settings, RESOURCES.region, REPOSITORY)
    requests = job_requests(definition)
    assert {kind for kind, _ in requests} == {"Processing", "Training", "RegisterModel"}
    for kind, arguments in requests:
        assert image_of(kind, arguments) in {project.training, project.processing,
                                             project.inference}  # fmt: skip
    text = json.dumps(definition)
    assert "pip install" not in text and "requirements.txt" not in text


S3_URI = re.compile(r"s3://")


@pytest.mark.parametrize("settings", SETTINGS, ids=["cpu", "gpu", "training.json"])
def test_isolated_jobs_are_handed_no_uri_they_would_have_to_fetch(settings):
    """A network-isolated container reaches nothing, S3 included (CreateTrainingJob's and
    NetworkConfig's EnableNetworkIsolation): every S3 object a job uses must be an input or an
    output SageMaker copies, never a URI in its arguments, hyperparameters or environment."""
    assert {"Preprocess", "Train", "Evaluate"} == ISOLATED_STEPS  # every job, today
    for kind, arguments in job_requests(build_definition(settings, RESOURCES)):
        if kind == "Processing":
            assert arguments["NetworkConfig"]["EnableNetworkIsolation"] is True
            container = arguments["AppSpecification"]
            handed = [container["ContainerArguments"], arguments.get("Environment", {})]
        elif kind == "Training":
            assert arguments["EnableNetworkIsolation"] is True
            handed = [arguments["HyperParameters"], arguments.get("Environment", {})]
            channels = {c["ChannelName"]: c for c in arguments["InputDataConfig"]}
            submitted = json.loads(arguments["HyperParameters"]["sagemaker_submit_directory"])
            assert submitted == "/opt/ml/input/data/code/sourcedir.tar.gz"
            assert channels["code"]["DataSource"]["S3DataSource"]["S3Uri"] == RESOURCES.code_uri(
                "Train"
            )
        else:
            continue
        assert not S3_URI.search(json.dumps(handed)), (kind, handed)


def test_subnets_and_security_groups_give_every_job_a_vpc_config():
    private = Resources(**{**RESOURCES.__dict__, "subnets": ("subnet-0a1b2c3d",),
                           "security_groups": ("sg-0a1b2c3d",)})  # fmt: skip
    expected = {"Subnets": ["subnet-0a1b2c3d"], "SecurityGroupIds": ["sg-0a1b2c3d"]}
    for kind, arguments in job_requests(build_definition(GPU, private)):
        if kind == "Processing":
            assert arguments["NetworkConfig"]["VpcConfig"] == expected
        elif kind == "Training":
            assert arguments["VpcConfig"] == expected
    for _kind, arguments in job_requests(build_definition(GPU, RESOURCES)):
        assert "VpcConfig" not in json.dumps(arguments)


# --- the on-push build ----------------------------------------------------------------------


class FakeEcr:
    """ECR's answers to the two calls the build makes (shapes from botocore's ECR model)."""

    class exceptions:  # mirrors boto3's client.exceptions
        class ImageNotFoundException(Exception):
            pass

    def __init__(self, tags: set[str]) -> None:
        self.tags = tags
        self.asked: list[dict[str, Any]] = []

    def describe_images(self, **request: Any) -> dict[str, Any]:
        self.asked.append(request)
        tag = request["imageIds"][0]["imageTag"]
        if tag not in self.tags:
            raise self.exceptions.ImageNotFoundException(tag)
        return {"imageDetails": [{"imageTags": [tag]}]}

    def get_authorization_token(self) -> dict[str, Any]:
        token = base64.b64encode(b"AWS:secret").decode()
        return {"authorizationData": [{"authorizationToken": token,
                                       "proxyEndpoint": "https://x"}]}  # fmt: skip


def test_the_build_pushes_only_the_tags_the_repository_lacks():
    builds = image_builds(CPU, "eu-west-1", REPOSITORY)
    existing = builds["inference"].tag
    ecr, calls = FakeEcr({existing}), []
    built = image_build.build_missing(
        ecr, list(builds.values()), echo=lambda _: None, run=lambda argv, **_: calls.append(argv)
    )
    # training and processing share the CPU training build; inference exists already
    assert built == [builds["training"]] and builds["training"] == builds["processing"]
    assert {r["repositoryName"] for r in ecr.asked} == {"ts-forecasting/jobs"}
    logins = [c[-1] for c in calls if c[:2] == ["docker", "login"]]
    assert logins == sorted({builds["training"].base.split("/")[0], REPOSITORY.split("/")[0]})
    assert ["docker", "push", builds["training"].uri] in calls
    assert not any(builds["inference"].uri in c for c in calls)
    calls.clear()
    everything = FakeEcr({b.tag for b in builds.values()})
    assert image_build.build_missing(everything, list(builds.values()), lambda _: None,
                                     run=lambda argv, **_: calls.append(argv)) == []  # fmt: skip
    assert calls == []


def test_the_images_command_builds_what_the_definition_names(monkeypatch):
    from forecasting.pipeline import codebuild

    environ = {"AWS_REGION": "eu-west-1", "IMAGE_REPOSITORY_URI": REPOSITORY}
    calls: list[list[str]] = []
    monkeypatch.setattr(image_build.subprocess, "run", lambda argv, **_: calls.append(argv))
    args = codebuild.parse_args(["images", "--build"])
    printed = image_build.images_command(args, environ, echo=lambda _: None, ecr=FakeEcr(set()))
    expected = project_images(SETTINGS[2], "eu-west-1", REPOSITORY)
    assert printed == {role: getattr(expected, role) for role in printed}
    pushed = {argv[-1] for argv in calls if argv[:2] == ["docker", "push"]}
    assert pushed == set(printed.values())


def test_a_failed_docker_build_ends_in_one_line(monkeypatch, capsys):
    import subprocess

    from forecasting.pipeline import codebuild

    def fail(argv, **_):
        raise subprocess.CalledProcessError(3, argv)

    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("IMAGE_REPOSITORY_URI", REPOSITORY)
    monkeypatch.setattr(image_build.subprocess, "run", fail)
    monkeypatch.setattr(codebuild, "make_client", lambda *_: FakeEcr(set()))
    with pytest.raises(SystemExit) as exited:
        codebuild.main(["images", "--build"])
    assert exited.value.code == 1
    assert capsys.readouterr().err == "docker login failed with exit code 3\n"
