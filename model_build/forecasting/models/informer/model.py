"""The Informer model (Zhou et al., AAAI 2021, arXiv 2012.07436), paper configuration.

Encoder: ProbSparse self-attention layers with distilling in between. Decoder: masked ProbSparse
self-attention (with "mix") and full cross-attention over a start token followed by zero
placeholders, predicting the whole horizon in one forward pass (generative inference).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from forecasting.errors import ConfigError
from forecasting.models.ensemble import Ensemble
from forecasting.models.informer.attention import AttentionLayer, FullAttention, ProbAttention
from forecasting.models.informer.decoder import Decoder, DecoderLayer
from forecasting.models.informer.embedding import DataEmbedding
from forecasting.models.informer.encoder import DistillingLayer, Encoder, EncoderLayer
from forecasting.models.revin import RevIN


def make_decoder_input(y: Tensor, label_len: int, pred_len: int) -> Tensor:
    """Decoder input: the start token (the last ``label_len`` known values, ``y[:, :label_len]``)
    then ``pred_len`` zero placeholders (paper Sec. "Decoder", Eq. 6).

    y [B,>=label_len,C] -> [B,label_len+pred_len,C].
    """
    start = y[:, :label_len]
    return torch.cat([start, start.new_zeros(y.shape[0], pred_len, y.shape[2])], dim=1)


def informer_network(network: nn.Module) -> Informer | Ensemble:
    """A loaded network as what it is: an `Informer`, or a seed ensemble of them."""
    if not isinstance(network, Informer | Ensemble):
        raise TypeError(f"expected an Informer or an ensemble of them, got {type(network)}")
    return network


def forecast_window(
    network: Informer | Ensemble, x_enc: Tensor, x_mark_enc: Tensor, y: Tensor, y_mark: Tensor
) -> Tensor:
    """Forecast [B,pred_len,c_out] from a window: the one place the decoder input is assembled.

    ``y`` holds at least the start token (its first ``label_len`` steps are read, the rest is
    ignored) and ``y_mark`` the time features of the start token and the horizon. ``network`` is
    an `Informer` or an ensemble of them (which passes ``label_len``/``pred_len`` through).
    """
    x_dec = make_decoder_input(y, network.label_len, network.pred_len)
    result: Tensor = network(x_enc, x_mark_enc, x_dec, y_mark)
    return result


class Informer(nn.Module):
    """Informer encoder-decoder; defaults are the paper's (ETT) hyper-parameters.

    ``attention`` selects ProbSparse ("prob") or canonical ("full") self-attention; the
    cross-attention is always full. ``mix`` applies to the decoder self-attention only, as in
    the official code (note it makes the decoder non-causal). ``revin=True`` wraps the model in
    RevIN: x_enc and the start-token part of x_dec are normalised with x_enc's per-window
    statistics and the output is denormalised. The decoder sees the targets only, which must be
    the first ``c_out`` encoder channels (covariates follow them), so it needs
    ``dec_in == c_out <= enc_in``.
    """

    def __init__(
        self,
        *,
        enc_in: int,
        dec_in: int,
        c_out: int,
        seq_len: int,
        label_len: int,
        pred_len: int,
        n_time_features: int,
        factor: int = 5,
        d_model: int = 512,
        n_heads: int = 8,
        e_layers: int = 2,
        d_layers: int = 1,
        d_ff: int = 2048,
        dropout: float = 0.05,
        attention: str = "prob",
        activation: str = "gelu",
        distil: bool = True,
        mix: bool = True,
        revin: bool = False,
    ) -> None:
        super().__init__()
        if attention not in ("prob", "full"):
            raise ConfigError(f"attention must be 'prob' or 'full', got {attention!r}")
        if activation not in ("gelu", "relu"):
            raise ConfigError(f"activation must be 'gelu' or 'relu', got {activation!r}")
        if d_model % n_heads:
            raise ConfigError(f"d_model={d_model} must be divisible by n_heads={n_heads}")
        if label_len > seq_len:
            raise ConfigError(f"label_len={label_len} must not exceed seq_len={seq_len}")
        if min(enc_in, dec_in, c_out, seq_len, pred_len, e_layers, d_layers, factor) < 1:
            raise ConfigError(
                "enc_in, dec_in, c_out, seq_len, pred_len, layers and factor must be >= 1"
            )
        if revin and not dec_in == c_out <= enc_in:
            raise ConfigError(
                f"revin=True needs dec_in == c_out <= enc_in (got {enc_in}, {dec_in}, {c_out}): "
                "outputs are denormalised with the statistics of the first c_out input channels"
            )
        self.label_len = label_len
        self.pred_len = pred_len
        self.c_out = c_out

        def self_attention(causal: bool, mix_heads: bool) -> AttentionLayer:
            inner = (
                ProbAttention(causal, factor)
                if attention == "prob"
                else FullAttention(causal, dropout)
            )
            return AttentionLayer(inner, d_model, n_heads, mix=mix_heads)

        self.enc_embedding = DataEmbedding(enc_in, d_model, n_time_features, dropout)
        self.dec_embedding = DataEmbedding(dec_in, d_model, n_time_features, dropout)
        self.encoder = Encoder(
            [
                EncoderLayer(self_attention(False, False), d_model, d_ff, dropout, activation)
                for _ in range(e_layers)
            ],
            [DistillingLayer(d_model) for _ in range(e_layers - 1)] if distil else None,
            d_model,
        )
        self.decoder = Decoder(
            [
                DecoderLayer(
                    self_attention(True, mix),
                    AttentionLayer(FullAttention(False, dropout), d_model, n_heads),
                    d_model,
                    d_ff,
                    dropout,
                    activation,
                )
                for _ in range(d_layers)
            ],
            d_model,
        )
        self.projection = nn.Linear(d_model, c_out)
        self.revin = RevIN(enc_in) if revin else None

    def forward(
        self, x_enc: Tensor, x_mark_enc: Tensor, x_dec: Tensor, x_mark_dec: Tensor
    ) -> Tensor:
        """x_enc [B,seq_len,enc_in], x_mark_enc [B,seq_len,F],
        x_dec [B,label_len+pred_len,dec_in] (see `make_decoder_input`), x_mark_dec [B,label+pred,F]
        -> forecast [B,pred_len,c_out]."""
        stats = None
        if self.revin is not None:
            stats = self.revin.statistics(x_enc)
            x_enc = self.revin.normalize(x_enc, stats)
            start = self.revin.normalize(x_dec[:, : self.label_len], stats, self.c_out)
            x_dec = torch.cat([start, x_dec[:, self.label_len :]], dim=1)
        memory = self.encoder(self.enc_embedding(x_enc, x_mark_enc))
        out: Tensor = self.decoder(self.dec_embedding(x_dec, x_mark_dec), memory)
        # The projection is position-wise, so only the horizon needs it.
        out = self.projection(out[:, -self.pred_len :])
        if self.revin is not None and stats is not None:
            out = self.revin.denormalize(out, stats, self.c_out)
        return out
