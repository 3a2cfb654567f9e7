from __future__ import annotations

import pytest
import torch

from separena import Budget, CheckpointError, Registry, SeparenaError, TrainingError
from separena.checkpoints import load_checkpoint, save_checkpoint, weights_sha256
from separena.data.tones import tones_2mix
from separena.evaluation import EvalResult, evaluate
from separena.train import train


@pytest.fixture
def registry(fixture_plugin) -> Registry:
    return Registry(entry_points=False, core_registry=False, plugins=[fixture_plugin("good_minimal")])


def test_training_lowers_the_loss_and_improves_si_sdr(registry, tmp_path):
    config = registry.model_config("tiny-masker")
    data = tones_2mix(n_test=6)
    torch.manual_seed(0)  # the same initial weights as train(seed=0) starts from
    untrained = config.build().eval()
    before = evaluate(untrained, data.test, progress=False).mean
    model, result = train(config, data, Budget(steps=150, batch_size=8, learning_rate=1e-2), segment_seconds=0.5,
                          checkpoint_path=tmp_path / "m.pt", progress=False)
    assert result.steps == 150 and result.stopped_by == "steps"
    assert sum(result.losses[-20:]) / 20 < sum(result.losses[:20]) / 20 - 1.0
    after = evaluate(model, data.test, progress=False)
    assert after.si_sdri.shape == (6, 2)
    assert after.mean > before + 1.0
    assert (tmp_path / "m.pt").exists()


def test_same_seed_same_run(registry):
    config = registry.model_config("tiny-masker")
    data = tones_2mix()
    runs = [train(config, data, Budget(steps=5, batch_size=2), segment_seconds=0.25, seed=3, progress=False)
            for _ in range(2)]
    assert runs[0][1].losses == runs[1][1].losses
    assert all(torch.equal(a, b) for a, b in zip(runs[0][0].state_dict().values(), runs[1][0].state_dict().values()))


def test_data_workers_build_the_same_batches_in_step_order(registry):
    """Batches built ahead by worker processes train exactly as batches built in the loop."""
    config = registry.model_config("tiny-masker")
    data = tones_2mix()
    runs = [train(config, data, Budget(steps=12, batch_size=2), segment_seconds=0.25, seed=1, progress=False,
                  data_workers=workers) for workers in (0, 2)]
    assert runs[0][1].losses == runs[1][1].losses
    assert all(torch.equal(a, b) for a, b in zip(runs[0][0].state_dict().values(), runs[1][0].state_dict().values()))
    for _, result in runs:
        assert 0 < result.data_seconds < result.seconds


@pytest.mark.parametrize("workers", [0, 2])
def test_an_interrupted_training_resumes_bit_for_bit(registry, tmp_path, workers):
    """Ctrl-C with a state path stops after the step under way and saves the state; the same
    call goes on from there and ends exactly where an uninterrupted training does."""
    import signal

    from separena.errors import TrainingInterrupted

    config = registry.model_config("tiny-masker")
    data = tones_2mix(n_valid=4)
    budget = Budget(steps=12, batch_size=2)
    kw = dict(segment_seconds=0.25, seed=1, progress=False, curve_set=data.valid, data_workers=workers)
    straight_model, straight = train(config, data, budget, **kw)

    def ctrl_c_at_step_5(step: int, total: int | None, loss: float) -> None:
        if step == 5:
            signal.raise_signal(signal.SIGINT)

    state = tmp_path / "run.state"
    with pytest.raises(TrainingInterrupted, match=r"at step 5 of 12; .*training state saved to .*run\.state"):
        train(config, data, budget, state_path=state, on_step=ctrl_c_at_step_5, **kw)
    assert state.is_file() and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with pytest.raises(CheckpointError, match=r"run\.state: belongs to another run .*remove the file"):
        train(config, data, budget, state_path=state, **{**kw, "seed": 2})

    model, resumed = train(config, data, budget, state_path=state, **kw)
    assert resumed.resumed_from == 5 and resumed.steps == 12 and not state.exists()
    assert resumed.losses == straight.losses
    assert [(p["step"], p["si_sdri"]) for p in resumed.curve] == [(p["step"], p["si_sdri"]) for p in straight.curve]
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), straight_model.state_dict().values()))
    assert 0 < resumed.seconds and resumed.cpu_seconds > 0


