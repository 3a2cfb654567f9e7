"""Scoring from the command line: bounded (a seeded subset, a time estimate) and fitted to the data."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from rich.progress import TimeRemainingColumn

from separena.cli import main
from separena.data import MixtureSubset
from separena.data.tones import tones_2mix
from separena.progress import progress_bar

FOUR_STEMS = """
suites:
  four-tones:
    dataset: tones-2mix
    dataset_params: {n_src: 4, n_test: 6, test_seconds: 0.5}
    sample_rate: 8000
    budget: {steps: 2, batch_size: 2}
    models: [mixture]
"""


def run(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args], env={"COLUMNS": "200"})


def test_evaluate_fits_an_oracle_to_the_datas_sources(tmp_path: Path) -> None:
    registry = tmp_path / "four.yaml"
    registry.write_text(FOUR_STEMS)
    result = run("--registry", registry, "evaluate", "oracle-irm", "--suite", "four-tones")
    assert result.exit_code == 0, result.output
    assert "test" in result.output and "6" in result.output


def test_train_scores_a_seeded_subset_and_says_so(fixture_plugin, tmp_path: Path) -> None:
    result = run("--plugin", fixture_plugin("good_minimal"), "--registry", _tones_suite(tmp_path), "train",
                 "tiny-masker", "--suite", "tones", "--steps", "2", "--eval-mixtures", "3", "-o", tmp_path / "m.pt")
    assert result.exit_code == 0, result.output
    assert "3 of 8 (seeded subset)" in result.output


def test_scores_come_with_the_interval_the_leaderboard_gives(tmp_path: Path) -> None:
    """The oracle's per-mixture scores, bootstrapped as the leaderboard does: the same bounds."""
    import re

    from separena import default_registry
    from separena.bench.stats import bootstrap_interval
    from separena.evaluation import evaluate

    registry = tmp_path / "four.yaml"
    registry.write_text(FOUR_STEMS)
    result = run("--registry", registry, "evaluate", "oracle-irm", "--suite", "four-tones")
    assert result.exit_code == 0, result.output
    low, high = map(float, re.search(r"\[(-?[\d.]+), (-?[\d.]+)\]", result.output).groups())
    data = tones_2mix(n_src=4, n_test=6, test_seconds=0.5)
    oracle = default_registry().model_config("oracle-irm", n_src=4, sample_rate=8000).build()
    scores = evaluate(oracle, data.test, progress=False, permutation_invariant=data.permutation_invariant)
    interval = bootstrap_interval(scores.si_sdri.mean(1).numpy())
    assert (low, high) == (round(interval.low, 2), round(interval.high, 2)) and low < interval.mean < high


def test_compare_tells_the_oracle_from_the_mixture_mixture_by_mixture(tmp_path: Path) -> None:
    import re

    from separena import default_registry
    from separena.evaluation import evaluate

    registry = tmp_path / "four.yaml"
    registry.write_text(FOUR_STEMS)
    result = run("--registry", registry, "compare", "mixture", "oracle-irm", "--suite", "four-tones")
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if line.startswith("│ test"))
    assert "B better" in row and "100%" in row  # the oracle wins on every mixture
    assert "fewer than 20 mixtures" in result.output
    data = tones_2mix(n_src=4, n_test=6, test_seconds=0.5)
    means = [evaluate(default_registry().model_config(name, n_src=4, sample_rate=8000).build(), data.test,
                      progress=False, permutation_invariant=data.permutation_invariant).mean
             for name in ("mixture", "oracle-irm")]
    difference = float(re.findall(r"(-?\d+\.\d+) \[", row)[2])  # A, B, then B - A
    assert difference == round(means[1] - means[0], 2)


def test_compare_takes_any_registered_metric(tmp_path: Path) -> None:
    registry = tmp_path / "four.yaml"
    registry.write_text(FOUR_STEMS)
    result = run("--registry", registry, "compare", "mixture", "oracle-irm", "--suite", "four-tones",
                 "--metric", "sdri")
    assert result.exit_code == 0, result.output
    assert "A: SDRi (dB) [95 %]" in result.output
    row = next(line for line in result.output.splitlines() if line.startswith("│ test"))
    assert "B better" in row and "100%" in row


