"""asteroid's time-domain (learned filterbank) separators, with separena's parameter names.

References:
    Luo & Mesgarani, "Conv-TasNet: surpassing ideal time-frequency magnitude masking for speech
    separation", IEEE/ACM TASLP 2019 (arXiv:1809.07454).
    Luo, Chen & Yoshioka, "Dual-path RNN: efficient long sequence modeling for time-domain
    single-channel speech separation", ICASSP 2020 (arXiv:1910.06379).
    Chen, Mao & Liu, "Dual-path transformer network: direct context-aware modeling for end-to-end
    monaural speech separation", Interspeech 2020 (arXiv:2007.13975).
    Luo & Mesgarani, "TasNet: time-domain audio separation network for real-time, single-channel
    speech separation", ICASSP 2018 (arXiv:1711.00541).
    Tzinis, Wang & Smaragdis, "Sudo rm -rf: efficient networks for universal audio source
    separation", MLSP 2020 (arXiv:2007.06833); the improved variant from Tzinis et al., 2022.

Code: asteroid 0.7 (MIT licence), imported lazily inside each builder so that listing models
never imports asteroid. Translation of names (ours -> asteroid's): ``n_filters`` -> ``n_filters``,
``filter_length`` -> ``kernel_size``, ``hop_length`` -> ``stride``, ``bottleneck_size`` ->
``bn_chan``, ``hidden_size`` -> ``hid_chan`` / ``hid_size`` / ``ff_hid``, ``skip_size`` ->
``skip_chan``, ``kernel_size`` -> ``conv_kernel_size``, ``num_blocks`` -> ``n_blocks`` /
``num_blocks``, ``num_repeats`` -> ``n_repeats``, ``num_layers`` -> ``num_layers`` / ``n_layers``,
``chunk_hop`` -> ``hop_size``, ``num_heads`` -> ``n_heads``, ``norm`` -> ``norm_type``,
``mask_activation`` -> ``mask_act``.
"""

from __future__ import annotations

from typing import Any, Literal

from separena.blocks import MaskActivation

from .wrapper import AsteroidSeparator

__all__ = ["conv_tasnet", "dprnn_tasnet", "dptnet", "lstm_tasnet", "sudormrf", "sudormrf_improved"]


def _filtered(model: Any, n_src: int, sample_rate: int, name: str, filter_length: int) -> AsteroidSeparator:
    """The wrapper of a model whose encoder convolves without padding: an input of fewer
    samples than one filter is refused in one line (SuDoRM-RF pads, so it takes any length)."""
    return AsteroidSeparator(model, n_src, sample_rate, name, min_length=filter_length,
                             needs=f"its encoder's filters of {filter_length} samples")

Norm = Literal["gLN", "cLN", "bN"]


def conv_tasnet(
    n_src: int = 2,
    sample_rate: int = 8000,
    n_filters: int = 512,
    filter_length: int = 16,
    hop_length: int = 8,
    bottleneck_size: int = 128,
    hidden_size: int = 512,
    skip_size: int = 128,
    kernel_size: Literal[3, 5, 7] = 3,
    num_blocks: int = 8,
    num_repeats: int = 3,
    norm: Norm = "gLN",
    causal: bool = False,
    mask_activation: MaskActivation = "sigmoid",
    encoder_activation: Literal["linear", "relu"] = "linear",
) -> AsteroidSeparator:
    """asteroid's ``ConvTasNet``.

    Args:
        n_src: number of sources.
        sample_rate: Hz.
        n_filters: learned filterbank size (N).
        filter_length: filter length in samples (L).
        hop_length: filterbank stride in samples (L // 2 in the paper).
        bottleneck_size: bottleneck channels (B).
        hidden_size: channels inside each conv block (H).
        skip_size: skip-connection channels (Sc); 0 feeds the mask from the residual path.
        kernel_size: depthwise conv kernel (P); odd, as asteroid's "same" padding needs.
        num_blocks: conv blocks per repeat, dilations 1..2^(X-1) (X).
        num_repeats: repeats of the block stack (R).
        norm: ``"gLN"`` global, ``"cLN"`` channel-wise (causal) layer norm, or ``"bN"`` batch norm.
        causal: causal convolutions (use with ``norm="cLN"``).
        mask_activation: ``"sigmoid"``, ``"softmax"`` (over sources) or ``"relu"``.
        encoder_activation: nonlinearity after the encoder.
    """
    from asteroid.models import ConvTasNet

    model = ConvTasNet(
        n_src, n_blocks=num_blocks, n_repeats=num_repeats, bn_chan=bottleneck_size, hid_chan=hidden_size,
        skip_chan=skip_size, conv_kernel_size=kernel_size, norm_type=norm, mask_act=mask_activation,
        causal=causal, fb_name="free", kernel_size=filter_length, n_filters=n_filters, stride=hop_length,
        encoder_activation=encoder_activation, sample_rate=sample_rate,
    )
    if skip_size:
        # asteroid computes the last block's residual output but only the skip sum feeds the mask,
        # so that conv never gets a gradient: freeze it, as training would leave it untouched anyway.
        model.masker.TCN[-1].res_conv.requires_grad_(False)
    return _filtered(model, n_src, sample_rate, "asteroid-conv-tasnet", filter_length)


