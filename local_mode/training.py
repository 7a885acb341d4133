"""A pipeline's Training step run as a SageMaker training job, through SageMaker's own training
toolkits (:mod:`local_mode.hosts` starts the hosts).

What the platform does around the container is done here, from the request:

* a fresh ``/opt/ml`` per host and job (``<run>/training-jobs/<job>/<host>``), with
  ``input/config/*.json`` written as SageMaker writes them;
* each channel's S3 prefix copied into ``input/data/<channel>`` of every host (FullyReplicated);
* the checkpoint URI synced down into every host's ``CheckpointConfig.LocalPath`` before the job
  and the files the hosts wrote synced up after it (S3 keeps what is deleted locally);
* ``model/`` of the first host packed to ``<S3OutputPath>/<job>/output/model.tar.gz`` and
  ``output/data`` to ``output.tar.gz``; a host's ``output/failure`` fails the step.

The toolkit downloads ``sagemaker_submit_directory`` itself with boto3; with S3 as folders the
tarball is unpacked into each host's empty ``code/`` here instead, and the toolkit, finding it
filled, uses it (its ``download_and_extract``). That and the ``pip install`` decision are said in
the step's output.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from local_mode import files, hosts, interpreter, jobs
from local_mode.layout import CONTAINER_ROOT
from local_mode.runs import USER_MISTAKE, StepFailedError

if TYPE_CHECKING:
    from local_mode.runner import Runner

JOBS_DIR = "training-jobs"
SUCCESS, FAILURE = "output/success", "output/failure"
WITHHELD = "requirements.withheld.txt"  # beside code/: the file the toolkit was not given


def host_path(base: Path, container: str, step: str) -> Path:
    """A container path (``/opt/ml/...``) in one host's base dir."""
    path = PurePosixPath(container)
    if not path.is_relative_to(CONTAINER_ROOT):
        raise interpreter.UnsupportedError(
            f"step {step}: {container} is not under {CONTAINER_ROOT}"
        )
    return base.joinpath(*path.relative_to(CONTAINER_ROOT).parts)


def _program_exit_code(failure: str) -> int:
    """The program's exit code in the toolkit's failure message (``ExecuteUserScriptError``
    prints ``ExitCode N``); 1 where it names none."""
    for line in failure.splitlines():
        if line.startswith("ExitCode "):
            code = line.removeprefix("ExitCode ").strip()
            return int(code) if code.isdigit() else 1
    return 1


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in folder.rglob("*")
        if p.is_file()
    }


