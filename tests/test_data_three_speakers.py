"""Mixtures of more than two speakers: the speaker draws, the training stream, espeak-3mix and
the real recorded sets with three voices."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from separena.data.augment import AugmentConfig
from separena.data.pool import (
    LEVEL_DB, UTTERANCE_RMS, UtterancePool, clip_mixtures, distinct_speakers, source_levels_db,
)
from separena.data.stream import SpeakerMixtureStream
from separena.errors import SeparenaError

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")


def _pool(n_speakers: int, per_speaker: int = 2, seconds: float = 1.5, sr: int = 8000) -> UtterancePool:
    """Speaker ``s`` hums a tone of ``250 (s + 1)`` Hz (a fingerprint that survives gains and crops)."""
    lengths = np.full(n_speakers * per_speaker, int(seconds * sr), np.int64)
    speaker_of = np.repeat(np.arange(n_speakers), per_speaker).astype(np.int64)
    t = np.arange(int(lengths.sum())) / sr
    audio = (0.1 * np.sin(2 * np.pi * 250 * np.repeat(speaker_of + 1.0, lengths) * t)).astype(np.float32)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    return UtterancePool(audio, offsets, lengths, speaker_of, [f"spk{s}" for s in range(n_speakers)])


@settings(max_examples=60, deadline=None)
@given(n_speakers=st.integers(2, 40), n_src=st.integers(2, 5), seed=st.integers(0, 2 ** 32 - 1))
def test_distinct_speakers_are_distinct_and_two_keep_their_draws(n_speakers: int, n_src: int, seed: int) -> None:
    assume(n_src <= n_speakers)
    got = distinct_speakers(np.random.default_rng(seed), n_speakers, 16, n_src)
    assert got.shape == (16, n_src) and got.min() >= 0 and got.max() < n_speakers
    assert all(len(set(row.tolist())) == n_src for row in got)
    if n_src == 2:  # the draws 2-speaker streams always made: their batches stay as they were
        rng = np.random.default_rng(seed)
        s0 = rng.integers(0, n_speakers, size=16)
        s1 = (s0 + 1 + rng.integers(0, n_speakers - 1, size=16)) % n_speakers
        assert np.array_equal(got, np.stack([s0, s1], 1))


def test_distinct_speakers_draw_every_ordered_group_equally_often() -> None:
    rows = distinct_speakers(np.random.default_rng(0), 4, 48_000, 3)
    counts = {g: 0 for g in itertools.permutations(range(4), 3)}
    for row in map(tuple, rows.tolist()):
        counts[row] += 1
    assert len(counts) == 24 and all(1800 < c < 2200 for c in counts.values()), counts  # 2000 expected


def test_source_levels() -> None:
    two = source_levels_db(np.random.default_rng(1), 2, LEVEL_DB, 1000)
    rel = np.random.default_rng(1).uniform(-LEVEL_DB, LEVEL_DB, 1000)
    assert np.array_equal(two, np.stack([rel / 2, -rel / 2], 1))
    three = source_levels_db(np.random.default_rng(1), 3, LEVEL_DB, 1000)
    assert three.shape == (1000, 3) and np.abs(three).max() <= LEVEL_DB / 2
    assert source_levels_db(np.random.default_rng(1), 3, LEVEL_DB).shape == (3,)


@pytest.mark.parametrize("augment", [None, AugmentConfig(noise_prob=0.0)])
def test_three_speaker_stream_gives_distinct_speakers_that_sum_to_the_mixture(augment) -> None:
    stream = SpeakerMixtureStream(_pool(7), 8000, augment, real=_pool(4, per_speaker=1), real_fraction=0.4, n_src=3)
    real_seen = False
    for step in range(6):
        mix, src = stream.batch(2, step, 5, 2000)
        assert mix.shape == (5, 2000) and src.shape == (5, 3, 2000)
        again = stream.batch(2, step, 5, 2000)
        assert torch.equal(mix, again[0]) and torch.equal(src, again[1])
        assert torch.allclose(src.sum(1), mix, atol=1e-5)
        real = np.random.default_rng([2, step, 0x4EA1]).random((5, 3)) < 0.4
        real_seen |= bool(real.any())
        if augment is None:  # the tones tell the speakers apart (pool by pool)
            tone = torch.fft.rfft(src).abs().argmax(-1)  # [batch, 3]: 4 Hz bins
            for b in range(5):
                for pool_rows in (real[b], ~real[b]):
                    tones = tone[b][torch.from_numpy(pool_rows)].tolist()
                    assert len(set(tones)) == len(tones), tones
    assert real_seen


def test_bad_three_speaker_streams_are_refused() -> None:
    rirs = torch.zeros(2, 2, 64)
    with pytest.raises(SeparenaError, match="reverb=0.5 places two talkers in a room; expected reverb=0 with n_src=3"):
        SpeakerMixtureStream(_pool(5), 8000, None, rirs=rirs, reverb=0.5, n_src=3)
    with pytest.raises(SeparenaError, match="the pool needs >= 3 speakers"):
        SpeakerMixtureStream(_pool(2), 8000, None, n_src=3)
    with pytest.raises(SeparenaError, match="the real pool needs >= 3 speakers, got 2"):
        SpeakerMixtureStream(_pool(5), 8000, None, real=_pool(2, per_speaker=1), real_fraction=0.5, n_src=3)
    with pytest.raises(SeparenaError, match="expected >= 1 speaker per mixture, got 0"):
        SpeakerMixtureStream(_pool(5), 8000, None, n_src=0)


def test_a_one_talker_stream_is_its_talker_at_a_level_in_range() -> None:
    # speech enhancement's speech (espeak-1mix-noisy adds the noise)
    mix, sources = SpeakerMixtureStream(_pool(5), 8000, None, n_src=1).batch(0, 3, 6, 800)
    assert sources.shape == (6, 1, 800)
    torch.testing.assert_close(mix, sources[:, 0], rtol=0, atol=0)
    rms_db = 20 * torch.log10(sources.pow(2).mean(-1).sqrt() / UTTERANCE_RMS)
    assert (rms_db.abs() <= LEVEL_DB / 2 + 1e-3).all()


def test_clip_mixtures_of_three_speakers() -> None:
    rng = np.random.default_rng(0)
    clips = {f"pkg/{s}": [rng.standard_normal(int(rng.integers(2000, 9000))) * 0.05 for _ in range(2)]
             for s in "abcde"}
    examples = list(clip_mixtures(clips, 6, 1.0, 8000, seed=3, n_src=3))
    assert len(examples) == 6
    for ex in examples:
        names = ex.name.split("__")[1:]
        assert len(names) == 3 and len(set(names)) == 3 and all(n.startswith("pkg-") for n in names)
        assert ex.sources.shape == (3, 8000) and torch.allclose(ex.sources.double().sum(0), ex.mix.double(), atol=1e-7)
        steps = ex.sources.double() * 32767
        assert torch.allclose(steps, steps.round(), atol=1e-3)  # on the 16-bit grid


TINY = dict(n_train_speakers=6, n_valid_speakers=4, n_test_speakers=4, utterances_per_speaker=2,
            sentences_min=1, sentences_max=1, n_valid=3, n_test=4, test_seconds=1.0,
            n_valid_variants=2, n_test_variants=2, n_valid_languages=1, n_test_languages=1,
            real_dev_set=False, real_fraction=0.0, reverb=0.0)


@needs_espeak
def test_espeak_3mix_shares_the_speakers_of_espeak_2mix(tmp_path: Path) -> None:
    from separena.data.speech import espeak_2mix, espeak_3mix

    two = espeak_2mix(cache_dir=str(tmp_path), **TINY)
    three = espeak_3mix(cache_dir=str(tmp_path), **TINY)
    assert two.name.startswith("espeak-2mix@") and three.name.startswith("espeak-3mix@") and three.n_src == 3
    speakers = sorted(p.name for p in tmp_path.glob("espeak-2mix-*") if p.is_dir())
    assert len(speakers) == 2 and speakers[1] == f"{speakers[0]}-3mix"  # one synthesis, a folder of 3-speaker sets
    for split in (three.valid, three.test):
        for ex in split:
            assert ex.sources.shape[0] == 3 and torch.allclose(ex.sources.sum(0), ex.mix, atol=4 * 2.0 ** -15)
            assert len(set(ex.name.split("_")[1:])) == 3
    assert len(three.test) == TINY["n_test"] and len(three.valid) == TINY["n_valid"]
    mix, src = three.train.batch(0, 0, 4, 4000)
    assert mix.shape == (4, 4000) and src.shape == (4, 3, 4000)
    # read back from the cache: the same mixtures and the same name
    again = espeak_3mix(cache_dir=str(tmp_path), **TINY)
    assert again.name == three.name and torch.equal(again.test[0].sources, three.test[0].sources)
    with pytest.raises(SeparenaError, match="espeak-3mix: bad reverb; expected 0 with 3 speakers"):
        espeak_3mix(cache_dir=str(tmp_path), **{**TINY, "reverb": 0.3})
    with pytest.raises(SeparenaError, match=r"espeak-5mix: bad n_src; expected 1 to the speakers of the smallest "
                                            r"split \(4\), got 5"):
        espeak_2mix(cache_dir=str(tmp_path), **TINY, n_src=5)


@pytest.mark.parametrize("name", ["mask-inference", "deep-clustering-small", "chimera-pp-small", "conv-tasnet-small",
                                  "dprnn-tasnet-small"])
def test_each_model_of_speech_3mix_gives_and_learns_three_sources(name: str) -> None:
    from separena import default_registry
    from separena.bench.runner import fitted_config
    from separena.testing import check_output_shapes, check_trains_one_step

    registry = default_registry()
    assert name in registry.suite("speech-3mix").models
    config = fitted_config(registry, name, 8000, 3)  # as the benchmark fits it to espeak-3mix
    assert config.params["n_src"] == 3
    check_output_shapes(config)
    check_trains_one_step(config)


def test_a_suite_fits_every_model_to_the_sources_of_its_data() -> None:
    from separena import default_registry
    from separena.bench import plan_runs
    from separena.bench.runs import canonical_json

    registry = default_registry()
    three = plan_runs(registry, registry.suite("speech-3mix"), "espeak-3mix@test", n_src=3)
    assert len(three) >= 5 + 5 and all(c.params["n_src"] == 3 for c in three)  # models and brackets
    two = plan_runs(registry, registry.suite("speech-quick"), "espeak-2mix@test", n_src=2)
    for config in two:  # two speakers: every model exactly as its preset (run hashes stay)
        if config.trainable:
            assert canonical_json(config.params) == canonical_json(registry.model_config(config.preset).params)


def test_a_model_of_other_sources_than_the_data_is_refused_in_one_line() -> None:
    from separena import default_registry
    from separena.data import SeparationData, TensorMixtureSet
    from separena.data.tones import ToneStream
    from separena.evaluation import evaluate
    from separena.specs import Budget
    from separena.train import train

    stream = ToneStream(8000, 3)
    mix, sources = stream.batch(0, 0, 2, 4000)
    held_out = TensorMixtureSet(list(mix), list(sources))
    data = SeparationData("tones3@test", 8000, 3, stream, held_out, held_out)
    config = default_registry().model_config("conv-tasnet-small")
    with pytest.raises(SeparenaError, match=r"separates 2 sources; expected data of as many, got tones3@test with 3"):
        train(config, data, Budget(steps=1, batch_size=2), segment_seconds=0.5, progress=False)
    with pytest.raises(SeparenaError, match=r"^evaluate: the model gives 2 sources; expected as many as the mixtures "
                                            r"have, got mixtures of 3$"):
        evaluate(config.build(), held_out, progress=False)


@needs_espeak
def test_cli_fits_three_speaker_suites_and_refuses_two_speaker_weights(tmp_path: Path) -> None:
    import yaml
    from click.testing import CliRunner

    from separena.cli import main

    suite = {"description": "three talkers, tiny", "dataset": "espeak-3mix", "sample_rate": 8000,
             "dataset_params": {**TINY, "cache_dir": str(tmp_path / "cache")}, "segment_seconds": 0.5,
             "budget": {"steps": 2, "batch_size": 2}, "seeds": [0], "models": ["mask-inference-small"],
             "metrics": ["si-sdri"]}
    registry = tmp_path / "tiny3.yaml"
    registry.write_text(yaml.safe_dump({"suites": {"tiny-3mix": suite}}))
    run = CliRunner().invoke
    checkpoint = tmp_path / "m.pt"
    result = run(main, ["--registry", str(registry), "train", "mask-inference-small", "--suite", "tiny-3mix",
                        "-o", str(checkpoint)])
    assert result.exit_code == 0, result.output
    result = run(main, ["--registry", str(registry), "evaluate", "mask-inference-small", "--suite", "tiny-3mix",
                        "--checkpoint", str(checkpoint)])
    assert result.exit_code == 0 and "espeak-3mix@" in result.output, result.output
    two = tmp_path / "two.pt"
    result = run(main, ["train", "mask-inference-small", "--suite", "smoke", "-o", str(two)])
    assert result.exit_code == 0, result.output
    result = run(main, ["--registry", str(registry), "evaluate", "mask-inference-small", "--suite", "tiny-3mix",
                        "--checkpoint", str(two)])
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    assert "error: --suite tiny-3mix: its mixtures hold 3 sources and these weights of 'mask-inference-small' " \
           "separate 2; expected weights trained on it" in result.output
