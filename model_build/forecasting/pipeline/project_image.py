"""The project's container images: the AWS PyTorch images with the pinned requirements baked in.

``model_build/image/`` (Dockerfile, requirements.txt, check_image.py) is the build context; it
lies outside the source tarball, so the training toolkit finds no ``requirements.txt`` to
install. Each image is built FROM the DLC the SageMaker SDK's table names for its role
(:mod:`forecasting.pipeline.images`), and its tag is computed here, once, for both users: the
image build (:mod:`forecasting.pipeline.image_build`) pushes that tag when the repository lacks
it, and the definition builder names it. The tag changes exactly when the build context or the
base image does, so a push that changes neither builds nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from forecasting.errors import ConfigError
from forecasting.pipeline.images import Images, lookup_images
from forecasting.pipeline.settings import PipelineSettings

IMAGE_DIR = Path(__file__).resolve().parents[2] / "image"
DIGEST_LENGTH = 16  # hex digits of the tag's digest: 64 bits, no collision in one repository


@dataclass(frozen=True)
class ImageBuild:
    """One image to build: its full URI (repository:tag), its base and its torch build."""

    uri: str
    base: str
    torch_build: str  # "cpu" (PyTorch's CPU index) or "cuda" (PyPI's default build)

    @property
    def tag(self) -> str:
        return self.uri.rsplit(":", 1)[1]


def context_digest(image_dir: Path = IMAGE_DIR) -> str:
    """SHA-256 over the build context's file names and bytes, in name order."""
    files = sorted(p for p in image_dir.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    if not any(p.name == "Dockerfile" for p in files):
        raise ConfigError(f"{image_dir}: no Dockerfile; the project image is built from there")
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(image_dir).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def image_build(repository_uri: str, base: str, context: str) -> ImageBuild:
    """The build of ``base`` (a DLC URI): tagged ``<scope>-<base tag>-<digest>``, where the
    digest covers the context and the base's repository and tag (not its region's registry)."""
    name = base.split("/", 1)[1]  # pytorch-training:2.6.0-gpu-py312
    repository, base_tag = name.split(":")
    scope = repository.removeprefix("pytorch-")
    digest = hashlib.sha256(f"{context}\n{name}".encode()).hexdigest()[:DIGEST_LENGTH]
    return ImageBuild(
        uri=f"{repository_uri}:{scope}-{base_tag}-{digest}",
        base=base,
        torch_build="cuda" if "-gpu-" in base_tag else "cpu",
    )


def image_builds(
    settings: PipelineSettings, region: str, repository_uri: str, image_dir: Path = IMAGE_DIR
) -> dict[str, ImageBuild]:
    """The build of each image role (training, processing, inference) for these settings."""
    if not repository_uri:
        raise ConfigError(
            "no image repository: the jobs run the project image (--image-repository, env "
            "IMAGE_REPOSITORY_URI: the ECR repository the stack creates)"
        )
    bases = lookup_images(
        region, settings.training_instance_type, settings.processing_instance_type
    )
    context = context_digest(image_dir)
    return {
        role: image_build(repository_uri, getattr(bases, role), context)
        for role in ("training", "processing", "inference")
    }


def project_images(
    settings: PipelineSettings, region: str, repository_uri: str, image_dir: Path = IMAGE_DIR
) -> Images:
    """The images the definition names: the project builds of the DLCs."""
    builds = image_builds(settings, region, repository_uri, image_dir)
    return Images(**{role: build.uri for role, build in builds.items()})
