"""SageMaker script-mode entry point: the training toolkit runs this file from the source dir
(``sagemaker_program``), with every hyperparameter as a ``--flag``."""

from forecasting.steps.arguments import run_step
from forecasting.steps.train import main

if __name__ == "__main__":
    run_step(main)
