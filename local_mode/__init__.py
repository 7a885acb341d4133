"""Local mode: the cloud pipeline, registry, approval, transform and publishing on one machine.

Run as ``python -m local_mode <command>`` from the repository root. This package imports nothing
at import time, because :mod:`local_mode.serve` must import the model artifact's own copy of
``forecasting`` (as the SageMaker serving container does), not the installed one.
"""