def test_ctrl_c_in_the_last_step_still_stops_and_the_state_is_complete(registry, tmp_path):
    import signal

    from separena.errors import TrainingInterrupted

    config = registry.model_config("tiny-masker")
    kw = dict(segment_seconds=0.25, seed=1, progress=False, state_path=tmp_path / "s.pt")

    def ctrl_c_at_last_step(step: int, total: int | None, loss: float) -> None:
        if step == total:
            signal.raise_signal(signal.SIGINT)

    with pytest.raises(TrainingInterrupted, match=r"at step 4 of 4; .*training state saved"):
        train(config, tones_2mix(), Budget(steps=4, batch_size=2), on_step=ctrl_c_at_last_step, **kw)
    _, resumed = train(config, tones_2mix(), Budget(steps=4, batch_size=2), **kw)
    assert resumed.resumed_from == 4 and resumed.steps == 4 and len(resumed.losses) == 4


def test_a_kept_final_state_returns_the_trained_model_at_once(registry, tmp_path):
    """keep_state leaves the final state (a benchmark removes it once the run is stored): a call
    cut after training (in its evaluation) gets the trained model back without training again."""
    config = registry.model_config("tiny-masker")
    data = tones_2mix(n_valid=4)
    kw = dict(segment_seconds=0.25, seed=1, progress=False, curve_set=data.valid, state_path=tmp_path / "s.pt",
              keep_state=True)
    first_model, first = train(config, data, Budget(steps=8, batch_size=2), **kw)
    assert (tmp_path / "s.pt").is_file()
    model, again = train(config, data, Budget(steps=8, batch_size=2), **kw)
    assert again.resumed_from == 8 and again.steps == 8 and again.losses == first.losses
    assert again.curve == first.curve and again.stopped_by == "steps"
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), first_model.state_dict().values()))


def test_fine_tuning_starts_from_the_given_weights_and_checkpoints_record_them(registry, tmp_path):
    config = registry.model_config("tiny-masker")
    data = tones_2mix()
    trained, before = train(config, data, Budget(steps=60, batch_size=4, learning_rate=1e-2), segment_seconds=0.25,
                            seed=0, progress=False)
    weights = {k: v.clone() for k, v in trained.state_dict().items()}
    budget = Budget(steps=1, batch_size=4, learning_rate=1e-12)  # a step that changes nothing measurable
    scratch_model, scratch = train(config, data, budget, segment_seconds=0.25, seed=7, progress=False)
    tuned_model, tuned = train(config, data, budget, segment_seconds=0.25, seed=7, progress=False,
                               initial_weights=weights, checkpoint_path=tmp_path / "tuned.pt")
    assert all(torch.allclose(tuned_model.state_dict()[k], w, atol=1e-6) for k, w in weights.items())
    assert not all(torch.allclose(scratch_model.state_dict()[k], w, atol=1e-3) for k, w in weights.items())
    assert tuned.losses[0] < scratch.losses[0] - 1.0  # its first batch already meets the trained weights
    assert before.init_sha256 is None and tuned.init_sha256 == weights_sha256(weights)
    assert torch.load(tmp_path / "tuned.pt", weights_only=True)["init_sha256"] == tuned.init_sha256
    load_checkpoint(tmp_path / "tuned.pt", registry)  # the record is beside the digest, not in it


def test_a_state_resumes_only_the_fine_tuning_from_the_same_weights(registry, tmp_path):
    config = registry.model_config("tiny-masker")
    data = tones_2mix()
    torch.manual_seed(11)
    a, b = (config.build().state_dict() for _ in range(2))
    kw = dict(segment_seconds=0.25, seed=1, progress=False, state_path=tmp_path / "s.pt", keep_state=True)
    _, first = train(config, data, Budget(steps=3, batch_size=2), initial_weights=a, **kw)
    _, again = train(config, data, Budget(steps=3, batch_size=2), initial_weights=a, **kw)
    assert again.resumed_from == 3 and again.losses == first.losses
    for other in (b, None):
        with pytest.raises(CheckpointError, match=r"^training state .*s\.pt"):
            train(config, data, Budget(steps=3, batch_size=2), initial_weights=other, **kw)


