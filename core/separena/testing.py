"""The contract kit every architecture passes (in the spirit of scikit-learn's ``check_estimator``).

A plugin's test file is two lines::

    from separena.testing import parametrize_with_checks
    test_contract = parametrize_with_checks(["my-net"])

Each ``check_*`` builds the architecture from its ``test_params`` (tiny configs that run in
seconds on CPU) and raises ``AssertionError`` with a message naming the architecture, the
check and the failing value. A spec may declare ``expected_failures={"check_name": "reason"}``;
those checks become xfails with that reason.
"""

from __future__ import annotations

import io
import re
import typing
from collections.abc import Callable, Sequence
from typing import Any, Literal

import torch

from .errors import SeparenaError, first_line
from .model import Separator, SeparatorOutput, separate
from .registry import ModelConfig, Registry, default_registry
from .streaming import StreamingSeparator, separate_streaming

__all__ = ["CHECKS", "check_architecture", "parametrize_with_checks", "tiny_config"]

LENGTHS_SECONDS = (0.5, 0.77)
BATCH_SIZES = (1, 3)
REJECTED_PARAM_NAMES = {"num_sources": "n_src", "num_src": "n_src", "nsrc": "n_src", "sr": "sample_rate",
                        "fs": "sample_rate", "hidden_dim": "hidden_size", "n_layers": "num_layers"}


def tiny_config(name: str, registry: Registry | None = None, **overrides: Any) -> ModelConfig:
    """The architecture ``name`` resolved with its ``test_params`` (and ``overrides``)."""
    registry = registry or default_registry()
    spec = registry.architectures[registry.preset(name).architecture]
    return registry.model_config(name, **{**spec.test_params, **overrides})


def _build(config: ModelConfig, seed: int = 0, **overrides: Any) -> Separator:
    torch.manual_seed(seed)
    params = {**config.params, **overrides}
    model = config.spec.builder()(**params)
    if not isinstance(model, Separator):
        raise AssertionError(f"{config.name}: builder returned {type(model).__name__}, expected a Separator")
    return model


