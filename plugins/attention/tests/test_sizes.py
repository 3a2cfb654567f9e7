"""Parameter counts of the shipped presets, as documented in docs/architectures/sepformer.md and
tf-gridnet.md (the paper presets are built on CPU and counted, never trained)."""

import pytest
import torch

import separena
from separena.blocks import PositionalEncoding, TransformerStack

# preset -> (count documented in the docs, count published in the paper or None)
COUNTS = {
    "sepformer-small": (295_809, None),
    "sepformer-paper": (25_679_361, 25.7e6),
    "tf-gridnet-small": (153_070, None),
    "tf-gridnet-paper": (14_435_602, 14.4e6),
}


@pytest.mark.parametrize("preset", sorted(COUNTS))
def test_parameter_count(preset: str) -> None:
    model = separena.create_model(preset)
    documented, _ = COUNTS[preset]
    assert sum(p.numel() for p in model.parameters()) == documented


@pytest.mark.parametrize("preset", ["sepformer-paper", "tf-gridnet-paper"])
def test_paper_presets_within_one_percent_of_published(preset: str) -> None:
    documented, published = COUNTS[preset]
    assert abs(documented / published - 1) < 0.01


def test_tf_gridnet_defaults_are_the_paper_preset() -> None:
    assert separena.default_registry().model_config("tf-gridnet-paper").params == \
        separena.default_registry().model_config("tf-gridnet").params


def test_small_presets_fit_the_quick_budget() -> None:
    for preset in ("sepformer-small", "tf-gridnet-small"):
        assert 50_000 < COUNTS[preset][0] < 500_000


def test_positional_encoding_is_the_sinusoid_table() -> None:
    x = torch.zeros(1, 5, 6)
    table = PositionalEncoding()(x)[0]
    assert torch.allclose(table[:, 0], torch.sin(torch.arange(5.0)))
    assert torch.allclose(table[:, 1], torch.cos(torch.arange(5.0)))
    assert torch.allclose(table[3, 4], torch.sin(torch.tensor(3.0) / 10000 ** (4 / 6)))


def test_transformer_stack_sees_order_only_through_positions() -> None:
    torch.manual_seed(0)
    x, perm = torch.randn(2, 7, 8), torch.randperm(7)
    plain = TransformerStack(8, 1, 2, 16, positional=False).eval()
    with torch.no_grad():
        assert torch.allclose(plain(x)[:, perm], plain(x[:, perm]), atol=1e-5)  # permutation-equivariant
        positional = TransformerStack(8, 1, 2, 16).eval()
        positional.load_state_dict(plain.state_dict())
        assert not torch.allclose(positional(x)[:, perm], positional(x[:, perm]), atol=1e-3)


def test_tf_gridnet_is_scale_equivariant() -> None:
    """The mixture is normalised to unit std and the estimates scaled back: gain in, gain out."""
    torch.manual_seed(0)
    model = separena.create_model("tf-gridnet", n_fft=32, hop_length=8, embed_dim=8, kernel_size=2,
                                  hidden_size=8, num_blocks=1, num_heads=2, attention_dim=2).eval()
    mix = torch.randn(1, 2000)
    with torch.no_grad():
        a, b = model(mix).estimates, model(3.0 * mix).estimates
    assert torch.allclose(3.0 * a, b, atol=1e-4)


def test_sepformer_matches_speechbrain_parameter_for_parameter(monkeypatch: pytest.MonkeyPatch) -> None:
    """speechbrain's SepFormer built from sepformer-small's configuration (the mapping the speed
    benchmark uses) has the same number of parameters."""
    import importlib.util
    import sys
    from pathlib import Path

    registry = separena.default_registry()
    if registry.unavailable_reason("speechbrain-sepformer"):
        pytest.skip(registry.unavailable_reason("speechbrain-sepformer"))
    path = Path(__file__).resolve().parents[3] / "benchmarks" / "speed_vs_speechbrain.py"
    spec = importlib.util.spec_from_file_location("speed_vs_speechbrain", path)
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, bench)  # its dataclasses look their module up
    spec.loader.exec_module(bench)
    ours = registry.create_model("sepformer-small")
    theirs = registry.create_model("speechbrain-sepformer",
                                   **bench.speechbrain_params(registry.model_config("sepformer-small").params))
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters()) == 295_809


def test_inference_macs_count_the_transformer_layers() -> None:
    """In eval mode nn.TransformerEncoderLayer takes a fused fast path that the FLOP counter
    cannot see; count_macs switches it off, so eval and train count the same products."""
    from separena.cost import count_macs

    model = separena.create_model("sepformer-small")
    mix = 0.1 * torch.randn(1, 4000)
    assert count_macs(model.eval(), mix) == count_macs(model.train(), mix) > 3e8
    assert torch.backends.mha.get_fastpath_enabled()  # restored