def test_initial_weights_that_do_not_fit_are_one_line(registry):
    config = registry.model_config("tiny-masker")
    weights = dict(config.build().state_dict())
    weights.pop(next(iter(weights)))
    with pytest.raises(SeparenaError, match=r"^initial weights: do not fit model 'tiny-masker' \(.*\); expected "
                                            r"weights of that configuration, got: Missing key"):
        train(config, tones_2mix(), Budget(steps=1, batch_size=2), segment_seconds=0.25, progress=False,
              initial_weights=weights)


def test_negative_data_workers_is_a_clear_error(registry):
    with pytest.raises(SeparenaError, match=r"^data_workers: expected 0 or more processes, got -1$"):
        train(registry.model_config("tiny-masker"), tones_2mix(), Budget(steps=1, batch_size=2),
              segment_seconds=0.25, progress=False, data_workers=-1)


def test_minutes_budget_stops_training(registry):
    _, result = train(registry.model_config("tiny-masker"), tones_2mix(), Budget(minutes=0.02, batch_size=2),
                      segment_seconds=0.25, progress=False)
    assert result.stopped_by == "minutes" and 0.9 < result.seconds < 5


def test_non_finite_loss_stops_with_clear_error_and_keeps_checkpoint(registry, tmp_path, monkeypatch):
    config = registry.model_config("tiny-masker")
    data = tones_2mix()
    real_batch = data.train.batch

    def poisoned(seed, step, batch_size, segment):
        mix, sources = real_batch(seed, step, batch_size, segment)
        return (mix * float("nan"), sources) if step == 4 else (mix, sources)

    monkeypatch.setattr(data.train, "batch", poisoned)
    path = tmp_path / "m.pt"
    with pytest.raises(TrainingError) as info:
        train(config, data, Budget(steps=10, batch_size=2), segment_seconds=0.25, checkpoint_path=path,
              checkpoint_every=2, progress=False)
    assert str(info.value) == f"model 'tiny-masker': loss became nan at step 4; stopped (last good checkpoint kept: {path})"
    _, model = load_checkpoint(path, registry)
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_checkpoint_round_trip_uses_weights_only(registry, tmp_path):
    config = registry.model_config("tiny-masker", n_fft=128)
    model = config.build()
    save_checkpoint(tmp_path / "m.pt", config, model, step=3)
    loaded_config, loaded = load_checkpoint(tmp_path / "m.pt", registry, name="tiny-masker")
    assert loaded_config.params["n_fft"] == 128
    mix = torch.randn(1, 4000)
    assert torch.allclose(model.eval()(mix).estimates, loaded(mix).estimates)


def test_checkpoint_errors_are_one_line(registry, tmp_path, fixture_plugin):
    with pytest.raises(CheckpointError, match=r"^checkpoint .*nope.pt: file not found$"):
        load_checkpoint(tmp_path / "nope.pt", registry)
    tampered = tmp_path / "tampered.pt"
    tampered.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(CheckpointError, match=r"cannot be loaded safely \(weights_only=True\)"):
        load_checkpoint(tampered, registry)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    evil = tmp_path / "evil.pt"
    torch.save({"format": 1, "state_dict": Evil()}, evil)
    with pytest.raises(CheckpointError, match=r"cannot be loaded safely"):
        load_checkpoint(evil, registry)
    torch.save({"some": "dict"}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match=r"expected a separena checkpoint \(format 1\), got dict"):
        load_checkpoint(tmp_path / "other.pt", registry)


def test_checkpoint_whose_weights_do_not_fit_its_configuration_is_one_line(registry, tmp_path):
    """A consistent file (its digest holds) whose recorded parameters build another shape."""
    small = registry.model_config("tiny-masker")
    large = registry.model_config("tiny-masker", n_fft=128)
    save_checkpoint(tmp_path / "m.pt", large, small.build())
    with pytest.raises(CheckpointError, match=r"^checkpoint .*m\.pt: weights do not fit model 'tiny-masker': "
                                            r"size mismatch for .*$"):
        load_checkpoint(tmp_path / "m.pt", registry)


