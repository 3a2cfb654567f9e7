"""Metrics are a plugin point: the core's metrics, one from a local plugin in a benchmark's
table, and a suite that names an unknown metric."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np
import pesq
import pystoi
import torch
from click.testing import CliRunner

from separena import Registry
from separena.bench import ResultStore
from separena.cli import main
from separena.metrics import csdr_metric, pesq_metric, sar_metric, sir_metric, stoi_metric, usdr, usdr_metric

PLUGINS = Path(__file__).parent / "plugins"


def run(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args], env={"COLUMNS": "300"})


def _speech_like(seconds: float = 2.0, rate: int = 8000) -> torch.Tensor:
    """Two syllable-rate modulated harmonic sources ``[2, time]`` (PESQ needs speech-like energy)."""
    t = torch.arange(int(seconds * rate)) / rate
    envelope = (torch.sin(2 * torch.pi * 3 * t).clamp_min(0) + 0.05)
    a = sum(torch.sin(2 * torch.pi * f * t) / k for k, f in enumerate((140, 280, 420, 560), start=1))
    b = sum(torch.sin(2 * torch.pi * f * t) / k for k, f in enumerate((230, 460, 690), start=1))
    return 0.1 * torch.stack([a * envelope, b * envelope.roll(rate // 6)])


def test_the_core_registers_its_metrics_and_plugins_lists_them():
    assert {"si-sdr", "si-sdri", "sdri", "sir", "sar", "usdr", "csdr", "stoi", "stoi-i", "pesq", "pesq-i"} <= set(
        Registry().metrics)
    result = run("plugins")
    assert result.exit_code == 0
    words = re.sub(r"[\s│]+", " ", result.output)  # the table wraps the cell over lines
    assert "metric: si-sdr, si-sdri, sdri, sir, sar, usdr, csdr, stoi, stoi-i, pesq, pesq-i" in words


def test_sir_blames_leakage_and_sar_blames_what_no_source_explains():
    rate = 8000
    refs = _speech_like(2.0, rate)
    unit = refs / refs.square().mean(-1, keepdim=True).sqrt()
    noise = torch.randn(refs.shape, generator=torch.Generator().manual_seed(2))
    leaky = unit + 0.1 * unit.flip(0)  # the other source 20 dB down
    noisy = unit + 0.1 * noise / noise.square().mean(-1, keepdim=True).sqrt()  # noise 20 dB down
    sir, sar = sir_metric(leaky, refs, rate), sar_metric(leaky, refs, rate)
    assert ((sir - 20).abs() < 0.5).all() and (sar > 40).all(), (sir, sar)
    sir, sar = sir_metric(noisy, refs, rate), sar_metric(noisy, refs, rate)
    assert (sir > 35).all() and ((sar - 20).abs() < 0.5).all(), (sir, sar)


def test_the_music_sdrs_score_the_whole_signal_and_the_median_second():
    # Noise 40, 20 and 0 dB under the sources in the three seconds: the whole signal's SDR is
    # the loud second's (about 0 dB), SiSEC's median over 1-s frames the middle one (20 dB).
    rate = 8000
    refs = _speech_like(3.0, rate)
    noise = torch.randn(refs.shape, generator=torch.Generator().manual_seed(1))
    level = torch.tensor([0.01, 0.1, 1.0]).repeat_interleave(rate)
    est = refs + noise * level * refs.square().mean(-1, keepdim=True).sqrt()
    per_second = [usdr(est[:, k * rate:(k + 1) * rate].double(), refs[:, k * rate:(k + 1) * rate].double())
                  for k in range(3)]
    np.testing.assert_allclose(csdr_metric(est, refs, rate).numpy(), per_second[1].numpy(), atol=1e-5)
    np.testing.assert_allclose(usdr_metric(est, refs, rate).numpy(), usdr(est.double(), refs.double()).numpy(),
                               atol=1e-5)
    assert (per_second[0] > 35).all() and (per_second[1] - 20).abs().max() < 1.5 and (per_second[2].abs() < 1.5).all()
    assert (usdr_metric(est, refs, rate) < 5).all() and (csdr_metric(est, refs, rate) > 18).all()


def test_stoi_and_pesq_are_the_libraries_own_numbers():
    refs = _speech_like()
    noisy = refs + 0.02 * torch.randn(refs.shape, generator=torch.Generator().manual_seed(0))
    expected_stoi = [pystoi.stoi(r.double().numpy(), e.double().numpy(), 8000) for e, r in zip(noisy, refs)]
    expected_pesq = [pesq.pesq(8000, r.double().numpy(), e.double().numpy(), "nb") for e, r in zip(noisy, refs)]
    np.testing.assert_allclose(stoi_metric(noisy, refs, 8000).numpy(), expected_stoi, rtol=0, atol=1e-9)
    np.testing.assert_allclose(pesq_metric(noisy, refs, 8000).numpy(), expected_pesq, rtol=0, atol=1e-6)
    assert (stoi_metric(refs, refs, 8000) > 0.99).all() and (pesq_metric(refs, refs, 8000) > 4.4).all()


def test_a_plugins_metric_is_a_column_of_a_benchmark_table(tmp_path):
    spec = importlib.util.spec_from_file_location("bench_tiny_fixture", PLUGINS / "bench_tiny.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    suites = module.write_registry(tmp_path)
    mine = tmp_path / "metrics.yaml"
    mine.write_text("suites:\n  tiny-metric:\n    dataset: tones-2mix\n"
                    "    dataset_params: {n_valid: 2, n_test: 4, test_seconds: 0.5}\n    sample_rate: 8000\n"
                    "    segment_seconds: 0.25\n    budget: {steps: 2, batch_size: 2}\n    models: [tiny-net]\n"
                    "    metrics: [si-sdri, level-ratio]\n")
    common = ("--plugin", PLUGINS / "bench_tiny.py", "--plugin", PLUGINS / "metric_plugin.py",
              "--registry", suites, "--registry", mine)
    store = tmp_path / "m.sqlite"
    result = run(*common, "bench", "--suite", "tiny-metric", "--store", store, "--jobs", 1)
    assert result.exit_code == 0, result.output
    assert "Level (dB)" in result.output
    with ResultStore(store) as s:
        (net,) = [r for r in s.runs(suite="tiny-metric") if r.model == "tiny-net"]
        (oracle,) = [r for r in s.runs(suite="tiny-metric") if r.model == "oracle-ibm"]
    assert np.asarray(net.payload["sets"]["test"]["level_ratio"]).shape == (4, 2)
    assert "sdri" not in net.payload["sets"]["test"]  # the suite's metrics only
    assert abs(oracle.payload["sets"]["test"]["level_ratio_mean"]) < 3  # an oracle's level is near the reference's


def test_an_unknown_metric_stops_the_benchmark_before_any_data(tmp_path):
    mine = tmp_path / "bad.yaml"
    mine.write_text("suites:\n  bad-metric:\n    dataset: tones-2mix\n    budget: {steps: 1}\n"
                    "    models: [mask-inference-small]\n    metrics: [si-sdri, stoi-ii]\n")
    result = run("--registry", mine, "bench", "--suite", "bad-metric", "--store", tmp_path / "b.sqlite")
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {mine}:6: suites.bad-metric.metrics: unknown metric 'stoi-ii'; expected one of ")
    assert line.endswith("(did you mean 'stoi-i'?)")
    assert not (tmp_path / "b.sqlite").exists()
