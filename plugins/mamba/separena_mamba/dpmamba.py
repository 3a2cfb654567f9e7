"""Dual-path Mamba (DPMamba): a learned filterbank whose frames are split into overlapping
chunks and processed by dual-path blocks of bidirectional Mamba layers (Mamba layers within
each chunk, then across chunks).

References:
    Jiang, Han & Mesgarani, "Dual-path Mamba: short and long-term bidirectional selective
    structured state space models for speech separation", arXiv:2403.18257, 2024.

Written for separena from the paper: the core ``dual_path_net`` (``LearnedEncoder`` /
``LearnedDecoder``, ``DualPathBlock``, ``DualPathMasker``) around this plugin's
:class:`~separena_mamba.model.MambaStack`. The paper keeps SepFormer's dual-path model and
replaces its transformers with bidirectional Mamba layers; so does this module: ReLU encoder,
gLN and a bias-free bottleneck in front, each path followed by gLN and a residual, DPRNN's
output stage, ReLU masks. One difference: the paper's XS-L configurations drop the residual
around the intra-chunk path, which here is kept, as in DPRNN and SepFormer.
"""

from __future__ import annotations

from separena import MaskSeparator
from separena.blocks import MaskActivation, dual_path_net

from .model import MambaStack

__all__ = ["dpmamba"]


def dpmamba(
    n_src: int = 2,
    sample_rate: int = 8000,
    n_filters: int = 128,
    filter_length: int = 16,
    d_model: int = 128,
    num_layers: int = 1,
    num_repeats: int = 8,
    d_state: int = 16,
    expand: int = 2,
    chunk_size: int = 250,
    mask_activation: MaskActivation = "relu",
) -> MaskSeparator:
    """Build a dual-path Mamba separator; the defaults are the paper's smallest model, DPMamba (XS).

    Args:
        n_src: number of sources.
        sample_rate: sample rate in Hz the model is trained at (filters are in samples).
        n_filters: encoder/decoder filters N (ReLU encoder, as in the paper).
        filter_length: filter length L in samples; the hop is ``L // 2``.
        d_model: features inside the dual-path network (the Mamba layers' width).
        num_layers: bidirectional Mamba layers in each intra- and each inter-chunk path.
        num_repeats: dual-path blocks (intra then inter path).
        d_state: state size of each channel's selective scan (Mamba's N).
        expand: inner width ``expand * d_model`` of each layer (Mamba's E).
        chunk_size: chunk length K in frames; chunks overlap by 50 %.
        mask_activation: ``"relu"`` (paper), ``"sigmoid"`` or ``"softmax"`` (over sources).
    """
    def mamba() -> MambaStack:
        return MambaStack(d_model, d_model, num_layers, d_state, expand, bidirectional=True)

    return dual_path_net("dpmamba", mamba, n_src=n_src, sample_rate=sample_rate, n_filters=n_filters,
                         filter_length=filter_length, d_model=d_model, num_repeats=num_repeats,
                         chunk_size=chunk_size, mask_activation=mask_activation)
