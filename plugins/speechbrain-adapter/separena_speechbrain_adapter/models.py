"""speechbrain's separators, assembled from speechbrain's modules with separena's parameter names.

References:
    Subakan et al., "Attention is all you need in speech separation", ICASSP 2021
    (arXiv:2010.13154): SepFormer.
    Subakan et al., "Resource-efficient separation transformer", ICASSP 2024 (arXiv:2206.09507):
    ReSepFormer.
    Li, Yang & Chen (Li et al.), "SkiM: skipping memory LSTM for low-latency real-time continuous
    speech separation", ICASSP 2022 (arXiv:2201.10800).
    Luo & Mesgarani, "Conv-TasNet", IEEE/ACM TASLP 2019 (arXiv:1809.07454).
    Luo, Chen & Yoshioka, "Dual-path RNN", ICASSP 2020 (arXiv:1910.06379).

Code: speechbrain 1.x (Apache-2.0), imported lazily inside each builder so that listing models
never imports speechbrain. Every model is speechbrain's ``dual_path.Encoder`` (a ReLU conv
filterbank with stride ``filter_length // 2``), a mask network, and ``dual_path.Decoder``, as in
speechbrain's separation recipes. Translation of names (ours -> speechbrain's): ``n_filters`` ->
encoder ``out_channels`` (N), ``filter_length`` -> ``kernel_size``, ``chunk_size`` -> ``K`` /
``segment_size``, ``num_repeats`` -> dual-path ``num_layers``, ``num_layers`` -> layers per
intra/inter block, ``num_heads`` -> ``nhead``, ``ffn_size`` -> ``d_ffn`` (transformers),
``hidden_size`` -> ``hidden_channels`` (RNNs) / ``H`` (Conv-TasNet), ``bottleneck_size`` -> ``out_channels`` / ``B``,
``num_blocks`` -> ``layer`` / ``X``, ``kernel_size`` -> ``P``, ``norm`` -> ``norm_type``,
``mask_activation`` -> ``mask_nonlinear``.
"""

from __future__ import annotations

from typing import Literal

from torch import nn

from .wrapper import SpeechBrainSeparator

__all__ = ["conv_tasnet", "dprnn", "resepformer", "sepformer", "skim"]


