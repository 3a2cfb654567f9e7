"""HT-Demucs and Hybrid Demucs (Demucs v3) from the ``demucs`` package, as separena Separators.

References:
    Rouard, Massa & Defossez, "Hybrid transformers for music source separation", ICASSP 2023
    (arXiv:2211.08553).
    Defossez, "Hybrid spectrogram and waveform source separation", ISMIR 2021 MDX workshop
    (arXiv:2111.03600).

Code: ``demucs`` 4.1 (MIT licence), imported lazily inside each builder; only the model classes
are used (no ``demucs.pretrained``, nothing is downloaded). Both models take
``[batch, audio_channels, time]`` and return ``[batch, sources, audio_channels, time]``; they are
built mono (``audio_channels=1``) with one source name per stem, and the wrapper returns
``[batch, n_src, time]``. HT-Demucs runs with ``use_train_segment=False``: the library would
otherwise store the last training crop's length on the module and pad every shorter input to it
at evaluation, so a forward pass would depend on what ran before it. Translation of names (ours
-> the library's): ``n_src`` -> ``sources`` (``stem0``...), ``sample_rate`` -> ``samplerate``,
``channels``, ``growth``, ``depth``, ``n_fft`` -> ``nfft`` (hop ``n_fft // 4``, fixed by the
library), ``num_layers`` -> ``t_layers``, ``num_heads`` -> ``t_heads``, ``dropout`` ->
``t_dropout``, ``layer_scale`` -> ``t_layer_scale``, ``dconv_depth``, ``dconv_compress`` -> ``dconv_comp``.
"""

from __future__ import annotations

from typing import Literal

from torch import Tensor, nn

from separena import SeparenaError, Separator, SeparatorOutput
from separena.model import check_length, check_mix, fit_length

__all__ = ["DemucsSeparator", "hdemucs", "htdemucs"]


class DemucsSeparator(Separator):
    """Wraps a mono ``HTDemucs`` or ``HDemucs``.

    Shapes:
        mix ``[batch, time]`` -> estimates ``[batch, n_src, time]`` (same ``time``).
    """

    def __init__(self, model: nn.Module, n_src: int, sample_rate: int, name: str) -> None:
        super().__init__(n_src=n_src, sample_rate=sample_rate)
        self.model = model
        self.name = name

    def forward(self, mix: Tensor) -> SeparatorOutput:
        check_mix(mix)
        # the library divides the input by its standard deviation, of which one sample has none (NaN)
        check_length(mix.shape[-1], 2, self.name, "its normalisation by the input's standard deviation",
                     self.sample_rate)
        est = self.model(mix.unsqueeze(1))  # [B, 1, T] -> [B, S, 1, T]
        if est.dim() != 4 or est.shape[:3] != (mix.shape[0], self.n_src, 1):
            raise SeparenaError(f"{self.name}: the model returned estimates of shape {list(est.shape)}; "
                                f"expected [{mix.shape[0]}, {self.n_src}, 1, time]")
        return SeparatorOutput(estimates=fit_length(est.squeeze(2), mix.shape[-1]))


def _check(name: str, n_src: int, n_fft: int, depth: int, channels: int, dconv_compress: int) -> list[str]:
    """The library's source names for ``n_src`` stems, after checking what it would fail on."""
    if n_src < 1:
        raise SeparenaError(f"{name}: n_src must be at least 1, got {n_src}")
    if n_fft < 16 or n_fft & (n_fft - 1):
        raise SeparenaError(f"{name}: n_fft must be a power of two of at least 16, got {n_fft}")
    if depth < 1:
        raise SeparenaError(f"{name}: depth must be at least 1, got {depth}")
    if not 1 <= dconv_compress <= channels:
        raise SeparenaError(f"{name}: dconv_compress must be in [1, channels={channels}] (DConv has "
                            f"channels // dconv_compress channels), got {dconv_compress}")
    return [f"stem{i}" for i in range(n_src)]


