"""Checkpoints: a model's weights and plain-data config in one file, written and read safely.

:func:`save_checkpoint` writes atomically (temp file, then rename) with a sha256 of the
model's identity and weights; :func:`save_or_fall_back` is the trainer's final save, which
falls back to another folder when the asked path cannot be written. :func:`load_checkpoint`
reads with ``torch.load(weights_only=True)``, checks the digest (a checkpoint without one is
refused) and rebuilds the model from the registry; every way a file can be wrong is one
:class:`~separena.errors.CheckpointError` line. :func:`file_sha256` is the digest of a whole
file, as a benchmark run records its kept weights.

A *training state* (:func:`save_training_state`, :func:`load_training_state`) is the rest of an
unfinished training beside the weights (optimizer, counters, random state), keyed to its run,
from which :func:`separena.train.train` resumes.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import time
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .errors import CheckpointError, TrainingError, first_line
from .model import Separator
from .registry import ModelConfig, Registry
from .specs import source_names_problem

__all__ = ["save_checkpoint", "load_checkpoint", "load_weights", "save_or_fall_back", "file_sha256",
           "weights_sha256", "CHECKPOINT_FORMAT",
           "save_training_state", "load_training_state", "TRAINING_STATE_FORMAT"]

CHECKPOINT_FORMAT = 1
TRAINING_STATE_FORMAT = "separena-training-state/1"


def _digest(model: str, architecture: str, params: Any, state_dict: dict[str, Tensor]) -> str:
    """sha256 of a checkpoint's identity and weights (names, dtypes, shapes and bytes)."""
    import hashlib
    import json

    h = hashlib.sha256(json.dumps([model, architecture, params], sort_keys=True, default=repr).encode())
    _hash_tensors(h, state_dict)
    return h.hexdigest()


def weights_sha256(state_dict: Mapping[str, Tensor]) -> str:
    """sha256 of weights alone (names, dtypes, shapes and bytes), e.g. those a training starts from."""
    import hashlib

    h = hashlib.sha256()
    _hash_tensors(h, state_dict)
    return h.hexdigest()


def _hash_tensors(h: Any, state_dict: Mapping[str, Tensor]) -> None:
    for key in sorted(state_dict):
        t = state_dict[key].detach().cpu().contiguous()
        h.update(f"\0{key}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")


def save_or_fall_back(path: Path, config: ModelConfig, model: Separator, steps: int,
                      **extra: Any) -> tuple[Path, str | None]:
    """Save to ``path`` (with ``extra`` as :func:`save_checkpoint`); if that fails with an
    :class:`OSError`, to ``<cwd>/<model>-<time>.pt``, else to the same name in the system temp
    folder. Returns where, and (after a fallback) why in one line. Raises :class:`TrainingError`
    if no place takes the file."""
    try:
        return save_checkpoint(path, config, model, step=steps, **extra), None
    except OSError as exc:
        reason = _unwritable_reason(path, exc)
    name = re.sub(r"[^\w.-]+", "-", config.name).strip("-.") or "model"
    filename = f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.pt"
    folders: list[Path] = []
    with contextlib.suppress(OSError):
        folders.append(Path.cwd())
    folders.append(Path(tempfile.gettempdir()))
    for folder in folders:
        candidate = folder / filename
        for k in range(1, 100):
            if not candidate.exists():
                break
            candidate = folder / f"{filename[:-3]}-{k}.pt"
        try:
            return save_checkpoint(candidate, config, model, step=steps, **extra), f"could not write {path}: {reason}"
        except OSError:
            continue
    raise TrainingError(f"model {config.name!r}: trained {steps} steps but could not save the weights; expected a "
                        f"writable checkpoint path, got {path} ({reason}), and neither "
                        f"{' nor '.join(str(f) for f in folders)} is writable")


def _unwritable_reason(path: Path, exc: OSError) -> str:
    """Why ``path`` cannot be written, in a few words."""
    if path.is_dir():
        return "a folder exists at that path"
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                return f"{parent} is a file, not a folder"
            break
    return exc.strerror or _shorten(str(exc)) or type(exc).__name__


