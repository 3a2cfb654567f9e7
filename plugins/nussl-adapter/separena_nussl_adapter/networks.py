"""nussl's network builders (``nussl.ml.networks.builders``) in ``nussl.ml.SeparationModel``,
as separena Separators.

References:
    Manilow, Seetharaman & Pardo, "The Northwestern University Source Separation Library",
    ISMIR 2018 (nussl; code MIT licence, imported lazily inside each builder).
    Hershey et al., "Deep clustering: discriminative embeddings for segmentation and
    separation", ICASSP 2016 (arXiv:1508.04306).
    Luo et al., "Deep clustering and conventional networks for music separation: stronger
    together", ICASSP 2017 (Chimera; arXiv:1611.06265).
    Stöter et al., "Open-Unmix: a reference implementation for music source separation", JOSS 2019.
    Luo, Chen & Yoshioka, "Dual-path RNN", ICASSP 2020 (arXiv:1910.06379).

Spectrogram models (mask inference, DPCL, Chimera, Open-Unmix-like) run on separena's
:class:`~separena.MaskSeparator`: our STFT, then the mixture magnitude in nussl's layout
``[batch, frames, freq, channels=1]`` under the key ``mix_magnitude`` (nussl's networks take the
log themselves), then the masks applied to the complex mixture STFT and our inverse STFT.
Waveform models (end-to-end, dual-path) get ``mix_audio [batch, 1, time]`` and return
``audio [batch, 1, time, n_src]``. Training uses separena's losses (``pit-si-sdr``,
``deep-clustering``), never nussl's PermutationInvariantLoss (see docs/architectures/adapters.md).

Translation (ours -> nussl's): ``n_src`` -> ``num_sources``, ``n_fft`` -> ``num_features =
n_fft // 2 + 1`` (or ``num_filters`` and ``filter_length``), ``norm`` -> ``normalization_class``
(``"batch"`` -> ``BatchNorm``, ``"instance"`` -> ``InstanceNorm``), ``num_repeats`` -> the
dual path's ``num_layers``, ``chunk_hop`` -> ``hop_size``, activations -> nussl's lists with
``"unit_norm"`` appended for embeddings.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor, nn

from separena import MaskSeparator, Separator, SeparatorOutput
from separena.blocks import (
    ISTFT, STFT, EmbeddingActivation, Magnitude, MaskActivation, RnnType, kmeans, soft_assignments,
)
from separena.model import check_length, check_mix

__all__ = [
    "NusslMasker", "NusslWaveformSeparator", "mask_inference", "dpcl", "chimera", "open_unmix_like",
    "end_to_end", "dual_path",
]

Norm = Literal["batch", "instance"]
_NORM = {"batch": "BatchNorm", "instance": "InstanceNorm"}
NUSSL_SOFT_BETA = 5.0  # nussl ClusteringSeparationBase's default beta (soft k-means)


def _separation_model(config: dict[str, Any]) -> nn.Module:
    from nussl.ml import SeparationModel

    return SeparationModel(config)


class NusslMasker(nn.Module):
    """Mixture STFT -> magnitude -> nussl network -> masks (and embedding).

    A network without a ``mask`` output (deep clustering) gets soft masks from k-means on its
    embeddings, each bin weighted by the mixture magnitude (silent bins do not move centroids),
    as nussl's ``DeepClustering`` separates: responsibilities ``softmax(-5 x distance)``.

    Args:
        config: a nussl SeparationModel config with a ``mix_magnitude`` input and a ``mask``
            and/or ``embedding`` output.
        n_src: number of sources.

    Shapes:
        complex ``[batch, frames, freq]`` -> masks ``[batch, n_src, frames, freq]``, plus
        embedding ``[batch, frames, freq, embedding_size]`` when the network has one.
    """

    def __init__(self, config: dict[str, Any], n_src: int) -> None:
        super().__init__()
        self.network = _separation_model(config)
        self.magnitude = Magnitude()
        self.n_src = n_src
        self.clusters = "mask" not in config["output"]

    def forward(self, spec: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        mag = self.magnitude(spec)  # [B, T, F]
        out = self.network({"mix_magnitude": mag.unsqueeze(-1)})  # nussl layout [B, T, F, C=1]
        embedding = out["embedding"][..., 0, :] if "embedding" in out else None  # [B, T, F, 1, D] -> [B, T, F, D]
        if not self.clusters:
            masks = out["mask"][..., 0, :].permute(0, 3, 1, 2)  # [B, T, F, 1, S] -> [B, S, T, F]
        else:
            batch, frames, freq, dim = embedding.shape
            with torch.no_grad():
                points = embedding.reshape(batch, -1, dim)
                _, centroids = kmeans(points, self.n_src, mag.reshape(batch, -1))
                masks = soft_assignments(points, centroids, NUSSL_SOFT_BETA)  # [B, S, T*F]
            masks = masks.reshape(batch, self.n_src, frames, freq)
        return masks if embedding is None else (masks, embedding)


class NusslWaveformSeparator(Separator):
    """A nussl waveform-in, waveform-out network (``mix_audio`` -> ``audio``); inputs shorter
    than ``min_length`` samples (what ``needs``, for the message) are refused in one line.

    Shapes:
        mix ``[batch, time]`` -> estimates ``[batch, n_src, time]``.
    """

    def __init__(self, config: dict[str, Any], n_src: int, sample_rate: int, name: str, min_length: int = 1,
                 needs: str = "") -> None:
        super().__init__(n_src=n_src, sample_rate=sample_rate)
        self.network = _separation_model(config)
        self.name = name
        self.min_length, self.needs = min_length, needs

    def forward(self, mix: Tensor) -> SeparatorOutput:
        check_mix(mix)
        check_length(mix.shape[-1], self.min_length, self.name, self.needs, self.sample_rate)
        audio = self.network({"mix_audio": mix.unsqueeze(1)})["audio"]  # [B, 1, T'] in, [B, 1, T', S] out
        est = audio[:, 0].transpose(1, 2)  # [B, T', S] -> [B, S, T']
        length = mix.shape[-1]
        if est.shape[-1] < length:
            est = nn.functional.pad(est, (0, length - est.shape[-1]))
        return SeparatorOutput(estimates=est[..., :length])


def _mask_separator(config: dict[str, Any], n_src: int, sample_rate: int, n_fft: int,
                    hop_length: int) -> MaskSeparator:
    return MaskSeparator(STFT(n_fft, hop_length), NusslMasker(config, n_src), ISTFT(n_fft, hop_length),
                         n_src=n_src, sample_rate=sample_rate)


def _embedding_activation(activation: EmbeddingActivation) -> list[str]:
    return ([] if activation == "none" else [activation]) + ["unit_norm"]


def mask_inference(
    n_src: int = 2,
    sample_rate: int = 8000,
    n_fft: int = 256,
    hop_length: int = 64,
    hidden_size: int = 300,
    num_layers: int = 4,
    bidirectional: bool = True,
    dropout: float = 0.3,
    rnn_type: RnnType = "lstm",
    norm: Norm = "batch",
    mask_activation: MaskActivation = "sigmoid",
) -> MaskSeparator:
    """nussl's ``build_recurrent_mask_inference``.

    Args:
        n_src: number of sources.
        sample_rate: Hz.
        n_fft: STFT size (``n_fft // 2 + 1`` features).
        hop_length: STFT hop.
        hidden_size: recurrent units per direction.
        num_layers: recurrent layers.
        bidirectional: bidirectional recurrent layers.
        dropout: dropout between recurrent layers (no effect when ``num_layers == 1``).
        rnn_type: ``"lstm"`` or ``"gru"``.
        norm: normalization of the log-magnitude: nussl's scalar batch norm or instance norm.
        mask_activation: ``"sigmoid"``, ``"softmax"`` (over sources) or ``"relu"``.
    """
    from nussl.ml.networks.builders import build_recurrent_mask_inference

    config = build_recurrent_mask_inference(
        n_fft // 2 + 1, hidden_size, num_layers, bidirectional, dropout, n_src, [mask_activation],
        rnn_type=rnn_type, normalization_class=_NORM[norm])
    return _mask_separator(config, n_src, sample_rate, n_fft, hop_length)


def dpcl(
    n_src: int = 2,
    sample_rate: int = 8000,
    n_fft: int = 256,
    hop_length: int = 64,
    hidden_size: int = 300,
    num_layers: int = 4,
    bidirectional: bool = True,
    dropout: float = 0.3,
    rnn_type: RnnType = "lstm",
    norm: Norm = "batch",
    embedding_size: int = 20,
    embedding_activation: EmbeddingActivation = "sigmoid",
) -> MaskSeparator:
    """nussl's ``build_recurrent_dpcl``; inference by soft k-means, as nussl's ``DeepClustering``.

    Args:
        n_src: number of sources (k-means clusters).
        sample_rate: Hz.
        n_fft: STFT size.
        hop_length: STFT hop.
        hidden_size: recurrent units per direction.
        num_layers: recurrent layers.
        bidirectional: bidirectional recurrent layers.
        dropout: dropout between recurrent layers (no effect when ``num_layers == 1``).
        rnn_type: ``"lstm"`` or ``"gru"``.
        norm: normalization of the log-magnitude.
        embedding_size: dimensions per TF bin.
        embedding_activation: nonlinearity before unit normalisation.
    """
    from nussl.ml.networks.builders import build_recurrent_dpcl

    config = build_recurrent_dpcl(
        n_fft // 2 + 1, hidden_size, num_layers, bidirectional, dropout, embedding_size,
        _embedding_activation(embedding_activation), rnn_type=rnn_type, normalization_class=_NORM[norm])
    return _mask_separator(config, n_src, sample_rate, n_fft, hop_length)


def chimera(
    n_src: int = 2,
    sample_rate: int = 8000,
    n_fft: int = 256,
    hop_length: int = 64,
    hidden_size: int = 300,
    num_layers: int = 4,
    bidirectional: bool = True,
    dropout: float = 0.3,
    rnn_type: RnnType = "lstm",
    norm: Norm = "batch",
    embedding_size: int = 20,
    embedding_activation: EmbeddingActivation = "sigmoid",
    mask_activation: MaskActivation = "sigmoid",
) -> MaskSeparator:
    """nussl's ``build_recurrent_chimera``: a deep clustering head and a mask head on one trunk.

    Separation uses the mask head; the embedding head is trained by the objective's
    deep clustering term.

    Args:
        n_src: number of sources.
        sample_rate: Hz.
        n_fft: STFT size.
        hop_length: STFT hop.
        hidden_size: recurrent units per direction.
        num_layers: recurrent layers.
        bidirectional: bidirectional recurrent layers.
        dropout: dropout between recurrent layers (no effect when ``num_layers == 1``).
        rnn_type: ``"lstm"`` or ``"gru"``.
        norm: normalization of the log-magnitude.
        embedding_size: dimensions per TF bin.
        embedding_activation: nonlinearity before unit normalisation.
        mask_activation: ``"sigmoid"``, ``"softmax"`` (over sources) or ``"relu"``.
    """
    from nussl.ml.networks.builders import build_recurrent_chimera

    config = build_recurrent_chimera(
        n_fft // 2 + 1, hidden_size, num_layers, bidirectional, dropout, embedding_size,
        _embedding_activation(embedding_activation), n_src, [mask_activation], rnn_type=rnn_type,
        normalization_class=_NORM[norm])
    return _mask_separator(config, n_src, sample_rate, n_fft, hop_length)


def open_unmix_like(
    n_src: int = 2,
    sample_rate: int = 8000,
    n_fft: int = 256,
    hop_length: int = 64,
    hidden_size: int = 128,
    num_layers: int = 3,
    bidirectional: bool = True,
    dropout: float = 0.3,
    rnn_type: RnnType = "lstm",
) -> MaskSeparator:
    """nussl's ``build_open_unmix_like`` (magnitude in, ReLU masks out).

    Args:
        n_src: number of sources.
        sample_rate: Hz.
        n_fft: STFT size.
        hop_length: STFT hop.
        hidden_size: recurrent units per direction, as in every separena builder; the
            projection is as wide as the recurrent output (``2 * hidden_size`` when
            bidirectional). nussl's own ``hidden_size`` is that width.
        num_layers: recurrent layers.
        bidirectional: bidirectional recurrent layers.
        dropout: dropout between recurrent layers (no effect when ``num_layers == 1``).
        rnn_type: ``"lstm"`` or ``"gru"``.
    """
    from nussl.ml.networks.builders import build_open_unmix_like

    width = hidden_size * (2 if bidirectional else 1)  # nussl halves it per direction
    config = build_open_unmix_like(n_fft // 2 + 1, width, num_layers, bidirectional, dropout, n_src,
                                   rnn_type=rnn_type)
    return _mask_separator(config, n_src, sample_rate, n_fft, hop_length)


def end_to_end(
    n_src: int = 2,
    sample_rate: int = 8000,
    n_fft: int = 256,
    hop_length: int = 64,
    window: Literal["sqrt_hann", "hann", "rectangular"] = "sqrt_hann",
    trainable_filterbank: bool = False,
    mask_complex: bool = False,
    hidden_size: int = 300,
    num_layers: int = 4,
    bidirectional: bool = True,
    dropout: float = 0.3,
    rnn_type: RnnType = "lstm",
    norm: Norm = "batch",
    mask_activation: MaskActivation = "sigmoid",
) -> NusslWaveformSeparator:
    """nussl's ``build_recurrent_end_to_end``: an STFT filterbank inside the network.

    Args:
        n_src: number of sources.
        sample_rate: Hz.
        n_fft: filterbank size and filter length (``n_fft // 2 + 1`` frequencies).
        hop_length: hop between frames.
        window: analysis window.
        trainable_filterbank: learn the filters (initialised to the Fourier basis).
        mask_complex: also mask the phase part instead of reusing the mixture phase.
        hidden_size: recurrent units per direction.
        num_layers: recurrent layers.
        bidirectional: bidirectional recurrent layers.
        dropout: dropout between recurrent layers (no effect when ``num_layers == 1``).
        rnn_type: ``"lstm"`` or ``"gru"``.
        norm: normalization of the features.
        mask_activation: ``"sigmoid"``, ``"softmax"`` (over sources) or ``"relu"``.
    """
    from nussl.ml.networks.builders import build_recurrent_end_to_end

    config = build_recurrent_end_to_end(
        n_fft, n_fft, hop_length, window, hidden_size, num_layers, bidirectional, dropout, n_src,
        [mask_activation], mask_complex=mask_complex, trainable=trainable_filterbank, rnn_type=rnn_type,
        normalization_class=_NORM[norm])
    return NusslWaveformSeparator(config, n_src, sample_rate, "nussl-end-to-end")


def dual_path(
    n_src: int = 2,
    sample_rate: int = 8000,
    n_filters: int = 64,
    filter_length: int = 16,
    hop_length: int = 8,
    window: Literal["rectangular", "hann", "sqrt_hann"] = "rectangular",
    bottleneck_size: int = 64,
    hidden_size: int = 64,
    chunk_size: int = 100,
    chunk_hop: int = 50,
    num_repeats: int = 6,
    bidirectional: bool = True,
    rnn_type: RnnType = "lstm",
    skip_connection: bool = False,
    mask_activation: MaskActivation = "sigmoid",
) -> NusslWaveformSeparator:
    """nussl's ``build_dual_path_recurrent_end_to_end`` (a DPRNN-TasNet).

    Args:
        n_src: number of sources.
        sample_rate: Hz.
        n_filters: learned filterbank size.
        filter_length: filter length in samples.
        hop_length: filterbank stride in samples.
        window: window applied to the learned filters.
        bottleneck_size: channels the dual-path blocks work on.
        hidden_size: recurrent units per direction of each intra/inter-chunk RNN, as in every
            separena builder (nussl's own ``hidden_size`` is the output width, twice this when
            bidirectional).
        chunk_size: frames per chunk.
        chunk_hop: hop between chunks in frames.
        num_repeats: dual-path blocks.
        bidirectional: bidirectional intra/inter-chunk RNNs.
        rnn_type: ``"lstm"`` or ``"gru"``.
        skip_connection: sum every block's output (instead of using only the last).
        mask_activation: ``"sigmoid"``, ``"softmax"`` (over sources) or ``"relu"``.
    """
    from nussl.ml.networks.builders import build_dual_path_recurrent_end_to_end

    width = hidden_size * (2 if bidirectional else 1)  # nussl halves it per direction
    config = build_dual_path_recurrent_end_to_end(
        n_filters, filter_length, hop_length, chunk_size, chunk_hop, width, num_repeats, bidirectional,
        bottleneck_size, n_src, [mask_activation], window_type=window, skip_connection=skip_connection,
        rnn_type=rnn_type)
    # nussl's DualPath unfolds its frames into chunks without padding: it needs chunk_size frames,
    # which its filterbank makes from hop_length * (chunk_size - 2) + 1 samples (measured over
    # filter lengths, hops and chunk sizes)
    return NusslWaveformSeparator(config, n_src, sample_rate, "nussl-dual-path",
                                  min_length=hop_length * (chunk_size - 2) + 1,
                                  needs=f"its dual-path chunks of {chunk_size} frames of hop {hop_length}")
