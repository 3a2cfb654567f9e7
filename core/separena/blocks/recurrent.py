"""Recurrent blocks."""

from __future__ import annotations

from typing import Literal, get_args

from torch import Tensor, nn

from ..errors import SeparenaError

__all__ = ["RecurrentStack", "RnnType", "RNN_TYPES"]

RnnType = Literal["lstm", "gru"]
"""Recurrent cell types: :class:`torch.nn.LSTM` or :class:`torch.nn.GRU`."""

RNN_TYPES: tuple[str, ...] = get_args(RnnType)


class RecurrentStack(nn.Module):
    """A stack of LSTM or GRU layers over time.

    Args:
        input_size: features per frame.
        hidden_size: units per direction.
        num_layers: stacked layers.
        bidirectional: run each layer both ways (output size doubles).
        dropout: dropout between layers and on the output (so it acts with one layer too).
        rnn_type: ``"lstm"`` or ``"gru"``.

    Shapes:
        ``[batch, time, input_size]`` -> ``[batch, time, hidden_size * (2 if bidirectional else 1)]``.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bidirectional: bool = True,
                 dropout: float = 0.0, rnn_type: RnnType = "lstm") -> None:
        super().__init__()
        rnn_cls = {"lstm": nn.LSTM, "gru": nn.GRU}[rnn_type]
        self.rnn = rnn_cls(input_size, hidden_size, num_layers=num_layers, bidirectional=bidirectional,
                           dropout=dropout if num_layers > 1 else 0.0, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.output_size = hidden_size * (2 if bidirectional else 1)

    def forward(self, x: Tensor) -> Tensor:
        out, _ = self.rnn(x)
        return self.dropout(out)

    def step(self, x: Tensor, state: Tensor | tuple[Tensor, Tensor] | None
             ) -> tuple[Tensor, Tensor | tuple[Tensor, Tensor]]:
        """Run a stream's next frames from the hidden state the frames before left (see
        :mod:`separena.blocks.streams`): one-way layers only.

        Shapes:
            ``[batch, k, input_size]`` -> ``[batch, k, hidden_size]``; the state is the RNN's
            ``(h, c)`` (LSTM) or ``h`` (GRU).
        """
        if self.rnn.bidirectional:
            raise SeparenaError("RecurrentStack: bidirectional layers read the input backwards from its end, "
                                "so they cannot stream; expected bidirectional=False")
        out, state = self.rnn(x, state)
        return self.dropout(out), state
