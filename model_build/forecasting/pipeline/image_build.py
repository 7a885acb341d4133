"""Build and push the project images the definition names, when the repository lacks them.

What CodeBuild runs before ``upsert`` (``python -m forecasting.pipeline images --build``): for
each distinct image of :func:`forecasting.pipeline.project_image.image_builds`, ask ECR whether
the tag exists (tags are immutable and name their content, so an existing one is the same
image), and otherwise log in to the DLC registry and the project's, ``docker build`` from
``model_build/image/`` and ``docker push``. Docker runs as a subprocess; ECR is called through
boto3, so the IAM coverage test sees every call.
"""

from __future__ import annotations

import argparse
import base64
import functools
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from forecasting.pipeline import codebuild
from forecasting.pipeline.project_image import IMAGE_DIR, ImageBuild, image_builds
from forecasting.pipeline.runner_options import (
    DEFAULT_SOURCE_DIR,
    OPTIONS,
    load_settings,
    resolve_options,
)
from forecasting.steps.arguments import add_option

Run = Callable[..., Any]


def registry_of(uri: str) -> tuple[str, str]:
    """(account id, registry host) of an ECR image URI."""
    host = uri.split("/", 1)[0]
    return host.split(".", 1)[0], host


def exists(ecr: Any, build: ImageBuild) -> bool:
    """Whether the repository holds the build's tag already."""
    repository = build.uri.split("/", 1)[1].rsplit(":", 1)[0]
    account, _ = registry_of(build.uri)
    try:
        ecr.describe_images(
            registryId=account, repositoryName=repository, imageIds=[{"imageTag": build.tag}]
        )
    except ecr.exceptions.ImageNotFoundException:
        return False
    return True


def docker_login(ecr: Any, uris: Sequence[str], run: Run) -> None:
    """Log docker in to each registry of ``uris`` (the DLC's to pull, the project's to push):
    an ECR token is valid for every registry the caller may read in the region."""
    token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
    user, password = base64.b64decode(token).decode().split(":", 1)
    for host in sorted({registry_of(uri)[1] for uri in uris}):
        run(["docker", "login", "--username", user, "--password-stdin", host],
            input=password.encode(), check=True)  # fmt: skip


def build_and_push(build: ImageBuild, run: Run, image_dir: Path = IMAGE_DIR) -> None:
    run(["docker", "build", "--pull",
         "--build-arg", f"BASE_IMAGE={build.base}",
         "--build-arg", f"TORCH_BUILD={build.torch_build}",
         "--tag", build.uri, str(image_dir)], check=True)  # fmt: skip
    run(["docker", "push", build.uri], check=True)


def build_missing(
    ecr: Any,
    builds: Sequence[ImageBuild],
    echo: Callable[[str], Any],
    run: Run | None = None,
    image_dir: Path = IMAGE_DIR,
) -> list[ImageBuild]:
    """Build and push every build whose tag the repository lacks; returns those built."""
    run = run or subprocess.run
    missing = []
    for build in dict.fromkeys(builds):  # training and processing often share one build
        if exists(ecr, build):
            echo(f"image {build.uri} exists: not rebuilt")
        else:
            missing.append(build)
    if missing:
        docker_login(ecr, [uri for b in missing for uri in (b.base, b.uri)], run)
    for build in missing:
        echo(f"building {build.uri} from {build.base} (torch {build.torch_build})")
        build_and_push(build, run, image_dir)
        echo(f"pushed {build.uri}")
    return missing


# --- the command line (python -m forecasting.pipeline images) -------------------------------


IMAGE_OPTIONS = ("region", "image-repository", "settings")


def add_images_command(commands: Any) -> None:
    images = commands.add_parser(
        "images",
        help="print the project images the definition names; --build builds the missing ones",
        description="Print the project image of each role (training, processing, inference) "
        "for the training settings; with --build, build and push each one the ECR repository "
        "lacks (needs docker; CodeBuild runs this before upsert).",
    )
    images.add_argument("--build", action="store_true", help="build and push missing images")
    for option in OPTIONS:
        if option.flag in IMAGE_OPTIONS:
            add_option(images, option.flag, help=f"{option.help} (env {' or '.join(option.env)})")
    add_option(
        images,
        "source-dir",
        type=Path,
        default=None,
        help=f"folder holding the forecasting package (env SOURCE_DIR; default "
        f"{DEFAULT_SOURCE_DIR})",
    )


def images_command(
    args: argparse.Namespace,
    environ: Mapping[str, str],
    echo: Callable[[str], Any] | None = None,
    ecr: Any = None,
) -> dict[str, str]:
    """The image URI of each role; with ``--build``, the missing ones built and pushed first."""
    echo = echo or functools.partial(print, flush=True)
    options = resolve_options(args, environ, only=IMAGE_OPTIONS)
    source_dir = args.source_dir or Path(environ.get("SOURCE_DIR") or DEFAULT_SOURCE_DIR)
    settings = load_settings(options.get("settings"), source_dir)
    builds = image_builds(settings, options["region"], options["image_repository"])
    if args.build:
        ecr = ecr or codebuild.make_client("ecr", options["region"])
        try:
            build_missing(ecr, list(builds.values()), echo)
        except Exception as err:
            codebuild._raise_if_no_credentials(err)
            raise
    for role, build in builds.items():
        echo(f"{role}: {build.uri}")
    return {role: build.uri for role, build in builds.items()}
