"""Training batches built on the GPU against batches built by the CPU: time per batch, and the
same numbers.

    python benchmarks/device_batches.py [--device cuda] [--batch-size 32] [--steps 50] [--data default|synthetic]

``espeak-2mix``'s training stream draws its random numbers on the CPU and can build the batch
itself on a device (``SpeakerMixtureStream.to``: pools joined in device memory, crops, speed,
EQ/band limits, noise and gains there); the trainer does so on a GPU when it has no data
workers (``--data-workers 0``). This script times ``batch(seed, step, ...)`` both ways for the
same steps (the device's timing waits for the device), and reports the largest difference
between the two (float32 rounding of FFTs on another device; the CPU stream equals its joined
form bit for bit, tests/test_data.py). ``--data synthetic`` uses noise pools of the default
data's size (457 min of eSpeak voices, 207 min of real speakers at 8 kHz), for a machine that
cannot build the default data; ``default`` builds or reads it.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def synthetic_stream(minutes: float, real_minutes: float, sample_rate: int = 8000):
    """A default-like stream (augmentation on, half the sources real) over noise pools."""
    from separena.data.augment import AugmentConfig
    from separena.data.pool import UtterancePool
    from separena.data.stream import SpeakerMixtureStream

    def pool(total_minutes: float, speakers: int, seed: int) -> UtterancePool:
        rng = np.random.default_rng(seed)
        lengths = rng.integers(sample_rate, 4 * sample_rate, size=int(total_minutes * 60 / 2.5))
        audio = (rng.standard_normal(int(lengths.sum()), dtype=np.float32) * 0.05)
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        speaker_of = np.arange(len(lengths)) * speakers // len(lengths)  # grouped, none empty
        return UtterancePool(audio=audio, offsets=offsets, lengths=lengths.astype(np.int64),
                             speaker_of=speaker_of, speakers=[f"s{k}" for k in range(speakers)])

    real = pool(real_minutes, 45, 1)
    real = UtterancePool(audio=real.audio, offsets=real.offsets[:45], lengths=np.diff(
        np.concatenate([real.offsets[:45], [len(real.audio)]])), speaker_of=np.arange(45), speakers=real.speakers)
    return SpeakerMixtureStream(pool(minutes, 600, 0), sample_rate, AugmentConfig(), real=real, real_fraction=0.5)


def timed(stream, steps: int, batch_size: int, samples: int, device: torch.device) -> tuple[float, list]:
    out = []
    stream.batch(0, 10**6, batch_size, samples)  # warm-up (kernels, caches)
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for step in range(steps):
        out.append(stream.batch(0, step, batch_size, samples))
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / steps, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--data", choices=["default", "synthetic"], default="synthetic")
    args = ap.parse_args()
    if args.data == "default":
        from separena.data.speech import espeak_2mix

        stream = espeak_2mix().train
    else:
        stream = synthetic_stream(457, 207)
    samples = int(args.seconds * stream.sample_rate)
    device = torch.device(args.device)
    cpu_s, cpu = timed(stream, args.steps, args.batch_size, samples, torch.device("cpu"))
    on = stream.to(device) if device.type != "cpu" else stream._joined_on(device)
    dev_s, dev = timed(on, args.steps, args.batch_size, samples, device)
    diff = max(max((a[0] - b[0].cpu()).abs().max().item(), (a[1] - b[1].cpu()).abs().max().item())
               for a, b in zip(cpu, dev))
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"batch {args.batch_size} x {args.seconds:g} s, {args.steps} steps, {torch.get_num_threads()} CPU thread(s): "
          f"CPU {1e3 * cpu_s:.1f} ms/batch; on {name} {1e3 * dev_s:.1f} ms/batch ({cpu_s / dev_s:.1f}x); "
          f"largest difference {diff:.2e}")


if __name__ == "__main__":
    main()