def run(runner: Runner, step: Mapping[str, Any]) -> dict[str, Any]:
    name = str(step["Name"])
    request = runner.evaluate(step["Arguments"], name)
    job = f"{name.lower()}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"  # one per attempt
    interpreter.validate_request("CreateTrainingJob", {**request, "TrainingJobName": job}, name)
    if request["AlgorithmSpecification"].get("TrainingInputMode", "File") != "File":
        raise interpreter.UnsupportedError(f"step {name}: only File input mode runs locally")
    toolkit, _ = hosts.split_hyperparameters(request.get("HyperParameters", {}), name)
    names = hosts.host_names(int(request["ResourceConfig"]["InstanceCount"]))
    # several hosts meet on the toolkit's fixed port (one host: torchrun's own, or none)
    if len(names) > 1 and not hosts.rendezvous_port_free():
        raise interpreter.StepError(
            name, f"port {hosts.RENDEZVOUS_PORT} is in use: the PyTorch training toolkit "
            "rendezvouses there (a fixed port), so two multi-host local trainings cannot run at "
            "once; wait for the other one or train with --hosts 1"
        )  # fmt: skip
    job_dir = runner.dir / JOBS_DIR / job
    for attempt in range(2, 100):  # a fresh /opt/ml per job: never reuse a folder
        if not job_dir.exists():
            break
        job_dir = runner.dir / JOBS_DIR / f"{job}-{attempt}"
    job = job_dir.name
    bases = {host: job_dir / host for host in names}
    for host, base in bases.items():
        for folder in ("code", "model", "output/data", "input/data", "input/config"):
            (base / folder).mkdir(parents=True, exist_ok=True)
        for file_name, content in hosts.config_files(host, names, request).items():
            files.atomic_write_json(base / "input/config" / file_name, content)
        for channel in request.get("InputDataConfig", []):
            source = channel["DataSource"]["S3DataSource"]
            if source.get("S3DataDistributionType", "FullyReplicated") != "FullyReplicated":
                raise interpreter.UnsupportedError(
                    f"step {name}: channel {channel['ChannelName']}: only FullyReplicated runs "
                    "locally"
                )
            jobs.download(
                runner.home, name, f"channel {channel['ChannelName']}", source["S3Uri"],
                base / "input/data" / channel["ChannelName"],
            )  # fmt: skip
        _unpack_code(runner, name, toolkit["sagemaker_submit_directory"], base)
    # CreateTrainingJob's Environment reaches every host, as the container's
    requested = {k: str(v) for k, v in request.get("Environment", {}).items()}
    environment = {**requested, **_pip_decision(runner, name, bases)}
    checkpoint = request.get("CheckpointConfig")
    synced = _sync_down(runner, name, checkpoint, bases) if checkpoint else {}
    code, where = _start_hosts(runner, job, bases, environment)
    for host, base in bases.items():
        if checkpoint:
            _sync_up(runner, name, checkpoint, base, synced[host])
    if code:
        failing = next((b for b in bases.values() if (b / FAILURE).is_file()), None)
        failure = (failing / FAILURE).read_text(errors="replace") if failing else ""
        program_code = _program_exit_code(failure) if failure else code
        reason = (
            f"{failing.name}'s output/failure ends: {_last_lines(failure)}"
            if failing
            else "no host wrote output/failure"
        )
        advice = (
            "start a new run with other options"
            if program_code == USER_MISTAKE
            else f"once the cause is fixed, resume from the last checkpoint with --run-id "
            f"{runner.run_id}"
        )
        raise StepFailedError(
            f"step {name}: training job {job} failed on {where}; {reason}; {advice}",
            exit_code=program_code,
        )
    master = bases[names[0]]
    if not (master / SUCCESS).is_file():
        raise interpreter.StepError(name, f"training job {job}: the toolkit wrote no {SUCCESS}")
    output = request["OutputDataConfig"]["S3OutputPath"].rstrip("/")
    model_uri = f"{output}/{job}/output/model.tar.gz"
    files.pack_directory(master / "model", runner.home.local_path(model_uri))
    output_uri = f"{output}/{job}/output/output.tar.gz"
    files.pack_directory(master / "output/data", runner.home.local_path(output_uri))
    properties = {"TrainingJobName": job, "ModelArtifacts": {"S3ModelArtifacts": model_uri}}
    artifact = {
        "model_data_url": model_uri,
        "artifact": str(runner.home.local_path(model_uri)),
        "training_job": job,
        "model_dir": str(master / "model"),
        "output_data_dir": str(master / "output/data"),
    }
    return {"properties": properties, "artifact": artifact}


def _last_lines(text: str, count: int = 3) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " | ".join(lines[-count:]) or "empty"


def _unpack_code(runner: Runner, step: str, uri: str, base: Path) -> None:
    """The toolkit's download of ``sagemaker_submit_directory`` into the empty ``code/``: an
    S3 object, or a container path (an isolated job's code arrives as a channel)."""
    s3 = uri.startswith("s3://")
    archive = runner.home.local_path(uri) if s3 else host_path(base, uri, step)
    if not archive.is_file():
        raise interpreter.StepError(step, f"sagemaker_submit_directory: no file at {uri}")
    files.extract_archive(archive, base / "code")


def _pip_decision(runner: Runner, step: str, bases: Mapping[str, Path]) -> dict[str, str]:
    """What happens to the toolkit's ``pip install -r requirements.txt``, said in the output;
    returns the variables the hosts need for it."""
    first = next(iter(bases.values()))
    requirements = jobs.check_requirements(first / "code", step)
    if not requirements.present:
        runner.say(f"    {jobs.REQUIREMENTS}: not in the code; the toolkit installs nothing")
        return {}
    if not requirements.unmet_constraints:
        runner.say(
            f"    {jobs.REQUIREMENTS}: satisfied here; the toolkit's pip install runs offline "
            "(PIP_NO_INDEX=1) and installs nothing"
        )
        return {"PIP_NO_INDEX": "1"}
    for base in bases.values():  # kept beside code/, for inspection
        os.replace(base / "code" / jobs.REQUIREMENTS, base / WITHHELD)
    runner.say(
        f"    {jobs.REQUIREMENTS}: every requirement is installed here, but {jobs.CONSTRAINTS} "
        f"pins the AWS container's {', '.join(requirements.unmet_constraints)}, so pip cannot "
        f"resolve it on this machine: the toolkit's pip install is not run ({jobs.REQUIREMENTS} "
        f"moved to <host>/{WITHHELD})"
    )
    return {}


