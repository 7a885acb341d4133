"""Informer decoder (paper Sec. "Decoder: Generating Long Sequential Outputs Through One
Forward Procedure"): masked self-attention over [start token; placeholders], then full
cross-attention to the encoder output, so the whole horizon comes out of one forward pass."""

from __future__ import annotations

from torch import Tensor, nn

from forecasting.models.informer.attention import AttentionLayer
from forecasting.models.informer.dropout import Dropout
from forecasting.models.informer.encoder import FeedForward


class DecoderLayer(nn.Module):
    """Post-norm layer: masked self-attention, cross-attention, position-wise FFN."""

    def __init__(
        self,
        self_attention: AttentionLayer,
        cross_attention: AttentionLayer,
        d_model: int,
        d_ff: int,
        dropout: float = 0.0,
        activation: str = "gelu",
    ) -> None:
        super().__init__()
        self.self_attention = self_attention
        self.cross_attention = cross_attention
        self.feed_forward = FeedForward(d_model, d_ff, dropout, activation)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.norm3 = nn.LayerNorm(d_model)
        self.dropout = Dropout(dropout)

    def forward(self, x: Tensor, memory: Tensor) -> Tensor:
        """x [B,L_dec,d_model], memory (encoder output) [B,L_enc,d_model] -> [B,L_dec,d_model]."""
        x = self.norm1(x + self.dropout(self.self_attention(x, x, x)))
        x = self.norm2(x + self.dropout(self.cross_attention(x, memory, memory)))
        result: Tensor = self.norm3(x + self.feed_forward(x))
        return result


class Decoder(nn.Module):
    """Stack of decoder layers, then LayerNorm."""

    def __init__(self, layers: list[DecoderLayer], d_model: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.norm = nn.LayerNorm(d_model)

    def forward(self, x: Tensor, memory: Tensor) -> Tensor:
        """x [B,L_dec,d_model], memory [B,L_enc,d_model] -> [B,L_dec,d_model]."""
        for layer in self.layers:
            x = layer(x, memory)
        result: Tensor = self.norm(x)
        return result
