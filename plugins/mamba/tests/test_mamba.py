"""The Mamba stack on its own: one-way layers stream frame by frame as ``forward`` computes them
(parallel scan) and never look ahead; bidirectional layers do look ahead and refuse to stream."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from separena import SeparenaError
from separena_mamba.model import MambaStack


@settings(max_examples=25, deadline=None)
@given(sizes=st.lists(st.integers(1, 40), min_size=1, max_size=4), frames=st.integers(1, 70),
       num_layers=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_one_way_stack_streamed_in_pieces_equals_forward(sizes, frames, num_layers, seed):
    torch.manual_seed(seed)
    stack = MambaStack(5, d_model=6, num_layers=num_layers, d_state=3, bidirectional=False).double().eval()
    x = torch.randn(2, frames, 5, dtype=torch.float64)
    state, parts, start = None, [], 0
    with torch.no_grad():
        while start < frames:
            size = sizes[len(parts) % len(sizes)]
            out, state = stack.step(x[:, start:start + size], state)
            parts.append(out)
            start += size
        torch.testing.assert_close(torch.cat(parts, 1), stack(x), atol=1e-10, rtol=0)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_only_bidirectional_layers_see_the_future(bidirectional):
    torch.manual_seed(0)
    stack = MambaStack(4, d_model=8, num_layers=2, d_state=4, bidirectional=bidirectional).double().eval()
    x = torch.randn(1, 30, 4, dtype=torch.float64)
    later = x.clone()
    later[:, 20:] += 1.0  # change only frames 20..29
    with torch.no_grad():
        change = (stack(later) - stack(x))[:, :20].abs().max().item()
    assert (change > 1e-6) if bidirectional else (change == 0.0)


def test_bidirectional_stack_refuses_to_stream_in_one_line():
    stack = MambaStack(4, d_model=8, num_layers=1, bidirectional=True)
    with pytest.raises(SeparenaError, match="bidirectional=False") as error:
        stack.step(torch.randn(1, 3, 4), None)
    assert "\n" not in str(error.value)


def test_sizes_below_one_are_refused():
    with pytest.raises(SeparenaError, match="d_state; expected a positive integer, got 0"):
        MambaStack(4, d_model=8, num_layers=1, d_state=0)


def test_dual_path_mamba_is_the_shared_dual_path_layout_with_mamba_paths():
    from separena.blocks import DualPathBlock, DualPathMasker
    from separena_mamba.dpmamba import dpmamba

    model = dpmamba(n_filters=16, d_model=8, num_repeats=2, d_state=4, chunk_size=10)
    assert isinstance(model.masker, DualPathMasker) and model.masker.bottleneck.bias is None
    blocks = list(model.masker.dual_path)
    assert len(blocks) == 2 and all(isinstance(block, DualPathBlock) for block in blocks)
    paths = [path for block in blocks for path in (block.intra, block.inter)]
    assert all(isinstance(path, MambaStack) and path.config.bidirectional for path in paths)


def test_dual_path_mamba_refuses_no_blocks_in_one_line():
    from separena_mamba.dpmamba import dpmamba

    with pytest.raises(SeparenaError, match="dpmamba: num_repeats; expected a positive integer, got 0") as error:
        dpmamba(num_repeats=0)
    assert "\n" not in str(error.value)