def _sync_down(
    runner: Runner, step: str, checkpoint: Mapping[str, Any], bases: Mapping[str, Path]
) -> dict[str, dict[str, tuple[int, int]]]:
    stored = runner.home.local_path(checkpoint["S3Uri"])
    synced = {}
    for host, base in bases.items():
        local = host_path(base, checkpoint.get("LocalPath", "/opt/ml/checkpoints"), step)
        if stored.is_dir():
            shutil.copytree(stored, local, dirs_exist_ok=True)
        local.mkdir(parents=True, exist_ok=True)
        synced[host] = _snapshot(local)
    return synced


def _sync_up(
    runner: Runner,
    step: str,
    checkpoint: Mapping[str, Any],
    base: Path,
    before: Mapping[str, tuple[int, int]],
) -> None:
    """The files a host wrote or changed, uploaded; unchanged downloads are not sent back."""
    local = host_path(base, checkpoint.get("LocalPath", "/opt/ml/checkpoints"), step)
    stored = runner.home.local_path(checkpoint["S3Uri"])
    for relative, stamp in _snapshot(local).items():
        if before.get(relative) != stamp:
            target = stored / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(local / relative, target)


def _start_hosts(
    runner: Runner, job: str, bases: Mapping[str, Path], extra: Mapping[str, str]
) -> tuple[int, str | None]:
    names = list(bases)
    machine_gpus = hosts.visible_gpus()
    gpus = hosts.gpus_per_host(len(names), machine_gpus)
    cores = hosts.cores_per_host(len(names), hosts.available_cores())
    environments = {}
    listed = False
    for host, own_gpus, own_cores in zip(names, gpus, cores, strict=True):
        base = bases[host]
        environment = {
            **extra,
            "SAGEMAKER_BASE_DIR": str(base),
            "SAGEMAKER_TRAINING_MODULE": hosts.TRAINING_MODULE,
            "TRAINING_JOB_NAME": job,
            "CUDA_VISIBLE_DEVICES": ",".join(own_gpus),
            "OMP_NUM_THREADS": str(len(own_cores)),
            "PYTHONUNBUFFERED": "1",
        }
        # the environment's programs first (the toolkit launches `torchrun` by name), as the
        # image has them on its PATH
        path = [str(Path(sys.executable).parent), os.environ.get("PATH", "")]
        if hosts.gpu_listing(base / "bin", own_gpus):
            path.insert(0, str(base / "bin"))
            listed = True
        environment["PATH"] = os.pathsep.join(path)
        environments[host] = environment
    devices = f"{len(gpus[0])} GPU(s)" if gpus[0] else "the CPU"
    if machine_gpus and not gpus[0]:
        devices += (
            f": {len(machine_gpus)} GPU(s) cannot be shared by {len(names)} hosts "
            f"(--hosts {len(machine_gpus)} trains on them)"
        )
    runner.say(
        f"    training job {job}: {len(names)} host(s) {', '.join(names)} (the toolkit's "
        f"master is {names[0]}), {len(cores[0])} core(s) and {devices} each"
        + ("; each host's nvidia-smi lists only its GPUs" if listed else "")
    )
    runner.say(
        f"    each host is the training toolkit ({hosts.TRAINING_MODULE}) on its own /opt/ml: "
        f"{runner.dir / JOBS_DIR / job}/<host>; code unpacked from sagemaker_submit_directory "
        "(S3 is folders)"
    )
    command = [sys.executable, "-m", "sagemaker_training.cli.train"]  # the image's `train`
    return hosts.run_hosts(
        command, environments, cwd=runner.dir / JOBS_DIR / job, log_dir=runner.dir / "logs",
        keep_open=runner.lock, cores=cores, log_prefix=job,
    )  # fmt: skip
