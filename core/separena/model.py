"""The model interface: every architecture is a :class:`Separator` with waveforms in and out.

Waveform out for every model keeps evaluation uniform: the benchmark never needs to know
whether a model masks a spectrogram, clusters embeddings or works end to end.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .errors import SeparenaError
from .metrics import best_permutation

__all__ = ["Separator", "SeparatorOutput", "MaskSeparator", "check_mix", "check_references", "fit_length", "separate",
           "separate_in_chunks", "separate_channels", "separate_audio", "chunk_starts", "CHANNEL_LAG_SECONDS",
           "CHANNEL_ALIGNMENT_SECONDS"]


@dataclass(frozen=True)
class SeparatorOutput:
    """What a separator returns.

    Shapes:
        estimates: ``[batch, n_src, time]`` waveforms at the model's sample rate.
        masks: ``[batch, n_src, frames, freq]`` for mask models, else None.
        embedding: ``[batch, frames, freq, embedding_dim]`` for embedding models, else None.
    """

    estimates: Tensor
    masks: Tensor | None = None
    embedding: Tensor | None = None


def fit_length(estimates: Tensor, length: int) -> Tensor:
    """Zero-pad or trim the last axis to ``length`` samples: ``[..., t] -> [..., length]``.

    For wrapped models whose output length differs from the input's by a few samples.
    """
    if estimates.shape[-1] >= length:
        return estimates[..., :length]
    return nn.functional.pad(estimates, (0, length - estimates.shape[-1]))


def check_mix(mix: Tensor, name: str = "mix") -> None:
    """Reject anything but a real ``[batch, time]`` tensor with a clear error."""
    if not isinstance(mix, Tensor):
        raise SeparenaError(f"{name}: expected a torch.Tensor [batch, time], got {type(mix).__name__}")
    if mix.dim() != 2:
        raise SeparenaError(f"{name}: expected shape [batch, time], got {list(mix.shape)}")
    if mix.is_complex() or not mix.is_floating_point():
        raise SeparenaError(f"{name}: expected a real floating-point tensor, got {mix.dtype}")


def check_references(references: Tensor, mix: Tensor, n_src: int) -> None:
    """Reject references that are not ``[batch, n_src, time]`` matching ``mix [batch, time]``."""
    want = [mix.shape[0], n_src, mix.shape[-1]]
    if not isinstance(references, Tensor) or list(references.shape) != want:
        got = list(references.shape) if isinstance(references, Tensor) else type(references).__name__
        raise SeparenaError(f"references: expected shape [batch, n_src, time] = {want}, got {got}")


def check_length(length: int, min_length: int, where: str, needs: str, sample_rate: int | None = None) -> None:
    """One clear :class:`SeparenaError` for an input of ``length`` samples shorter than a model
    can take, instead of the error a convolution or STFT would raise deep inside it.

    Args:
        length: input length in samples.
        min_length: the shortest input that works.
        where: the message's prefix (the model's name, say).
        needs: what sets the minimum, e.g. ``"STFT(n_fft=256, hop_length=64)"``.
        sample_rate: Hz, if known: the message then also gives seconds.
    """
    if length >= min_length:
        return
    need, got = f"{min_length} samples", f"{length} sample{'s' * (length != 1)}"
    if sample_rate:
        need += f" ({min_length / sample_rate:.4g} s at {sample_rate} Hz)"
        got += f" ({length / sample_rate:.4g} s)"
    raise SeparenaError(f"{where}: input too short for {needs}; expected at least {need}, got {got}")


class Separator(nn.Module):
    """Base class of every model: ``forward(mix [batch, time]) -> SeparatorOutput``.

    Subclasses set ``n_src`` and ``sample_rate``. Oracle models set
    ``needs_references = True`` and take ``forward(mix, references)``; call any model
    through :func:`separate` to pass references only where they are wanted.

    ``source_names`` are the roles of the outputs in order (``("vocals", "bass", ...)``) once
    the model is trained on data whose sources have roles: the trainer sets them from the data,
    checkpoints keep them. ``None`` for speakers, and for a model not trained yet.
    """

    needs_references: bool = False
    source_names: tuple[str, ...] | None = None

    def __init__(self, n_src: int, sample_rate: int) -> None:
        super().__init__()
        if n_src < 1:
            raise SeparenaError(f"n_src: expected a positive integer, got {n_src!r}")
        self.n_src = n_src
        self.sample_rate = sample_rate

    def forward(self, mix: Tensor) -> SeparatorOutput:  # pragma: no cover - abstract
        raise NotImplementedError


def separate(model: Separator, mix: Tensor, references: Tensor | None = None) -> SeparatorOutput:
    """Run ``model`` on ``mix``, giving it ``references`` only if it is an oracle."""
    if model.needs_references:
        if references is None:
            raise SeparenaError(f"{type(model).__name__} is an oracle: it needs the reference sources")
        return model(mix, references)
    return model(mix)


def chunk_starts(length: int, chunk: int, overlap: int) -> list[int]:
    """Where the chunks of :func:`separate_in_chunks` start in a mixture of ``length`` samples:
    every ``chunk - overlap`` samples, the last one ending at the mixture's end."""
    return [*range(0, length - chunk, chunk - overlap), max(length - chunk, 0)]