def _encoder_decoder(n_filters: int, filter_length: int) -> tuple[nn.Module, nn.Module]:
    from speechbrain.lobes.models.dual_path import Decoder, Encoder

    encoder = Encoder(kernel_size=filter_length, out_channels=n_filters)
    decoder = Decoder(in_channels=n_filters, out_channels=1, kernel_size=filter_length,
                      stride=filter_length // 2, bias=False)
    return encoder, decoder


def sepformer(
    n_src: int = 2,
    sample_rate: int = 8000,
    n_filters: int = 256,
    filter_length: int = 16,
    chunk_size: int = 250,
    num_repeats: int = 2,
    num_layers: int = 8,
    num_heads: int = 8,
    ffn_size: int = 1024,
    dropout: float = 0.0,
) -> SpeechBrainSeparator:
    """SepFormer as in speechbrain's WSJ0-2mix recipe (``hparams/sepformer.yaml``).

    Args:
        n_src: number of sources.
        sample_rate: Hz.
        n_filters: encoder filters, also the transformers' ``d_model`` (N).
        filter_length: encoder kernel in samples (stride is half of it).
        chunk_size: dual-path chunk length in frames (K; chunks overlap by half).
        num_repeats: dual-path blocks (intra + inter transformer each).
        num_layers: transformer layers in each intra and inter transformer.
        num_heads: attention heads; must divide ``n_filters``.
        ffn_size: hidden units of each transformer layer's feed-forward network.
        dropout: transformer dropout.
    """
    from speechbrain.lobes.models.dual_path import Dual_Path_Model, SBTransformerBlock

    def block() -> nn.Module:
        return SBTransformerBlock(num_layers=num_layers, d_model=n_filters, nhead=num_heads, d_ffn=ffn_size,
                                  dropout=dropout, use_positional_encoding=True, norm_before=True)

    encoder, decoder = _encoder_decoder(n_filters, filter_length)
    masknet = Dual_Path_Model(n_filters, n_filters, block(), block(), num_layers=num_repeats, norm="ln",
                              K=chunk_size, num_spks=n_src, skip_around_intra=True,
                              linear_layer_after_inter_intra=False)
    return SpeechBrainSeparator(encoder, masknet, decoder, n_src, sample_rate, "speechbrain-sepformer")


def resepformer(
    n_src: int = 2,
    sample_rate: int = 8000,
    n_filters: int = 128,
    filter_length: int = 16,
    chunk_size: int = 150,
    num_blocks: int = 2,
    num_layers: int = 8,
    num_heads: int = 8,
    ffn_size: int = 1024,
    dropout: float = 0.0,
) -> SpeechBrainSeparator:
    """Resource-efficient SepFormer as in speechbrain's WSJ0-2mix recipe (``hparams/resepformer.yaml``):
    non-overlapping segments, a segment transformer per block, and an averaged-memory transformer
    across segments (``mem_type="av"``).

    Args:
        n_src: number of sources.
        sample_rate: Hz.
        n_filters: encoder filters, also the transformers' ``d_model`` (N).
        filter_length: encoder kernel in samples (stride is half of it).
        chunk_size: segment length in frames.
        num_blocks: segment-transformer blocks (a memory transformer between consecutive ones).
        num_layers: transformer layers in each segment and memory transformer.
        num_heads: attention heads; must divide ``n_filters``.
        ffn_size: hidden units of each transformer layer's feed-forward network.
        dropout: transformer dropout.
    """
    from speechbrain.lobes.models.resepformer import ResourceEfficientSeparator, SBTransformerBlock_wnormandskip

    def block() -> nn.Module:
        return SBTransformerBlock_wnormandskip(num_layers=num_layers, d_model=n_filters, nhead=num_heads,
                                               d_ffn=ffn_size, dropout=dropout, use_positional_encoding=True,
                                               norm_before=True, use_norm=True, use_skip=True)

    encoder, decoder = _encoder_decoder(n_filters, filter_length)
    masknet = ResourceEfficientSeparator(n_filters, causal=False, num_spk=n_src, nonlinear="relu",
                                         layer=num_blocks, segment_size=chunk_size, dropout=dropout, mem_type="av",
                                         seg_model=block(), mem_model=block())
    # speechbrain's "av" memory runs its transformer over the segment summaries of the whole batch
    # folded together ([1, batch * segments, N]), so batch items would attend to each other: the
    # wrapper runs the mask network one mixture at a time.
    return SpeechBrainSeparator(encoder, masknet, decoder, n_src, sample_rate, "speechbrain-resepformer",
                                per_item=True)


def skim(
    n_src: int = 2,
    sample_rate: int = 8000,
    n_filters: int = 64,
    filter_length: int = 16,
    chunk_size: int = 150,
    num_blocks: int = 4,
    hidden_size: int = 128,
    dropout: float = 0.0,
    causal: bool = False,
    memory: Literal["hc", "h", "c", "id"] = "hc",
) -> SpeechBrainSeparator:
    """SkiM (skipping-memory LSTM) as in speechbrain's recipe (``hparams/skim.yaml``): segment LSTMs
    over non-overlapping segments, and memory LSTMs that carry their states across segments.

    Args:
        n_src: number of sources.
        sample_rate: Hz.
        n_filters: encoder filters (N).
        filter_length: encoder kernel in samples (stride is half of it).
        chunk_size: segment length in frames.
        num_blocks: segment-LSTM blocks (a memory LSTM between consecutive ones).
        hidden_size: LSTM units per direction.
        dropout: LSTM-output dropout.
        causal: unidirectional LSTMs and cumulative layer norm (otherwise bidirectional, global).
        memory: which segment-LSTM states the memory LSTM processes (``"id"``: passed unchanged).
    """
    from speechbrain.lobes.models.resepformer import MemLSTM, ResourceEfficientSeparator, SegLSTM

    norm = "cln" if causal else "gln"
    seg = SegLSTM(n_filters, hidden_size, dropout=dropout, bidirectional=not causal, norm_type=norm)
    mem = MemLSTM(hidden_size, dropout=dropout, bidirectional=not causal, mem_type=memory, norm_type=norm)
    encoder, decoder = _encoder_decoder(n_filters, filter_length)
    masknet = ResourceEfficientSeparator(n_filters, causal=causal, num_spk=n_src, nonlinear="relu",
                                         layer=num_blocks, unit=hidden_size, segment_size=chunk_size,
                                         dropout=dropout, mem_type=memory, seg_model=seg, mem_model=mem)
    # The causal memory LSTM shifts its states one segment later along batch and segments folded
    # together ([d, batch * segments, H]), so each mixture's first segment would start from the
    # previous mixture's last state: the wrapper runs the mask network one mixture at a time.
    return SpeechBrainSeparator(encoder, masknet, decoder, n_src, sample_rate, "speechbrain-skim",
                                per_item=causal)


def conv_tasnet(
    n_src: int = 2,
    sample_rate: int = 8000,
    n_filters: int = 512,
    filter_length: int = 16,
    bottleneck_size: int = 128,
    hidden_size: int = 512,
    kernel_size: Literal[3, 5, 7] = 3,
    num_blocks: int = 8,
    num_repeats: int = 3,
    norm: Literal["gLN", "cLN"] = "gLN",
    causal: bool = False,
    mask_activation: Literal["relu", "softmax"] = "relu",
) -> SpeechBrainSeparator:
    """Conv-TasNet as in speechbrain's recipe (``hparams/convtasnet.yaml``), mask network
    ``speechbrain.lobes.models.conv_tasnet.MaskNet``.

    Args:
        n_src: number of sources.
        sample_rate: Hz.
        n_filters: encoder filters (N).
        filter_length: encoder kernel in samples (stride is half of it; L).
        bottleneck_size: bottleneck channels (B).
        hidden_size: channels inside each conv block (H).
        kernel_size: depthwise conv kernel (P).
        num_blocks: conv blocks per repeat (X).
        num_repeats: repeats (R).
        norm: ``"gLN"`` global or ``"cLN"`` cumulative layer norm.
        causal: causal convolutions (use with ``norm="cLN"``).
        mask_activation: ``"relu"`` or ``"softmax"`` (over sources).
    """
    from speechbrain.lobes.models.conv_tasnet import MaskNet

    encoder, decoder = _encoder_decoder(n_filters, filter_length)
    masknet = MaskNet(n_filters, bottleneck_size, hidden_size, kernel_size, num_blocks, num_repeats, n_src,
                      norm_type=norm, causal=causal, mask_nonlinear=mask_activation)
    # non-causal blocks reflect-pad each dilated convolution, which needs more frames than the padding
    padding = 0 if causal else (kernel_size - 1) * 2 ** (num_blocks - 1) // 2
    return SpeechBrainSeparator(encoder, masknet, decoder, n_src, sample_rate, "speechbrain-conv-tasnet",
                                min_frames=padding + 1)


def dprnn(
    n_src: int = 2,
    sample_rate: int = 8000,
    n_filters: int = 256,
    filter_length: int = 16,
    bottleneck_size: int = 256,
    hidden_size: int = 128,
    chunk_size: int = 250,
    num_repeats: int = 6,
    num_layers: int = 1,
    rnn_type: Literal["lstm", "gru"] = "lstm",
    dropout: float = 0.0,
) -> SpeechBrainSeparator:
    """DPRNN as in speechbrain's recipe (``hparams/dprnn.yaml``): ``Dual_Path_Model`` with
    bidirectional ``SBRNNBlock``s and a linear layer after each.

    Args:
        n_src: number of sources.
        sample_rate: Hz.
        n_filters: encoder filters (N).
        filter_length: encoder kernel in samples (stride is half of it).
        bottleneck_size: channels inside the dual-path blocks.
        hidden_size: RNN units per direction.
        chunk_size: chunk length in frames (K; chunks overlap by half).
        num_repeats: dual-path blocks (intra + inter RNN each).
        num_layers: RNN layers in each intra and inter RNN.
        rnn_type: ``"lstm"`` or ``"gru"``.
        dropout: dropout between RNN layers (needs ``num_layers > 1``).
    """
    from speechbrain.lobes.models.dual_path import Dual_Path_Model, SBRNNBlock

    def block() -> nn.Module:
        return SBRNNBlock(bottleneck_size, hidden_size, num_layers, rnn_type=rnn_type.upper(), dropout=dropout,
                          bidirectional=True)

    encoder, decoder = _encoder_decoder(n_filters, filter_length)
    masknet = Dual_Path_Model(n_filters, bottleneck_size, block(), block(), num_layers=num_repeats, norm="ln",
                              K=chunk_size, num_spks=n_src, skip_around_intra=True,
                              linear_layer_after_inter_intra=True)
    return SpeechBrainSeparator(encoder, masknet, decoder, n_src, sample_rate, "speechbrain-dprnn")
