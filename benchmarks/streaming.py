"""Streaming the causal models: what a block costs, how far the output lags, and what a long
stream does to the scores.

For each published causal preset of ``speech-causal`` and ``music-causal`` (``StreamingSeparator``,
one thread):

- *real-time factor*: seconds of compute per second of audio, a 20-s stream of noise pushed in blocks
  of 10, 32 and 100 ms, beside ``forward`` on the whole 20 s (the same model offline); *p99
  block*: the 99th percentile of one push's time, which must stay under the block's duration
  for the stream to keep up;
- *latency*: the block, plus the samples the output lags behind the input (measured: the
  largest lag over the stream), plus the block's compute time; and the lag of streams at
  16 and 44.1 kHz, resampled to the model's rate and back (soxr's streaming resampler);
- *agreement*: the largest difference between the streamed and the whole-input estimates
  (float32), relative to their peak;
- the same speed measures for the causal systems at the sizes their papers report
  (untrained: speed does not depend on the weights);
- *long stream* (the speech models, and any ``--checkpoint``): ``--segments`` consecutive test
  mixtures of ``speech-quick`` (4 s each) as one stream, scored per segment (SI-SDRi, each
  segment's own best speaker order), against each mixture separated on its own: a stream never
  resets its recurrent state or its cumulative norm, while training saw 2-s crops that start
  from a zero state.

Usage::

    .venv/bin/python benchmarks/streaming.py [--segments 25] [--streams 4] [--checkpoint PATH ...]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

from separena import StreamingSeparator, default_registry, separate_streaming
from separena.bench.published import PublishedStore, default_published_dir, load_published
from separena.checkpoints import load_checkpoint
from separena.metrics import matched_si_sdr, si_sdr

MODELS = ("mask-inference-causal", "chimera-pp-causal-small", "conv-tasnet-causal-small", "mamba-mask-inference-causal")
MUSIC_MODELS = ("open-unmix-causal-small", "mask-inference-music-causal")  # music-causal's
PAPER_SIZE = {  # untrained, for their speed: the causal systems at the sizes the papers report
    "conv-tasnet causal, paper size (N 512, B 128, H 512, X 8, R 3; untrained)": ("conv-tasnet", {"causal": True}),
    "mask-inference one-way LSTM 4x600, learned norm (untrained)":
        ("mask-inference", {"bidirectional": False, "norm": "learned", "hidden_size": 600, "num_layers": 4}),
}
BLOCKS_MS = (10, 32, 100)
SPEED_SECONDS = 20
OTHER_RATES = (16000, 44100)  # streams resampled to the model's rate and back


def timed_stream(model, mix: torch.Tensor, block: int, rate: int | None = None
                 ) -> tuple[torch.Tensor, list[float], int]:
    """``(estimates [1, n_src, time], seconds per push, largest lag in samples)`` of a stream at
    ``rate`` (the model's by default)."""
    stream = StreamingSeparator(model, rate)
    parts, seconds, lag, given = [], [], 0, 0
    for start in range(0, mix.shape[-1], block):
        begin = time.perf_counter()
        part = stream.push(mix[:, start:start + block])
        seconds.append(time.perf_counter() - begin)
        given += part.shape[-1]
        lag = max(lag, stream.received - given)
        parts.append(part)
    return torch.cat([*parts, stream.flush()], -1), seconds, lag


def speed_row(label: str, model) -> str:
    """The speed table's row of ``model``, on ``SPEED_SECONDS`` of noise at its rate."""
    rate = model.sample_rate
    noise = 0.1 * torch.randn(1, SPEED_SECONDS * rate, generator=torch.Generator().manual_seed(0))
    begin = time.perf_counter()
    with torch.no_grad():
        whole = model(noise).estimates
    whole_rtf = (time.perf_counter() - begin) / SPEED_SECONDS
    cells, lag10, p99_10, difference = [], 0, 0.0, 0.0
    for ms in BLOCKS_MS:
        streamed, seconds, lag = timed_stream(model, noise, rate * ms // 1000)
        p99 = statistics.quantiles(seconds, n=100)[98]
        cells += [f"{sum(seconds) / SPEED_SECONDS:.3f}", f"{1000 * p99:.2f} ms"]
        difference = max(difference, ((streamed - whole).abs().max() / whole.abs().max()).item())
        if ms == BLOCKS_MS[0]:
            lag10, p99_10 = lag, p99
    latency = BLOCKS_MS[0] + 1000 * lag10 / rate + 1000 * p99_10
    resampled = []
    for other in OTHER_RATES:
        other_noise = 0.1 * torch.randn(1, 5 * other, generator=torch.Generator().manual_seed(0))
        _, _, lag = timed_stream(model, other_noise, other // 100, other)  # 5 s, 10-ms blocks
        resampled.append(f"{1000 * lag / other:.0f}")
    return (f"| {label} | {' | '.join(cells)} | {whole_rtf:.3f} | {1000 * lag10 / rate:.1f} | {latency:.1f} | "
            f"{difference:.1e} | {' | '.join(resampled)} |")


def segment_si_sdri(estimates: torch.Tensor, sources: torch.Tensor) -> float:
    """Mean SI-SDRi of ``estimates`` ``[n_src, time]`` against ``sources``, best order."""
    score, _ = matched_si_sdr(estimates.unsqueeze(0), sources.unsqueeze(0), True)
    mix = sources.sum(0, keepdim=True).expand_as(sources).unsqueeze(0)
    return (score - si_sdr(mix, sources.unsqueeze(0))).mean().item()


def long_stream_row(label: str, model, data, streams: int, segments: int) -> str:
    """The long-stream table's row of ``model``: ``streams`` streams of ``segments`` consecutive
    test mixtures each, in 100-ms blocks, every mixture's stretch scored against the mixture
    separated alone."""
    alone, together = [], []
    for s in range(streams):
        items = [data.test[s * segments + i].sources for i in range(segments)]  # [n_src, time] each
        mix = torch.cat([x.sum(0, keepdim=True) for x in items], -1)
        flat = separate_streaming(model, mix, model.sample_rate // 10)[0]
        start = 0
        for sources in items:
            with torch.no_grad():
                alone.append(segment_si_sdri(model(sources.sum(0, keepdim=True)).estimates[0], sources))
            together.append(segment_si_sdri(flat[:, start:start + sources.shape[-1]], sources))
            start += sources.shape[-1]
    gaps = torch.tensor(together) - torch.tensor(alone)
    half = 1.96 * gaps.std().item() / len(gaps) ** 0.5
    by_position = gaps.reshape(streams, segments)  # does the gap grow along the stream?
    return (f"| {label} | {statistics.mean(alone):.2f} | {statistics.mean(together):.2f} | "
            f"{gaps.mean():+.2f} [{gaps.mean() - half:+.2f}, {gaps.mean() + half:+.2f}] | "
            f"{by_position[:, :5].mean():+.2f} | {by_position[:, -5:].mean():+.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=25, help="test mixtures per long stream")
    parser.add_argument("--streams", type=int, default=4, help="long streams (different test mixtures)")
    parser.add_argument("--checkpoint", action="append", default=[], metavar="PATH",
                        help="also a long-stream row for these weights (separena train -o); repeatable")
    args = parser.parse_args()
    torch.set_num_threads(1)
    registry = default_registry()
    data = registry.suite_data("speech-causal")
    published = PublishedStore(default_published_dir())
    speed = ["| model | " + " | ".join(f"RTF {ms} ms blocks | p99 block" for ms in BLOCKS_MS)
             + " | RTF whole input | lag (ms) | latency at 10 ms blocks (ms) | max difference | "
             + " | ".join(f"lag at {rate / 1000:g} kHz (ms)" for rate in OTHER_RATES) + " |",
             "|---" * (2 * len(BLOCKS_MS) + 5 + len(OTHER_RATES)) + "|"]
    quality = ["| model | SI-SDRi, each mixture alone (dB) | in one stream (dB) | difference [95 % interval] "
               "| difference, first 5 segments | last 5 segments |", "|---|---|---|---|---|---|"]
    for name in MODELS:
        _, model, _ = load_published(published, registry, name, "cpu")
        speed.append(speed_row(name, model))
        print(speed[-1], flush=True)

        quality.append(long_stream_row(name, model, data, args.streams, args.segments))
        print(quality[-1], flush=True)
    for path in args.checkpoint:  # weights of your own (`separena train -o`): their long-stream row
        quality.append(long_stream_row(f"`{path}`", load_checkpoint(path, registry)[1].eval(), data, args.streams,
                                       args.segments))
        print(quality[-1], flush=True)
    for name in MUSIC_MODELS:  # 16 kHz, four stems: speed only (the long streams are speech)
        speed.append(speed_row(name, load_published(published, registry, name, "cpu")[1]))
        print(speed[-1], flush=True)
    for label, (architecture, params) in PAPER_SIZE.items():  # speed does not depend on the weights
        torch.manual_seed(0)
        speed.append(speed_row(label, registry.create_model(architecture, **params).eval()))
        print(speed[-1], flush=True)
    extra = "".join(f" --checkpoint {path}" for path in args.checkpoint)
    print(f"\nMeasured {time.strftime('%Y-%m-%d')} with `python benchmarks/streaming.py --segments {args.segments} "
          f"--streams {args.streams}{extra}` on {platform.processor() or platform.machine()}, one thread, torch "
          f"{torch.__version__}.\n")
    print("\n".join(speed), "\n")
    print("\n".join(quality))


if __name__ == "__main__":
    main()
