"""The trainer under torchrun: 2 processes (gloo) follow the single-process loss curve."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from separena import Budget, Registry
from separena.data.tones import tones_2mix
from separena.train import train


@pytest.mark.slow
def test_two_process_ddp_matches_single_process(tmp_path, fixture_plugin):
    out = tmp_path / "losses.json"
    worker = Path(__file__).parent / "ddp_worker.py"
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                    str(worker), str(out)], check=True, timeout=240, capture_output=True)
    ddp = json.loads(out.read_text())
    registry = Registry(entry_points=False, core_registry=False, plugins=[fixture_plugin("good_minimal")])
    _, single = train(registry.model_config("tiny-masker"), tones_2mix(),
                      Budget(steps=8, batch_size=4, learning_rate=1e-2), segment_seconds=0.25, progress=False)
    assert len(ddp) == len(single.losses) == 8
    assert ddp == pytest.approx(single.losses, rel=1e-3, abs=1e-3)
    assert single.losses[-1] < single.losses[0]  # it is a training curve, not a constant
