"""Stereo inputs channel by channel (``separate_channels``, the default of ``separate``) against
the channels averaged first (``separate --mono``): does the stereo image survive, at what cost.

Each test mixture of a suite becomes a stereo recording: every source is panned on its own
(constant power: gains ``cos(a), sin(a)``, ``a = p * pi / 2``, ``p`` drawn from
``U(0.15, 0.85)`` with a fixed seed), and the channels are the sums of the panned sources.
"panned + delayed" also delays each source's right channel by its own ``U(-0.7, 0.7)`` ms
(whole samples), as two microphones a few decimetres apart would: the channels then differ by
more than gains. "centred" puts every source in the middle (``p = 0.5``): both channels are
the same signal.
The published weights of each model then separate it as ``separena separate`` does (8-s
chunks, a quarter shared; a test mixture is shorter, so one centred pass): each channel on its
own, or the channels' mean once, its sources then written to both channels.

Scores (dB, mean over mixtures and sources, speakers matched per mixture):

- *image SI-SDRi*: SI-SDR of each source's two channels taken as one signal (one scale for
  both), minus the mixture's: a source panned left must come out louder on the left.
- *channel SI-SDRi*: each channel against its own reference, one scale per channel, then
  averaged: blind to the image, it says how well each channel alone is separated.

Usage::

    .venv/bin/python benchmarks/stereo_separation.py [--mixtures 40] [--out docs/benchmarks/stereo_separation.md]
"""

from __future__ import annotations

import argparse
import math
import platform
import time
from pathlib import Path

import torch

from separena import default_registry, separate_channels, separate_in_chunks
from separena.bench.published import PublishedStore, default_published_dir, load_published
from separena.metrics import matched_si_sdr, si_sdr

MODELS = {
    "speech-quick": ["mask-inference", "chimera-pp-small", "deep-clustering-small", "conv-tasnet-small",
                     "dprnn-tasnet-small"],
    "music-quick": ["open-unmix-small", "mask-inference-music", "hdemucs-small", "htdemucs-small"],
}
CHUNK_SECONDS, OVERLAP = 8.0, 0.25  # separate's defaults
PAN_SEED = 0


PANS = ("panned", "panned + delayed", "centred")
MAX_DELAY_SECONDS = 0.0007


def stereo(sources: torch.Tensor, pan: str, sample_rate: int, generator: torch.Generator) -> torch.Tensor:
    """``[n_src, time]`` -> images ``[n_src, 2, time]`` (see the module's doc for ``pan``)."""
    n_src = sources.shape[0]
    p = torch.full((n_src,), 0.5) if pan == "centred" else 0.15 + 0.7 * torch.rand(n_src, generator=generator)
    angle = p * math.pi / 2
    gains = torch.stack([torch.cos(angle), torch.sin(angle)], -1)  # [n_src, 2]
    images = sources.unsqueeze(1) * gains.unsqueeze(-1)
    if pan == "panned + delayed":
        most = round(MAX_DELAY_SECONDS * sample_rate)
        delays = torch.randint(-most, most + 1, (n_src,), generator=generator)
        images[:, 1] = torch.stack([torch.roll(images[k, 1], int(d)) for k, d in enumerate(delays)])
        # (a roll wraps d samples around the ends: under 1 ms of a mixture of seconds)
    return images


def scores(estimates: torch.Tensor, images: torch.Tensor, invariant: bool) -> tuple[float, float]:
    """``(image SI-SDRi, channel SI-SDRi)`` of ``estimates`` ``[n_src, 2, time]`` against ``images``."""
    mix = images.sum(0, keepdim=True).expand_as(images)
    flat = lambda x: x.reshape(1, x.shape[0], -1)  # noqa: E731 - both channels as one signal
    image, perm = matched_si_sdr(flat(estimates), flat(images), invariant)
    image_base = si_sdr(flat(mix), flat(images))
    ordered = estimates[perm[0]]  # the sources in the references' order, as the image matched them
    channel = si_sdr(ordered, images) - si_sdr(mix, images)
    return (image - image_base).mean().item(), channel.mean().item()


def run(suite_name: str, mixtures: int) -> list[dict]:
    registry = default_registry()
    data = registry.suite_data(suite_name)
    invariant = data.permutation_invariant
    published = PublishedStore(default_published_dir())
    rows = []
    for name in MODELS[suite_name]:
        _, model, _ = load_published(published, registry, name, "cpu")
        chunk = round(CHUNK_SECONDS * model.sample_rate)
        overlap = round(OVERLAP * chunk)
        for pan in PANS:
            generator = torch.Generator().manual_seed(PAN_SEED)
            totals = {mode: [0.0, 0.0, 0.0] for mode in ("per channel", "mono")}
            for i in range(mixtures):
                images = stereo(data.test[i].sources, pan, data.sample_rate, generator)
                mix = images.sum(0)  # [2, time]
                with torch.no_grad():
                    t0 = time.perf_counter()
                    per_channel = separate_channels(model, mix, chunk, overlap, invariant)
                    t1 = time.perf_counter()
                    mono = separate_in_chunks(model, mix.mean(0, keepdim=True), chunk, overlap, invariant)
                    t2 = time.perf_counter()
                mono = mono[0].unsqueeze(1).expand(-1, 2, -1)  # the mono sources in both channels
                for mode, estimates, seconds in (("per channel", per_channel, t1 - t0), ("mono", mono, t2 - t1)):
                    image, channel = scores(estimates, images, invariant)
                    totals[mode][0] += image / mixtures
                    totals[mode][1] += channel / mixtures
                    totals[mode][2] += seconds
            for mode, (image, channel, seconds) in totals.items():
                rows.append({"suite": suite_name, "model": name, "pan": pan,
                             "mode": mode, "image": image, "channel": channel, "seconds": seconds})
            print(rows[-2], rows[-1], flush=True)
    return rows


def markdown(rows: list[dict], args: argparse.Namespace) -> str:
    lines = [f"Measured {time.strftime('%Y-%m-%d')} with `python benchmarks/stereo_separation.py --mixtures "
             f"{args.mixtures}` on {platform.processor() or platform.machine()}, one thread, torch "
             f"{torch.__version__}: the published weights of each model, the first {args.mixtures} test mixtures "
             "of its suite.", "",
             "| suite | model | pan | image SI-SDRi per channel | image SI-SDRi --mono | channel SI-SDRi per channel "
             "| channel SI-SDRi --mono | seconds per channel / --mono |", "|---|---|---|---|---|---|---|---|"]
    keyed = {(r["suite"], r["model"], r["pan"], r["mode"]): r for r in rows}
    for suite, model, pan, _ in [k for k in keyed if k[3] == "per channel"]:
        a, b = keyed[suite, model, pan, "per channel"], keyed[suite, model, pan, "mono"]
        lines.append(f"| {suite} | {model} | {pan} | {a['image']:.2f} | {b['image']:.2f} | {a['channel']:.2f} "
                     f"| {b['channel']:.2f} | {a['seconds']:.1f} / {b['seconds']:.1f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mixtures", type=int, default=40, help="test mixtures per suite")
    parser.add_argument("--suite", choices=sorted(MODELS), action="append", help="default: both")
    parser.add_argument("--out", type=Path, default=None, help="write the table here (Markdown)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = [row for suite in (args.suite or sorted(MODELS, reverse=True)) for row in run(suite, args.mixtures)]
    table = markdown(rows, args)
    print(table)
    if args.out:
        args.out.write_text(table)


if __name__ == "__main__":
    main()