def test_source_names_go_from_the_data_into_checkpoints_and_back(registry, tmp_path):
    from dataclasses import replace

    config = registry.model_config("tiny-masker")
    data = replace(tones_2mix(), source_names=("low", "high"))
    train(config, data, Budget(steps=1, batch_size=2), segment_seconds=0.25, progress=False,
          checkpoint_path=tmp_path / "m.pt")
    _, loaded = load_checkpoint(tmp_path / "m.pt", registry)
    assert loaded.source_names == ("low", "high")
    unnamed, _ = train(config, tones_2mix(), Budget(steps=1, batch_size=2), segment_seconds=0.25, progress=False)
    assert unnamed.source_names is None


@pytest.mark.parametrize("names", [["../x", "y"], ["a"], ["a", "a"], "ab", [1, 2], ["a" * 33, "b"], [["a"], ["b"]]])
def test_source_names_that_cannot_be_file_names_are_refused(registry, tmp_path, names):
    """Outside the digest, and used as file names by `separate`: checked on load."""
    config = registry.model_config("tiny-masker")
    save_checkpoint(tmp_path / "m.pt", config, config.build(), source_names=names)
    with pytest.raises(CheckpointError, match=r"^checkpoint .*m\.pt: source_names: expected 2 distinct names"):
        load_checkpoint(tmp_path / "m.pt", registry)


def test_checkpoint_without_its_digest_is_refused(fixture_plugin, tmp_path):
    """Deleting the ``sha256`` key must not be a way around the digest check (weights edited too)."""
    registry = Registry(core_registry=False, plugins=[fixture_plugin("good_minimal")])
    config = registry.model_config("tiny-masker")
    path = tmp_path / "m.pt"
    save_checkpoint(path, config, config.build())
    payload = torch.load(path, weights_only=True)
    del payload["sha256"]
    next(iter(payload["state_dict"].values())).add_(1.0)
    torch.save(payload, path)
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(path, registry)
    assert str(e.value) == (f"checkpoint {path}: holds no sha256 of its weights, so it cannot be checked; "
                            "expected a checkpoint written by `separena train`")


def test_checkpoint_of_another_architecture_is_refused(fixture_plugin, tmp_path):
    registry = Registry(core_registry=False, plugins=[fixture_plugin("good_minimal")])
    config = registry.model_config("tiny-masker")
    save_checkpoint(tmp_path / "m.pt", config, config.build())
    with pytest.raises(CheckpointError, match=r"holds architecture 'tiny-masker' \(model 'tiny-masker'\); "
                                              r"expected 'mask-inference' for model 'mask-inference'"):
        load_checkpoint(tmp_path / "m.pt", registry, name="mask-inference")


def test_sources_with_roles_are_scored_in_order():
    from separena import Separator, SeparatorOutput
    from separena.data import TensorMixtureSet

    class Swapper(Separator):
        needs_references = True

        def forward(self, mix, references):
            return SeparatorOutput(estimates=references.flip(1))

    sources = torch.randn(2, 4000, generator=torch.Generator().manual_seed(0))
    examples = TensorMixtureSet([sources.sum(0)], [sources])
    model = Swapper(n_src=2, sample_rate=8000)
    assert evaluate(model, examples, progress=False).mean > 50  # speakers: any order is right
    assert evaluate(model, examples, progress=False, permutation_invariant=False).mean < 5  # stems: order matters


def test_eval_summary_averages_sources_first_and_gives_the_standard_error():
    # per-mixture means 1, 3, 5, 7 (each from two sources): mean 4; median 3 (torch takes the lower
    # middle of an even count); std 2.582 -> s.e. 1.291
    si_sdri = torch.tensor([[0.0, 2.0], [3.0, 3.0], [4.0, 6.0], [7.0, 7.0]])
    res = EvalResult(si_sdri=si_sdri, si_sdr=si_sdri, seconds=1.0, audio_seconds=4.0)
    assert res.summary() == {"mean": 4.0, "median": 3.0, "se": 1.29}
