"""speechbrain adapter: the batch items of ReSepFormer and of causal SkiM kept apart (output
length and input checks: the contract kit, test_contract.py)."""

from __future__ import annotations

import pytest
import torch
from separena.testing import tiny_config


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


# Two memory networks of speechbrain fold batch and segments together, so batch items would
# interact; the wrapper runs them one mixture at a time. These tests document why (if one ever
# fails, that model's per_item can go).
@pytest.mark.parametrize(("name", "overrides"), [
    # ReSepFormer: the "av" memory transformer runs over [1, batch * segments, N]
    ("speechbrain-resepformer", {}),
    # causal SkiM: MemLSTM shifts states along batch * segments, so item i's first segment
    # would get item i-1's last memory
    ("speechbrain-skim", {"causal": True}),
], ids=["resepformer", "causal-skim"])
def test_memory_would_mix_batch_items_without_per_item(name, overrides):
    model = tiny_config(name, **overrides).build().eval()
    mix = 0.1 * torch.randn(3, 4000)
    with torch.no_grad():
        alone = torch.cat([model(mix[i:i + 1]).estimates for i in range(3)])
        assert torch.allclose(model(mix).estimates, alone, atol=1e-5)
        model.per_item = False
        assert not torch.allclose(model(mix).estimates, alone, atol=1e-5)
