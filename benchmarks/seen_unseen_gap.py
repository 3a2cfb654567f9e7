"""Score a trained checkpoint on unseen voices, on new mixtures of its training voices, and on
real recorded speech: the generalisation gap of issue "embedded speech data that teaches
real separation".

    separena train mask-inference --minutes 10 -o runs/mi10.pt
    python benchmarks/seen_unseen_gap.py runs/mi10.pt [--n 200]

Training-voice mixtures are drawn from the training stream with augmentation and real sources
off and a seed no training run uses, cropped to the test length (4 s).
"""

from __future__ import annotations

import argparse
import json

import torch

from separena import default_registry
from separena.checkpoints import load_checkpoint
from separena.data import TensorMixtureSet
from separena.data.speech import espeak_2mix
from separena.evaluation import evaluate

UNUSED_SEED = 987_654  # training runs use the suite seeds (0, 1, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--n", type=int, default=200, help="mixtures per set")
    args = parser.parse_args()
    _, model = load_checkpoint(args.checkpoint, default_registry())
    data = espeak_2mix()
    plain = espeak_2mix(augment=False, real_fraction=0.0, reverb=0.0, real_dev_set=False)
    seconds = data.test[0].mix.shape[-1] / data.sample_rate
    mixes, sources = [], []
    for step in range(0, args.n, 8):
        mix, src = plain.train.batch(UNUSED_SEED, step, 8, int(seconds * data.sample_rate))
        mixes.extend(mix)
        sources.extend(src)
    seen = TensorMixtureSet(mixes[: args.n], sources[: args.n])
    scores = {name: evaluate(model, examples, progress=False).mean
              for name, examples in {"unseen voices (test)": data.test, "training voices": seen,
                                     **data.extra_tests}.items()}
    scores["gap (training - unseen)"] = scores["training voices"] - scores["unseen voices (test)"]
    print(json.dumps({k: round(v, 2) for k, v in scores.items()}, indent=1))


if __name__ == "__main__":
    torch.set_num_threads(2)
    main()
