"""Files a user hands in or gets back: empty and non-audio wavs, resampling, the mode of written
wavs, checkpoints that are truncated or not checkpoints, failed and interrupted saves."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from separena import Budget, Registry
from separena.checkpoints import load_checkpoint, save_checkpoint
from separena.data.audio import audio_info, read_wav, write_wav
from separena.data.tones import tones_2mix
from separena.errors import AudioFileError, CheckpointError, TrainingError, TrainingInterrupted
from separena.train import train

WRITTEN_BY = "expected a file written by `separena train`"


def one_line(exc: BaseException) -> str:
    msg = str(exc)
    assert msg and "\n" not in msg, msg
    return msg


@pytest.fixture
def registry(fixture_plugin) -> Registry:
    return Registry(entry_points=False, core_registry=False, plugins=[fixture_plugin("good_minimal")])


# -- audio files -----------------------------------------------------------------------------
@pytest.mark.parametrize("reader", [read_wav, audio_info])
def test_zero_byte_wav_says_empty_file(tmp_path: Path, reader) -> None:
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with pytest.raises(AudioFileError) as e:
        reader(path)
    assert one_line(e.value) == f"{path}: empty file (0 bytes); expected a wav file"


@pytest.mark.parametrize("reader", [read_wav, audio_info])
@pytest.mark.parametrize(("content", "kind"), [(b"just some text\n", "a text file"),
                                               (b"PK\x03\x04" + bytes(60), "a zip archive")])
def test_non_audio_file_says_what_it_is(tmp_path: Path, reader, content: bytes, kind: str) -> None:
    path = tmp_path / "notes.wav"
    path.write_bytes(content)
    with pytest.raises(AudioFileError) as e:
        reader(path)
    msg = one_line(e.value)
    assert msg.startswith(f"{path}: unreadable audio file (not in a format libsndfile reads); "
                          f"expected a wav file, got {kind}")
    assert "Error opening" not in msg  # libsndfile's prefix would repeat the path


def _sine(seconds: float, rate: int, freq: float) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_wrong_rate_without_resample_says_to_pass_resample(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "s.wav", _sine(0.1, 16000, 440), 16000)
    with pytest.raises(AudioFileError) as e:
        read_wav(path, 8000)
    assert one_line(e.value) == (f"{path}: wrong sample rate; expected 8000 Hz, got 16000 Hz "
                                 f"(pass --resample to convert it)")


def test_resample_keeps_length_and_frequency(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "s.wav", _sine(1.0, 16000, 1000.0), 16000)
    y = read_wav(path, 8000, resample=True)
    assert y.dtype == torch.float32 and y.shape == (8000,)
    spectrum = np.abs(np.fft.rfft(y.numpy() * np.hanning(len(y))))
    freqs = np.fft.rfftfreq(len(y), 1 / 8000)
    assert abs(freqs[spectrum.argmax()] - 1000.0) <= 1.0
    assert spectrum[freqs > 1100].max() < 1e-3 * spectrum.max()  # no images or aliases
    mid = y[1000:7000].numpy()
    assert np.allclose(np.abs(mid).max(), 0.5, atol=0.01)  # amplitude kept
    # upsampling, several channels, mono=False
    stereo = write_wav(tmp_path / "st.wav", np.stack([_sine(0.5, 8000, 300), _sine(0.5, 8000, 700)]), 8000)
    z = read_wav(stereo, 22050, mono=False, resample=True)
    assert z.shape == (2, 11025)
    for channel, freq in zip(z.numpy(), (300, 700)):
        peak = np.fft.rfftfreq(channel.size, 1 / 22050)[np.abs(np.fft.rfft(channel)).argmax()]
        assert abs(peak - freq) <= 2.0
    # the same rate: read unchanged, resample or not
    assert torch.equal(read_wav(path, 16000, resample=True), read_wav(path, 16000))


def test_written_wavs_get_the_mode_of_a_normal_file(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = write_wav(tmp_path / "out" / "a.wav", np.zeros(100, np.float32), 8000)
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
        os.umask(0o077)
        path = write_wav(tmp_path / "out" / "b.wav", np.zeros(100, np.float32), 8000)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        os.umask(0o002)
        path = write_wav(tmp_path / "out" / "a.wav", np.zeros(100, np.float32), 8000)  # overwrite
        assert stat.S_IMODE(path.stat().st_mode) == 0o664
    finally:
        os.umask(old)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.wav", "b.wav"]  # no temp files left


# -- checkpoints -----------------------------------------------------------------------------
def test_failed_save_leaves_no_temp_file(registry, tmp_path: Path, monkeypatch) -> None:
    config = registry.model_config("tiny-masker")

    def failing_save(obj, f, *args, **kwargs):
        Path(f).write_bytes(b"PK\x03\x04 half")  # a partial file, then the disk fills up
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint(tmp_path / "model.pt", config, config.build())
    assert list(tmp_path.iterdir()) == []


def test_failed_save_keeps_the_previous_checkpoint(registry, tmp_path: Path, monkeypatch) -> None:
    config = registry.model_config("tiny-masker")
    path = save_checkpoint(tmp_path / "model.pt", config, config.build(), step=1)
    before = path.read_bytes()
    monkeypatch.setattr(torch, "save", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, config, config.build(), step=2)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["model.pt"]


def test_truncated_checkpoint_is_one_complete_line(registry, tmp_path: Path) -> None:
    config = registry.model_config("tiny-masker")
    good = save_checkpoint(tmp_path / "good.pt", config, config.build())
    data = good.read_bytes()
    for keep in (len(data) // 2, 100, 30):
        bad = tmp_path / f"cut{keep}.pt"
        bad.write_bytes(data[:keep])
        with pytest.raises(CheckpointError) as e:
            load_checkpoint(bad, registry)
        assert one_line(e.value) == (f"checkpoint {bad}: truncated or corrupted file ({keep} bytes), cannot be "
                                     f"loaded safely (weights_only=True); expected a checkpoint written by "
                                     f"`separena train`")


def test_a_wav_or_other_file_given_as_checkpoint(registry, tmp_path: Path) -> None:
    wav = tmp_path / "mix.wav"
    sf.write(wav, np.zeros(800, np.float32), 8000, subtype="PCM_16")
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(wav, registry)
    assert one_line(e.value) == (f"checkpoint {wav}: not a torch checkpoint (it looks like a RIFF/WAVE audio file); "
                                 f"{WRITTEN_BY}")
    text = tmp_path / "notes.pt"
    text.write_text("hello\n")
    with pytest.raises(CheckpointError, match=r"not a torch checkpoint \(it looks like a text file\)"):
        load_checkpoint(text, registry)
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(empty, registry)
    assert one_line(e.value) == f"checkpoint {empty}: empty file (0 bytes); expected a checkpoint written by " \
                                "`separena train`"
    import zipfile

    archive = tmp_path / "other.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("readme.txt", "not weights")
    with pytest.raises(CheckpointError, match=r"not a torch checkpoint \(it is a zip archive of other files\)"):
        load_checkpoint(archive, registry)


def test_pickled_object_message_is_short_and_whole(registry, tmp_path: Path) -> None:
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    evil = tmp_path / "evil.pt"
    torch.save({"format": 1, "state_dict": Evil()}, evil)
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(evil, registry)
    msg = one_line(e.value)
    assert msg == (f"checkpoint {evil}: cannot be loaded safely (weights_only=True): it holds a pickled print, "
                   f"not only tensors and plain data; expected a checkpoint written by `separena train`")
    assert "\x1b" not in msg


# -- training: interrupted, and a checkpoint path that cannot be written ---------------------
def _interrupt_at(step: int):
    def on_step(done: int, total: int | None, loss: float) -> None:
        if done == step:
            raise KeyboardInterrupt

    return on_step


def test_ctrl_c_saves_the_last_weights_and_says_where(registry, tmp_path: Path) -> None:
    config = registry.model_config("tiny-masker")
    path = tmp_path / "runs" / "x" / "model.pt"
    with pytest.raises(TrainingInterrupted) as e:
        train(config, tones_2mix(), Budget(steps=10, batch_size=2), segment_seconds=0.25, progress=False,
              checkpoint_path=path, checkpoint_every=100, on_step=_interrupt_at(3))
    assert isinstance(e.value, TrainingError)
    assert one_line(e.value) == f"model 'tiny-masker': training interrupted at step 3 of 10; last weights saved to {path}"
    assert e.value.checkpoint == path and e.value.steps == 3
    payload = torch.load(path, weights_only=True)
    assert payload["step"] == 3
    _, model = load_checkpoint(path, registry, name="tiny-masker")
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert [p.name for p in path.parent.iterdir()] == ["model.pt"]


def test_ctrl_c_without_checkpoint_path_saves_nothing(registry, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(TrainingInterrupted) as e:
        train(registry.model_config("tiny-masker"), tones_2mix(), Budget(steps=10, batch_size=2),
              segment_seconds=0.25, progress=False, on_step=_interrupt_at(2))
    assert one_line(e.value) == ("model 'tiny-masker': training interrupted at step 2 of 10; "
                                 "weights not saved (no checkpoint path given)")
    assert e.value.checkpoint is None and e.value.steps == 2
    assert list(tmp_path.iterdir()) == []


def test_finished_training_is_saved_even_if_the_path_is_unwritable(registry, tmp_path: Path, monkeypatch) -> None:
    here = tmp_path / "cwd"
    here.mkdir()
    monkeypatch.chdir(here)
    blocker = tmp_path / "runs"
    blocker.write_text("a file, not a folder")
    wanted = blocker / "model.pt"
    _, result = train(registry.model_config("tiny-masker"), tones_2mix(), Budget(steps=4, batch_size=2),
                      segment_seconds=0.25, progress=False, checkpoint_path=wanted, checkpoint_every=2)
    saved = result.checkpoint
    assert saved is not None and saved.parent == here and saved.name.startswith("tiny-masker-")
    assert saved.suffix == ".pt"
    assert one_line(Exception(result.checkpoint_note)) == (
        f"could not write {wanted}: {blocker} is a file, not a folder; the weights were saved to {saved} instead")
    assert torch.load(saved, weights_only=True)["step"] == 4
    load_checkpoint(saved, registry)
    assert [p.name for p in here.iterdir()] == [saved.name]


def test_a_folder_at_the_checkpoint_path_falls_back_too(registry, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    wanted = tmp_path / "model.pt"
    wanted.mkdir()
    _, result = train(registry.model_config("tiny-masker"), tones_2mix(), Budget(steps=2, batch_size=2),
                      segment_seconds=0.25, progress=False, checkpoint_path=wanted)
    assert result.checkpoint != wanted and result.checkpoint.is_file()
    assert result.checkpoint_note.startswith(f"could not write {wanted}: a folder exists at that path;")
    assert list(wanted.iterdir()) == []  # no temp file left in it either


def test_a_writable_path_has_no_note(registry, tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    _, result = train(registry.model_config("tiny-masker"), tones_2mix(), Budget(steps=2, batch_size=2),
                      segment_seconds=0.25, progress=False, checkpoint_path=path)
    assert result.checkpoint == path and result.checkpoint_note is None


def test_from_checkpoint_gives_the_trained_model_from_python(tmp_path: Path) -> None:
    import separena

    config = separena.default_registry().model_config("mask-inference-small")
    trained = config.build()
    with torch.no_grad():
        next(trained.parameters()).add_(0.5)  # not what a fresh build gives
    path = save_checkpoint(tmp_path / "model.pt", config, trained)
    model = separena.from_checkpoint(path)
    assert not model.training
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), trained.state_dict().values()))
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(CheckpointError, match="truncated or corrupted"):
        separena.from_checkpoint(str(path))
