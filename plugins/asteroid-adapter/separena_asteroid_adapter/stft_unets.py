"""asteroid's complex-spectrogram U-Nets (DCUNet, DCCRNet) as n_src-source separators.

References:
    Choi et al., "Phase-aware speech enhancement with deep complex U-Net", ICLR 2019
    (arXiv:1903.03107).
    Hu et al., "DCCRN: deep complex convolution recurrent network for phase-aware speech
    enhancement", Interspeech 2020 (arXiv:2008.00264).

Both were designed for enhancement (one source); asteroid's ``default_architecture`` sets the
last decoder to ``n_src`` output channels, so each source gets its own complex mask of the
mixture STFT. Code: asteroid 0.7 (MIT), imported lazily. Translation (ours -> asteroid's):
``n_fft`` -> ``stft_n_filters`` and ``stft_kernel_size`` (the window is ``n_fft`` long),
``hop_length`` -> ``stft_stride``, ``mask_bound`` -> ``mask_bound`` (``"none"`` -> ``None``).
DCUNet's time axis is zero-padded to a multiple of its time strides (``fix_length_mode="pad"``).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from separena import SeparenaError

from .wrapper import AsteroidSeparator

__all__ = ["dcunet", "dccrnet"]

MaskBound = Literal["tanh", "sigmoid", "none"]


def _check_n_fft(name: str, variant: str, encoders: tuple, n_fft: int) -> None:
    """The U-Net halves the frequency axis at each stride; ``n_fft // 2`` must divide evenly."""
    freq_prod = int(np.prod([stride for _, _, _, stride, _ in encoders], axis=0)[0])
    if n_fft % 2 or (n_fft // 2) % freq_prod:
        raise SeparenaError(f"{name}: n_fft must be a multiple of {2 * freq_prod} for variant "
                            f"{variant!r} (frequency strides multiply to {freq_prod}); "
                            f"expected a multiple of {2 * freq_prod}, got {n_fft}")


def dcunet(
    n_src: int = 2,
    sample_rate: int = 8000,
    variant: Literal["DCUNet-10", "DCUNet-16", "DCUNet-20", "Large-DCUNet-20", "mini"] = "DCUNet-10",
    n_fft: int = 512,
    hop_length: int = 128,
    mask_bound: MaskBound = "tanh",
) -> AsteroidSeparator:
    """asteroid's ``DCUNet``.

    Args:
        n_src: number of sources (complex masks).
        sample_rate: Hz.
        variant: asteroid's named architecture (``"mini"`` is its 3-level test network).
        n_fft: STFT size and window length; ``n_fft // 2`` must be divisible by the product of
            the frequency strides (32 for DCUNet-10, 256 for the deeper ones, 8 for mini).
        hop_length: STFT hop.
        mask_bound: ``"tanh"`` (bounded-tanh mask, the paper's), ``"sigmoid"`` or ``"none"``.
    """
    from asteroid.masknn.convolutional import DCUMaskNet
    from asteroid.models import DCUNet

    _check_n_fft("asteroid-dcunet", variant, DCUMaskNet._architectures[variant][0], n_fft)
    model = DCUNet(
        variant, stft_n_filters=n_fft, stft_kernel_size=n_fft, stft_stride=hop_length,
        sample_rate=sample_rate, n_src=n_src, fix_length_mode="pad",
        mask_bound=None if mask_bound == "none" else mask_bound,
    )
    return AsteroidSeparator(model, n_src, sample_rate, "asteroid-dcunet", min_length=n_fft,
                             needs=f"its STFT (n_fft={n_fft})")


def dccrnet(
    n_src: int = 2,
    sample_rate: int = 8000,
    variant: Literal["DCCRN-CL", "mini"] = "DCCRN-CL",
    n_fft: int = 256,
    hop_length: int = 64,
    hidden_size: int = 128,
    num_layers: int = 2,
    mask_bound: MaskBound = "tanh",
) -> AsteroidSeparator:
    """asteroid's ``DCCRNet`` (complex conv encoder -> complex LSTM -> complex conv decoder).

    Args:
        n_src: number of sources (complex masks).
        sample_rate: Hz.
        variant: asteroid's named architecture (``"mini"`` is its 2-level test network).
        n_fft: STFT size and window length; ``n_fft // 2`` (the Nyquist bin is dropped) must be
            divisible by the product of the frequency strides (64 for DCCRN-CL, 4 for mini).
        hop_length: STFT hop.
        hidden_size: units of the complex LSTM at the bottleneck.
        num_layers: layers of the complex LSTM.
        mask_bound: ``"tanh"`` (the paper's), ``"sigmoid"`` or ``"none"``.
    """
    from asteroid.masknn.recurrent import DCCRMaskNet

    from ._dccrn import FixedDCCRNet

    encoders = DCCRMaskNet._architectures[variant][0]  # (in, out, kernel, stride, padding), (freq, time)
    _check_n_fft("asteroid-dccrnet", variant, encoders, n_fft)
    model = FixedDCCRNet(
        variant, stft_n_filters=n_fft, stft_kernel_size=n_fft, stft_stride=hop_length,
        sample_rate=sample_rate, n_src=n_src, hid_size=hidden_size, n_layers=num_layers,
        mask_bound=None if mask_bound == "none" else mask_bound,
    )
    # each encoder layer convolves over time without padding and so takes frames away: the
    # input needs one frame more than they take together
    frames = 1 + sum(kernel[1] - 1 - 2 * padding[1] for _, _, kernel, _, padding in encoders)
    return AsteroidSeparator(model, n_src, sample_rate, "asteroid-dccrnet",
                             min_length=n_fft + (frames - 1) * hop_length,
                             needs=f"its STFT (n_fft={n_fft}, hop_length={hop_length}) and its {len(encoders)} "
                                   f"encoder layers ({frames} frames)")
