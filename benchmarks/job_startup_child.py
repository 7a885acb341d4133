"""The train step, stopped at its first training batch: writes the wall clock to
``$FIRST_STEP_FILE`` there and exits (job_startup.py's child)."""

from __future__ import annotations

import os
import sys
import time

import lightning.pytorch as pl


class FirstStep(pl.Callback):
    def on_train_batch_start(self, *args: object) -> None:
        with open(os.environ["FIRST_STEP_FILE"], "w", encoding="utf-8") as handle:
            handle.write(repr(time.time()))
        os._exit(0)


_init = pl.Trainer.__init__


def _with_first_step(self: pl.Trainer, *args: object, **kwargs: object) -> None:
    kwargs["callbacks"] = [*(kwargs.get("callbacks") or []), FirstStep()]  # type: ignore[misc]
    _init(self, *args, **kwargs)  # type: ignore[arg-type]


pl.Trainer.__init__ = _with_first_step  # type: ignore[method-assign]

if __name__ == "__main__":
    from forecasting.steps.train import main

    main(sys.argv[1:])
