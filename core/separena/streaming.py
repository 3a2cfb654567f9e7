"""Separation of a live stream, block by block, with a causal mask model.

:class:`StreamingSeparator` passes each block through the ``step`` methods of the model's
encoder, masker and decoder (:mod:`separena.blocks.streams`), which carry what they need of the
past: a block costs what its own frames cost, however long the stream has run.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .errors import SeparenaError
from .model import MaskSeparator, Separator, check_mix

__all__ = ["StreamingSeparator", "separate_streaming"]

PROBE_SECONDS = 0.25  # the silence that checks, at construction, that every part of the model streams


class StreamingSeparator:
    """Separate audio as it arrives, with a causal :class:`~separena.MaskSeparator`.

    :meth:`push` returns the samples of each source that the input so far decides, and
    :meth:`flush` the rest once the input has ended; together they are the model's ``forward``
    on the whole input, to float rounding (the contract kit checks this for every architecture
    that streams). Beyond the block itself, the output lags the input by less than the
    encoder's window: by ``window - hop`` to ``window - 1`` samples (an STFT of 256 samples
    with a hop of 128: 128 to 255 samples, 16 to 32 ms at 8 kHz; Conv-TasNet's 16-sample
    filters: 8 to 15 samples).

    Which models stream: those whose encoder, masker and decoder have ``step`` (the encoder
    and decoder also ``flush``) and accept their configuration in it: the causal presets
    (``separena info`` shows a model's measured lookahead). Anything else is refused here
    with the part and the reason, not at the first block.

    Args:
        model: the separator, in eval mode (dropout and batch norm differ in training).

    Raises:
        SeparenaError: the model cannot stream, or is in training mode.

    Shapes:
        :meth:`push`: ``[batch, n]`` (independent streams, channels say, as the batch) ->
        ``[batch, n_src, m]`` (``m`` may be 0); :meth:`flush`: -> ``[batch, n_src, rest]``.
    """

    def __init__(self, model: Separator) -> None:
        name = type(model).__name__
        if not isinstance(model, MaskSeparator):
            raise SeparenaError(f"{name}: only a MaskSeparator (encoder, masker, decoder) can stream; "
                                f"got {type(model).__mro__[1].__name__} subclass {name}")
        if model.training:
            raise SeparenaError(f"{name}: streaming needs the model in eval mode; call model.eval() first")
        if type(model).apply_masks is not MaskSeparator.apply_masks:
            raise SeparenaError(f"{name}: its apply_masks post-filters the masked estimates, which this "
                                "streaming separator cannot run block by block")
        for role, needs in (("encoder", ("step", "flush")), ("masker", ("step",)), ("decoder", ("step", "flush"))):
            part = getattr(model, role)
            missing = [method for method in needs if not callable(getattr(part, method, None))]
            if missing:
                raise SeparenaError(f"{name}: its {role} ({type(part).__name__}) has no {' or '.join(missing)}(), "
                                    "so it cannot stream")
        self.model = model
        self._reset()
        weight = next(model.parameters(), None)
        silence = torch.zeros(1, round(PROBE_SECONDS * model.sample_rate))
        silence = silence if weight is None else silence.to(weight)
        try:
            self.push(silence)
            self.flush()
        except SeparenaError as error:
            raise SeparenaError(f"{name} cannot stream: {error}") from None

    def _reset(self) -> None:
        self._encoder = self._masker = self._decoder = None
        self._batch: int | None = None
        self.received = 0
        """Input samples pushed since the stream started."""

    def push(self, block: Tensor) -> Tensor:
        """The next samples of the input ``[batch, n]`` -> the samples of the sources they
        complete, ``[batch, n_src, m]``."""
        check_mix(block, "block")
        if self._batch is not None and block.shape[0] != self._batch:
            raise SeparenaError(f"block: expected a batch of {self._batch} streams, as the stream started, "
                                f"got {block.shape[0]}")
        self._batch = block.shape[0]
        self.received += block.shape[-1]
        with torch.inference_mode():
            frames, self._encoder = self.model.encoder.step(block, self._encoder)
            if frames.shape[1] == 0:
                return block.new_zeros(block.shape[0], self.model.n_src, 0)
            wav, self._decoder = self.model.decoder.step(self._masked(frames), self._decoder)
        return wav.reshape(block.shape[0], self.model.n_src, -1)

    def flush(self) -> Tensor:
        """End the stream: the samples of the sources not given yet ``[batch, n_src, rest]``.
        The next :meth:`push` starts a new stream.

        Raises:
            SeparenaError: the stream was shorter than the encoder accepts (as ``forward`` would).
        """
        if self._encoder is None:
            raise SeparenaError(f"{type(self.model).__name__}: nothing to flush; push a block first")
        check_length = getattr(self.model.encoder, "check_length", None)
        if check_length is not None:
            check_length(self.received, self.model.sample_rate, type(self.model).__name__)
        batch = self._batch or 1
        with torch.inference_mode():
            frames = self.model.encoder.flush(self._encoder)
            wav = self.model.decoder.flush(self._masked(frames), self._decoder, self.received)
        self._reset()
        return wav.reshape(batch, self.model.n_src, -1)

    def _masked(self, frames: Tensor) -> Tensor:
        """Encoded frames ``[batch, k, freq]`` -> masked, one per source ``[batch * n_src, k, freq]``."""
        if frames.shape[1]:
            out, self._masker = self.model.masker.step(frames, self._masker)
            masks = out[0] if isinstance(out, tuple) else out
            masked = self.model.apply_masks(masks, frames)
        else:
            masked = frames.unsqueeze(1).expand(-1, self.model.n_src, -1, -1)
        return masked.reshape(-1, *masked.shape[2:])


def separate_streaming(model: Separator, mix: Tensor, block: int) -> Tensor:
    """Separate ``mix`` ``[batch, time]`` as a stream of ``block``-sample blocks: ``[batch, n_src, time]``
    (what :class:`StreamingSeparator` gives, concatenated)."""
    if block < 1:
        raise SeparenaError(f"block: expected a positive number of samples, got {block!r}")
    stream = StreamingSeparator(model)
    parts = [stream.push(mix[:, start:start + block]) for start in range(0, mix.shape[-1], block)]
    return torch.cat([*parts, stream.flush()], -1)