def separate_in_chunks(model: Separator, mix: Tensor, chunk: int, overlap: int,
                       permutation_invariant: bool = True, on_chunk: Callable[[], None] | None = None) -> Tensor:
    """Separate a mixture of any length one chunk at a time: memory stays that of one chunk.

    Chunks of ``chunk`` samples start every ``chunk - overlap`` samples (the last one ends at
    the mixture's end, so no chunk is padded) and are cross-faded where they overlap. Each
    chunk's estimates are centered: models trained on zero-mean SI-SDR leave the offset of
    their output free, and offsets that differ from chunk to chunk would otherwise be
    cross-faded into slow ramps. A speaker-separation model may give the speakers in another
    order in each chunk, so with ``permutation_invariant`` each chunk's sources are put in the
    order closest (least squares) to what the chunks before gave on the overlap; sources with
    fixed roles (music stems) keep their order. A mixture no longer than ``chunk`` is
    separated in one pass (and centered too). Gradients are the caller's business, as in
    :func:`separate`. ``on_chunk()`` is called after each chunk (for a progress bar; there are
    ``len(chunk_starts(time, chunk, overlap))``).

    Shapes:
        mix: ``[batch, time]`` -> estimates ``[batch, n_src, time]`` (float32).
    """
    def in_order(estimates: Tensor, so_far: Tensor | None) -> Tensor:
        if so_far is None or not permutation_invariant:
            return estimates
        return _in_closest_order(estimates, estimates[..., :so_far.shape[-1]], so_far)

    return _in_chunks(model, mix, chunk, overlap, in_order, on_chunk)


def _in_chunks(model: Separator, mix: Tensor, chunk: int, overlap: int,
               in_order: Callable[[Tensor, Tensor | None], Tensor], on_chunk: Callable[[], None] | None) -> Tensor:
    """:func:`separate_in_chunks` with the ordering of each chunk's centered estimates
    ``[batch, n_src, chunk]`` left to ``in_order(estimates, so_far)``, where ``so_far`` is what
    the chunks before gave on the samples this one shares with them (``None`` for the first)."""
    check_mix(mix)
    if not 0 < overlap < chunk:
        raise SeparenaError(f"overlap: expected 0 < overlap < chunk = {chunk} samples, got {overlap}")
    length = mix.shape[-1]
    starts = chunk_starts(length, chunk, overlap)
    # A raised-cosine fade that never reaches zero: every sample keeps a positive weight.
    fade = 0.5 - 0.5 * torch.cos(math.pi * (torch.arange(overlap, device=mix.device) + 0.5) / overlap)
    total = mix.new_zeros(mix.shape[0], model.n_src, length, dtype=torch.float32)
    weight = mix.new_zeros(length, dtype=torch.float32)
    for i, start in enumerate(starts):
        estimates = separate(model, mix[:, start:start + chunk]).estimates.float()  # [B, S, chunk]
        estimates = estimates - estimates.mean(-1, keepdim=True)
        so_far = None
        if i > 0:
            shared = starts[i - 1] + chunk - start  # samples this chunk shares with those before
            so_far = total[..., start:start + shared] / weight[start:start + shared]
        estimates = in_order(estimates, so_far)
        window = torch.ones(estimates.shape[-1], device=mix.device)
        if i > 0:
            window[:overlap] = fade
        if i < len(starts) - 1:
            window[-overlap:] = fade.flip(0)
        total[..., start:start + chunk] += estimates * window
        weight[start:start + chunk] += window
        if on_chunk is not None:
            on_chunk()
    return total / weight


CHANNEL_LAG_SECONDS = 0.002  # microphones up to ~70 cm apart hear a source this far apart in time
CHANNEL_ALIGNMENT_SECONDS = 30.0  # the loudest stretch compared when channels' speakers are aligned


