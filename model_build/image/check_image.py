"""Run at the end of the image build: fail it unless the image holds what the jobs expect.

Every pin of requirements.txt is installed at its version (a CUDA or CPU local label allowed),
torch imports, and the toolkit module that the base image's SAGEMAKER_TRAINING_MODULE or
SAGEMAKER_SERVING_MODULE names imports beside the new torch.
"""

from __future__ import annotations

import importlib
import os
import sys
from importlib import metadata


def main(requirements: str) -> None:
    problems = []
    with open(requirements, encoding="utf-8") as handle:
        for line in handle:
            line = line.split("#")[0].strip()
            if not line:
                continue
            name, _, wanted = line.partition("==")
            try:
                found = metadata.version(name).split("+")[0]
            except metadata.PackageNotFoundError:
                found = "none"
            if found != wanted:
                problems.append(f"{name}: {found} installed, {wanted} pinned")
    import torch  # noqa: F401  (a broken torch fails here, not in the first job)

    toolkits = [os.environ[v] for v in ("SAGEMAKER_TRAINING_MODULE", "SAGEMAKER_SERVING_MODULE")
                if os.environ.get(v)]  # fmt: skip
    if not toolkits:
        problems.append("the base image sets neither SAGEMAKER_TRAINING_MODULE nor "
                        "SAGEMAKER_SERVING_MODULE: not a SageMaker PyTorch image")  # fmt: skip
    for entry in toolkits:
        module, _, function = entry.partition(":")
        if not callable(getattr(importlib.import_module(module), function, None)):
            problems.append(f"{entry}: no such callable")
    if problems:
        sys.exit("image check failed:\n  " + "\n  ".join(problems))
    print("image check passed:", ", ".join(toolkits))


if __name__ == "__main__":
    main(sys.argv[1])
