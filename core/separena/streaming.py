"""Separation of a live stream, block by block, with a causal mask model.

:class:`StreamingSeparator` passes each block through the ``step`` methods of the model's
encoder, masker and decoder (:mod:`separena.blocks.streams`), which carry what they need of the
past: a block costs what its own frames cost, however long the stream has run.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from .errors import SeparenaError
from .model import MaskSeparator, Separator, check_mix, fit_length

__all__ = ["StreamingSeparator", "separate_streaming"]

PROBE_SECONDS = 0.25  # the silence that checks, at construction, that every part of the model streams


class StreamingSeparator:
    """Separate audio as it arrives, with a causal :class:`~separena.MaskSeparator`.

    :meth:`push` returns the samples of each source that the input so far decides, and
    :meth:`flush` the rest once the input has ended; together they are the model's ``forward``
    on the whole input, to float rounding (the contract kit checks this for every architecture
    that streams). Beyond the block itself, the output lags the input by less than the
    encoder's window: by ``window - hop`` to ``window - 1`` samples (an STFT of 256 samples
    with a hop of 128: 128 to 255 samples, 16 to 32 ms at 8 kHz; the music models' 1024 with
    a hop of 256: 48 to 64 ms at 16 kHz; Conv-TasNet's 16-sample filters: 8 to 15 samples).

    Which models stream: those whose encoder, masker and decoder have ``step`` (the encoder
    and decoder also ``flush``) and accept their configuration in it: the causal presets
    (``separena info`` shows a model's measured lookahead). Anything else is refused here
    with the part and the reason, not at the first block.

    Args:
        model: the separator, in eval mode (dropout and batch norm differ in training).
        sample_rate: the stream's rate in Hz, if not the model's: blocks are resampled to the
            model's rate and the sources back (soxr's streaming resampler, high quality), so the
            stream gives what :func:`~separena.separate_audio` gives in one pass
            (``chunk_seconds=0``). The resamplers buffer: at 16 kHz in 10-ms blocks the lag
            grows from 30 to 219 ms with an 8-kHz model; where latency matters, capture at
            the model's rate.

    Raises:
        SeparenaError: the model cannot stream, or is in training mode.

    Shapes:
        :meth:`push`: ``[batch, n]`` (independent streams, channels say, as the batch) ->
        ``[batch, n_src, m]`` (``m`` may be 0); :meth:`flush`: -> ``[batch, n_src, rest]``.
    """

    def __init__(self, model: Separator, sample_rate: int | None = None) -> None:
        name = type(model).__name__
        if not isinstance(model, MaskSeparator):
            raise SeparenaError(f"{name}: only a MaskSeparator (encoder, masker, decoder) can stream; "
                                f"got {type(model).__mro__[1].__name__} subclass {name}")
        if model.training:
            raise SeparenaError(f"{name}: streaming needs the model in eval mode; call model.eval() first")
        if model.post_filters:
            raise SeparenaError(f"{name}: its apply_masks post-filters the masked estimates, which this "
                                "streaming separator cannot run block by block")
        for role, needs in (("encoder", ("step", "flush")), ("masker", ("step",)), ("decoder", ("step", "flush"))):
            part = getattr(model, role)
            missing = [method for method in needs if not callable(getattr(part, method, None))]
            if missing:
                raise SeparenaError(f"{name}: its {role} ({type(part).__name__}) has no {' or '.join(missing)}(), "
                                    "so it cannot stream")
        if sample_rate is not None and (not isinstance(sample_rate, int) or sample_rate < 1):
            raise SeparenaError(f"sample_rate: expected a positive integer (Hz), got {sample_rate!r}")
        self.model = model
        self.sample_rate = sample_rate or model.sample_rate
        """The stream's rate in Hz: blocks in and sources out (the model's unless given)."""
        self._reset()
        self._weight = next(model.parameters(), None)  # the device and dtype the model computes in
        silence = torch.zeros(1, round(PROBE_SECONDS * model.sample_rate))
        silence = silence if self._weight is None else silence.to(self._weight)
        try:
            self._separate(silence)
            self._finish(1)
        except SeparenaError as error:
            raise SeparenaError(f"{name} cannot stream: {error}") from None
        self._reset()

    def _reset(self) -> None:
        self._encoder = self._masker = self._decoder = None
        self._batch: int | None = None
        self._model_samples = 0  # pushed to the model, at its rate
        self._resamplers: tuple[Any, Any] | None = None  # (input, sources) where the rates differ
        self._like: Tensor | None = None  # the first block: the sources come back in its dtype, on its device
        self._held: Tensor | None = None  # resampled source samples held back until the length is known
        self._given = 0
        self.received = 0
        """Samples pushed since the stream started (at the stream's rate)."""

    def push(self, block: Tensor) -> Tensor:
        """The next samples of the input ``[batch, n]`` -> the samples of the sources they
        complete, ``[batch, n_src, m]``."""
        check_mix(block, "block")
        if self._batch is not None and block.shape[0] != self._batch:
            raise SeparenaError(f"block: expected a batch of {self._batch} streams, as the stream started, "
                                f"got {block.shape[0]}")
        self._batch = block.shape[0]
        self.received += block.shape[-1]
        if self.sample_rate == self.model.sample_rate:
            sources = self._separate(block)
        else:
            sources = self._sources_back(self._separate(self._resample_in(block, last=False)), last=False)
        self._given += sources.shape[-1]
        return sources

    def flush(self) -> Tensor:
        """End the stream: the samples of the sources not given yet ``[batch, n_src, rest]``.
        The next :meth:`push` starts a new stream.

        Raises:
            SeparenaError: the stream was shorter than the encoder accepts (as ``forward`` would).
        """
        if self._batch is None:
            raise SeparenaError(f"{type(self.model).__name__}: nothing to flush; push a block first")
        if self.sample_rate == self.model.sample_rate:
            rest = self._finish(self._batch)
        else:
            last = self._resample_in(self._like[:, :0], last=True)
            sources = torch.cat([self._separate(last), self._finish(self._batch)], -1)
            rest = fit_length(self._sources_back(sources, last=True), self.received - self._given)
        self._reset()
        return rest

    def _separate(self, block: Tensor) -> Tensor:
        """Samples at the model's rate ``[batch, n]`` -> the source samples they complete ``[batch, n_src, m]``."""
        self._model_samples += block.shape[-1]
        with torch.inference_mode():
            frames, self._encoder = self.model.encoder.step(block, self._encoder)
            if frames.shape[1] == 0:
                return block.new_zeros(block.shape[0], self.model.n_src, 0)
            wav, self._decoder = self.model.decoder.step(self._masked(frames), self._decoder)
        return wav.reshape(block.shape[0], self.model.n_src, -1)

    def _finish(self, batch: int) -> Tensor:
        """The last source samples at the model's rate ``[batch, n_src, rest]``."""
        check_length = getattr(self.model.encoder, "check_length", None)
        if check_length is not None:
            check_length(self._model_samples, self.model.sample_rate, type(self.model).__name__)
        with torch.inference_mode():
            frames = self.model.encoder.flush(self._encoder)
            wav = self.model.decoder.flush(self._masked(frames), self._decoder, self._model_samples)
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

    # Another rate than the model's: soxr's streaming resampler (its output equals soxr.resample
    # of the whole), so the stream gives what separate_audio gives in one pass.

    def _resample_in(self, block: Tensor, last: bool) -> Tensor:
        import soxr

        if self._resamplers is None:
            channels = block.shape[0]
            self._like = block
            self._resamplers = (
                soxr.ResampleStream(self.sample_rate, self.model.sample_rate, channels, "float32", "HQ"),
                soxr.ResampleStream(self.model.sample_rate, self.sample_rate, channels * self.model.n_src,
                                    "float32", "HQ"))
        out = self._resamplers[0].resample_chunk(block.detach().cpu().float().numpy().T.copy(), last=last)
        dtype = block.dtype if self._weight is None else self._weight.dtype
        return torch.from_numpy(out.T.copy()).to(block.device, dtype)

    def _sources_back(self, sources: Tensor, last: bool) -> Tensor:
        """Source samples at the model's rate ``[batch, n_src, m]`` -> at the stream's, less a
        few held back until :meth:`flush` knows the input's length (the two resamplers' lengths
        may differ from it by a sample or two)."""
        batch, n_src = sources.shape[:2]
        flat = sources.reshape(batch * n_src, -1).detach().cpu().float().numpy().T.copy()
        back = torch.from_numpy(self._resamplers[1].resample_chunk(flat, last=last).T.copy())
        back = back.reshape(batch, n_src, -1).to(self._like.device, self._like.dtype)
        if self._held is not None:
            back = torch.cat([self._held, back], -1)
        keep = 0 if last else math.ceil(self.sample_rate / self.model.sample_rate) + 1
        self._held = back[..., back.shape[-1] - min(keep, back.shape[-1]):]
        return back[..., :back.shape[-1] - self._held.shape[-1]]


def separate_streaming(model: Separator, mix: Tensor, block: int | Sequence[int]) -> Tensor:
    """Separate ``mix`` ``[batch, time]`` as a stream of ``block``-sample blocks (or of blocks of
    the given sizes, in turn): ``[batch, n_src, time]``, what :class:`StreamingSeparator` gives,
    concatenated."""
    sizes = [block] if isinstance(block, int) else list(block)
    if not sizes or any(not isinstance(size, int) or size < 1 for size in sizes):
        raise SeparenaError(f"block: expected a positive number of samples, got {block!r}")
    stream = StreamingSeparator(model)
    parts, start = [], 0
    for size in itertools.cycle(sizes):
        if start >= mix.shape[-1]:
            break
        parts.append(stream.push(mix[:, start:start + size]))
        start += size
    return torch.cat([*parts, stream.flush()], -1)
