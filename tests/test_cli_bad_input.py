"""Every command over a table of bad input: one ``error:`` line, exit status 2, no traceback,
nothing written, the result store unchanged, and no data built (the checks come first)."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import click
import numpy as np
import pytest
import soundfile as sf
import torch
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from separena import cli
from separena.bench import ResultStore
from separena.checkpoints import save_checkpoint
from separena.registry import Registry
from separena.specs import check_budget_value

CKPT = "mi-small.pt"  # a mask-inference-small checkpoint in the working folder
NO_GPU = torch.cuda.device_count() == 0

# (command line, a fragment the one error line must hold). Paths are relative to the test's
# working folder, which holds: a_file (text), a_dir/, store.sqlite (an empty store), in.wav
# (8 kHz), in16k.wav, empty.wav (0 bytes), mi-small.pt, and the cache folder cache/.
CASES: list[tuple[list[str], str]] = [
    # the group itself
    (["trian"], "No such command 'trian'"),
    (["--plugin", "separena_no_such_module", "list"], "--plugin separena_no_such_module"),
    (["--registry", "missing.yaml", "list"], "missing.yaml"),
    (["--registry", "bad_params.yaml", "bench", "--suite", "bad-params", "--store", "new.sqlite"],
     "bad_params.yaml:2: suite bad-params: dataset tones-2mix: unknown parameter 'nope'"),
    # list, info, plugins
    (["list", "conv"], "no model matches"),
    (["list", "--task", "musik"], "unknown task 'musik'"),
    (["list", "--params", "x", "y"], "unexpected extra argument"),
    (["list", "--no-params", "--task", "speach"], "did you mean 'speech'"),
    (["info", "mask-infrence"], "did you mean 'mask-inference'"),
    (["info"], "Missing argument 'NAME'"),
    (["plugins", "extra"], "unexpected extra argument"),
    # train: budgets, seeds, devices, outputs, tasks
    (["train", "mask-inference", "--steps", "-5"], "--steps"),
    (["train", "mask-inference", "--steps", "0"], "expected a positive integer, got 0"),
    (["train", "mask-inference", "--steps", "2.5"], "--steps"),
    (["train", "mask-inference", "--examples", "0"], "--examples"),
    (["train", "mask-inference", "--minutes", "-1"], "expected a positive number, got -1.0"),
    (["train", "mask-inference", "--minutes", "0"], "--minutes"),
    (["train", "mask-inference", "--minutes", "nan"], "--minutes"),
    (["train", "mask-inference", "--minutes", "inf"], "--minutes"),
    (["train", "mask-inference", "--macs", "-4e12"], "multiply-accumulates"),
    (["train", "mask-inference", "--macs", "lots"], "--macs"),
    (["train", "mask-inference", "--batch-size", "0"], "--batch-size"),
    (["train", "mask-inference", "--learning-rate", "0"], "--learning-rate"),
    (["train", "mask-inference", "--learning-rate", "nan"], "--learning-rate"),
    (["train", "mask-inference", "--seed", "-1"], "--seed"),
    (["train", "mask-inference", "--seed", str(2**32)], "--seed"),
    (["train", "mask-inference", "--device", "cudaa"], "expected cpu, cuda or cuda:N, got 'cudaa'"),
    (["train", "mask-inference", "--device", "cuda:99"], "--device"),
    (["train", "mask-inference", "--device", "tpu"], "--device"),
    (["train", "mask-inference", "--data-workers", "-1"], "--data-workers"),
    (["train", "mask-inference", "--eval-mixtures", "0"], "--eval-mixtures"),
    (["train", "mask-inference", "--steps", "50", "-o", "a_file/m.pt"], "a_file is a file; expected a folder"),
    (["train", "mask-inference", "-o", "a_dir"], "is a folder; expected a file path"),
    (["train", "mask-inference", "--suite", "smok"], "unknown suite 'smok'"),
    (["train", "open-unmix-small"], "try --suite music-quick"),
    (["train", "mask-inference-small", "--suite", "music-quick"],
     "runs at 8000 Hz; expected a suite at the model's rate"),
    (["evaluate", "mask-inference-small", "--checkpoint", CKPT, "--suite", "music-quick"], "at 16000 Hz, model"),
    (["train", "oracle-irm"], "not trained"),
    (["train", "no-such-model"], "unknown model"),
    (["train", "mask-inference", "--init", "publshed"], "--init publshed: no such file; expected `published`"),
    (["train", "mask-inference", "--init", "published"], "has no published weights"),
    (["train", "mask-inference", "--init", "missing.pt"], "--init missing.pt: no such file"),
    (["train", "mask-inference-small", "--init", "in.wav"], "not a torch checkpoint"),
    (["train", "conv-tasnet-small", "--init", CKPT], "expected 'conv-tasnet' for model 'conv-tasnet-small'"),
    (["train", "mask-inference-small", "--init", CKPT, "-o", CKPT], "is also the -o/--output path"),
    (["train", "mask-inference", "--init", "nothing@speech-quick", "--store", "store.sqlite"], "--init nothing@"),
    (["train", "mask-inference", "--init", "abcd", "--store", "missing.sqlite"], "no store missing.sqlite"),
    (["train", "mask-inference", "--init", "zz@", "--store", "store.sqlite"], "--init zz@: expected a run-hash"),
    (["train", "mask-inference", "--set", "hidden_size"], "expected KEY=VALUE with KEY a model parameter"),
    (["train", "mask-inference", "--set", "=64"], "expected KEY=VALUE"),
    (["train", "mask-inference", "--set", "hidden_size="], "hidden_size: expected a value after '='"),
    (["train", "mask-inference", "--set", "hidden_size=[64"], "hidden_size: expected a YAML value"),
    (["train", "mask-inference", "--set", "hiden_size=64"], "--set: model 'mask-inference': parameter hiden_size"),
    (["train", "mask-inference", "--set", "hidden_size=wide"], "parameter hidden_size: expected an integer"),
    (["train", "mask-inference", "--set", "hidden_size=8", "--set", "hidden_size=9"], "--set hidden_size: given twice"),
    (["train", "mask-inference", "--set", "n_src=3"], "--set n_src=3: the suite's data sets the number of sources"),
    (["train", "mask-inference", "--set", "sample_rate=16000"], "runs at 16000 Hz; expected a suite at the model's"),
    (["train", "mask-inference-small", "--set", "hidden_size=8", "--init", CKPT], "expected --set or --init, not both"),
    # compare
    (["compare", CKPT, CKPT], "A and B: both are"),
    (["compare", "mask-infrence", CKPT], "did you mean 'mask-inference'"),
    (["compare", "mask-inference", "oracle-irm"], "has no published weights"),
    (["compare", CKPT, "open-unmix-small"], "try --suite music-quick"),
    (["compare", CKPT, "oracle-irm", "--suite", "nope"], "unknown suite"),
    (["compare", CKPT, "abcd", "--store", "missing.sqlite"], "B abcd: no such file, and no store missing.sqlite"),
    (["compare", CKPT, "x@speech-quick", "--store", "store.sqlite"], "B x@speech-quick: no finished run"),
    (["compare", "x@speech-quick", CKPT, "--store", "store.sqlite", "--rescore"], "A x@speech-quick: no finished run"),
    (["compare", CKPT, "oracle-irm", "--json", "a_file/out.json"], "--json a_file/out.json: a_file is a file"),
    (["compare", CKPT, "oracle-irm", "--device", "gpu"], "--device"),
    (["compare", CKPT, "oracle-irm", "--metric", "stoy-i"], "did you mean 'stoi-i'"),
    (["compare", CKPT, "oracle-irm", "--eval-mixtures", "0"], "--eval-mixtures"),
    (["compare", CKPT], "Missing argument 'B'"),
    # evaluate
    (["evaluate", "mask-inference"], "expected --checkpoint PATH"),
    (["evaluate", "mask-inference", "--checkpoint", "missing.pt"], "missing.pt: file not found"),
    (["evaluate", "mask-inference-small", "--checkpoint", "in.wav"], "not a torch checkpoint"),
    (["evaluate", "mask-inference", "--checkpoint", CKPT, "--run", "abc"], "both"),
    (["evaluate", "mask-inference", "--run", "abc", "--store", "missing.sqlite"], "missing.sqlite"),
    (["evaluate", "mask-inference", "--run", "nothing@speech-quick", "--store", "store.sqlite"], "--run"),
    (["evaluate", "open-unmix-small", "--checkpoint", CKPT], "try --suite music-quick"),
    (["evaluate", "mask-inference-small", "--checkpoint", CKPT, "--suite", "nope"], "unknown suite"),
    (["evaluate", "mask-inference-small", "--checkpoint", CKPT, "--device", "gpu"], "--device"),
    # separate
    (["separate", "mask-inference-small", "--checkpoint", CKPT, "in.wav", "-o", "a_file"], "is a file"),
    (["separate", "mask-inference-small", "--checkpoint", CKPT, "in.wav", "-o", "a_file/out"], "a_file is a file"),
    (["separate", "mask-inference-small", "--checkpoint", CKPT, "empty.wav"], "0 bytes"),
    (["separate", "mask-inference-small", "--checkpoint", CKPT, "--mono", "missing.wav"], "missing.wav"),
    (["separate", "mask-inference-small", "--checkpoint", CKPT, "--float", "empty.wav"], "0 bytes"),
    (["separate", "mask-inference-small", "--checkpoint", CKPT, "in16k.wav"], "--resample"),
    (["separate", "mask-inference-small", "--checkpoint", CKPT, "a_file"], "a_file"),
    (["separate", "mask-inference-small", "--checkpoint", CKPT, "missing.wav"], "missing.wav"),
    (["separate", "mask-inference-small", "--checkpoint", "in.wav", "in.wav"], "not a torch checkpoint"),
    (["separate", "mask-inference-small", "--checkpoint", CKPT, "in.wav", "--max-seconds", "0"], "--max-seconds"),
    (["separate", "mask-inference-small", "--checkpoint", CKPT, "in.wav", "--max-seconds", "0.5"], "at most 0.5 s"),
    (["separate", "mask-inference-small", "--checkpoint", CKPT, "in.wav", "--chunk-seconds", "-1"], "--chunk-seconds"),
    (["separate", "mask-inference-small", "--checkpoint", CKPT, "in.wav", "--chunk-seconds", "0.0001"],
     "chunks of 1 samples at 8000 Hz that share 0"),
    (["separate", "mask-inference-small", "--checkpoint", CKPT, "in.wav", "--overlap", "1"], "--overlap"),
    (["separate", "mask-inference-small", "--checkpoint", CKPT, "in.wav", "--chunk-seconds", "0.01", "--overlap",
      "0.5"], "got 80 samples (0.01 s) (in a chunk of --chunk-seconds 0.01)"),
    (["separate", "mask-inference-small", "--checkpoint", CKPT], "Missing argument 'INPUTS...'"),
    (["separate", "oracle-irm", "in.wav"], "oracle"),
    (["separate", "mask-inference-small", "--checkpoint", CKPT, "empty.wav", "--resample"], "0 bytes"),
    (["separate", "mask-inference-small", "--checkpoint", CKPT, "in.wav", "--device", "cudaa"], "--device"),
    (["separate", "mask-inference-small", "--run", "abc", "--store", "a_file/x", "in.wav"], "a_file/x"),
    (["evaluate", "mask-inference-small", "--run", "abc", "--store", "a_dir"], "is a directory"),
    (["evaluate", "mask-inference-small", "--checkpoint", CKPT, "--eval-mixtures", "-1"], "--eval-mixtures"),
    (["evaluate", "mask-inference-small", "--checkpoint", CKPT, "--metric", "sri"], "--metric: unknown metric 'sri'"),
    (["separate", "mask-inference", "in.wav"], "expected --checkpoint PATH"),
    # new-plugin
    (["new-plugin", "Bad Name"], "Bad Name"),
    (["new-plugin", "mask-inference"], "taken"),
    (["new-plugin", "my-net", "-d", "a_file"], "a_file"),
    # stream (standard input is empty here: every case stops before reading it)
    (["stream"], "Missing argument 'NAME'"),
    (["stream", "mask-inference-small", "--checkpoint", CKPT], "cannot stream: LogMagnitudeFeatures: norm 'instance'"),
    (["stream", "mask-inference-small", "--checkpoint", "in.wav"], "not a torch checkpoint"),
    (["stream", "mask-inference-small", "--run", "abc", "--store", "a_file/x"], "a_file/x"),
    (["stream", "mask-inference-causal"], "has no published weights"),
    (["stream", "oracle-irm"], "only a MaskSeparator"),
    (["stream", "mask-inference-causal", "--device", "cudaa"], "--device"),
    (["stream", "mask-inference-causal", "--rate", "0"], "--rate"),
    (["stream", "mask-inference-causal", "--block-ms", "0"], "--block-ms"),
    (["stream", "mask-inference-causal", "--format", "u8"], "--format"),
    (["stream", "mask-inference-causal", "--channels", "0"], "--channels"),
    # bench
    (["bench", "--suite", "smok"], "unknown suite 'smok'"),
    (["bench", "--models", "nothing*"], "matches no model"),
    (["bench", "--store", "a_file/x.sqlite"], "a_file is a file"),
    (["bench", "--store", "a_dir"], "is a directory"),
    (["bench", "--steps", "0"], "--steps"),
    (["bench", "--minutes", "-1"], "--minutes"),
    (["bench", "--batch-size", "-2"], "--batch-size"),
    (["bench", "--learning-rate", "x"], "--learning-rate"),
    (["bench", "--jobs", "0"], "--jobs"),
    (["bench", "--threads", "0"], "--threads"),
    (["bench", "--seeds", "-1"], "--seeds"),
    (["bench", "--executor", "spark"], "--executor"),
    (["bench", "--address", "auto"], "expected --executor ray"),
    (["bench", "--device", "cudaa"], "--device"),
    (["bench", "--num-cpus", "0"], "--num-cpus"),
    (["bench", "--gpus-per-run", "-1"], "--gpus-per-run"),
    (["bench", "--examples", "-3"], "--examples"),
    (["bench", "--macs", "0"], "--macs"),
    (["bench", "--data-workers", "-1"], "--data-workers"),
    (["bench", "--fresh", "--suite", "smok"], "unknown suite 'smok'"),
    (["bench", "--dry-run", "--models", "nothing*"], "matches no model"),
    # suites
    (["suites", "nope*"], "suites nope*: no suite matches"),
    (["suites", "--task", "nope"], "no suite matches with --task nope"),
    (["suites", "--store", "a_file"], "a_file: cannot open"),
    # datasets
    (["datasets", "nope*"], "datasets nope*: no dataset matches"),
    (["datasets", "--task", "nope"], "no dataset matches with --task nope"),
    # runs, report
    (["runs", "--store", "missing.sqlite"], "missing.sqlite: file not found"),
    (["runs", "--store", "store.sqlite", "--suite", "nope"], "--suite nope"),
    (["runs", "--published", "--suite", "nope"], "--suite nope: no runs in"),
    (["runs", "--store", "a_file"], "cannot open"),
    (["report", "--store", "store.sqlite", "--suite", "nope", "-o", "rep"], "--suite nope"),
    (["report", "--store", "store.sqlite", "-o", "a_file"], "a_file"),
    (["report", "--store", "missing.sqlite", "-o", "rep"], "missing.sqlite"),
    (["report", "--store", "a_dir", "-o", "rep"], "is a directory"),
    (["runs", "--store", "store.sqlite", "--suite", "smok", "mask*"], "--suite smok"),
    (["new-plugin", "my-net", "--directory", "a_file/sub"], "a_file"),
    (["report", "--store", "store.sqlite"], "Missing option '-o' / '--output-dir'"),
    (["report", "--store", "missing.sqlite", "--no-published", "-o", "rep"], "missing.sqlite: file not found"),
    (["report", "--published", "--store", "store.sqlite", "--suite", "nope", "-o", "rep"], "--suite nope"),
    # publish
    (["publish", "--store", "store.sqlite"], "Missing option '--suite'"),
    (["publish", "--suite", "nope", "--store", "store.sqlite"], "--suite nope: no runs in store.sqlite"),
    (["publish", "--suite", "smoke", "--store", "missing.sqlite"], "missing.sqlite: file not found"),
    (["publish", "--suite", "smoke", "--store", "store.sqlite", "-o", "a_file"], "a_file"),
    (["publish", "--suite", "smoke", "--store", "store.sqlite", "--device", "cudaa"], "--device"),
    (["publish", "--suite", "nope", "--store", "store.sqlite", "--rescore"], "--suite nope"),
    # cache (the cache folder is cache/, which holds one entry)
    (["cache", "list", "nope*"], "cache list nope*: no cache entry matches"),
    (["cache", "remove"], "expected PATTERN"),
    (["cache", "remove", "nope*", "--yes"], "holds rooms-train"),
    (["cache", "remove", "rooms*"], "expected --yes"),
    (["cache", "remove", "nope", "--dry-run"], "no cache entry matches"),
    (["cache", "remove", "--older-than", "-1"], "--older-than"),
    (["cache", "purge"], "No such command 'purge'"),
]
if NO_GPU:  # a GPU machine has cuda, so this case is a bad input only here
    CASES.append((["train", "mask-inference", "--device", "cuda"], "torch sees no CUDA GPU"))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bad-input")
    (root / "a_file").write_text("not a folder, not a store, not audio\n")
    (root / "a_dir").mkdir()
    ResultStore(root / "store.sqlite").close()
    noise = (0.1 * np.random.default_rng(0).standard_normal(8000)).astype(np.float32)
    sf.write(root / "in.wav", noise, 8000, subtype="PCM_16")
    sf.write(root / "in16k.wav", np.zeros(16000, dtype=np.float32), 16000, subtype="PCM_16")
    (root / "empty.wav").write_bytes(b"")
    (root / "cache").mkdir()
    np.save(root / "cache" / "rooms-train-0123456789abcdef.npy", np.zeros(4, np.float32))
    (root / "bad_params.yaml").write_text(  # a dataset parameter no builder takes
        "suites:\n  bad-params:\n    dataset: tones-2mix\n    dataset_params: {nope: 1}\n"
        "    budget: {steps: 1, batch_size: 2}\n    models: [mask-inference-small]\n")
    config = Registry().model_config("mask-inference-small")
    save_checkpoint(root / CKPT, config, config.build())
    return root


def _snapshot(root: Path) -> dict[str, str]:
    """Every path under ``root`` with its content's digest (folders as 'dir')."""
    return {str(p.relative_to(root)): "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))}


def _no_data(*args: object, **kwargs: object) -> None:
    raise AssertionError("the command built its data before refusing its input")


def _invoke(args: list[str]):
    return CliRunner().invoke(cli.main, args, env={"COLUMNS": "200", "SEPARENA_CACHE": "cache"})


@pytest.mark.parametrize("args, fragment", CASES, ids=[" ".join(a) for a, _ in CASES])
def test_bad_input_is_one_error_line_and_changes_nothing(workdir, monkeypatch, args, fragment):
    monkeypatch.chdir(workdir)
    monkeypatch.setattr(cli.model, "_suite_data", _no_data)  # where train and evaluate look it up
    before = _snapshot(workdir)
    result = _invoke(args)
    assert "Traceback" not in result.output and not isinstance(result.exception, AssertionError), result.output
    assert result.exit_code == 2, result.output
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("error: "), errors
    assert fragment in errors[0], errors[0]
    assert _snapshot(workdir) == before  # nothing written, nothing left behind, the store unchanged


def test_every_command_and_option_has_a_bad_input_case():
    """The table covers every command (and subcommand), and every option of every command in a
    case of its own."""
    commands = {name: command for name, command in cli.main.commands.items() if not isinstance(command, click.Group)}
    commands |= {f"{name} {sub}": command for name, group in cli.main.commands.items()
                 if isinstance(group, click.Group) for sub, command in group.commands.items()}

    def command_of(args: list[str]) -> str:
        return " ".join(args[:2]) if " ".join(args[:2]) in commands else args[0]

    used = {(command_of(args), token) for args, _ in CASES for token in args[1:] if token.startswith("-")}
    missing = [f"{name} {param.opts[0]}" for name, command in commands.items()
               for param in command.params
               if isinstance(param, click.Option) and not any((name, opt) in used for opt in param.opts)]
    assert missing == []
    assert set(commands) <= {command_of(args) for args, _ in CASES}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from(["steps", "examples", "minutes", "macs", "batch-size", "learning-rate"]),
       value=st.one_of(st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True),
                       st.text(alphabet="0123456789.-+eEinfa", min_size=1, max_size=6)))
def test_a_budget_option_is_refused_exactly_when_the_registry_schema_refuses_it(workdir, monkeypatch, key, value):
    """The command line and registry.yaml share one budget schema: a value the schema takes
    passes the option (and the command then stops at the bad -o path, before any data)."""
    monkeypatch.chdir(workdir)
    monkeypatch.setattr(cli.model, "_suite_data", _no_data)  # where train and evaluate look it up
    text = value if isinstance(value, str) else repr(value)
    result = _invoke(["train", "mask-inference", f"--{key}", text, "-o", "a_file/m.pt"])
    assert result.exit_code == 2, result.output
    (line,) = [x for x in result.stderr.splitlines() if x.strip()]
    field = key.replace("-", "_")
    integer = field in ("steps", "examples", "batch_size")
    try:
        parsed: object = int(text) if integer else float(text)
    except ValueError:
        parsed = None
    accepted = parsed is not None and check_budget_value(field, parsed) is None
    if accepted:
        assert "a_file is a file" in line, line
    else:
        assert f"--{key}" in line, line
    if isinstance(parsed, float) and not math.isfinite(parsed):
        assert not accepted
