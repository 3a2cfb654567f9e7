"""The adapter: speechbrain's encoder -> mask network -> decoder recipe as a separena :class:`Separator`.

speechbrain's separation recipes (``recipes/*/separation/train.py``) do not package a model
class: they encode the mixture with ``dual_path.Encoder``, ask a mask network for
``[n_src, batch, n_filters, frames]`` masks, multiply, and decode each source with
``dual_path.Decoder``. :class:`SpeechBrainSeparator` does the same, takes only ``[batch, time]``
(:func:`separena.model.check_mix`), and pads or trims the estimates to the input length.

This module imports nothing from speechbrain, so it is cheap to import.
"""

from __future__ import annotations

import sys

import torch
from torch import Tensor, nn

from separena import SeparenaError, Separator, SeparatorOutput
from separena.model import check_length, check_mix, fit_length

__all__ = ["SpeechBrainSeparator"]


def forget_lazy_modules() -> None:
    """Drop speechbrain's not-yet-loaded lazy modules from ``sys.modules``.

    speechbrain registers its optional integrations (flair, ...) and renamed modules there as
    lazy modules; anything that walks ``sys.modules`` and touches an attribute (``inspect.getmodule``, hypothesis)
    then imports them and fails on their missing extras. Unloaded entries are safe to drop:
    importing them again re-creates them.
    """
    for name, module in list(sys.modules.items()):
        if name.startswith("speechbrain") and type(module).__name__ in ("LazyModule", "DeprecatedModuleRedirect") \
                and vars(module).get("lazy_module") is None:
            del sys.modules[name]


class SpeechBrainSeparator(Separator):
    """speechbrain's encoder, a mask network and decoder, as in speechbrain's separation recipes.

    Args:
        encoder: ``speechbrain.lobes.models.dual_path.Encoder`` (``[B, T] -> [B, N, L]``).
        masknet: any module ``[B, N, L] -> [n_src, B, N, L]`` (masks).
        decoder: ``speechbrain.lobes.models.dual_path.Decoder`` (``[B, N, L] -> [B, T']``).
        n_src: number of sources.
        sample_rate: Hz.
        name: architecture name, for error messages.
        per_item: run the mask network on one mixture at a time (for a mask network whose
            batch items would otherwise interact, see ``resepformer``).
        min_frames: encoder frames the mask network needs at least (what sets the shortest
            input, with the encoder's filter and stride).

    Shapes:
        mix ``[batch, time]`` -> estimates ``[batch, n_src, time]`` (same ``time``).
    """

    def __init__(self, encoder: nn.Module, masknet: nn.Module, decoder: nn.Module, n_src: int,
                 sample_rate: int, name: str, per_item: bool = False, min_frames: int = 1) -> None:
        super().__init__(n_src=n_src, sample_rate=sample_rate)
        self.encoder = encoder
        self.masknet = masknet
        self.decoder = decoder
        self.name = name
        self.per_item = per_item
        self.min_frames = min_frames
        forget_lazy_modules()  # the builder has imported speechbrain by now

    def forward(self, mix: Tensor) -> SeparatorOutput:
        check_mix(mix)
        conv = self.encoder.conv1d  # it convolves without padding
        filters, stride = conv.kernel_size[0], conv.stride[0]
        check_length(mix.shape[-1], filters + stride * (self.min_frames - 1), self.name,
                     f"its encoder's filters of {filters} samples and {self.min_frames} frame(s) of hop {stride}",
                     self.sample_rate)
        batch = mix.shape[0]
        mix_w = self.encoder(mix)  # [B, N, L]
        if self.per_item:
            masks = torch.cat([self.masknet(mix_w[i:i + 1]) for i in range(batch)], dim=1)
        else:
            masks = self.masknet(mix_w)  # [S, B, N, L]
        if masks.dim() != 4 or masks.shape[:2] != (self.n_src, batch) or masks.shape[2:] != mix_w.shape[1:]:
            raise SeparenaError(f"{self.name}: mask network returned shape {list(masks.shape)}; expected "
                                f"[{self.n_src}, {batch}, {mix_w.shape[1]}, {mix_w.shape[2]}]")
        masked = mix_w.unsqueeze(0) * masks  # [S, B, N, L]
        # speechbrain's Decoder squeezes its output (a batch of one would lose its batch axis): reshape back
        est = torch.stack([self.decoder(masked[s]).reshape(batch, -1) for s in range(self.n_src)], dim=1)
        return SeparatorOutput(estimates=fit_length(est, mix.shape[-1]))
