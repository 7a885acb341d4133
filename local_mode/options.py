"""The ``-P`` (preprocess) and ``-H`` (train) flags of a run, checked before any step runs.

Each is parsed by its step's own parser, so what is accepted here is what the step accepts; a
mistake ends in one line naming the flag as the user wrote it, not in the step's usage text an
hour into the run. The input length and horizon belong to preprocess, which records them for
training: a ``-H seq_len``/``-H pred_len`` that disagrees with them is refused here.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping
from typing import Any

from forecasting.errors import ConfigError
from forecasting.families import family

WINDOW_FLAGS = {"seq_len": "input length", "pred_len": "horizon"}
_ARGUMENT = re.compile(r"argument (--[\w-]+)(?:/--[\w-]+)?: (.*)")


class _ParseError(Exception):
    pass


def _text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def parse(
    parser: argparse.ArgumentParser,
    option: str,
    step: str,
    arguments: Mapping[str, Any],
    fixed: list[str],
) -> argparse.Namespace:
    """``arguments`` parsed by ``parser`` after ``fixed``; a mistake is a one-line ConfigError
    naming ``option`` (``-H``) and the key as given."""

    def fail(message: str) -> None:
        raise _ParseError(message)

    parser.error = fail  # type: ignore[method-assign]  # argparse would print usage and exit
    argv = [*fixed, *(f"--{key.replace('_', '-')}={_text(v)}" for key, v in arguments.items())]
    keys = {f"--{key.replace('_', '-')}": key for key in arguments}
    try:
        namespace, extras = parser.parse_known_args(argv)
    except _ParseError as error:
        match = _ARGUMENT.match(str(error))
        key = keys.get(match.group(1)) if match else None
        if key is None or match is None:
            raise ConfigError(f"{option}: {error}") from None
        raise ConfigError(f"{option} {key}={arguments[key]}: {match.group(2)}") from None
    if extras:
        key = keys.get(extras[0].partition("=")[0], extras[0])
        raise ConfigError(
            f"{option} {key}: the {step} step has no such flag (see: python -m "
            f"forecasting.steps.{step} --help)"
        )
    return namespace


def check_step_options(
    model: str,
    hosts: int,
    preprocess_arguments: Mapping[str, Any],
    hyperparameters: Mapping[str, Any],
) -> None:
    """Refuse unknown or invalid ``-P``/``-H`` flags, and a window length set twice, unequally."""
    from forecasting.distributed import ClusterSpec
    from forecasting.steps import preprocess, train

    prepared = parse(preprocess.build_parser(), "-P", "preprocess", preprocess_arguments, [])
    windows = {}
    for name, what in WINDOW_FLAGS.items():
        given = getattr(prepared, name)
        if given is not None and given < 1:
            raise ConfigError(f"-P {name}={given}: the {what} must be at least 1")
        windows[name] = family(model).windows[name] if given is None else given
    args = parse(train.build_parser(), "-H", "train", hyperparameters, ["--model", model])
    for name, what in WINDOW_FLAGS.items():
        given = getattr(args, name)
        if given is not None and given != windows[name]:
            source = "-P" if name in preprocess_arguments else f"the {model} default"
            raise ConfigError(
                f"-H {name}={given}: the {what} is set once, at preprocess, which records it "
                f"for training ({windows[name]}, {source}); use -P {name}={given} instead"
            )
        setattr(args, name, windows[name])
    per_host = args.processes_per_host or 1  # CPU hosts: one process each
    spec = ClusterSpec(launcher="single", num_nodes=hosts, node_rank=0, devices_per_node=per_host)
    try:
        train.check_config(train.apply_family_defaults(args), spec)
    except ConfigError as error:
        raise ConfigError(f"-H: {error}") from None