def separate_channels(model: Separator, mix: Tensor, chunk: int = 0, overlap: int = 0,
                      permutation_invariant: bool = True, max_lag: int | None = None,
                      on_chunk: Callable[[], None] | None = None) -> Tensor:
    """Separate each channel of a multichannel recording with a single-channel model.

    Every channel is separated on its own (as a batch item; in chunks with ``chunk`` > 0, see
    :func:`separate_in_chunks`, else in one pass), so each source keeps its place in the
    stereo image: a source panned left comes out louder on the left. With
    ``permutation_invariant`` the speakers are put in one order across channels and chunks,
    chunk by chunk: each channel's sources in the order that best matches the first channel's,
    by their cross-correlation at its peak within ``max_lag`` samples (default
    :data:`CHANNEL_LAG_SECONDS`: a source reaches spaced microphones at different times), over
    the loudest :data:`CHANNEL_ALIGNMENT_SECONDS` of the chunk; then the chunk, all channels
    together, in the order closest to the chunks before on their overlap, so that every
    channel's evidence decides one order and no channel drifts to another on its own.
    ``on_chunk`` as in :func:`separate_in_chunks` (called once in one pass).

    Shapes:
        mix: ``[channels, time]`` -> estimates ``[n_src, channels, time]`` (float32).
    """
    check_mix(mix)
    lag = round(CHANNEL_LAG_SECONDS * model.sample_rate) if max_lag is None else max_lag
    stretch = round(CHANNEL_ALIGNMENT_SECONDS * model.sample_rate)

    def in_order(estimates: Tensor, so_far: Tensor | None) -> Tensor:  # [channels, n_src, time]
        if not permutation_invariant:
            return estimates
        if estimates.shape[0] > 1:
            part = estimates[..., _loudest_stretch(estimates[0].sum(0), stretch)]
            part = part - part.mean(-1, keepdim=True)  # (a one-pass output's offsets would dominate)
            similarity = _peak_cross_correlation(part[1:], part[:1].expand_as(part[1:]), lag)
            _, perm = best_permutation(similarity)
            estimates = torch.cat([estimates[:1], estimates[1:].gather(1, perm.unsqueeze(-1).expand_as(estimates[1:]))])
        if so_far is None:
            return estimates
        # one order for the whole chunk: least squares summed over the channels
        similarity = torch.einsum("cst,crt->sr", estimates[..., :so_far.shape[-1]], so_far).unsqueeze(0)
        _, perm = best_permutation(similarity)
        return estimates[:, perm[0]]

    if chunk:
        estimates = _in_chunks(model, mix, chunk, overlap, in_order, on_chunk)
    else:
        estimates = in_order(separate(model, mix).estimates.float(), None)  # [channels, n_src, time]
        if on_chunk is not None:
            on_chunk()
    return estimates.transpose(0, 1)


def separate_audio(model: Separator, audio: Tensor, sample_rate: int, chunk_seconds: float = 8.0,
                   overlap: float = 0.25, permutation_invariant: bool = True,
                   on_chunk: Callable[[], None] | None = None) -> Tensor:
    """Separate a recording at any sample rate; the sources come back at that rate, sample for
    sample beside the input.

    Audio at another rate than the model's is resampled to it (soxr, high quality) and the
    sources back to ``sample_rate``, trimmed or padded to the input's length (so a source
    holds nothing above the model's Nyquist frequency). Each channel is separated as in
    :func:`separate_channels`, in chunks of ``chunk_seconds`` sharing ``overlap`` of their
    length (0 seconds: one pass). ``on_chunk`` as there: it is called
    ``len(chunk_starts(round(time * model.sample_rate / sample_rate), chunk, shared))`` times.

    Shapes:
        audio: ``[channels, time]`` or ``[time]`` (on the device to run on) -> sources
        ``[n_src, channels, time]`` or ``[n_src, time]`` (float32, on that device).
    """
    from .data.audio import resample_audio

    def converted(x: Tensor, from_rate: int, to_rate: int) -> Tensor:
        if from_rate == to_rate:
            return x
        y = resample_audio(x.detach().cpu().float().numpy().T, from_rate, to_rate).T  # soxr: [time, channels]
        return torch.from_numpy(y.copy()).to(x.device)

    mix = audio if audio.dim() == 2 else audio.unsqueeze(0)
    chunk = round(chunk_seconds * model.sample_rate)
    estimates = separate_channels(model, converted(mix, sample_rate, model.sample_rate), chunk,
                                  round(overlap * chunk), permutation_invariant, on_chunk=on_chunk)
    n_src, channels = estimates.shape[:2]
    back = converted(estimates.reshape(n_src * channels, -1), model.sample_rate, sample_rate)
    back = fit_length(back, mix.shape[-1]).reshape(n_src, channels, -1)
    return back if audio.dim() == 2 else back[:, 0]


def _loudest_stretch(signal: Tensor, length: int) -> slice:
    """The ``length`` samples of ``signal`` ``[time]`` with the most energy (all of it if shorter)."""
    if signal.shape[-1] <= length:
        return slice(None)
    energy = torch.nn.functional.pad(torch.cumsum(signal.double() ** 2, 0), (1, 0))
    start = int(torch.argmax(energy[length:] - energy[:-length]))
    return slice(start, start + length)


