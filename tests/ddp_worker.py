"""Run under torchrun by test_distributed.py: train the fixture model with DDP (gloo)."""

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist

from separena import Budget, Registry
from separena.data.tones import tones_2mix
from separena.train import train

if __name__ == "__main__":
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    registry = Registry(entry_points=False, core_registry=False,
                        plugins=[str(Path(__file__).parent / "plugins" / "good_minimal.py")])
    _, result = train(registry.model_config("tiny-masker"), tones_2mix(), Budget(steps=8, batch_size=4,
                      learning_rate=1e-2), segment_seconds=0.25, progress=False)
    if dist.get_rank() == 0:
        Path(sys.argv[1]).write_text(json.dumps(result.losses))
    dist.destroy_process_group()
