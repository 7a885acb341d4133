"""The handlers of ``python -m local_mode``'s commands (the parsers are in :mod:`local_mode.cli`):
each takes the parsed arguments, does the command's work and says what it did."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from forecasting.errors import ConfigError
from forecasting.families import FAMILIES
from local_mode.layout import DEFAULT_HOME, PROJECT, Home, check_run_id
from local_mode.registry import ModelPackage, Registry

if TYPE_CHECKING:
    from local_mode.approval import ApprovalOutcome

RUN_OPTIONS = (
    "model", "dataset", "data", "hosts", "max_epochs", "hyperparameters",
    "preprocess_arguments", "metric", "threshold", "group", "parameters",
)  # fmt: skip


def _say(text: str) -> None:
    print(text, flush=True)


def _home_flag(home: Home) -> str:
    """The ``--home`` a follow-up command needs: none for the default folder."""
    return "" if home.root == Home(DEFAULT_HOME).root else f" --home {home.root}"


def command_run(args: argparse.Namespace) -> None:
    from local_mode.runner import Runner
    from local_mode.runs import RunConfig, latest_unfinished, new_run_id, resolve_config

    home = Home(args.home)
    given: dict[str, Any] = {
        name: getattr(args, name) for name in RUN_OPTIONS if getattr(args, name) is not None
    }
    for name in ("hyperparameters", "preprocess_arguments", "parameters"):
        if name in given:
            given[name] = dict(given[name])
    if "data" in given:
        data = given["data"].expanduser().resolve()
        if not data.is_file():
            raise ConfigError(f"--data {given['data']}: no such file")
        given["data"] = str(data)
    if args.resume:
        run_id = latest_unfinished(home)
    elif args.run_id:
        run_id = check_run_id(args.run_id)
    else:
        run_id = new_run_id(home)
    config = resolve_config(home, run_id, given, RunConfig())
    runner = Runner(home, run_id, config, say=_say, use_cache=not args.no_cache)
    resumed = (runner.dir / "run.json").is_file()
    _say(f"{'resuming' if resumed else 'starting'} run {run_id} in {runner.dir}")
    flag = _home_flag(home)
    try:
        result = runner.execute(stop_after=args.stop_after)
    except KeyboardInterrupt:
        if runner.dir.is_dir():
            _say(f"continue with: python -m local_mode run{flag} --run-id {run_id}")
        raise
    if result.stopped_after:
        _say(
            f"stopped after {result.stopped_after}; continue with: python -m local_mode run"
            f"{flag} --run-id {run_id}"
        )
        return
    from local_mode.runs import evaluation_summary, gate_text

    package = result.package
    assert package is not None and result.evaluation is not None
    _say("")
    _say(f"run {run_id} finished")
    _say(f"  test metrics:   {evaluation_summary(result.evaluation)}")
    if package.synthetic:
        _say("  data:           SYNTHETIC demo series, not a real data set: these metrics say "
             "nothing about real accuracy")  # fmt: skip
    if result.gate:
        _say(f"  quality gate:   {gate_text(result.gate)}: passed")
    _say(f"  registered:     {package.group} version {package.version} ({package.approval_status})")
    _say(f"  run folder:     {runner.dir}")
    _say(f"  evaluation:     {runner.output('Evaluate', 'evaluation') / 'evaluation.json'}")
    _say(f"  model artifact: {package.artifact_path}")
    if result.transform_input:
        _say(f"  inference input: {result.transform_input['request']} (backtest)")
        if "future" in result.transform_input:
            _say(f"                   {result.transform_input['future']} (past the data's end)")
        _say(f"  actuals:         {result.transform_input['actuals']}")
    group = "" if package.group == PROJECT else f" --group {package.group}"
    _say(f"next: python -m local_mode approve{flag}{group} {package.version}")


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def _metrics_text(package: ModelPackage) -> str:
    known = FAMILIES.get(package.model_family)
    names = known.table_metrics if known else ("mse", "mae")
    parts = [f"{n}={v:.4g}" for n in names if (v := package.metric(n)) is not None]
    return " ".join(parts) or "-"


def command_models(args: argparse.Namespace) -> None:
    home = Home(args.home)
    packages = Registry(home.registry).list(args.group)
    if not packages:
        where = f" in group {args.group}" if args.group else ""
        _say(f"no model versions{where} in {home.registry}; register one with: python -m "
             f"local_mode run{_home_flag(home)}")  # fmt: skip
        return
    rows = [
        [
            "GROUP",
            "VERSION",
            "STATUS",
            "FAMILY",
            "METRICS",
            "DATA",
            "CREATED (UTC)",
            "RUN",
            "ARTIFACT",
        ]
    ]
    for p in packages:
        rows.append(
            [
                p.group,
                str(p.version),
                p.approval_status,
                p.model_family,
                _metrics_text(p),
                p.data_name,
                p.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                p.run_id or "-",
                p.artifact_path,
            ]
        )
    _say(_table(rows))


def command_status(args: argparse.Namespace) -> None:
    from local_mode.approval import change_status

    home = Home(args.home)
    registry = Registry(home.registry)
    version = registry.latest(args.group).version if args.latest else args.version
    outcome = change_status(home, args.group, version, args.status, args.description, say=_say)
    _say_published(outcome)


def _say_published(outcome: ApprovalOutcome) -> None:
    """What the transform served and what publishing wrote (nothing when nothing ran)."""
    if outcome.job is None or outcome.published is None or outcome.publish_store is None:
        return
    assert outcome.package is not None  # set with the plan it ran
    job = outcome.job
    if job.started:
        _say(f"transform: {len(job.outputs)} request(s) served:")
        for path in job.outputs:
            _say(f"  {path}")
    else:
        _say(f"transform job {job.record['TransformJobName']} had completed; not run again")
    root = outcome.publish_store.root
    result = outcome.published
    state = "already published" if outcome.already_published else "published"
    marked = " (SYNTHETIC DATA)" if outcome.package.synthetic else ""
    _say(f"{state}: {result.rows} forecast rows of {result.series} series{marked}")
    for label, keys in (
        ("data", result.csv_keys),
        ("report", result.report_keys),
        ("manifest", result.manifest_keys),
    ):
        for key in keys:
            _say(f"  {label + ':':9} {root / key}")
    _say(f"  plots:    {len(result.plot_keys)} PNG beside the report")


def command_forecast(args: argparse.Namespace) -> None:
    from local_mode.approval import forecast

    home = Home(args.home)
    if args.history is None:
        if args.version is not None or args.output is not None:
            raise ConfigError(
                "--version and --output go with --history; without it the latest approved "
                "version forecasts the inference input, as the schedule does"
            )
        from local_mode.scheduled import scheduled_forecast

        _say_published(scheduled_forecast(home, args.group, say=_say))
        return
    package, output = forecast(home, args.group, args.history, args.version, args.output)
    _say(f"{package.group} version {package.version} forecast {args.history} -> {output}")


def command_accuracy(args: argparse.Namespace) -> None:
    from lambdas.accuracy.drift import DriftPolicy
    from local_mode.accuracy import run_accuracy

    try:
        policy = DriftPolicy(args.ratio, args.window_days, args.retrain, args.cooldown_days)
    except ValueError as error:
        raise ConfigError(f"accuracy: {error}") from None
    run_accuracy(Home(args.home), args.group, policy, say=_say)
