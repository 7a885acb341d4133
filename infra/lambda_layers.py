"""The publish Lambda's plotting layer: matplotlib and numpy, bundled without Docker.

``cdk synth`` runs pip on this machine with the Lambda's platform and Python version
(``--platform ... --only-binary=:all: --python-version``): only manylinux wheels built for the
runtime are taken, so what the layer holds runs on Lambda whatever this machine is. Docker
bundling in the runtime's own build image is the fallback when local pip fails.

Tests synthesize with the CDK's ``aws:cdk:bundling-stacks`` context set to ``[]`` (the switch
``cdk`` itself uses to skip bundling of stacks it does not deploy), so they never reach PyPI.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import jsii
from aws_cdk import BundlingOptions, ILocalBundling
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

LAYER_DIR = Path(__file__).resolve().parent / "layers" / "plotting"
REQUIREMENTS = LAYER_DIR / "requirements.txt"
# Lambda's Python 3.12+ runtimes run on Amazon Linux 2023 (glibc 2.34). numpy and matplotlib
# ship cp313/cp314 wheels as manylinux_2_28 only, so manylinux2014 alone would find none;
# pip takes the newest tag listed that a package offers.
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux2014_x86_64")
SKIP_BUNDLING_CONTEXT = {"aws:cdk:bundling-stacks": []}  # what tests add to the app's context


def python_version(runtime: lambda_.Runtime) -> str:
    """``python3.14`` -> ``3.14``: pip's ``--python-version`` for the runtime's wheels."""
    name = runtime.name
    if not name.startswith("python"):
        raise ValueError(f"runtime {name!r}; expected a Python Lambda runtime")
    return name.removeprefix("python")


def pip_arguments(target: str, version: str) -> list[str]:
    """``pip install`` of the pinned set into ``target`` for the Lambda's platform.

    ``--no-deps``: the requirements file pins the whole closure, so nothing unpinned slips in.
    """
    platforms = [flag for platform in PLATFORMS for flag in ("--platform", platform)]
    return [
        "install",
        "--no-deps",
        "--no-compile",
        "--only-binary=:all:",
        *platforms,
        "--implementation",
        "cp",
        "--python-version",
        version,
        "--target",
        target,
        "--requirement",
        str(REQUIREMENTS.name),
    ]


@jsii.implements(ILocalBundling)
class PipOnThisMachine:
    """Local bundling: this Python's pip downloads the runtime's wheels into ``python/``."""

    def __init__(self, version: str) -> None:
        self.version = version

    def try_bundle(self, output_dir: str, options: BundlingOptions | None = None) -> bool:
        """Called by jsii with the asset's bundling options (unused: pip needs none)."""
        command = [
            sys.executable,
            "-m",
            "pip",
            *pip_arguments(str(Path(output_dir) / "python"), self.version),
        ]
        try:
            subprocess.run(command, cwd=LAYER_DIR, check=True)
        except (OSError, subprocess.CalledProcessError) as error:
            print(
                f"plotting layer: local pip failed ({error}); falling back to Docker bundling",
                file=sys.stderr,
            )
            return False
        return True


def plotting_layer(
    scope: Construct, construct_id: str, runtime: lambda_.Runtime
) -> lambda_.LayerVersion:
    """A layer with :data:`REQUIREMENTS` under ``python/``, for functions on ``runtime``."""
    version = python_version(runtime)
    docker_command = "pip " + " ".join(pip_arguments("/asset-output/python", version))
    return lambda_.LayerVersion(
        scope,
        construct_id,
        code=lambda_.Code.from_asset(
            str(LAYER_DIR),
            bundling=BundlingOptions(
                image=runtime.bundling_image,
                command=["bash", "-c", docker_command],
                local=PipOnThisMachine(version),
            ),
        ),
        compatible_runtimes=[runtime],
        compatible_architectures=[lambda_.Architecture.X86_64],
        description="matplotlib and numpy for the publish Lambda's plots",
    )
