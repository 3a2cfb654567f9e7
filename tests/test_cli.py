"""The command line as a user meets it: tables, one-line errors, separate."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from separena.checkpoints import save_checkpoint
from separena.cli import main
from separena.registry import Registry


def run(*args: str):
    result = CliRunner().invoke(main, list(args), env={"COLUMNS": "200"})
    return result


def test_list_shows_mask_inference_presets():
    result = run("list", "mask-inference*")
    assert result.exit_code == 0, result.output
    for name in ("mask-inference", "mask-inference-small", "mask-inference-gru"):
        assert name in result.output


def test_suites_lists_each_suite_with_its_data_budget_and_stored_runs(tmp_path):
    from separena.bench import ResultStore

    result = run("suites", "--store", str(tmp_path / "none.sqlite"))
    assert result.exit_code == 0, result.output
    for text in ("speech-quick", "espeak-2mix", "1.2 TMACs, batch 8, lr 0.001", "music-quick", "midi-4stem"):
        assert text in result.output
    assert "stored" not in result.output  # no store, no column
    music = run("suites", "--task", "music", "--store", str(tmp_path / "none.sqlite"))
    assert music.exit_code == 0 and "music-quick" in music.output and "speech-quick" not in music.output
    with ResultStore(tmp_path / "bench.sqlite") as store:
        for seed in (0, 1):
            store.request("speech-noisy", f"{seed:064x}", "mask-inference", seed)
            store.add_run(f"{seed:064x}", "speech-noisy", "mask-inference", seed, {"sets": {}})
    stored = run("suites", "speech-noisy*", "--store", str(tmp_path / "bench.sqlite"))
    assert stored.exit_code == 0, stored.output
    assert "stored" in stored.output and "2 runs" in stored.output and "speech-noisy-reverb" in stored.output
    missing = run("suites", "nope*")
    assert missing.exit_code == 2
    assert "error: suites nope*: no suite matches; expected a name or an fnmatch pattern, one of " in missing.output


def test_bench_dry_run_shows_each_run_stored_or_to_run_and_writes_nothing(fixture_plugin, tmp_path):
    from separena.bench import ResultStore, run_suite

    plugin, suite, store = fixture_plugin("good_minimal"), tmp_path / "tones.yaml", tmp_path / "s.sqlite"
    suite.write_text("suites:\n  tones:\n    dataset: tones-2mix\n    sample_rate: 8000\n    segment_seconds: 0.25\n"
                     "    budget: {steps: 2, batch_size: 2}\n    seeds: [0, 1]\n    models: [tiny-masker]\n")

    def rows() -> dict[tuple[str, str], list[str]]:
        result = run("--plugin", plugin, "--registry", str(suite), "bench", "--suite", "tones", "--store", str(store),
                     "--dry-run")
        assert result.exit_code == 0, result.output
        cells = [[c.strip() for c in line.strip("│").split("│")] for line in result.output.splitlines()
                 if line.startswith("│")]
        return {(c[0], c[1]): c for c in cells}

    planned = rows()
    assert not store.exists()  # nothing written
    assert {("tiny-masker", "0"), ("tiny-masker", "1"), ("oracle-irm", "0")} <= set(planned)
    assert {c[3] for c in planned.values()} == {"to run"}
    with ResultStore(store) as s:  # one seed run, as `bench --seeds 0` would
        run_suite(Registry(plugins=[plugin], registry_files=[suite]), "tones", seeds=[0], models=["tiny-masker"],
                  store=s, progress=False)
        stored = len(s.runs())
    after = rows()
    assert after[("tiny-masker", "0")][3] == "stored" and after[("tiny-masker", "1")][3] == "to run"
    assert after[("tiny-masker", "0")][2] == planned[("tiny-masker", "0")][2]  # the same run (hash)
    assert after[("tiny-masker", "1")][5].startswith("store, seed 0")  # timed by the other seed's run
    with ResultStore(store) as s:
        assert len(s.runs()) == stored


def test_datasets_lists_each_dataset_with_its_plugin_sources_and_suites():
    result = run("datasets")
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): line for line in result.output.splitlines() if line.startswith("│ ")}
    assert {"espeak-2mix", "espeak-2mix-noisy-reverb", "midi-4stem", "wsj0-2mix", "tones-2mix"} <= set(rows)
    assert "speech-noisy-reverb" in rows["espeak-2mix-noisy-reverb"] and "vocals, bass" in rows["midi-4stem"]
    assert "speech-quick" in rows["espeak-2mix"] and rows["wsj0-2mix"].split("│")[5].strip() == "-"
    music = run("datasets", "--task", "music")
    assert music.exit_code == 0 and "midi-4stem" in music.output and "espeak-2mix" not in music.output
    one = run("datasets", "espeak-2mix-*")
    assert "espeak-2mix-babble" in one.output and "midi-4stem" not in one.output


def _dataset_plugin(tmp_path) -> str:
    """A plugin file that registers the dataset ``my-rooms``."""
    plugin = tmp_path / "my_data_plugin.py"
    plugin.write_text(
        "from separena import hookimpl\n"
        "from separena.specs import DatasetSpec\n\n"
        "@hookimpl\n"
        "def separena_register_datasets():\n"
        "    return [DatasetSpec('my-rooms', 'separena.data.tones:tones_2mix', 'tones in my rooms')]\n")
    return str(plugin)


def test_a_plugins_dataset_is_listed_with_its_plugin(tmp_path):
    plugin = _dataset_plugin(tmp_path)
    result = run("--plugin", plugin, "datasets", "my-*")
    assert result.exit_code == 0, result.output
    assert "my-rooms" in result.output and "tones in my rooms" in result.output and "my_data_plugin" in result.output


def test_info_shows_parameters_and_provenance():
    result = run("info", "mask-inference-small")
    assert result.exit_code == 0, result.output
    for text in ("hidden_size", "num_layers", "bidirectional", "128", "presets.yaml:"):
        assert text in result.output


def test_broken_plugin_listed_as_failed_while_others_list(fixture_plugin):
    broken = fixture_plugin("broken_import")
    result = run("--plugin", broken, "--plugin", fixture_plugin("good_minimal"), "plugins")
    assert result.exit_code == 0, result.output
    assert "failed" in result.output and "separena_this_module_does_not_exist" in result.output
    listed = run("--plugin", fixture_plugin("good_minimal"), "list")
    assert "tiny-masker" in listed.output and "mask-inference" in listed.output
    refused = run("--plugin", broken, "--plugin", fixture_plugin("good_minimal"), "list")
    assert refused.exit_code == 2  # a plugin named on the command line must load
    (line,) = refused.stderr.strip().splitlines()
    assert line.startswith(f"error: --plugin {broken}: ") and "separena_this_module_does_not_exist" in line


def test_info_shows_allowed_values_and_descriptions():
    result = run("info", "mask-inference")
    assert result.exit_code == 0, result.output
    assert "one of 'lstm', 'gru'" in result.output  # a Literal's values, not its alias
    assert "recurrent units per direction" in result.output  # the builder's Args: description


@pytest.mark.parametrize(("name", "says"), [
    ("conv-tasnet-causal-small", "streams: yes: `separena stream conv-tasnet-causal-small`"),
    ("mask-inference", "streams: no (MaskSeparator cannot stream: LogMagnitudeFeatures: norm 'instance'"),
])
def test_info_says_whether_a_model_streams_and_why_not(name, says):
    result = run("info", name)
    assert result.exit_code == 0, result.output
    assert says in " ".join(result.output.split())


def test_unknown_model_is_one_line_with_suggestions():
    result = run("info", "mask-infrence")
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: unknown model 'mask-infrence' (did you mean 'mask-inference'")
    assert lines[0].endswith("?); see `separena list`")


def test_registry_typo_is_one_line(tmp_path):
    path = tmp_path / "my.yaml"
    path.write_text("presets:\n  mi-x:\n    architecture: mask-inference\n    params: {hiden_size: 3}\n")
    result = run("--registry", str(path), "list")
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"error: {path}:4: presets.mi-x.params.hiden_size: unknown parameter of architecture 'mask-inference'; "
        "expected one of n_src, sample_rate, n_fft, hop_length, hidden_size, num_layers, bidirectional, dropout, "
        "rnn_type, norm, mask_activation (did you mean 'hidden_size'?)"]


@pytest.fixture
def checkpoint(tmp_path):
    registry = Registry()
    config = registry.model_config("mask-inference-small")
    return save_checkpoint(tmp_path / "mi.pt", config, config.build())


def test_separate_writes_one_wav_per_source(tmp_path, checkpoint):
    wav = tmp_path / "in.wav"
    sf.write(wav, (0.1 * np.random.default_rng(0).standard_normal(8000)).astype(np.float32), 8000, subtype="PCM_16")
    out = tmp_path / "out"
    result = run("separate", "mask-inference-small", "--checkpoint", str(checkpoint), str(wav), "-o", str(out))
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in out.iterdir())
    assert written == ["in_s1.wav", "in_s2.wav"]
    data, rate = sf.read(out / "in_s1.wav")
    assert rate == 8000 and len(data) == 8000


def test_separate_resample_writes_the_sources_at_the_inputs_rate(tmp_path, checkpoint):
    import torch

    from separena import separate_audio
    from separena.checkpoints import load_checkpoint

    wav = tmp_path / "in.wav"
    stereo = (0.1 * np.random.default_rng(0).standard_normal((22050 * 3 + 7, 2))).astype(np.float32)
    sf.write(wav, stereo, 22050, subtype="FLOAT")
    out = tmp_path / "out"
    result = run("separate", "mask-inference-small", "--checkpoint", str(checkpoint), str(wav), "-o", str(out),
                 "--resample", "--float")
    assert result.exit_code == 0, result.output
    assert "resampled from 22050 Hz to 8000 Hz and its sources back to 22050 Hz" in " ".join(result.output.split())
    data, rate = sf.read(out / "in_s1.wav", dtype="float32")
    assert rate == 22050 and data.shape == stereo.shape
    _, model = load_checkpoint(checkpoint, Registry())
    with torch.no_grad():
        expected = separate_audio(model, torch.from_numpy(stereo.T), 22050)
    assert np.abs(data - expected[0].numpy().T).max() < 1e-6


def test_separate_goes_chunk_by_chunk_through_a_long_input(tmp_path, checkpoint):
    import torch

    from separena import separate_in_chunks
    from separena.checkpoints import load_checkpoint

    wav = tmp_path / "long.wav"
    sf.write(wav, (0.1 * np.random.default_rng(0).standard_normal(12 * 8000)).astype(np.float32), 8000,
             subtype="FLOAT")
    outputs = {}
    for chunk in ("2", "0"):
        out = tmp_path / f"out{chunk}"
        result = run("separate", "mask-inference-small", "--checkpoint", str(checkpoint), str(wav), "-o", str(out),
                     "--chunk-seconds", chunk, "--overlap", "0.5")
        assert result.exit_code == 0, result.output
        outputs[chunk] = np.stack([sf.read(out / f"long_s{k}.wav")[0] for k in (1, 2)])
    _, model = load_checkpoint(checkpoint, Registry())
    mix = torch.from_numpy(sf.read(wav, dtype="float32")[0]).unsqueeze(0)
    with torch.no_grad():
        chunked = separate_in_chunks(model.eval(), mix, 2 * 8000, 8000)[0].numpy()
        whole = model(mix).estimates[0].numpy()
    assert outputs["2"].shape == outputs["0"].shape == (2, 12 * 8000)
    assert np.abs(outputs["2"] - chunked).max() < 1e-4  # the 16-bit output of the same chunks
    assert np.abs(outputs["0"] - whole).max() < 1e-4
    assert np.abs(chunked - whole).max() > 1e-3  # so the two runs above did differ


@pytest.mark.parametrize("case", ["missing", "corrupt", "wrong-rate"])
def test_separate_bad_wav_is_one_line(tmp_path, checkpoint, case):
    wav = tmp_path / "in.wav"
    if case == "corrupt":
        wav.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    elif case == "wrong-rate":
        sf.write(wav, np.zeros(16000, dtype=np.float32), 16000, subtype="PCM_16")
    result = run("separate", "mask-inference-small", "--checkpoint", str(checkpoint), str(wav), "-o",
                 str(tmp_path / "out"))
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(wav) in lines[0], lines
    expected = {"missing": "no such audio file", "corrupt": "", "wrong-rate": "16000"}[case]
    assert expected in lines[0]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_separate_refuses_a_trainable_model_without_checkpoint(tmp_path):
    result = run("separate", "mask-inference", str(tmp_path / "x.wav"))
    assert result.exit_code == 2
    assert "expected --checkpoint PATH" in result.output


def test_separate_refuses_inputs_whose_outputs_would_collide(tmp_path, checkpoint):
    noise = (0.1 * np.random.default_rng(0).standard_normal(8000)).astype(np.float32)
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        sf.write(tmp_path / folder / "take.wav", noise, 8000, subtype="PCM_16")
    out = tmp_path / "out"
    result = run("separate", "mask-inference-small", "--checkpoint", str(checkpoint),
                 str(tmp_path / "a" / "take.wav"), str(tmp_path / "b" / "take.wav"), "-o", str(out))
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "would overwrite" in lines[0] and "distinct file names" in lines[0], lines
    assert not out.exists()


def test_data_workers_default_to_none_on_the_cpu_and_up_to_8_on_a_gpu(monkeypatch):
    from separena.cli.options import default_data_workers

    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(16)))
    assert default_data_workers("cpu") == 0
    assert default_data_workers("cuda") == 8
    assert default_data_workers("cuda:1") == 8
    assert default_data_workers("cpu", 3) == 3 and default_data_workers("cuda", 0) == 0
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1})
    assert default_data_workers("cuda") == 1  # one core stays with the training loop


def _cache_with_three_entries(root) -> None:
    for name, size in (("rooms-train-0123456789abcdef", 3000), ("rooms-test-0123456789abcdef", 1000)):
        np.save(root / f"{name}.npy", np.zeros(size // 4, np.float32))
    (root / "babble-0123456789abcdef").mkdir()
    (root / "babble-0123456789abcdef" / "meta.json").write_text("{}")
    week_ago = time.time() - 7 * 86400
    os.utime(root / "rooms-test-0123456789abcdef.npy", (week_ago, week_ago))


def test_cache_lists_entries_and_removes_what_matches(tmp_path, monkeypatch):
    monkeypatch.setenv("SEPARENA_CACHE", str(tmp_path))
    _cache_with_three_entries(tmp_path)
    listed = run("cache", "list")
    assert listed.exit_code == 0, listed.output
    for text in ("rooms-train-0123456789abcdef", "rooms-test", "babble", "3 entries", "complete"):
        assert text in listed.output
    assert "babble" not in run("cache", "list", "rooms*").output
    dry = run("cache", "remove", "rooms-*", "--dry-run")
    assert dry.exit_code == 0 and "would free" in dry.output and len(list(tmp_path.iterdir())) == 3
    asked = run("cache", "remove", "rooms-*")  # no terminal to ask at: refused, nothing removed
    assert asked.exit_code == 2 and "expected --yes" in asked.output and len(list(tmp_path.iterdir())) == 3
    old = run("cache", "remove", "--older-than", "2", "--yes")
    assert old.exit_code == 0, old.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["babble-0123456789abcdef", "rooms-train-0123456789abcdef.npy"]
    mapped = np.load(tmp_path / "rooms-train-0123456789abcdef.npy", mmap_mode="r")  # as a running benchmark maps it
    busy = run("cache", "remove", "*", "-y")
    assert busy.exit_code == 0, busy.output
    assert "kept rooms-train-0123456789abcdef: in use (mapped by process" in busy.output
    assert [p.name for p in tmp_path.iterdir()] == ["rooms-train-0123456789abcdef.npy"]
    del mapped
    assert run("cache", "remove", "rooms-train", "--yes").exit_code == 0 and list(tmp_path.iterdir()) == []
    assert "is empty" in run("cache", "list").output
    nothing = run("cache", "remove", "--older-than", "1", "-y")
    assert nothing.exit_code == 0 and "nothing to remove" in nothing.output


def _complete(words: str) -> list[str]:
    """What bash completes for the last word of ``words`` (click's completion protocol)."""
    env = {"_SEPARENA_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": str(len(words.split()) - 1)}
    result = CliRunner().invoke(main, [], prog_name="separena", env=env)
    assert result.exit_code == 0, result.output
    return [line.split(",", 1)[1] for line in result.output.splitlines() if line]


def test_the_shell_completes_commands_models_suites_datasets_and_cache_entries(tmp_path, monkeypatch):
    monkeypatch.setenv("SEPARENA_CACHE", str(tmp_path))
    np.save(tmp_path / "rooms-train-0123456789abcdef.npy", np.zeros(4, np.float32))
    assert _complete("separena cache re") == ["remove"]
    assert _complete("separena train mask-inference-sm") == ["mask-inference-small"]
    assert {"conv-tasnet", "conv-tasnet-small"} <= set(_complete("separena compare mask-inference conv"))
    assert _complete("separena bench --suite speech-babble") == ["speech-babble", "speech-babble-reverb"]
    assert _complete("separena evaluate mask-inference --suite music-q") == ["music-quick"]
    assert _complete("separena datasets espeak-2mix-bab") == ["espeak-2mix-babble"]
    assert _complete("separena cache remove rooms") == ["rooms-train", "rooms-train-0123456789abcdef"]
    assert _complete("separena train no-such") == []


def test_completion_sees_the_plugins_and_registry_files_named_on_the_command_line(tmp_path):
    plugin = _dataset_plugin(tmp_path)
    extra = tmp_path / "mine.yaml"
    extra.write_text("presets:\n  my-mask-net: {architecture: mask-inference, params: {hidden_size: 8}}\n")
    assert _complete(f"separena --plugin {plugin} datasets my-") == ["my-rooms"]
    assert _complete(f"separena --registry {extra} train my-") == ["my-mask-net"]
    assert _complete("separena train my-") == []


@pytest.mark.parametrize("text, expected", [
    ("dropout=1e-3", ("dropout", 0.001)), ("n_fft=256", ("n_fft", 256)), ("soft_beta=null", ("soft_beta", None)),
    ("rnn_type=gru", ("rnn_type", "gru")), ("bidirectional=false", ("bidirectional", False)),
    ("dilations=[1, 2]", ("dilations", [1, 2])), ("lr=-2.5E+1", ("lr", -25.0))])
def test_set_reads_values_as_a_registry_file_would_and_exponents_as_numbers(text, expected):
    from separena.cli.options import ParamAssignment

    assert ParamAssignment().convert(text, None, None) == expected


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30))
def test_set_takes_any_text_to_a_parameter_or_one_usage_error(text):
    import click

    from separena.cli.options import ParamAssignment

    try:
        key, _ = ParamAssignment().convert(text, None, None)
    except click.BadParameter as exc:
        assert "\n" not in exc.message
    else:
        assert key.isidentifier() and text.partition("=")[0].strip() == key
