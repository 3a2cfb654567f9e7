"""The chunked selective scan gives mambapy's parallel scan's outputs and gradients (the
formulation GPUs keep), for any shapes and any chunking, and is what the Mamba layers run."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from separena_mamba.model import MambaStack
from separena_mamba.scan import parallel_scan, selective_scan


def scan_inputs(batch: int, frames: int, channels: int, state: int, seed: int) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)

    def draw(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=gen, dtype=torch.float64)

    delta = torch.nn.functional.softplus(draw(batch, frames, channels))
    A = -torch.exp(draw(channels, state))
    tensors = [draw(batch, frames, channels), delta, A, draw(batch, frames, state), draw(batch, frames, state),
               draw(channels)]
    return [t.requires_grad_() for t in tensors]


@settings(max_examples=30, deadline=None)
@given(batch=st.integers(1, 3), frames=st.integers(1, 40), channels=st.integers(1, 5), state=st.integers(1, 4),
       frames_per_chunk=st.integers(1, 45), seed=st.integers(0, 2**16))
def test_scan_and_its_gradients_equal_the_parallel_scan(batch, frames, channels, state, frames_per_chunk, seed):
    inputs = scan_inputs(batch, frames, channels, state, seed)
    chunk_elements = frames_per_chunk * batch * channels * state
    ours = selective_scan(*inputs, chunk_elements=chunk_elements)
    with torch.no_grad():  # evaluation keeps no chunk states, and gives the same numbers
        assert torch.equal(selective_scan(*inputs, chunk_elements=chunk_elements), ours.detach())
    reference = parallel_scan(*inputs)
    torch.testing.assert_close(ours, reference, atol=1e-10, rtol=1e-10)
    weights = torch.randn_like(ours)
    for got, expected in zip(torch.autograd.grad(ours, inputs, weights),
                             torch.autograd.grad(reference, inputs, weights), strict=True):
        torch.testing.assert_close(got, expected, atol=1e-9, rtol=1e-9)


def test_scan_passes_gradcheck_across_chunks():
    inputs = scan_inputs(2, 7, 3, 2, seed=0)
    assert torch.autograd.gradcheck(lambda *t: selective_scan(*t, chunk_elements=2 * 2 * 3 * 2), inputs)


def test_mamba_layers_run_this_scan():
    torch.manual_seed(0)
    stack = MambaStack(5, d_model=8, num_layers=2, d_state=4, bidirectional=True).double()
    x = torch.randn(3, 50, 5, dtype=torch.float64)
    ours = stack(x)
    for layer in stack.blocks.layers:
        assert layer.mixer.selective_scan is selective_scan
        del layer.mixer.selective_scan  # back to mambapy's own parallel scan
    torch.testing.assert_close(ours, stack(x), atol=1e-10, rtol=1e-10)
