"""The SageMaker PyTorch serving container, as Batch Transform uses it with one model.

Run as ``python -m local_mode.serve SPEC.json`` with ``SAGEMAKER_PROGRAM`` and
``SAGEMAKER_SUBMIT_DIRECTORY`` pointing into the unpacked artifact and that ``code/`` folder
first on ``PYTHONPATH``. Each request goes through the container's own handler service
(``sagemaker_pytorch_serving_container.handler_service.HandlerService``, from
``sagemaker-pytorch-inference`` on ``sagemaker-inference``), driven in-process instead of behind
TorchServe: ``initialize`` imports the artifact's ``inference.py`` (and so the ``forecasting``
copy the artifact carries, not the installed one) and calls its ``model_fn``; ``handle`` calls
``input_fn`` → ``predict_fn`` → ``output_fn`` with the request's ``Content-Type`` and ``Accept``.

Each input file is split into records by the job's ``SplitType`` (``None``: the whole file;
``Line``: each line), records are sent one per request (``BatchStrategy`` ``SingleRecord``) or
packed up to ``MaxPayloadInMB`` (``MultiRecord``), and the responses are assembled into the
file's output by ``AssembleWith`` (``None``: concatenated; ``Line``: one per line). A failed
request fails its input file, which writes nothing.

Standard library only at import time: nothing may import ``forecasting`` before the artifact's
code folder is on the path.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SPLIT_TYPES = ("None", "Line")
ASSEMBLE_WITH = ("None", "Line")
BATCH_STRATEGIES = ("SingleRecord", "MultiRecord")


class RequestFailedError(Exception):
    """The handler service answered with an error status; the message is its answer's."""


class Context:
    """The model server's per-request context, as the handler service reads and sets it."""

    def __init__(self, model_dir: str, content_type: str, accept: str) -> None:
        self.system_properties = {"model_dir": model_dir, "gpu_id": None}
        self.request_processor = [_Request({"Content-Type": content_type, "Accept": accept})]
        self.status: tuple[int, str] = (200, "OK")
        self.response_content_type = accept

    def set_response_status(self, code: int, phrase: str) -> None:
        self.status = (code, phrase)

    def set_response_content_type(self, index: int, content_type: str) -> None:
        self.response_content_type = content_type


class _Request:
    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers

    def get_request_properties(self) -> dict[str, str]:
        return self.headers


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


def split_records(body: bytes, split_type: str) -> list[bytes]:
    """A file's records: the whole body (``None``) or each non-empty line (``Line``)."""
    if split_type == "None":
        return [body]
    return [line for line in body.splitlines(keepends=True) if line.strip()]


def mini_batches(records: list[bytes], strategy: str, max_bytes: int) -> list[bytes]:
    """Requests from records: one each (``SingleRecord``) or as many as fit (``MultiRecord``).
    A record over ``max_bytes`` alone is refused, as SageMaker refuses it."""
    for record in records:
        if len(record) > max_bytes:
            raise RequestFailedError(
                f"a record of {len(record) / 2**20:.1f} MB is over MaxPayloadInMB "
                f"{max_bytes // 2**20}; split the input into several files by series"
            )
    if strategy == "SingleRecord":
        return list(records)
    batches: list[bytes] = []
    for record in records:
        if batches and len(batches[-1]) + len(record) <= max_bytes:
            batches[-1] += record
        else:
            batches.append(record)
    return batches


def assemble(responses: list[bytes], assemble_with: str) -> bytes:
    if assemble_with == "None":
        return b"".join(responses)
    return b"".join(r if r.endswith(b"\n") else r + b"\n" for r in responses)


def _answer(service: Any, payload: bytes, spec: dict[str, Any]) -> bytes:
    context = Context(spec["model_dir"], spec["content_type"], spec["accept"])
    (response,) = service.handle([{"body": payload}], context)
    if context.status[0] != 200:
        message = str(response).split("\n", 1)[0].strip()
        print(str(response), file=sys.stderr, flush=True)  # the model server logs the trace
        raise RequestFailedError(message or context.status[1])
    return response.encode() if isinstance(response, str) else bytes(response)


def serve(spec: dict[str, Any]) -> list[dict[str, Any]]:
    from sagemaker_pytorch_serving_container.handler_service import HandlerService

    code_dir = os.environ["SAGEMAKER_SUBMIT_DIRECTORY"]
    if code_dir not in sys.path:  # the model server's worker starts with it on PYTHONPATH
        sys.path.insert(0, code_dir)
    service = HandlerService()
    service.initialize(Context(spec["model_dir"], spec["content_type"], spec["accept"]))
    package = sys.modules.get("forecasting")
    served_from = str(Path(package.__file__).parent) if package and package.__file__ else ""
    results = []
    for request in spec["requests"]:
        started = time.perf_counter()
        source, target = Path(request["input"]), Path(request["output"])
        outcome: dict[str, Any] = {"input": str(source), "output": str(target), "ok": False}
        try:
            records = split_records(source.read_bytes(), spec["split_type"])
            batches = mini_batches(records, spec["batch_strategy"], spec["max_payload_bytes"])
            answers = [_answer(service, batch, spec) for batch in batches]
            _write(target, assemble(answers, spec["assemble_with"]))
            outcome["ok"] = True
            outcome["requests"] = len(batches)
        except RequestFailedError as error:
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
