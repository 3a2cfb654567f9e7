"""Long stereo speech: does each chunk keep one speaker in both channels?

``separate_channels`` (what ``separena separate`` runs on a stereo file) puts the speakers of
each chunk in one order across channels first (cross-correlation at its peak within 2 ms),
then the whole chunk, all channels together, in the order of the chunks before. The earlier
way, kept here to compare ("aligned once"), aligned each channel's chunks on that channel
alone and matched the channels once, over the loudest 30 s: a channel whose chunks drifted to
another order on their own then held the other speaker than the first channel in some chunks.

A recording is ``--segments`` consecutive test mixtures of ``speech-quick`` (4 s each), every
source panned and delayed as in ``stereo_separation.py`` ("panned + delayed"), separated in
8-s chunks sharing 2 s (``separate``'s defaults) by the published weights. Scores per
segment (speakers change from segment to segment, so each segment finds its own best
order): *image SI-SDRi* (both channels as one signal, the stereo image kept whole) and the
share of *split* segments, where the two channels' own best orders disagree (one channel
holds the other speaker).

Usage::

    .venv/bin/python benchmarks/long_stereo.py [--recordings 5] [--segments 10]
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

from separena import default_registry, separate_channels, separate_in_chunks
from separena.bench.published import PublishedStore, default_published_dir, load_published
from separena.metrics import best_permutation, matched_si_sdr, si_sdr
from separena.model import (CHANNEL_ALIGNMENT_SECONDS, CHANNEL_LAG_SECONDS, _loudest_stretch,
                            _peak_cross_correlation)

from stereo_separation import CHUNK_SECONDS, MODELS, OVERLAP, stereo


def aligned_once(model, mix: torch.Tensor, chunk: int, overlap: int) -> torch.Tensor:
    """The earlier alignment: each channel's chunks on their own, then the channels matched once."""
    estimates = separate_in_chunks(model, mix, chunk, overlap, True)  # [channels, n_src, time]
    part = estimates[..., _loudest_stretch(estimates[0].sum(0), round(CHANNEL_ALIGNMENT_SECONDS * model.sample_rate))]
    part = part - part.mean(-1, keepdim=True)
    lag = round(CHANNEL_LAG_SECONDS * model.sample_rate)
    _, perm = best_permutation(_peak_cross_correlation(part[1:], part[:1].expand_as(part[1:]), lag))
    estimates = torch.cat([estimates[:1], estimates[1:].gather(1, perm.unsqueeze(-1).expand_as(estimates[1:]))])
    return estimates.transpose(0, 1)


def segment_scores(estimates: torch.Tensor, images: torch.Tensor, length: int) -> tuple[list[float], list[bool]]:
    """Per segment of ``length`` samples: image SI-SDRi, and whether the channels disagree."""
    image_scores, split = [], []
    for start in range(0, images.shape[-1], length):
        est, ref = estimates[..., start:start + length], images[..., start:start + length]
        mix = ref.sum(0, keepdim=True).expand_as(ref)
        flat = lambda x: x.reshape(1, x.shape[0], -1)  # noqa: E731
        score, _ = matched_si_sdr(flat(est), flat(ref), True)
        image_scores.append((score - si_sdr(flat(mix), flat(ref))).mean().item())
        orders = [best_permutation(torch.einsum("st,rt->sr", est[:, c], ref[:, c]).unsqueeze(0))[1][0].tolist()
                  for c in range(ref.shape[1])]
        split.append(orders[0] != orders[1])
    return image_scores, split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recordings", type=int, default=5)
    parser.add_argument("--segments", type=int, default=10, help="test mixtures per recording")
    args = parser.parse_args()
    torch.set_num_threads(1)
    registry = default_registry()
    data = registry.suite_data("speech-quick")
    published = PublishedStore(default_published_dir())
    lines = [f"Measured {time.strftime('%Y-%m-%d')} with `python benchmarks/long_stereo.py --recordings "
             f"{args.recordings} --segments {args.segments}` on {platform.processor() or platform.machine()}, "
             f"one thread, torch {torch.__version__}.", "",
             "| model | image SI-SDRi, chunk by chunk (dB) | aligned once (dB) | split segments, chunk by chunk "
             "| aligned once |", "|---|---|---|---|---|"]
    for name in MODELS["speech-quick"]:
        _, model, _ = load_published(published, registry, name, "cpu")
        chunk = round(CHUNK_SECONDS * model.sample_rate)
        overlap = round(OVERLAP * chunk)
        generator = torch.Generator().manual_seed(0)
        results = {"joint": ([], []), "once": ([], [])}
        for r in range(args.recordings):
            parts = [stereo(data.test[r * args.segments + i].sources, "panned + delayed", data.sample_rate, generator)
                     for i in range(args.segments)]
            images = torch.cat(parts, -1)  # [n_src, 2, time]
            with torch.no_grad():
                joint = separate_channels(model, images.sum(0), chunk, overlap)
                once = aligned_once(model, images.sum(0), chunk, overlap)
            for key, estimates in (("joint", joint), ("once", once)):
                scores, split = segment_scores(estimates, images, parts[0].shape[-1])
                results[key][0].extend(scores)
                results[key][1].extend(split)
        (js, jsplit), (os_, osplit) = results["joint"], results["once"]
        lines.append(f"| {name} | {sum(js) / len(js):.2f} | {sum(os_) / len(os_):.2f} | "
                     f"{sum(jsplit)}/{len(jsplit)} | {sum(osplit)}/{len(osplit)} |")
        print(lines[-1], flush=True)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