def dprnn_tasnet(
    n_src: int = 2,
    sample_rate: int = 8000,
    n_filters: int = 64,
    filter_length: int = 16,
    hop_length: int = 8,
    bottleneck_size: int = 128,
    hidden_size: int = 128,
    chunk_size: int = 100,
    chunk_hop: int = 50,
    num_repeats: int = 6,
    num_layers: int = 1,
    bidirectional: bool = True,
    rnn_type: Literal["lstm", "gru", "rnn"] = "lstm",
    dropout: float = 0.0,
    norm: Norm = "gLN",
    mask_activation: MaskActivation = "sigmoid",
) -> AsteroidSeparator:
    """asteroid's ``DPRNNTasNet``.

    Args:
        n_src: number of sources.
        sample_rate: Hz.
        n_filters: learned filterbank size.
        filter_length: filter length in samples (the paper goes down to 2).
        hop_length: filterbank stride in samples.
        bottleneck_size: channels the dual-path blocks work on.
        hidden_size: recurrent units per direction.
        chunk_size: frames per chunk (K).
        chunk_hop: hop between chunks in frames (K // 2 in the paper).
        num_repeats: dual-path blocks.
        num_layers: recurrent layers inside each intra/inter-chunk RNN.
        bidirectional: bidirectional inter-chunk RNN (the intra-chunk one always is).
        rnn_type: ``"lstm"``, ``"gru"`` or ``"rnn"``.
        dropout: dropout between stacked recurrent layers (torch's; no effect when ``num_layers == 1``).
        norm: ``"gLN"``, ``"cLN"`` or ``"bN"``.
        mask_activation: ``"sigmoid"``, ``"softmax"`` (over sources) or ``"relu"``.
    """
    from asteroid.models import DPRNNTasNet

    model = DPRNNTasNet(
        n_src, bn_chan=bottleneck_size, hid_size=hidden_size, chunk_size=chunk_size, hop_size=chunk_hop,
        n_repeats=num_repeats, norm_type=norm, mask_act=mask_activation, bidirectional=bidirectional,
        rnn_type=rnn_type.upper(), num_layers=num_layers, dropout=dropout, fb_name="free",
        kernel_size=filter_length, n_filters=n_filters, stride=hop_length, sample_rate=sample_rate,
    )
    return _filtered(model, n_src, sample_rate, "asteroid-dprnn-tasnet", filter_length)


def dptnet(
    n_src: int = 2,
    sample_rate: int = 8000,
    n_filters: int = 64,
    filter_length: int = 16,
    hop_length: int = 8,
    num_heads: int = 4,
    hidden_size: int = 256,
    chunk_size: int = 100,
    chunk_hop: int = 50,
    num_repeats: int = 6,
    bidirectional: bool = True,
    dropout: float = 0.0,
    norm: Norm = "gLN",
    ff_activation: Literal["relu", "gelu"] = "relu",
    mask_activation: MaskActivation = "relu",
) -> AsteroidSeparator:
    """asteroid's ``DPTNet`` (dual-path transformer with a recurrent feed-forward).

    Args:
        n_src: number of sources.
        sample_rate: Hz.
        n_filters: learned filterbank size (the attention width; divisible by ``num_heads``).
        filter_length: filter length in samples.
        hop_length: filterbank stride in samples.
        num_heads: attention heads.
        hidden_size: units of the recurrent feed-forward layer of each transformer.
        chunk_size: frames per chunk.
        chunk_hop: hop between chunks in frames.
        num_repeats: dual-path transformer blocks.
        bidirectional: bidirectional recurrent feed-forward.
        dropout: dropout inside the transformers.
        norm: ``"gLN"``, ``"cLN"`` or ``"bN"``.
        ff_activation: activation of the feed-forward layer.
        mask_activation: ``"sigmoid"``, ``"softmax"`` (over sources) or ``"relu"``.
    """
    from asteroid.models import DPTNet

    model = DPTNet(
        n_src, n_heads=num_heads, ff_hid=hidden_size, chunk_size=chunk_size, hop_size=chunk_hop,
        n_repeats=num_repeats, norm_type=norm, ff_activation=ff_activation, mask_act=mask_activation,
        bidirectional=bidirectional, dropout=dropout, fb_name="free", kernel_size=filter_length,
        n_filters=n_filters, stride=hop_length, sample_rate=sample_rate,
    )
    return _filtered(model, n_src, sample_rate, "asteroid-dptnet", filter_length)


