"""``separena stream``: raw PCM through a causal model, block by block, equal to the model on
the whole input; refusals in one line; output that leaves before the input ends."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import separena
from separena.checkpoints import save_checkpoint
from separena.cli import main

PUBLISHED = Path(__file__).resolve().parents[1] / "published"
MODEL = "mask-inference-causal"


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEPARENA_PUBLISHED", str(PUBLISHED))


def _stream(pcm: bytes, *args: str):
    return CliRunner().invoke(main, ["stream", MODEL, *args], input=pcm)


def _noise(seconds: float, rate: int = 8000) -> np.ndarray:
    return (0.1 * np.random.default_rng(0).standard_normal(round(seconds * rate))).astype("<f4")


def test_f32_output_is_the_models_sources_interleaved(published):
    mix = _noise(2.3)
    result = _stream(mix.tobytes(), "--block-ms", "7")
    assert result.exit_code == 0, result.output
    out = np.frombuffer(result.stdout_bytes, "<f4").reshape(-1, 2)  # [time, n_src]
    with torch.no_grad():
        whole = separena.pretrained(MODEL)(torch.from_numpy(mix).unsqueeze(0)).estimates[0].T.numpy()
    assert out.shape == whole.shape
    np.testing.assert_allclose(out, whole, atol=1e-5 * np.abs(whole).max())
    assert "real-time factor" in result.stderr
    assert "output channels: s1, s2" in " ".join(result.stderr.split())


def test_music_stems_come_out_as_channels_named_in_order(published):
    mix = _noise(1.2, 16000)
    result = CliRunner().invoke(main, ["stream", "open-unmix-causal-small"], input=mix.tobytes())
    assert result.exit_code == 0, result.output
    assert "output channels: vocals, bass, drums, other" in " ".join(result.stderr.split())
    out = np.frombuffer(result.stdout_bytes, "<f4").reshape(-1, 4)
    with torch.no_grad():
        whole = separena.pretrained("open-unmix-causal-small")(torch.from_numpy(mix).unsqueeze(0)).estimates[0].T
    np.testing.assert_allclose(out, whole.numpy(), atol=1e-5 * whole.abs().max().item())


def test_stereo_input_gives_each_stem_in_stereo(published):
    stereo = np.stack([_noise(1.2, 16000), 0.5 * _noise(1.2, 16000)[::-1]], 1)  # [time, 2], channels differ
    result = CliRunner().invoke(main, ["stream", "open-unmix-causal-small", "--channels", "2", "--block-ms", "13"],
                                input=np.ascontiguousarray(stereo).tobytes())
    assert result.exit_code == 0, result.output
    assert "output channels: vocals.1, vocals.2, bass.1, bass.2, drums.1, drums.2, other.1, other.2" in " ".join(
        result.stderr.split())
    out = np.frombuffer(result.stdout_bytes, "<f4").reshape(-1, 4, 2)  # [time, stem, channel]
    with torch.no_grad():  # each channel through the model on its own: [channel, stem, time]
        whole = separena.pretrained("open-unmix-causal-small")(torch.from_numpy(stereo.T.copy())).estimates
    np.testing.assert_allclose(out, whole.permute(2, 1, 0).numpy(), atol=1e-5 * whole.abs().max().item())
    assert np.abs(out[..., 0] - out[..., 1]).max() > 0.01  # the channels were not mixed or copied


def test_stereo_speakers_are_noted_unaligned_and_partial_frames_ignored(published):
    stereo = np.stack([_noise(0.5), _noise(0.5)[::-1]], 1)
    result = _stream(np.ascontiguousarray(stereo).tobytes() + b"\x01\x02\x03\x04", "--channels", "2")
    assert result.exit_code == 0, result.output
    assert len(result.stdout_bytes) == 4000 * 2 * 2 * 4  # samples x sources x channels x bytes
    stderr = " ".join(result.stderr.split())
    assert "output channels: s1.1, s1.2, s2.1, s2.2" in stderr and "speakers' order may differ" in stderr
    assert "ignored 4 trailing bytes (not a whole frame of 2 f32 samples)" in stderr


def test_s16_in_and_out_with_clipping_counted(tmp_path):
    """A causal model whose relu masks are 3 everywhere: every source is the mixture x 3, so the
    loud samples clip (the trained models' sources stay under full scale)."""
    config = separena.default_registry().model_config(MODEL, mask_activation="relu", hidden_size=8)
    model = config.build()
    with torch.no_grad():
        model.masker.head.linear.weight.zero_()
        model.masker.head.linear.bias.fill_(3.0)
    checkpoint = save_checkpoint(tmp_path / "loud.pt", config, model)
    mix = np.round(_noise(1.5) * 3 * 32767).clip(-32768, 32767).astype("<i2")
    result = _stream(mix.tobytes(), "--format", "s16", "--checkpoint", str(checkpoint))
    assert result.exit_code == 0, result.output
    out = np.frombuffer(result.stdout_bytes, "<i2").reshape(-1, 2)
    with torch.no_grad():
        whole = model.eval()(torch.from_numpy(mix.astype(np.float32) / 32768).unsqueeze(0)).estimates[0].T.numpy()
    assert np.abs(out - np.round(np.clip(whole, -1, 1) * 32767)).max() <= 1
    clipped = int((np.abs(whole) > 1).sum())
    assert clipped > 100 and f"{clipped} source samples clipped" in result.stderr


def test_another_rate_gives_what_separate_audio_gives_in_one_pass(published):
    mix = _noise(1.7, 16000)
    result = _stream(mix.tobytes(), "--rate", "16000")
    assert result.exit_code == 0, result.output
    out = np.frombuffer(result.stdout_bytes, "<f4").reshape(-1, 2)
    with torch.no_grad():
        whole = separena.separate_audio(separena.pretrained(MODEL), torch.from_numpy(mix), 16000,
                                        chunk_seconds=0).T.numpy()
    assert out.shape == whole.shape == (len(mix), 2)
    np.testing.assert_allclose(out, whole, atol=1e-5 * np.abs(whole).max())


@pytest.mark.parametrize(("name", "reason"), [
    ("mask-inference", "model 'mask-inference': MaskSeparator cannot stream: LogMagnitudeFeatures: norm 'instance'"),
    ("oracle-irm", "only a MaskSeparator"),
])
def test_a_model_that_cannot_stream_is_one_error_line(published, name, reason):
    result = CliRunner().invoke(main, ["stream", name], input=_noise(0.5).tobytes())
    assert result.exit_code == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and reason in errors[0], result.stderr
    assert result.stdout_bytes == b""


def test_trailing_bytes_are_reported_and_empty_input_gives_nothing(published):
    result = _stream(_noise(0.5).tobytes() + b"\x01\x02")
    assert result.exit_code == 0 and len(result.stdout_bytes) == 4000 * 2 * 4
    assert "ignored 2 trailing bytes" in result.stderr
    result = _stream(b"")
    assert result.exit_code == 0 and result.stdout_bytes == b""


def test_a_stream_too_short_for_the_model_is_one_error_line(published):
    result = _stream(_noise(0.01).tobytes())  # 80 samples; the STFT needs 129
    assert result.exit_code == 2
    assert ("error: standard input (80 samples at 8000 Hz) through model 'mask-inference-causal': MaskSeparator: "
            "input too short for STFT(n_fft=256, hop_length=128)") in result.stderr


def test_a_terminal_on_standard_input_is_refused():
    import pty

    controller, terminal = pty.openpty()
    try:
        env = {**os.environ, "SEPARENA_PUBLISHED": str(PUBLISHED)}
        result = subprocess.run([sys.executable, "-m", "separena.cli", "stream", MODEL], stdin=terminal,
                                capture_output=True, timeout=120, env=env)
    finally:
        os.close(controller)
        os.close(terminal)
    assert result.returncode == 2
    assert "standard input is a terminal; expected raw PCM piped in" in result.stderr.decode()


def test_sources_leave_before_the_input_ends():
    """A live pipe: after one second in (input still open), nearly a second of sources is out."""
    env = {**os.environ, "SEPARENA_PUBLISHED": str(PUBLISHED), "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, "-m", "separena.cli", "stream", MODEL], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        process.stdin.write(_noise(1.0).tobytes())
        process.stdin.flush()
        want = (8000 - 256) * 2 * 4  # a second, less the model's lag at most
        got = bytearray()
        reader = threading.Thread(target=lambda: got.extend(process.stdout.read(want)))
        reader.start()
        reader.join(timeout=120)
        assert len(got) == want, process.stderr.read1().decode() if not reader.is_alive() else "no output in 120 s"
        assert process.poll() is None  # still running: the input has not ended
    finally:
        process.stdin.close()
        process.stdout.read()
        process.wait(timeout=60)
    assert process.returncode == 0
