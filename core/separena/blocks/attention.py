"""Self-attention blocks: sinusoidal positional encoding and a stack of transformer encoder layers.

References:
    Vaswani et al., "Attention is all you need", NeurIPS 2017 (arXiv:1706.03762): the
    sinusoidal positional encoding and the encoder layer (multi-head self-attention and a
    position-wise feed-forward network, each with a residual connection and layer norm).
    Subakan et al., "Attention is all you need in speech separation", ICASSP 2021
    (arXiv:2010.13154): the pre-norm variant with a final layer norm used by SepFormer.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..errors import SeparenaError

__all__ = ["PositionalEncoding", "TransformerStack", "sinusoidal_encoding"]


def sinusoidal_encoding(length: int, size: int, like: Tensor) -> Tensor:
    """``[length, size]`` sinusoids: ``sin(p / 10000^(2i/size))`` on even features, ``cos`` on odd.

    Made per call in ``like``'s dtype and device (no buffer: any length, nothing in the state dict).
    """
    position = torch.arange(length, dtype=torch.float32, device=like.device).unsqueeze(1)  # [T, 1]
    rate = torch.exp(torch.arange(0, size, 2, dtype=torch.float32, device=like.device) * (-math.log(10000.0) / size))
    table = torch.zeros(length, size, dtype=torch.float32, device=like.device)
    table[:, 0::2] = torch.sin(position * rate)
    table[:, 1::2] = torch.cos(position * rate[: size // 2])
    return table.to(like.dtype)


class PositionalEncoding(nn.Module):
    """Adds the sinusoidal positional encoding of each step to the features (no parameters).

    Shapes:
        ``[batch, time, size]`` -> same.
    """

    def forward(self, x: Tensor) -> Tensor:
        return x + sinusoidal_encoding(x.shape[1], x.shape[2], x)


class TransformerStack(nn.Module):
    """Positional encoding, then ``num_layers`` pre-norm transformer encoder layers, then a layer norm.

    Each layer is ``x + MHA(LN(x))`` then ``x + FFN(LN(x))`` (``torch.nn.TransformerEncoderLayer``
    with ``norm_first=True`` and ReLU), SepFormer's "SB transformer block".

    Args:
        d_model: features per step.
        num_layers: encoder layers.
        num_heads: attention heads (must divide ``d_model``).
        ffn_size: hidden units of the feed-forward network.
        dropout: dropout on attention weights, inside the feed-forward network and on each residual branch.
        positional: add the sinusoidal positional encoding to the input.

    Shapes:
        ``[batch, time, d_model]`` -> same.
    """

    def __init__(self, d_model: int, num_layers: int, num_heads: int, ffn_size: int, dropout: float = 0.0,
                 positional: bool = True) -> None:
        super().__init__()
        if num_layers < 1:
            raise SeparenaError(f"TransformerStack: num_layers; expected a positive integer, got {num_layers!r}")
        if num_heads < 1 or d_model % num_heads:
            raise SeparenaError(f"TransformerStack: num_heads; expected a divisor of d_model={d_model}, "
                                f"got {num_heads!r}")
        self.positional = PositionalEncoding() if positional else nn.Identity()
        layer = nn.TransformerEncoderLayer(d_model, num_heads, ffn_size, dropout, activation="relu",
                                           batch_first=True, norm_first=True)
        self.layers = nn.TransformerEncoder(layer, num_layers, norm=nn.LayerNorm(d_model), enable_nested_tensor=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(self.positional(x))