def _peak_cross_correlation(x: Tensor, y: Tensor, max_lag: int) -> Tensor:
    """``[batch, n_src, n_src]``: for every pair (source s of ``x``, source r of ``y``), both
    ``[batch, n_src, time]``, the largest inner product of the two over shifts of at most
    ``max_lag`` samples either way (``max_lag`` 0: the plain inner product)."""
    if max_lag == 0:
        return torch.einsum("bst,brt->bsr", x, y)
    n = x.shape[-1] + max_lag  # zero padding: shifts up to max_lag do not wrap around
    spectra = torch.fft.rfft(x, n).unsqueeze(2) * torch.fft.rfft(y, n).conj().unsqueeze(1)  # [B, S, R, F]
    correlation = torch.fft.irfft(spectra, n)  # [..., lag]: lag l at index l, lag -l at index n - l
    return torch.cat([correlation[..., :max_lag + 1], correlation[..., n - max_lag:]], -1).amax(-1)


def _in_closest_order(estimates: Tensor, compared: Tensor, reference: Tensor) -> Tensor:
    """``estimates`` ``[batch, n_src, time]`` with their sources reordered so that ``compared``
    (the same sources, possibly a stretch of them) is closest to ``reference``."""
    # Least squares (the squared errors of two orders differ only in these inner products),
    # not SI-SDR: a weak model's outputs may be one waveform at two levels.
    _, perm = best_permutation(torch.einsum("bst,brt->bsr", compared, reference))
    return estimates.gather(1, perm.unsqueeze(-1).expand_as(estimates))


class MaskSeparator(Separator):
    """Template for mask models: encode -> estimate masks -> apply -> decode.

    The apply step is :meth:`apply_masks`, a multiplication by default; a model with a
    post-filter (open-unmix's Wiener filter) overrides that method alone, not ``forward``.

    Args:
        encoder: ``[batch, time] -> [batch, frames, freq]`` (complex STFT or real learned basis).
        masker: ``[batch, frames, freq] -> masks [batch, n_src, frames, freq]``, or a tuple
            ``(masks, embedding)`` for models with an embedding head.
        decoder: ``([batch, frames, freq], length) -> [batch, time]``.
        n_src: number of sources.
        sample_rate: Hz.

    Shapes:
        mix: ``[batch, time]`` -> estimates ``[batch, n_src, time]``.
    """

    def __init__(self, encoder: nn.Module, masker: nn.Module, decoder: nn.Module, n_src: int,
                 sample_rate: int) -> None:
        super().__init__(n_src=n_src, sample_rate=sample_rate)
        self.encoder, self.masker, self.decoder = encoder, masker, decoder

    def transform(self, waveforms: Tensor) -> Tensor:
        """Encode waveforms of any leading shape ``[..., time] -> [..., frames, freq]``."""
        lead = waveforms.shape[:-1]
        rep = self.encoder(waveforms.reshape(-1, waveforms.shape[-1]))
        return rep.reshape(*lead, *rep.shape[-2:])

    @property
    def post_filters(self) -> bool:
        """Whether :meth:`apply_masks` does more than multiply, so that it may read the whole
        input (a subclass that overrides it, unless it says otherwise); such a model does not
        stream."""
        return type(self).apply_masks is not MaskSeparator.apply_masks

    def apply_masks(self, masks: Tensor, rep: Tensor) -> Tensor:
        """What the decoder inverts: the masked mixture representation, one per source.

        The default is ``masks * rep``. Override it to refine the masked estimates (a
        post-filter); ``self.training`` tells training from inference.

        Shapes:
            masks ``[batch, n_src, frames, freq]`` and the encoded mixture ``[batch, frames,
            freq]`` -> ``[batch, n_src, frames, freq]``.
        """
        return masks * rep.unsqueeze(1)

    def forward(self, mix: Tensor) -> SeparatorOutput:
        check_mix(mix)
        # Encoders with a minimum input length (the STFT's reflect padding) say so here with
        # the model's sample rate, rather than through torch's "Padding size should be less".
        check_length = getattr(self.encoder, "check_length", None)
        if check_length is not None:
            check_length(mix.shape[-1], self.sample_rate, type(self).__name__)
        rep = self.encoder(mix)  # [B, frames, freq]
        out = self.masker(rep)
        masks, embedding = out if isinstance(out, tuple) else (out, None)
        masked = self.apply_masks(masks, rep)  # [B, S, frames, freq]
        batch, n_src = masked.shape[:2]
        wav = self.decoder(masked.reshape(batch * n_src, *masked.shape[2:]), mix.shape[-1])
        return SeparatorOutput(estimates=wav.reshape(batch, n_src, -1), masks=masks, embedding=embedding)