def _shorten(text: str, limit: int = 200) -> str:
    """``text`` on one line (escape codes dropped), cut at a word boundary with `` ...`` if longer."""
    text = " ".join(re.sub(r"\x1b\[[0-9;]*m", "", text).split())
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(",;:") + " ..."


def save_checkpoint(path: str | Path, config: ModelConfig, model: Separator, **extra: Any) -> Path:
    """Write weights and the plain-data config atomically (temp file, then rename), with a
    sha256 of both that :func:`load_checkpoint` checks (a modified or corrupted file is refused).
    If writing fails (any exception, Ctrl-C included) the temp file is removed and the error
    re-raised; ``path`` is then left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = model.state_dict()
    names = {"source_names": list(model.source_names)} if model.source_names else {}
    payload = {
        "format": CHECKPOINT_FORMAT, "model": config.name, "architecture": config.architecture,
        "params": config.params, "state_dict": state, **names, **extra,
        "sha256": _digest(config.name, config.architecture, config.params, state),
    }
    return _save_atomically(payload, path)


def _save_atomically(payload: dict, path: Path) -> Path:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise
    return path


def save_training_state(path: str | Path, key: str, state: dict[str, Any]) -> Path:
    """Write an unfinished training's ``state`` (tensors and plain data only) for the run
    identified by ``key``, atomically: an interrupted write leaves the previous state."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return _save_atomically({"format": TRAINING_STATE_FORMAT, "key": key, **state}, path)


def load_training_state(path: str | Path, key: str, device: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a state written by :func:`save_training_state` (``weights_only=True``).

    Raises :class:`CheckpointError` (one line) when the file is damaged, not a training state,
    or the state of another run (its ``key`` differs: another model, data, budget, seed or
    starting weights).
    """
    path = Path(path)
    _check_checkpoint_file(path)
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:
        raise _unloadable(path, exc) from None
    if not isinstance(payload, dict) or payload.get("format") != TRAINING_STATE_FORMAT:
        raise CheckpointError(f"training state {path}: expected a separena training state "
                              f"({TRAINING_STATE_FORMAT}), got {type(payload).__name__}")
    if payload.get("key") != key:
        raise CheckpointError(f"training state {path}: belongs to another run (model, data, budget, seed or "
                              "starting weights); expected the state of this one: remove the file to train from "
                              "the start")
    return payload


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes (hex)."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_checkpoint(path: str | Path, registry: Registry, name: str | None = None,
                    device: str | torch.device = "cpu", sha256: str | None = None) -> tuple[ModelConfig, Separator]:
    """Load a checkpoint safely (``weights_only=True``) and rebuild its model.

    Raises :class:`CheckpointError` if the file is missing, not a separena checkpoint, unsafe
    to load, without its sha256 (it could not be checked), modified since it was written (its
    sha256 does not match), not the file recorded (``sha256``: the file's digest, as a
    benchmark run records it), or (when ``name`` is given) belongs to another architecture.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path}: file not found")
    if sha256 is not None and (got := file_sha256(path)) != sha256:
        raise CheckpointError(f"checkpoint {path}: not the file its run recorded; expected sha256 {sha256[:16]}..., "
                              f"got {got[:16]}...")
    _check_checkpoint_file(path)
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:
        raise _unloadable(path, exc) from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT or "state_dict" not in payload:
        raise CheckpointError(f"checkpoint {path}: expected a separena checkpoint (format {CHECKPOINT_FORMAT}), "
                              f"got {type(payload).__name__}")
    if "sha256" not in payload:  # deleting the digest must not be a way around its check
        raise CheckpointError(f"checkpoint {path}: holds no sha256 of its weights, so it cannot be checked; "
                              f"{_WRITTEN_BY}")
    try:
        digest = _digest(payload["model"], payload["architecture"], payload["params"], payload["state_dict"])
    except Exception as exc:
        digest = f"unhashable ({type(exc).__name__})"
    if digest != payload["sha256"]:
        raise CheckpointError(f"checkpoint {path}: modified or corrupted since it was written; expected sha256 "
                              f"{str(payload['sha256'])[:16]}..., got {digest[:16]}...")
    stored = payload["model"]
    config = registry.model_config(stored, **payload["params"])
    if name is not None:
        wanted = registry.model_config(name)
        if wanted.architecture != config.architecture:
            raise CheckpointError(f"checkpoint {path}: holds architecture {config.architecture!r} "
                                  f"(model {stored!r}); expected {wanted.architecture!r} for model {name!r}")
    model = config.build()
    if (misfit := load_weights(model, payload["state_dict"])) is not None:
        raise CheckpointError(f"checkpoint {path}: weights do not fit model {stored!r}: {misfit}")
    if "source_names" in payload:
        model.source_names = _source_names(path, payload["source_names"], model.n_src)
    return config, model.to(device).eval()


