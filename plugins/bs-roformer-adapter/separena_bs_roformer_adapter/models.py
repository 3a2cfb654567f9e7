"""BS-RoFormer and Mel-Band RoFormer from the ``bs-roformer`` package, as separena Separators.

References:
    Lu, Wang, Kong & Hung, "Music source separation with band-split RoPE transformer",
    ICASSP 2024 (arXiv:2309.02612).
    Wang, Lu, Kong & Hung, "Mel-band RoFormer for music source separation", ISMIR 2023 LBD
    (arXiv:2310.01809).

Code: ``bs-roformer`` 1.2 (MIT licence), imported lazily inside each builder. Both models take
mono ``[batch, time]`` (``stereo=False``) and return ``[batch, num_stems, 1, time']`` (or
``[batch, 1, time']`` for one stem); the wrapper returns ``[batch, n_src, time]``, padding or
trimming to the input length (the inverse STFT may lose the last partial hop). The library's own
multi-resolution STFT loss is only computed when a target is passed; separena never passes one,
its trainer applies the spec's objective. Translation of names (ours -> the library's):
``n_src`` -> ``num_stems``, ``depth`` -> ``depth`` (axial blocks), ``num_layers`` ->
``time_transformer_depth`` and ``freq_transformer_depth``, ``num_heads`` -> ``heads``,
``head_size`` -> ``dim_head``, ``n_fft`` -> ``stft_n_fft`` and ``stft_win_length``,
``hop_length`` -> ``stft_hop_length``, ``num_bands`` -> ``freqs_per_bands`` (BS-RoFormer: that
many contiguous bands of near-equal width) or ``num_bands`` (Mel-Band RoFormer: mel bands),
``mask_depth`` -> ``mask_estimator_depth``, ``dropout`` -> ``attn_dropout`` and ``ff_dropout``,
``residual_streams`` -> ``num_residual_streams`` (hyper-connections; 1 is a plain residual).
"""

from __future__ import annotations

from torch import Tensor, nn

from separena import SeparenaError, Separator, SeparatorOutput
from separena.model import check_length, check_mix, fit_length

__all__ = ["RoformerSeparator", "bs_roformer", "equal_bands", "mel_band_roformer"]


def equal_bands(n_bins: int, num_bands: int) -> tuple[int, ...]:
    """``num_bands`` contiguous band widths summing to ``n_bins``, the wider ones at the top."""
    if not 2 <= num_bands <= n_bins:
        raise SeparenaError(f"num_bands must be in [2, {n_bins}] (n_fft // 2 + 1 bins), got {num_bands}")
    base, extra = divmod(n_bins, num_bands)
    return tuple(base + (i >= num_bands - extra) for i in range(num_bands))


