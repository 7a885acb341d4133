"""The SageMaker PyTorch serving container, reduced to what Batch Transform does with one model.

Run as ``python -m local_mode.serve SPEC.json`` with ``SAGEMAKER_PROGRAM`` and
``SAGEMAKER_SUBMIT_DIRECTORY`` pointing into the unpacked artifact and that ``code/`` folder
first on ``PYTHONPATH``. Like the container, it imports the artifact's own ``inference.py``
(and so the ``forecasting`` copy the artifact carries, not the installed one), calls
``model_fn`` once, then ``input_fn`` → ``predict_fn`` → ``output_fn`` per request. One input
file is one request; a request that fails writes nothing and is reported with its message.

Standard library only at import time: nothing may import ``forecasting`` before the artifact's
code folder is on the path.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def _is_user_error(error: BaseException) -> bool:
    """The handlers' input errors (ForecastingError) are answers, not crashes."""
    return any(cls.__name__ == "ForecastingError" for cls in type(error).__mro__)


def serve(spec: dict[str, Any]) -> list[dict[str, Any]]:
    code_dir = os.environ["SAGEMAKER_SUBMIT_DIRECTORY"]
    program = Path(os.environ.get("SAGEMAKER_PROGRAM", "inference.py")).stem
    if code_dir not in sys.path:
        sys.path.insert(0, code_dir)
    entry = importlib.import_module(program)
    model = entry.model_fn(spec["model_dir"])
    package = sys.modules.get("forecasting")
    served_from = str(Path(package.__file__).parent) if package and package.__file__ else ""
    results = []
    for request in spec["requests"]:
        started = time.perf_counter()
        source, target = Path(request["input"]), Path(request["output"])
        outcome: dict[str, Any] = {"input": str(source), "output": str(target), "ok": False}
        try:
            body = source.read_bytes()
            if len(body) > spec["max_payload_bytes"]:
                raise ValueError(
                    f"{source.name} is {len(body) / 2**20:.1f} MB, over MaxPayloadInMB "
                    f"{spec['max_payload_bytes'] // 2**20}; split it into several files by series"
                )
            prediction = entry.predict_fn(entry.input_fn(body, spec["content_type"]), model)
            answer = entry.output_fn(prediction, spec["accept"])
            _write(target, answer.encode() if isinstance(answer, str) else bytes(answer))
            outcome["ok"] = True
        except Exception as error:
            if not _is_user_error(error):
                traceback.print_exc()
            outcome["error"] = " ".join(str(error).split()) or type(error).__name__
        outcome["seconds"] = round(time.perf_counter() - started, 3)
        outcome["served_from"] = served_from
        print(
            f"{source.name}: {'ok' if outcome['ok'] else 'failed: ' + outcome['error']} "
            f"({outcome['seconds']} s)",
            flush=True,
        )
        results.append(outcome)
    return results


def main(argv: list[str]) -> None:
    spec_path = Path(argv[0])
    spec = json.loads(spec_path.read_text())
    results = serve(spec)
    _write(Path(spec["results"]), json.dumps(results, indent=2).encode())


if __name__ == "__main__":
    main(sys.argv[1:])