def test_train_resumes_an_interrupted_training_from_its_state(fixture_plugin, tmp_path: Path) -> None:
    """`train -o OUT` keeps an interrupted training's state in OUT.state; the same command goes on from it."""
    import signal

    import pytest

    from separena import Budget, Registry
    from separena.errors import TrainingInterrupted
    from separena.train import train

    registry = Registry(entry_points=False, core_registry=False, plugins=[fixture_plugin("good_minimal")])

    def ctrl_c_at_step_3(step: int, total: int | None, loss: float) -> None:
        if step == 3:
            signal.raise_signal(signal.SIGINT)

    state = tmp_path / "m.pt.state"
    with pytest.raises(TrainingInterrupted):  # as `train tiny-masker --suite tones --steps 6` would have been
        train(registry.model_config("tiny-masker"), tones_2mix(), Budget(steps=6, batch_size=2),
              segment_seconds=0.25, state_path=state, progress=False, on_step=ctrl_c_at_step_3)
    result = run("--plugin", fixture_plugin("good_minimal"), "--registry", _tones_suite(tmp_path), "train",
                 "tiny-masker", "--suite", "tones", "--steps", "6", "-o", tmp_path / "m.pt")
    assert result.exit_code == 0, result.output
    assert "trained tiny-masker: 6 steps, resumed from step 3" in result.output and not state.exists()


def test_train_with_set_trains_a_variant_that_the_checkpoint_rebuilds(fixture_plugin, tmp_path: Path) -> None:
    """`train --set n_fft=128` trains the preset with 128 bins; evaluate and separate rebuild that
    variant from the checkpoint (with a note), not the preset as registered."""
    import soundfile
    import torch

    plugin, suite = fixture_plugin("good_minimal"), _tones_suite(tmp_path)
    result = run("--plugin", plugin, "--registry", suite, "train", "tiny-masker", "--suite", "tones", "--steps", "2",
                 "--set", "n_fft=128", "--set", "mask_activation=relu", "-o", tmp_path / "m.pt")
    assert result.exit_code == 0, result.output
    assert "trained tiny-masker (n_fft=128, mask_activation='relu'): 2 steps" in result.output
    saved = torch.load(tmp_path / "m.pt", weights_only=True)
    assert saved["params"]["n_fft"] == 128 and saved["params"]["mask_activation"] == "relu"
    assert saved["state_dict"]["masker.2.linear.weight"].shape[-1] == 65  # 128 // 2 + 1 bins
    soundfile.write(tmp_path / "mix.wav", 0.1 * torch.randn(4001).numpy(), 8000)
    for command in (["evaluate", "tiny-masker", "--suite", "tones"],
                    ["separate", "tiny-masker", tmp_path / "mix.wav", "-o", tmp_path / "out"]):
        result = run("--plugin", plugin, "--registry", suite, *command, "--checkpoint", tmp_path / "m.pt")
        assert result.exit_code == 0, result.output
        assert "n_fft 128 (not 64)" in " ".join(result.output.split()), result.output


def _tones_suite(tmp_path: Path) -> Path:
    path = tmp_path / "tones.yaml"
    path.write_text("suites:\n  tones:\n    dataset: tones-2mix\n    sample_rate: 8000\n    segment_seconds: 0.25\n"
                    "    budget: {steps: 2, batch_size: 2}\n    models: [tiny-masker]\n")
    return path


def test_a_seeded_subset_is_fixed_and_ordered() -> None:
    test = tones_2mix(n_test=8).test
    a, b = MixtureSubset.seeded(test, 3, seed=0), MixtureSubset.seeded(test, 3, seed=0)
    assert a.indices == b.indices == sorted(a.indices) and len(a) == 3
    assert a[0].name == test[a.indices[0]].name
    assert len(MixtureSubset.seeded(test, 99)) == 8


def test_progress_bars_estimate_the_time_left() -> None:
    assert any(isinstance(c, TimeRemainingColumn) for c in progress_bar(False).columns)