def _inputs(model: Separator, batch: int, seconds: float, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """``(mix [batch, time], sources [batch, n_src, time])`` of about ``seconds`` at the model's
    rate: an odd number of samples, so a multiple of no even hop, stride or chunk size."""
    gen = torch.Generator().manual_seed(seed)
    length = int(seconds * model.sample_rate) | 1
    sources = 0.1 * torch.randn(batch, model.n_src, length, generator=gen)
    return sources.sum(1), sources


def _run(model: Separator, mix: torch.Tensor, sources: torch.Tensor) -> SeparatorOutput:
    return separate(model, mix, sources)


def check_builds_from_defaults(config: ModelConfig) -> None:
    """The builder runs with only its defaults (what `create_model(name)` does)."""
    model = config.spec.builder()()
    if not isinstance(model, Separator):
        raise AssertionError(f"{config.name}: default build returned {type(model).__name__}, expected a Separator")


def check_output_shapes(config: ModelConfig) -> None:
    """Estimates are ``[batch, n_src, time]`` for several batch sizes and odd lengths."""
    model = _build(config).eval()
    for batch in BATCH_SIZES:
        for seconds in LENGTHS_SECONDS:
            mix, sources = _inputs(model, batch, seconds)
            with torch.no_grad():
                out = _run(model, mix, sources)
            if not isinstance(out, SeparatorOutput):
                raise AssertionError(f"{config.name}: forward returned {type(out).__name__}, expected SeparatorOutput")
            want = (batch, model.n_src, mix.shape[-1])
            if tuple(out.estimates.shape) != want:
                raise AssertionError(f"{config.name}: estimates shape {tuple(out.estimates.shape)} for input "
                                     f"{tuple(mix.shape)}, expected {want}")


def check_rejects_bad_input(config: ModelConfig) -> None:
    """A 1-D or 3-D input raises SeparenaError, not a shape error deep inside the model; a
    ``[batch, 1, time]`` input too (some libraries' models take it, and it must not be read as a
    batch of one-sample mixtures)."""
    model = _build(config).eval()
    mix, sources = _inputs(model, 2, 0.5)
    for bad in (mix[0], mix.unsqueeze(1), mix.unsqueeze(1).repeat(1, 3, 1)):
        try:
            _run(model, bad, sources)
        except SeparenaError:
            continue
        except Exception as exc:
            raise AssertionError(f"{config.name}: input of shape {tuple(bad.shape)} raised "
                                 f"{type(exc).__name__}, expected SeparenaError") from exc
        raise AssertionError(f"{config.name}: input of shape {tuple(bad.shape)} was accepted")


def check_gradients_reach_all_parameters(config: ModelConfig) -> None:
    """A backward pass through the objective gives every parameter a finite, non-None gradient."""
    from .train import objective_loss

    model = _build(config).train()
    mix, sources = _inputs(model, 2, 0.5)
    loss = objective_loss(config, model, _run(model, mix, sources), sources)
    loss.backward()
    for name, param in model.named_parameters():
        if param.requires_grad and param.grad is None:
            raise AssertionError(f"{config.name}: No gradient for {name}")
        if param.grad is not None and not torch.isfinite(param.grad).all():
            raise AssertionError(f"{config.name}: non-finite gradient for {name}")


def check_trains_one_step(config: ModelConfig) -> None:
    """One step of the shared training loop gives a finite loss and changes every trainable
    parameter whose gradient on that step's batch is not exactly zero (e.g. a bias that a
    batch norm right after it cancels gets none, and cannot move)."""
    from .data import SeparationData, TensorMixtureSet
    from .data.tones import ToneStream
    from .specs import Budget
    from .train import objective_loss, train

    sample_rate, n_src = config.params["sample_rate"], config.params["n_src"]
    held_out = TensorMixtureSet([], [])
    stream = ToneStream(sample_rate, n_src)
    data = SeparationData("tones@contract", sample_rate, n_src, stream, held_out, held_out)
    torch.manual_seed(0)  # train() builds under the same seed
    fresh = config.build().train()
    before = {k: p.detach().clone() for k, p in fresh.named_parameters() if p.requires_grad}
    mix, sources = stream.batch(0, 0, 2, int(0.5 * sample_rate))
    objective_loss(config, fresh, _run(fresh, mix, sources), sources).backward()
    silent = {k for k, p in fresh.named_parameters() if p.grad is not None and not p.grad.any()}
    model, result = train(config, data, Budget(steps=1, batch_size=2), segment_seconds=0.5, progress=False)
    if result.steps != 1 or not all(map(torch.isfinite, torch.tensor(result.losses))):
        raise AssertionError(f"{config.name}: one training step gave losses {result.losses}")
    after = dict(model.named_parameters())
    unchanged = [k for k, p in before.items() if k not in silent and torch.equal(p, after[k].detach())]
    if unchanged:
        raise AssertionError(f"{config.name}: parameters unchanged after one training step: {unchanged[:5]}")


def _flips(config: ModelConfig) -> list[dict[str, Any]]:
    """Overrides for the configuration as given and with each true/false parameter flipped."""
    return [{}] + [{k: not v} for k, v in config.params.items() if isinstance(v, bool)]


def check_batch_independence(config: ModelConfig) -> None:
    """In eval mode, each item's estimate does not depend on the other items in the batch, with
    every true/false parameter as configured and flipped (a causal variant may fold the batch
    differently)."""
    for flip in _flips(config):
        try:
            model = _build(config, **flip).eval()
        except Exception:  # a combination the builder refuses is not this check's business
            continue
        mix, sources = _inputs(model, 3, 0.5)
        with torch.no_grad():
            together = _run(model, mix, sources).estimates
            alone = torch.cat([_run(model, mix[i:i + 1], sources[i:i + 1]).estimates for i in range(3)])
        err = (together - alone).abs().max().item()
        if not torch.allclose(together, alone, atol=1e-4, rtol=1e-3):
            where = ", ".join(f"{k}={v}" for k, v in flip.items()) or "as configured"
            raise AssertionError(f"{config.name} ({where}): batch items interact; max difference {err:.3g}")


STREAM_BLOCKS = (1, 3, 64, 127, 400, 1000)  # samples per pushed block, cycled: single samples to many frames


def check_streaming(config: ModelConfig) -> None:
    """A configuration that streams (:class:`~separena.streaming.StreamingSeparator`) gives, block
    by block, what ``forward`` gives on the whole input (float64, within 1e-9 of the peak); one
    that cannot stream is refused with a one-line :class:`SeparenaError`. Tried as configured,
    with each true/false parameter flipped, and with each flip combined with each other value
    of a ``Literal`` parameter (a causal variant may take two changes: one-way layers, and a
    norm without whole-input statistics)."""
    try:
        hints = typing.get_type_hints(config.spec.builder())
    except Exception:
        hints = {}
    variants = [*_flips(config)]
    for flip in _flips(config)[1:]:
        variants += [{**flip, k: alt} for k, v in config.params.items() if k not in flip
                     and typing.get_origin(hints.get(k)) is Literal for alt in _altered(v, hints[k])]
    for params in variants:
        try:
            model = _build(config, **params).eval()
        except Exception:  # a combination the builder refuses is not this check's business
            continue
        where = ", ".join(f"{k}={v!r}" for k, v in params.items()) or "as configured"
        try:
            StreamingSeparator(model)
        except SeparenaError as error:
            if "\n" in str(error):
                raise AssertionError(f"{config.name} ({where}): refusal to stream is not one line: {error}")
            continue
        model = model.double()
        mix = _inputs(model, 2, 0.5)[0].double()
        streamed = separate_streaming(model, mix, STREAM_BLOCKS)
        with torch.no_grad():
            whole = model(mix).estimates
        if streamed.shape != whole.shape:
            raise AssertionError(f"{config.name} ({where}): streamed {list(streamed.shape)} samples, "
                                 f"forward gives {list(whole.shape)}")
        err = (streamed - whole).abs().max().item()
        if err > 1e-9 * whole.abs().max().item():
            raise AssertionError(f"{config.name} ({where}): streamed output differs from forward by {err:.3g}")


def check_seeded_determinism(config: ModelConfig) -> None:
    """Two builds under the same seed have the same weights and give the same output."""
    a, b = _build(config, seed=123).eval(), _build(config, seed=123).eval()
    mix, sources = _inputs(a, 2, 0.5)
    with torch.no_grad():
        ya, yb = _run(a, mix, sources).estimates, _run(b, mix, sources).estimates
    if not torch.equal(ya, yb):
        raise AssertionError(f"{config.name}: same seed, different outputs (max diff {(ya - yb).abs().max():.3g})")


def check_state_dict_round_trip(config: ModelConfig) -> None:
    """Weights saved with torch.save load with ``weights_only=True`` and reproduce the output."""
    a, b = _build(config, seed=1).eval(), _build(config, seed=2).eval()
    buffer = io.BytesIO()
    torch.save(a.state_dict(), buffer)
    buffer.seek(0)
    b.load_state_dict(torch.load(buffer, weights_only=True))
    mix, sources = _inputs(a, 2, 0.5)
    with torch.no_grad():
        ya, yb = _run(a, mix, sources).estimates, _run(b, mix, sources).estimates
    if not torch.allclose(ya, yb, atol=1e-6):
        raise AssertionError(f"{config.name}: output differs after a state-dict round trip")


def check_no_nan_on_silence(config: ModelConfig) -> None:
    """All-zero input gives finite estimates."""
    model = _build(config).eval()
    mix, sources = _inputs(model, 2, 0.5)
    with torch.no_grad():
        out = _run(model, torch.zeros_like(mix), torch.zeros_like(sources)).estimates
    if not torch.isfinite(out).all():
        raise AssertionError(f"{config.name}: non-finite estimates on silence")


SHORT_LENGTHS = (1, 7, 100)  # samples: shorter than most filters, windows and chunks


def _short_run(config: ModelConfig, model: Separator, length: int) -> str | None:
    """Separate two random mixtures of ``length`` samples: ``None`` if the estimates are right,
    else the one-line :class:`SeparenaError` that refused them (anything else fails the check)."""
    sources = 0.1 * torch.randn(2, model.n_src, length, generator=torch.Generator().manual_seed(length))
    mix = sources.sum(1)
    try:
        with torch.no_grad():
            estimates = _run(model, mix, sources).estimates
    except SeparenaError as error:
        if "\n" in str(error):
            raise AssertionError(f"{config.name}: input of {length} samples refused in more than one line: "
                                 f"{error}") from error
        return str(error)
    except Exception as exc:
        raise AssertionError(f"{config.name}: input of {length} samples raised {type(exc).__name__} "
                             f"({first_line(exc)}), expected estimates or a SeparenaError") from exc
    if tuple(estimates.shape) != (2, model.n_src, length) or not torch.isfinite(estimates).all():
        raise AssertionError(f"{config.name}: input of {length} samples gave estimates of shape "
                             f"{tuple(estimates.shape)} (finite: {bool(torch.isfinite(estimates).all())}), "
                             f"expected finite [2, {model.n_src}, {length}]")
    return None


def check_short_inputs(config: ModelConfig) -> None:
    """An input of a few samples gives finite estimates of its length, or a one-line
    :class:`SeparenaError`, never an error from deep inside the model or its library, nor NaN.
    Where the error names the shortest input (``expected at least N samples``), N samples work."""
    model = _build(config).eval()
    stated: set[int] = set()
    for length in SHORT_LENGTHS:
        refusal = _short_run(config, model, length)
        if refusal is not None and (found := re.search(r"expected at least (\d+) samples", refusal)):
            stated.add(int(found.group(1)))
    for least in stated:
        if _short_run(config, model, least) is not None:
            raise AssertionError(f"{config.name}: says an input needs at least {least} samples, but refuses {least}")


def _altered(value: Any, annotation: Any) -> list[Any]:
    """Other values worth trying for a parameter (largest change first)."""
    if typing.get_origin(annotation) is Literal:
        return [v for v in typing.get_args(annotation) if v != value]
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, int):
        return [value * 2 if value else 1, value + 1]
    if isinstance(value, float):
        return [0.5 if value == 0 else value * 0.5, value + 0.25]
    return []


