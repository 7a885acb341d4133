"""Informer (Zhou et al., AAAI 2021): ProbSparse attention, distilling, generative decoder."""

from forecasting.models.informer.attention import AttentionLayer, FullAttention, ProbAttention
from forecasting.models.informer.model import Informer, make_decoder_input

__all__ = ["AttentionLayer", "FullAttention", "Informer", "ProbAttention", "make_decoder_input"]