def test_a_transient_bar_leaves_nothing_in_a_log(capfd) -> None:
    """A log file or pipe gets no blank line per finished bar; a kept bar still records its end."""
    for transient in (True, False):
        with progress_bar(transient=transient) as bar:
            task = bar.add_task(f"kept {not transient}", total=2)
            bar.advance(task, 2)
    err = capfd.readouterr().err
    assert "\n\n" not in "\n" + err and err.count("kept True") == 1 and "kept False" not in err


def test_evaluate_scores_each_stem_of_music() -> None:
    import re

    result = run("evaluate", "oracle-irm", "--suite", "music-quick", "--eval-mixtures", "3")
    assert result.exit_code == 0, result.output
    assert all(f"{stem} (dB)" in result.output for stem in ("vocals", "bass", "drums", "other"))
    row = next(line for line in result.output.splitlines() if line.startswith("│ test"))
    numbers = [float(x) for x in re.findall(r"(?<![\d.\[])-?\d+\.\d+(?![\d\]])", row.split("│", 3)[3])]
    mean, median, *stems, rtf = numbers  # the interval's bounds are bracketed, so skipped
    assert len(stems) == 4 and abs(sum(stems) / 4 - mean) <= 0.01
    assert len({round(s) for s in stems}) > 1  # stems differ: the columns are not one number repeated


def test_evaluate_adds_the_metrics_asked_for_scored_as_the_benchmark_scores_them(tmp_path: Path) -> None:
    import torch

    from separena import default_registry
    from separena.bench.execute import metric_table
    from separena.evaluation import evaluate

    registry = tmp_path / "four.yaml"
    registry.write_text(FOUR_STEMS)
    result = run("--registry", registry, "evaluate", "oracle-irm", "--suite", "four-tones", "--metric", "sir",
                 "--metric", "usdr", "--metric", "sir")
    assert result.exit_code == 0, result.output
    header = next(line for line in result.output.splitlines() if "SI-SDRi mean" in line)
    assert header.count("SIR mean (dB)") == 1 and "uSDR mean (dB)" in header  # asked twice, one column
    row = next(line for line in result.output.splitlines() if line.startswith("│ test"))
    cells = [c.strip() for c in row.strip("│").split("│")]
    data = tones_2mix(n_src=4, n_test=6, test_seconds=0.5)
    reg = default_registry()
    oracle = reg.model_config("oracle-irm", n_src=4, sample_rate=8000).build()
    kept = evaluate(oracle, data.test, progress=False, permutation_invariant=False, keep_estimates=True).estimates
    for metric, cell in zip(("sir", "usdr"), cells[-3:-1]):
        expected = metric_table(reg.metric(metric), kept, data.test, 8000, 4).nanmean().item()
        assert float(cell) == round(expected, 2), (metric, cell, expected)
    assert not torch.isclose(torch.tensor(float(cells[-3])), torch.tensor(float(cells[-2])))


def test_evaluate_refuses_an_unknown_metric_in_one_line() -> None:
    result = run("evaluate", "oracle-irm", "--suite", "music-quick", "--metric", "sri")
    assert result.exit_code != 0
    assert result.output.strip().splitlines()[-1] == ("error: --metric: unknown metric 'sri' (did you mean 'sdri', "
                                                      "'sir', 'sar'?); see `separena plugins`")


def test_a_metric_whose_library_is_missing_is_refused_in_one_line(tmp_path: Path) -> None:
    plugin = tmp_path / "needs_library.py"
    plugin.write_text("from separena import hookimpl\nfrom separena.specs import MetricSpec\n\n\n@hookimpl\n"
                      "def separena_register_metrics():\n    return [MetricSpec('needs-library', "
                      "'separena.metrics:si_sdr_metric', 'a metric whose library is missing', "
                      "requires=('separena_no_such_library',))]\n")
    expected = ("error: --metric: metric 'needs-library' needs separena_no_such_library; expected it installed "
                "(pip install separena_no_such_library)")
    for command in (["evaluate", "oracle-irm"], ["compare", "oracle-irm", "oracle-ibm"]):
        result = run("--plugin", plugin, *command, "--suite", "music-quick", "--metric", "needs-library")
        assert result.exit_code != 0
        assert result.output.strip().splitlines()[-1] == expected, result.output
