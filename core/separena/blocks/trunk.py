"""The recurrent trunk of spectrogram maskers: log-magnitude features -> normalisation -> recurrent stack.

nussl's recipe, shared by mask inference, deep clustering, Chimera++ and the plugin template:
each puts its own head (masks, embeddings, or both) on the trunk's output.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from .features import LogMagnitudeFeatures
from .norms import NormKind
from .recurrent import RecurrentStack, RnnType

__all__ = ["RecurrentTrunk"]


class RecurrentTrunk(nn.Module):
    """Complex STFT -> :class:`~separena.blocks.LogMagnitudeFeatures` -> :class:`~separena.blocks.RecurrentStack`.

    The submodules are ``features`` (the dB magnitude and its normalisation) and ``rnn``, so
    a model that subclasses the trunk to add a head keeps the state-dict keys
    ``features.*``, ``rnn.*`` of one that holds the two blocks itself.

    Args:
        n_freq: frequency bins of the STFT.
        hidden_size: recurrent units per direction.
        num_layers: recurrent layers.
        bidirectional: run each layer both ways (the output size doubles).
        dropout: dropout between recurrent layers and on the output.
        rnn_type: ``"lstm"`` or ``"gru"`` (:data:`~separena.blocks.RnnType`).
        norm: feature normalisation (:data:`~separena.blocks.NormKind`).

    Shapes:
        complex ``[batch, time, freq]`` -> ``[batch, time, output_size]`` with
        ``output_size = hidden_size * (2 if bidirectional else 1)``.
    """

    def __init__(self, n_freq: int, hidden_size: int, num_layers: int = 1, bidirectional: bool = True,
                 dropout: float = 0.0, rnn_type: RnnType = "lstm", norm: NormKind = "instance") -> None:
        super().__init__()
        self.features = LogMagnitudeFeatures(n_freq, norm)
        self.rnn = RecurrentStack(n_freq, hidden_size, num_layers, bidirectional, dropout, rnn_type)
        self.output_size = self.rnn.output_size

    def forward(self, spec: Tensor) -> Tensor:
        return self.rnn(self.features(spec))

    def step(self, spec: Tensor, state: Any) -> tuple[Tensor, Any]:
        """A stream's next frames ``[batch, k, freq]`` -> ``[batch, k, output_size]``, with the
        recurrent state carried (see :mod:`separena.blocks.streams`); causal configurations only."""
        features, _ = self.features.step(spec, None)
        return self.rnn.step(features, state)