def htdemucs(
    n_src: int = 4,
    sample_rate: int = 16000,
    channels: int = 48,
    growth: int = 2,
    depth: int = 4,
    n_fft: int = 4096,
    num_layers: int = 5,
    num_heads: int = 8,
    dropout: float = 0.0,
    layer_scale: bool = True,
    dconv_depth: int = 2,
    dconv_compress: int = 8,
) -> DemucsSeparator:
    """``demucs.htdemucs.HTDemucs`` (mono, 4 stems at 16 kHz by default). The defaults are the
    library's (and the paper's) sizes: 4 encoder/decoder layers per branch from 48 channels,
    a 5-layer cross-domain transformer of width ``channels * growth ** (depth - 1)`` (384).

    Args:
        n_src: stems.
        sample_rate: Hz (metadata: the model itself does not depend on it).
        channels: channels of the first encoder layer of each branch.
        growth: channel multiplier per layer.
        depth: encoder (and decoder) layers per branch.
        n_fft: STFT size (a power of two); the hop is ``n_fft // 4``. Each layer divides the
            ``n_fft // 2`` bins by 4; HT-Demucs needs more than 8 left at the bottom
            (``n_fft > 16 * 4 ** (depth - 1)``), or its branches would merge before the transformer.
        num_layers: cross-domain transformer layers (alternating self- and cross-attention).
        num_heads: attention heads; must divide ``channels * growth ** (depth - 1)``.
        dropout: transformer dropout.
        layer_scale: scale each transformer residual branch by a learned per-channel factor
            initialised at 1e-4 (the library's default, as in the paper).
        dconv_depth: layers of each residual dilated-convolution branch (DConv).
        dconv_compress: channel compression inside DConv.
    """
    from demucs.htdemucs import HTDemucs

    sources = _check("htdemucs", n_src, n_fft, depth, channels, dconv_compress)
    if n_fft <= 16 * 4 ** (depth - 1):  # each layer divides the n_fft // 2 bins by 4 (kernel 8)
        raise SeparenaError(f"htdemucs: n_fft={n_fft} with depth={depth}: the spectrogram branch would shrink to "
                            f"8 bins or fewer and merge into the time branch, leaving the transformer's time "
                            f"half unused; expected n_fft > 16 * 4 ** (depth - 1) = {16 * 4 ** (depth - 1)}")
    width = channels * growth ** (depth - 1)
    if num_heads < 1 or width % num_heads:
        raise SeparenaError(f"htdemucs: num_heads={num_heads} must divide the transformer width "
                            f"channels * growth ** (depth - 1) = {width}")
    model = HTDemucs(sources, audio_channels=1, channels=channels, growth=growth, nfft=n_fft, depth=depth,
                     t_layers=num_layers, t_heads=num_heads, t_dropout=dropout, t_layer_scale=layer_scale,
                     dconv_depth=dconv_depth, dconv_comp=dconv_compress, samplerate=sample_rate,
                     use_train_segment=False)
    return DemucsSeparator(model, n_src, sample_rate, "htdemucs")


def hdemucs(
    n_src: int = 4,
    sample_rate: int = 16000,
    channels: int = 48,
    growth: int = 2,
    depth: int = 6,
    n_fft: Literal[64, 256, 1024, 4096, 16384] = 4096,
    dconv_depth: int = 2,
    dconv_compress: int = 4,
) -> DemucsSeparator:
    """``demucs.hdemucs.HDemucs`` (Demucs v3, hybrid; mono, 4 stems at 16 kHz by default). The
    defaults are the library's sizes: 6 layers per branch from 48 channels, the spectrogram
    branch reaching one frequency bin (``n_fft <= 16 * 4 ** (depth - 1)``) and merging with the
    time branch for its last layers;
    DConv branches get attention and a BiLSTM from the fifth layer on, as in the library.

    Args: as :func:`htdemucs`, without the transformer, except ``n_fft``: a power of four (the
    spectrogram branch's frames must line up with the time branch's samples where they merge).
    """
    from demucs.hdemucs import HDemucs

    sources = _check("hdemucs", n_src, n_fft, depth, channels, dconv_compress)
    if n_fft not in (64, 256, 1024, 4096, 16384):
        raise SeparenaError(f"hdemucs: n_fft must be a power of four from 64 to 16384, got {n_fft}")
    if n_fft > 16 * 4 ** (depth - 1):  # each layer divides the n_fft // 2 bins by 4 (kernel 8)
        raise SeparenaError(f"hdemucs: n_fft={n_fft} with depth={depth}: the spectrogram branch would not reach "
                            f"one bin to merge with the time branch; expected n_fft <= 16 * 4 ** (depth - 1) "
                            f"= {16 * 4 ** (depth - 1)}")
    model = HDemucs(sources, audio_channels=1, channels=channels, growth=growth, nfft=n_fft, depth=depth,
                    dconv_depth=dconv_depth, dconv_comp=dconv_compress, samplerate=sample_rate)
    return DemucsSeparator(model, n_src, sample_rate, "hdemucs")
