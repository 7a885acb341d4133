"""Time-series forecasting for the MLOps pipeline: data, models and SageMaker step entry points."""

__version__ = "0.1.0"