def lstm_tasnet(
    n_src: int = 2,
    sample_rate: int = 8000,
    n_filters: int = 64,
    filter_length: int = 16,
    hop_length: int = 8,
    hidden_size: int = 512,
    num_layers: int = 4,
    bidirectional: bool = True,
    dropout: float = 0.3,
    mask_activation: MaskActivation = "sigmoid",
) -> AsteroidSeparator:
    """asteroid's ``LSTMTasNet``.

    asteroid's ``rnn_type`` is not exposed: its ``LSTMMasker`` stores it and always builds an LSTM.

    Args:
        n_src: number of sources.
        sample_rate: Hz.
        n_filters: learned filterbank size.
        filter_length: filter length in samples.
        hop_length: filterbank stride in samples.
        hidden_size: LSTM units per direction.
        num_layers: LSTM layers.
        bidirectional: BLSTM (with global layer norm) or causal LSTM (with cumulative layer norm).
        dropout: dropout between LSTM layers (no effect when ``num_layers == 1``).
        mask_activation: ``"sigmoid"``, ``"softmax"`` (over sources) or ``"relu"``.
    """
    from asteroid.models import LSTMTasNet

    model = LSTMTasNet(
        n_src, n_layers=num_layers, hid_size=hidden_size, dropout=dropout, mask_act=mask_activation,
        bidirectional=bidirectional, fb_name="free", n_filters=n_filters, kernel_size=filter_length,
        stride=hop_length, sample_rate=sample_rate,
    )
    return _filtered(model, n_src, sample_rate, "asteroid-lstm-tasnet", filter_length)


def sudormrf(
    n_src: int = 2,
    sample_rate: int = 8000,
    n_filters: int = 512,
    filter_length: int = 21,
    bottleneck_size: int = 128,
    num_blocks: int = 16,
    upsampling_depth: int = 4,
    mask_activation: MaskActivation = "softmax",
) -> AsteroidSeparator:
    """asteroid's ``SuDORMRFNet`` (the original Sudo rm -rf).

    Its hop is ``filter_length // 2``: asteroid's ``stride`` argument is ignored by this class,
    so it is not exposed.

    Args:
        n_src: number of sources.
        sample_rate: Hz.
        n_filters: learned filterbank size.
        filter_length: filter length in samples (hop ``filter_length // 2``).
        bottleneck_size: channels of the U-ConvBlocks.
        num_blocks: U-ConvBlocks.
        upsampling_depth: down/up-sampling levels per block.
        mask_activation: ``"sigmoid"``, ``"softmax"`` (over sources) or ``"relu"``.
    """
    from asteroid.models import SuDORMRFNet

    model = SuDORMRFNet(
        n_src, bn_chan=bottleneck_size, num_blocks=num_blocks, upsampling_depth=upsampling_depth,
        mask_act=mask_activation, fb_name="free", kernel_size=filter_length, n_filters=n_filters,
        sample_rate=sample_rate,
    )
    return AsteroidSeparator(model, n_src, sample_rate, "asteroid-sudormrf")


def sudormrf_improved(
    n_src: int = 2,
    sample_rate: int = 8000,
    n_filters: int = 512,
    filter_length: int = 21,
    bottleneck_size: int = 128,
    num_blocks: int = 16,
    upsampling_depth: int = 4,
    mask_activation: MaskActivation = "relu",
) -> AsteroidSeparator:
    """asteroid's ``SuDORMRFImprovedNet``.

    The hop is ``filter_length // 2``: asteroid accepts a ``stride`` here, but its input padding
    assumes ``filter_length // 2``, and any other stride breaks the U-ConvBlocks' shapes.

    Args:
        n_src: number of sources.
        sample_rate: Hz.
        n_filters: learned filterbank size.
        filter_length: filter length in samples (hop ``filter_length // 2``).
        bottleneck_size: channels of the U-ConvBlocks.
        num_blocks: U-ConvBlocks.
        upsampling_depth: down/up-sampling levels per block.
        mask_activation: ``"sigmoid"``, ``"softmax"`` (over sources) or ``"relu"``.
    """
    from asteroid.models import SuDORMRFImprovedNet

    model = SuDORMRFImprovedNet(
        n_src, bn_chan=bottleneck_size, num_blocks=num_blocks, upsampling_depth=upsampling_depth,
        mask_act=mask_activation, fb_name="free", kernel_size=filter_length, n_filters=n_filters,
        stride=filter_length // 2, sample_rate=sample_rate,
    )
    return AsteroidSeparator(model, n_src, sample_rate, "asteroid-sudormrf-improved")