def _source_names(path: Path, names: Any, n_src: int) -> tuple[str, ...]:
    """A checkpoint's source names, checked: they become file names (and the digest does not cover them)."""
    if (problem := source_names_problem(names, n_src)) is not None:
        raise CheckpointError(f"checkpoint {path}: source_names: {problem}")
    return tuple(names)


def load_weights(model: torch.nn.Module, state_dict: Mapping[str, Tensor]) -> str | None:
    """Load ``state_dict`` into ``model``; ``None`` when it fits, else why not, in one short line."""
    try:
        model.load_state_dict(state_dict)
    except RuntimeError as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        if len(lines) > 1 and lines[0].startswith("Error(s) in loading state_dict"):
            lines = lines[1:]  # the first line names only the class; the next one says what is wrong
        return _shorten(lines[0] if lines else type(exc).__name__)
    return None


_WRITTEN_BY = "expected a checkpoint written by `separena train`"


def _check_checkpoint_file(path: Path) -> None:
    """Refuse, before torch reads it, a file that cannot be a checkpoint: empty, a truncated or
    corrupted zip (torch checkpoints are zip archives), or another kind of file (a wav, ...)."""
    size = path.stat().st_size
    if size == 0:
        raise CheckpointError(f"checkpoint {path}: empty file (0 bytes); {_WRITTEN_BY}")
    if zipfile.is_zipfile(path):
        return
    with open(path, "rb") as f:
        head = f.read(4)
    if head.startswith(b"PK"):  # a zip whose end (the central directory) is missing or damaged
        raise _corrupted(path, size)
    if not head.startswith(b"\x80"):  # nor a pickle (torch's legacy format, still loadable)
        from .data.audio import describe_file

        raise CheckpointError(f"checkpoint {path}: not a torch checkpoint (it looks like {describe_file(path)}); "
                              f"expected a file written by `separena train`")


def _corrupted(path: Path, size: int) -> CheckpointError:
    return CheckpointError(f"checkpoint {path}: truncated or corrupted file ({size} bytes), cannot be loaded safely "
                           f"(weights_only=True); {_WRITTEN_BY}")


def _unloadable(path: Path, exc: Exception) -> CheckpointError:
    """The one-line error for a checkpoint file that ``torch.load(weights_only=True)`` refused."""
    text = str(exc)
    if "Weights only load failed" in text or "WeightsUnpickler error" in text:
        found = re.search(r"GLOBAL ([\w.]+)", text)
        detail = f"a pickled {found.group(1)}" if found else _shorten(text.split("WeightsUnpickler error:")[-1], 120)
        return CheckpointError(f"checkpoint {path}: cannot be loaded safely (weights_only=True): it holds {detail}, "
                               f"not only tensors and plain data; {_WRITTEN_BY}")
    if "PytorchStreamReader" in text or isinstance(exc, (RuntimeError, EOFError, zipfile.BadZipFile)):
        try:
            with zipfile.ZipFile(path) as archive:
                is_torch = any(n.endswith("/data.pkl") or n == "data.pkl" for n in archive.namelist())
        except (OSError, zipfile.BadZipFile):
            is_torch = True  # unreadable as a zip too: damaged
        if not is_torch:
            return CheckpointError(f"checkpoint {path}: not a torch checkpoint (it is a zip archive of other files); "
                                   f"expected a file written by `separena train`")
        return _corrupted(path, path.stat().st_size)
    reason = _shorten(first_line(text, type(exc).__name__))
    return CheckpointError(f"checkpoint {path}: cannot be loaded safely (weights_only=True): {reason}")