def _fingerprint(model: Separator, mix: torch.Tensor, sources: torch.Tensor) -> tuple:
    shapes = tuple((k, tuple(v.shape)) for k, v in model.state_dict().items())
    torch.manual_seed(7)
    model.train()
    with torch.no_grad():
        out = _run(model, mix, sources)
    return shapes, model.sample_rate, model.n_src, out.estimates, out.embedding


def _same_tensor(a: torch.Tensor | None, b: torch.Tensor | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.shape == b.shape and torch.allclose(a, b)


def check_every_parameter_changes_the_model(config: ModelConfig) -> None:
    """Each builder parameter changes weights, structure, estimates or embedding (no silently ignored argument)."""
    try:
        hints = typing.get_type_hints(config.spec.builder())
    except Exception:
        hints = {}
    base = _build(config)
    mix, sources = _inputs(base, 2, 0.5)
    ref = _fingerprint(base, mix, sources)
    for name, value in config.params.items():
        if name in config.spec.noop_params:
            continue
        tried = []
        for candidate in _altered(value, hints.get(name)):
            try:
                model = _build(config, **{name: candidate})
                fp = _fingerprint(model, *_inputs(model, 2, 0.5))
            except Exception as exc:
                tried.append(f"{candidate!r} ({type(exc).__name__})")
                continue
            if fp[:3] != ref[:3] or not _same_tensor(fp[3], ref[3]) or not _same_tensor(fp[4], ref[4]):
                break
            tried.append(repr(candidate))
        else:
            raise AssertionError(f"{config.name}: parameter {name}={value!r} seems ignored: changing it to "
                                 f"{', '.join(tried) or '(no value to try)'} changed nothing; fix it or list "
                                 f"it in noop_params")


def check_parameter_names(config: ModelConfig) -> None:
    """Builder parameters use the shared vocabulary (``n_src``, ``sample_rate``, ``hidden_size``...)."""
    for name in config.params:
        if name in REJECTED_PARAM_NAMES:
            raise AssertionError(f"{config.name}: parameter {name!r}; expected {REJECTED_PARAM_NAMES[name]!r}")
    for name in ("n_src", "sample_rate"):
        if name not in config.params:
            raise AssertionError(f"{config.name}: builder has no {name!r} parameter")


def check_spec_metadata(config: ModelConfig) -> None:
    """The spec names a paper, a one-line summary and an objective."""
    spec = config.spec
    if not spec.reference:
        raise AssertionError(f"{config.name}: spec.reference is empty; expected the paper")
    if not spec.summary or "\n" in spec.summary:
        raise AssertionError(f"{config.name}: spec.summary must be one non-empty line")
    if spec.trainable and not config.objective:
        raise AssertionError(f"{config.name}: trainable but no objective")


CHECKS: dict[str, Callable[[ModelConfig], None]] = {
    fn.__name__: fn
    for fn in (
        check_builds_from_defaults, check_output_shapes, check_rejects_bad_input,
        check_gradients_reach_all_parameters, check_trains_one_step, check_batch_independence,
        check_streaming, check_seeded_determinism,
        check_state_dict_round_trip, check_no_nan_on_silence, check_short_inputs,
        check_every_parameter_changes_the_model,
        check_parameter_names, check_spec_metadata,
    )
}


TRAINING_CHECKS = ("check_gradients_reach_all_parameters", "check_trains_one_step")


def check_architecture(name: str, registry: Registry | None = None) -> None:
    """Run every check on ``name``; raise the first failure not declared as expected."""
    config = tiny_config(name, registry)
    for check_name, check in CHECKS.items():
        if check_name in TRAINING_CHECKS and not config.trainable:
            continue
        if check_name not in config.spec.expected_failures:
            check(config)


def parametrize_with_checks(names: Sequence[str], registry: Registry | None = None) -> Callable[..., None]:
    """A pytest test function parametrized over ``names x CHECKS`` with ids ``name::check``."""
    import pytest

    registry = registry or default_registry()
    params = []
    for name in names:
        spec = registry.architectures.get(registry.preset(name).architecture)
        reason = registry.unavailable_reason(name)
        for check_name in CHECKS:
            if check_name in TRAINING_CHECKS and spec is not None and not spec.trainable:
                continue  # nothing is trained: the check does not apply
            marks = []
            if reason is not None:
                marks.append(pytest.mark.skip(reason=f"unavailable: {reason}"))
            elif spec is not None and check_name in spec.expected_failures:
                marks.append(pytest.mark.xfail(reason=spec.expected_failures[check_name], strict=True))
            params.append(pytest.param(name, check_name, marks=marks, id=f"{name}::{check_name}"))

    @pytest.mark.parametrize(("architecture", "check"), params)
    def test_contract(architecture: str, check: str) -> None:
        CHECKS[check](tiny_config(architecture, registry))

    return test_contract
