"""``separena stream``: a causal model as a filter on a live input, raw PCM in and out.

A pipe, block by block: standard input is read ``--block-ms`` at a time, pushed through a
:class:`~separena.StreamingSeparator` (the input's channels as its batch), and whatever sources
that block completes are written to standard output at once (sources as interleaved channels),
so a player downstream hears them with the model's lag, not at the end.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click
import numpy as np
from rich.markup import escape

from ..errors import SeparenaError
from .common import complete_names, context_registry, err_console, one_line_errors
from .options import device_option
from .weights import trained_model, weights_options

__all__ = ["stream"]

FORMATS = {"f32": np.dtype("<f4"), "s16": np.dtype("<i2")}


@click.command()
@click.argument("name", shell_complete=complete_names("models"))
@weights_options
@device_option
@click.option("--rate", type=click.IntRange(min=1), default=None,
              help="Sample rate of the input in Hz, and of the sources out; default: the model's. Another rate is "
                   "resampled to the model's and the sources back (soxr, high quality; its buffers make the lag about "
                   "220 ms at 16 kHz).")
@click.option("--block-ms", type=click.FloatRange(min=0, min_open=True), default=10.0, show_default=True,
              help="Read, separate and write this many milliseconds at a time.")
@click.option("--channels", type=click.IntRange(min=1), default=1, show_default=True,
              help="Interleaved channels of the input, each separated on its own; the output has each source's "
                   "channels side by side (source 1's, then source 2's, ...).")
@click.option("--format", "sample_format", type=click.Choice(sorted(FORMATS)), default="f32", show_default=True,
              help="Raw little-endian samples in and out: 32-bit float, or 16-bit integer (sources clipped to "
                   "full scale, counted at the end).")
@click.pass_context
@one_line_errors
def stream(ctx: click.Context, name: str, checkpoint: Path | None, run_ref: str | None, store_path: Path,
           device: str, rate: int | None, block_ms: float, channels: int, sample_format: str) -> None:
    """Separate a live input with causal model NAME: raw PCM on standard input, its sources
    on standard output as interleaved channels, block by block.

    The model must stream (a causal preset such as mask-inference-causal; others are refused
    with the reason), with published weights or --checkpoint/--run. The output lags the
    input by the model's window (32 ms for mask-inference-causal, 2 ms for
    conv-tasnet-causal-small) plus a block. A live input at the model's rate (8 kHz), the two
    speakers out on the left and right:

    \b
        sox -d -t raw -r 8000 -e float -b 32 -c 1 - \\
          | separena stream mask-inference-causal \\
          | play -t raw -r 8000 -e float -b 32 -c 2 -

    With --channels 2, a stereo input gives each source in stereo: 2 x n_src output channels.
    """
    import torch

    from ..streaming import StreamingSeparator

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    if stdin.isatty():
        raise SeparenaError("standard input is a terminal; expected raw PCM piped in "
                            "(e.g. sox -d -t raw -r 8000 -e float -b 32 -c 1 - | separena stream NAME)")
    config, model = trained_model(context_registry(ctx), name, checkpoint, run_ref, store_path, device)
    try:
        streamer = StreamingSeparator(model, rate)
    except SeparenaError as error:
        raise SeparenaError(f"model {config.name!r}: {error}") from None
    dtype = FORMATS[sample_format]
    frame_bytes = channels * dtype.itemsize  # one sample of every input channel
    block = max(1, round(block_ms * streamer.sample_rate / 1000))
    names = model.source_names or [f"s{k}" for k in range(1, model.n_src + 1)]
    outputs = names if channels == 1 else [f"{name}.{c}" for name in names for c in range(1, channels + 1)]
    err_console.print(f"note: streaming {model.n_src} sources of {escape(config.name)} at {streamer.sample_rate} Hz "
                      f"in {block}-sample blocks, {sample_format} in and out; output channels: {', '.join(outputs)}")
    if channels > 1 and model.source_names is None:
        err_console.print("note: each input channel is separated on its own, so the speakers' order may differ "
                          "between channels (separena separate aligns them in files)")
    clipped, seconds, samples, leftover = 0, 0.0, 0, b""

    def write(sources: torch.Tensor) -> None:  # [channels, n_src, m] -> interleaved frames
        nonlocal clipped
        count, n_src, m = sources.shape
        frames = sources.permute(2, 1, 0).reshape(m, n_src * count).cpu().float().numpy()  # [m, n_src * channels]
        if dtype.kind == "i":
            clipped += int((np.abs(frames) > 1.0).sum())
            frames = np.round(np.clip(frames, -1.0, 1.0) * 32767)
        stdout.write(frames.astype(dtype).tobytes())
        stdout.flush()

    try:
        while True:
            data = leftover + stdin.read(block * frame_bytes - len(leftover))
            if not data:
                break
            whole = len(data) // frame_bytes * frame_bytes
            data, leftover = data[:whole], data[whole:]
            if not data:
                break
            pcm = np.frombuffer(data, dtype).astype(np.float32).reshape(-1, channels).T  # [channels, n]
            if dtype.kind == "i":
                pcm /= 32768.0
            begin = time.perf_counter()
            sources = streamer.push(torch.from_numpy(np.ascontiguousarray(pcm)).to(device))
            seconds += time.perf_counter() - begin
            samples += pcm.shape[1]
            write(sources)
        if samples:
            write(streamer.flush())
    except KeyboardInterrupt:  # the input was stopped by hand: what is written stays written
        pass
    except SeparenaError as error:  # e.g. a stream shorter than the model's window
        raise SeparenaError(f"standard input ({samples} samples at {streamer.sample_rate} Hz) through model "
                            f"{config.name!r}: {error}") from None
    except BrokenPipeError:  # the reader downstream has gone: nothing left to write to
        return
    if leftover:
        unit = f"{sample_format} sample" if channels == 1 else f"frame of {channels} {sample_format} samples"
        err_console.print(f"note: ignored {len(leftover)} trailing bytes (not a whole {unit})")
    if clipped:
        err_console.print(f"note: {clipped} source samples clipped to 16-bit full scale (--format f32 keeps them)")
    if samples:
        audio = samples / streamer.sample_rate
        err_console.print(f"note: streamed {audio:.1f} s of audio with {seconds:.2f} s of compute "
                          f"(real-time factor {seconds / audio:.3f})")
