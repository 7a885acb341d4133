"""Forecasting models: the Informer, RevIN and the Lightning training wrapper."""

from forecasting.models.forecaster import InformerForecaster
from forecasting.models.informer import Informer, make_decoder_input
from forecasting.models.revin import RevIN

__all__ = ["Informer", "InformerForecaster", "RevIN", "make_decoder_input"]
