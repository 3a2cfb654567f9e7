"""DPRNN-TasNet: a learned filterbank whose frames are split into overlapping chunks and
processed by dual-path RNN blocks (an RNN within each chunk, then one across chunks).

References:
    Luo, Chen & Yoshioka, "Dual-path RNN: efficient long sequence modeling for time-domain
    single-channel speech separation", ICASSP 2020. https://arxiv.org/abs/1910.06379

Written for separena from the paper, composing core blocks: ``DualPathRNN`` inside
``DualPathMasker``, whose output stage follows the authors' released code and asteroid's
``DPRNNTasNet`` (MIT), so that parameter counts compare.
"""

from __future__ import annotations

from separena import MaskSeparator
from separena.blocks import DualPathMasker, DualPathRNN, LearnedDecoder, LearnedEncoder, MaskActivation, RnnType

__all__ = ["dprnn_tasnet"]


def dprnn_tasnet(
    n_src: int = 2,
    sample_rate: int = 8000,
    n_filters: int = 64,
    filter_length: int = 2,
    bottleneck_size: int = 64,
    hidden_size: int = 128,
    chunk_size: int = 250,
    num_repeats: int = 6,
    num_layers: int = 1,
    bidirectional: bool = True,
    rnn_type: RnnType = "lstm",
    dropout: float = 0.0,
    mask_activation: MaskActivation = "sigmoid",
) -> MaskSeparator:
    """Build a DPRNN-TasNet separator; the defaults are the paper's best configuration (L = 2, K = 250).

    Args:
        n_src: number of sources.
        sample_rate: sample rate in Hz the model is trained at (filters are in samples).
        n_filters: encoder/decoder filters N.
        filter_length: filter length L in samples; the hop is ``L // 2``.
        bottleneck_size: features inside the dual-path network (the paper uses N).
        hidden_size: RNN units per direction.
        chunk_size: chunk length K in frames; chunks overlap by 50 %.
        num_repeats: dual-path blocks.
        num_layers: layers of each intra- and inter-chunk RNN.
        bidirectional: bidirectional inter-chunk RNN (False gives the causal variant's inter path;
            the intra-chunk RNN is always bidirectional).
        rnn_type: ``"lstm"`` (paper) or ``"gru"``.
        dropout: dropout of the RNN outputs.
        mask_activation: ``"sigmoid"``, ``"softmax"`` (over sources) or ``"relu"``.
    """
    dual_path = DualPathRNN(bottleneck_size, hidden_size, num_repeats, bidirectional, num_layers, dropout, rnn_type)
    masker = DualPathMasker(n_filters, n_src, bottleneck_size, chunk_size, dual_path, mask_activation)
    return MaskSeparator(LearnedEncoder(n_filters, filter_length), masker, LearnedDecoder(n_filters, filter_length),
                         n_src=n_src, sample_rate=sample_rate)
