"""Multichannel Wiener post-filter (expectation-maximisation), via the ``norbert`` package.

References:
    Nugraha, Liutkus and Vincent, "Multichannel audio source separation with deep neural
    networks", IEEE/ACM TASLP 2016. ``norbert`` (sigsep, MIT licence) implements it; this block
    only reshapes tensors for it. Open-Unmix applies it at inference.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import SeparenaError

__all__ = ["WienerFilter"]


class WienerFilter(nn.Module):
    """Refine magnitude estimates of every source into complex spectrograms with a Wiener filter.

    Starts from soft masks (each estimate's share of the total), then runs ``iterations``
    EM updates of each source's spectral model. The outputs sum to the mixture. It runs in
    numpy (``norbert``) without gradients: a post-filter for inference, not a layer to train.

    Args:
        iterations: EM iterations (``0``: the soft masks alone).

    Shapes:
        magnitudes ``[batch, n_src, frames, freq]`` (non-negative) and complex mixture
        ``[batch, frames, freq]`` -> complex ``[batch, n_src, frames, freq]``.

    Raises:
        SeparenaError: ``norbert`` is not installed (``pip install norbert``).
    """

    def __init__(self, iterations: int = 1) -> None:
        super().__init__()
        if iterations < 0:
            raise SeparenaError(f"wiener iterations: expected an integer >= 0, got {iterations!r}")
        self.iterations = iterations

    @torch.no_grad()
    def forward(self, magnitudes: Tensor, mix: Tensor) -> Tensor:
        try:
            import norbert
        except ImportError:
            raise SeparenaError("WienerFilter: norbert is not installed; expected `pip install norbert`") from None
        out = []
        for v, x in zip(magnitudes.detach().cpu().double().numpy(), mix.detach().cpu().numpy()):
            v = np.ascontiguousarray(v.transpose(1, 2, 0)[:, :, None, :])  # [S, T, F] -> [T, F, 1, S]
            y = norbert.wiener(v, x.astype(np.complex128)[:, :, None], self.iterations, use_softmask=True)
            out.append(torch.from_numpy(np.ascontiguousarray(y[:, :, 0, :].transpose(2, 0, 1))))  # -> [S, T, F]
        return torch.stack(out).to(device=mix.device, dtype=mix.dtype)

    def extra_repr(self) -> str:
        return f"iterations={self.iterations}"
