"""Lookahead is measured from what a model does, not from what it declares: exact for models
whose dependence is known, offline when anything reaches over the whole input (a normalization
over time, k-means over the whole input), and the model is left as it was."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor

from separena import Separator, SeparatorOutput, create_model
from separena.cost import lookahead_seconds

RATE = 8000


class Shifted(Separator):
    """Source 1 is the mixture ``ahead`` samples later (negative: earlier), source 2 the rest."""

    def __init__(self, ahead: int) -> None:
        super().__init__(n_src=2, sample_rate=RATE)
        self.ahead = ahead

    def forward(self, mix: Tensor) -> SeparatorOutput:
        shifted = torch.roll(mix, -self.ahead, -1)
        if self.ahead > 0:
            shifted[..., -self.ahead:] = 0  # no wrap-around: the end sees nothing beyond the input
        elif self.ahead < 0:
            shifted[..., :-self.ahead] = 0
        return SeparatorOutput(estimates=torch.stack([shifted, mix - shifted], 1))


class GlobalGain(Separator):
    """Scaled by the whole input's level: every sample depends on all of it."""

    def __init__(self, differentiable: bool) -> None:
        super().__init__(n_src=2, sample_rate=RATE)
        self.differentiable = differentiable

    def forward(self, mix: Tensor) -> SeparatorOutput:
        gain = mix.std(-1, keepdim=True)
        if not self.differentiable:  # a dependence with no gradient, as k-means assignments have
            gain = torch.floor(1e4 * mix.mean(-1, keepdim=True))
        return SeparatorOutput(estimates=torch.stack([gain * mix, mix], 1))


class Float32Inside(Shifted):
    """Makes a float32 tensor of its own, as some wrapped libraries do: no float64 copy runs."""

    def forward(self, mix: Tensor) -> SeparatorOutput:
        one = torch.ones(1, 1, 1)  # float32 whatever the input
        mix = torch.nn.functional.conv1d(mix.unsqueeze(1), one).squeeze(1)
        return super().forward(mix)


class WithoutGraph(Shifted):
    """Runs without autograd, as a wrapped library's inference may: only the perturbation sees it."""

    def forward(self, mix: Tensor) -> SeparatorOutput:
        with torch.no_grad():
            return super().forward(mix)


@pytest.mark.parametrize("ahead", [0, 1, 37, 400])
@pytest.mark.parametrize("model", [Shifted, Float32Inside, WithoutGraph])
def test_a_known_lookahead_is_measured_to_the_sample(model: type[Shifted], ahead: int) -> None:
    assert lookahead_seconds(model(ahead), 2) == ahead / RATE


def test_outputs_that_lag_the_input_need_no_lookahead() -> None:
    assert lookahead_seconds(Shifted(-50), 2) == 0


@pytest.mark.parametrize("differentiable", [True, False])
def test_a_dependence_on_the_whole_input_is_offline(differentiable: bool) -> None:
    assert lookahead_seconds(GlobalGain(differentiable), 2) == math.inf


def test_a_causal_conv_tasnet_waits_for_its_encoder_window_only() -> None:
    tiny = dict(n_filters=32, filter_length=16, bottleneck_size=16, hidden_size=32, skip_size=16, num_blocks=3,
                num_repeats=1)
    causal = create_model("conv-tasnet-small", causal=True, **tiny)
    assert 8 / RATE <= lookahead_seconds(causal, 2) < 16 / RATE
    assert lookahead_seconds(create_model("conv-tasnet-small", **tiny), 2) == math.inf  # global layer norm


def test_a_one_way_lstm_is_causal_only_without_instance_norm() -> None:
    causal = create_model("mask-inference-small", bidirectional=False, norm="learned", n_fft=256, hop_length=64)
    assert 128 / RATE < lookahead_seconds(causal, 2) < 256 / RATE  # within its STFT window
    assert lookahead_seconds(create_model("mask-inference-small", bidirectional=False), 2) == math.inf


def test_k_means_over_the_whole_input_is_offline_though_it_has_no_gradient() -> None:
    model = create_model("deep-clustering-small", bidirectional=False, norm="learned")
    assert lookahead_seconds(model, 2) == math.inf


def test_measuring_leaves_the_model_as_it_was() -> None:
    model = create_model("mask-inference-small", bidirectional=False, norm="batch").train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    lookahead_seconds(model, 2)
    assert model.training and all(p.dtype == torch.float32 for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