class RoformerSeparator(Separator):
    """Wraps a ``BSRoformer`` or ``MelBandRoformer`` built with ``stereo=False``; ``n_fft`` is
    the library's STFT size (centred frames, reflect padding: an input needs more than
    ``n_fft // 2`` samples).

    Shapes:
        mix ``[batch, time]`` -> estimates ``[batch, n_src, time]`` (same ``time``).
    """

    def __init__(self, model: nn.Module, n_src: int, sample_rate: int, name: str, n_fft: int) -> None:
        super().__init__(n_src=n_src, sample_rate=sample_rate)
        self.model = model
        self.name = name
        self.n_fft = n_fft

    def forward(self, mix: Tensor) -> SeparatorOutput:
        check_mix(mix)
        check_length(mix.shape[-1], self.n_fft // 2 + 1, self.name, f"its STFT (n_fft={self.n_fft})", self.sample_rate)
        est = self.model(mix)  # [B, S, 1, T'] for S > 1 stems, [B, 1, T'] for one
        if est.dim() == 4:
            est = est.squeeze(2)
        if est.dim() != 3 or est.shape[:2] != (mix.shape[0], self.n_src):
            raise SeparenaError(f"{self.name}: the model returned estimates of shape {list(est.shape)}; "
                                f"expected [{mix.shape[0]}, {self.n_src}, time]")
        return SeparatorOutput(estimates=fit_length(est, mix.shape[-1]))


def bs_roformer(
    n_src: int = 4,
    sample_rate: int = 16000,
    dim: int = 192,
    depth: int = 6,
    num_layers: int = 1,
    num_heads: int = 8,
    head_size: int = 64,
    n_fft: int = 1024,
    hop_length: int = 256,
    num_bands: int = 62,
    mask_depth: int = 1,
    dropout: float = 0.0,
    residual_streams: int = 1,
) -> RoformerSeparator:
    """``bs_roformer.BSRoformer`` (mono). The defaults are a mid-size 16 kHz model (~10 M
    parameters for 4 stems), not the paper's 44.1 kHz stereo configuration.

    Args:
        n_src: stems.
        sample_rate: Hz (the model itself does not depend on it).
        dim: band-embedding width.
        depth: axial blocks (a time transformer then a band transformer each).
        num_layers: layers of each time and band transformer.
        num_heads: attention heads.
        head_size: width per head.
        n_fft: STFT size and window length.
        hop_length: STFT hop.
        num_bands: contiguous bands of near-equal width over the ``n_fft // 2 + 1`` bins.
        mask_depth: layers of each band's mask-estimator MLP.
        dropout: attention and feed-forward dropout.
        residual_streams: hyper-connection streams (1: plain residuals).
    """
    from bs_roformer import BSRoformer

    model = BSRoformer(dim, depth=depth, stereo=False, num_stems=n_src, time_transformer_depth=num_layers,
                       freq_transformer_depth=num_layers, freqs_per_bands=equal_bands(n_fft // 2 + 1, num_bands),
                       dim_head=head_size, heads=num_heads, attn_dropout=dropout, ff_dropout=dropout,
                       flash_attn=True, num_residual_streams=residual_streams, stft_n_fft=n_fft,
                       stft_hop_length=hop_length, stft_win_length=n_fft, mask_estimator_depth=mask_depth)
    return RoformerSeparator(model, n_src, sample_rate, "bs-roformer", n_fft)


def mel_band_roformer(
    n_src: int = 4,
    sample_rate: int = 16000,
    dim: int = 192,
    depth: int = 6,
    num_layers: int = 1,
    num_heads: int = 8,
    head_size: int = 64,
    n_fft: int = 1024,
    hop_length: int = 256,
    num_bands: int = 32,
    mask_depth: int = 1,
    dropout: float = 0.0,
    residual_streams: int = 1,
) -> RoformerSeparator:
    """``bs_roformer.MelBandRoformer`` (mono): overlapping mel bands (librosa's mel filter bank
    at ``sample_rate``), averaged back where they overlap. The defaults (~44 M parameters for
    4 stems, most in the per-band mask MLPs) are smaller than the paper's.

    Args: as :func:`bs_roformer`, except ``num_bands``: mel bands; ``sample_rate`` sets the mel scale.
    """
    from bs_roformer import MelBandRoformer

    if num_bands < 2:
        raise SeparenaError(f"num_bands must be at least 2, got {num_bands}")
    try:
        model = MelBandRoformer(dim, depth=depth, stereo=False, num_stems=n_src, time_transformer_depth=num_layers,
                                freq_transformer_depth=num_layers, num_bands=num_bands, dim_head=head_size,
                                heads=num_heads, attn_dropout=dropout, ff_dropout=dropout, flash_attn=True,
                                dim_freqs_in=n_fft // 2 + 1, sample_rate=sample_rate, stft_n_fft=n_fft,
                                stft_hop_length=hop_length, stft_win_length=n_fft, mask_estimator_depth=mask_depth,
                                match_input_audio_length=True, num_residual_streams=residual_streams)
    except AssertionError as exc:  # e.g. too many mel bands for n_fft: a band without any bin
        raise SeparenaError(f"mel-band-roformer: num_bands={num_bands}, n_fft={n_fft}: {exc}") from None
    return RoformerSeparator(model, n_src, sample_rate, "mel-band-roformer", n_fft)
