"""Each registry.yaml error type, with the exact one-line message it produces."""

from __future__ import annotations

import textwrap
import tomllib
from pathlib import Path

import pytest

from separena import Registry, RegistryFileError


def _load(tmp_path, fixture_plugin, text: str) -> Registry:
    path = tmp_path / "my.yaml"
    path.write_text(textwrap.dedent(text))
    registry = Registry(entry_points=False, core_registry=False, plugins=[fixture_plugin("good_minimal")],
                        registry_files=[path])
    registry.presets  # load now
    return registry


def _problems(tmp_path, fixture_plugin, text: str) -> list[str]:
    with pytest.raises(RegistryFileError) as info:
        _load(tmp_path, fixture_plugin, text)
    return [p.replace(str(tmp_path / "my.yaml"), "my.yaml") for p in info.value.problems]


def test_valid_file_loads_with_provenance(tmp_path, fixture_plugin):
    registry = _load(tmp_path, fixture_plugin, """\
        presets:
          tiny-big:
            architecture: tiny-masker
            params: {n_fft: 128}
            description: bigger
        suites:
          mine:
            dataset: espeak-2mix
            budget: {steps: 5}
            models: ["tiny-*"]
        """)
    assert registry.preset("tiny-big").params == {"n_fft": 128}
    assert registry.preset("tiny-big").sources == (f"{tmp_path / 'my.yaml'}:2",)
    assert registry.suite("mine").budget.steps == 5
    assert registry.select(registry.suite("mine").models) == ["tiny-big", "tiny-masker"]


def test_unknown_parameter_suggests(tmp_path, fixture_plugin):
    assert _problems(tmp_path, fixture_plugin, """\
        presets:
          tiny-big:
            architecture: tiny-masker
            params: {n_fftt: 128}
        """) == ["my.yaml:4: presets.tiny-big.params.n_fftt: unknown parameter of architecture 'tiny-masker'; "
                 "expected one of n_src, sample_rate, n_fft, hop_length, mask_activation (did you mean 'n_fft'?)"]


def test_parameter_of_wrong_type(tmp_path, fixture_plugin):
    assert _problems(tmp_path, fixture_plugin, """\
        presets:
          tiny-big:
            architecture: tiny-masker
            params:
              n_fft: 2k
              mask_activation: tanh
        """) == [
        "my.yaml:5: presets.tiny-big.params.n_fft: expected an integer, got '2k'",
        "my.yaml:6: presets.tiny-big.params.mask_activation: expected one of 'sigmoid', 'softmax', 'relu', got 'tanh'",
    ]


def test_unknown_key_and_top_level_typo(tmp_path, fixture_plugin):
    assert _problems(tmp_path, fixture_plugin, """\
        preset:
          x: {}
        suites:
          mine:
            dataset: espeak-2mix
            budgett: {steps: 1}
        """) == [
        "my.yaml:1: preset: unknown key; expected one of presets, suites (did you mean 'presets'?)",
        "my.yaml:6: suites.mine.budgett: unknown key; expected one of dataset, dataset_params, sample_rate, "
        "segment_seconds, budget, seeds, models, metrics, description (did you mean 'budget'?)",
        "my.yaml:4: suites.mine.budget: expected at least one limit of steps, examples, macs or minutes, got none",
    ]


def test_suite_values_are_checked(tmp_path, fixture_plugin):
    datasets = ", ".join(sorted(Registry(entry_points=False, core_registry=False).datasets))
    assert _problems(tmp_path, fixture_plugin, """\
        suites:
          mine:
            dataset: espek-2mix
            budget: {steps: 2k, batch_size: 0}
            seeds: [0, -1]
            sample_rate: 8 kHz
        """) == [
        f"my.yaml:3: suites.mine.dataset: unknown dataset 'espek-2mix'; expected one of {datasets}"
        " (did you mean 'espeak-2mix'?)",
        "my.yaml:6: suites.mine.sample_rate: expected a positive integer (Hz), got '8 kHz'",
        "my.yaml:4: suites.mine.budget.steps: expected a positive integer, got '2k'",
        "my.yaml:4: suites.mine.budget.batch_size: expected a positive integer, got 0",
        "my.yaml:5: suites.mine.seeds: expected a non-empty list of integers from 0 to 2**32-1, got [0, -1]",
    ]


def test_unknown_objective_loss(tmp_path, fixture_plugin):
    losses = ", ".join(sorted(Registry(entry_points=False, core_registry=False).losses))
    assert _problems(tmp_path, fixture_plugin, """\
        presets:
          tiny-l1:
            architecture: tiny-masker
            objective: {pit-mask-l2: 1.0}
        """) == [f"my.yaml:4: presets.tiny-l1.objective: unknown loss 'pit-mask-l2'; expected one of {losses} "
                 "(did you mean 'pit-mask-l1'?)"]


def test_invalid_yaml_is_one_line(tmp_path, fixture_plugin):
    problems = _problems(tmp_path, fixture_plugin, "presets: [unclosed\n")
    assert len(problems) == 1 and problems[0].startswith("my.yaml:2: not valid YAML:")


def test_repeated_keys_are_refused_with_both_lines(tmp_path, fixture_plugin):
    # A pasted second block of the same name used to replace the first without a word.
    problems = _problems(tmp_path, fixture_plugin, """\
        presets:
          tiny-a:
            architecture: tiny-masker
          tiny-a:
            architecture: tiny-masker
            architecture: tiny-masker
        """)
    assert problems == [
        "my.yaml:4: presets.tiny-a: repeats the key of line 2; expected each key once (YAML would keep only the last)",
        "my.yaml:6: presets.tiny-a.architecture: repeats the key of line 5; expected each key once "
        "(YAML would keep only the last)",
    ]


def test_yaml_tags_that_construct_objects_are_refused(tmp_path, fixture_plugin):
    problems = _problems(tmp_path, fixture_plugin, "presets: !!python/object/apply:os.system ['echo hi']\n")
    assert len(problems) == 1 and "not valid YAML" in problems[0]


def test_missing_architecture_is_not_a_load_error(tmp_path, fixture_plugin):
    registry = _load(tmp_path, fixture_plugin, """\
        presets:
          later-net:
            architecture: asteroid-something
        """)
    assert registry.unavailable_reason("later-net") == "architecture 'asteroid-something' is not registered"


def test_later_file_overrides_and_keeps_provenance(tmp_path, fixture_plugin):
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text("presets:\n  tiny-big:\n    architecture: tiny-masker\n    params: {n_fft: 128}\n")
    second.write_text("presets:\n\n  tiny-big:\n    architecture: tiny-masker\n    params: {n_fft: 256}\n")
    registry = Registry(entry_points=False, core_registry=False, plugins=[fixture_plugin("good_minimal")],
                        registry_files=[first, second])
    preset = registry.preset("tiny-big")
    assert preset.params == {"n_fft": 256}
    assert preset.sources == (f"{first}:2", f"{second}:3")


def test_missing_registry_file(tmp_path, fixture_plugin):
    registry = Registry(entry_points=False, core_registry=False, registry_files=[tmp_path / "nope.yaml"])
    with pytest.raises(RegistryFileError, match=r"nope.yaml: cannot read registry file: No such file or directory"):
        registry.presets


def test_core_registry_yaml_is_valid():
    registry = Registry()
    assert "speech-quick" in registry.suites
    for name in registry.list_models():
        assert registry.preset(name).architecture


def test_every_trained_music_model_trains_on_the_stem_objective():
    from separena import STEM_OBJECTIVE

    registry = Registry()
    music = [registry.model_config(name) for name in registry.list_models(task="music")]
    trained = [c for c in music if c.trainable and "speech" not in c.tasks]
    assert len(trained) >= 10
    for config in trained:  # stems in order and at their level; the YAML presets spell it out
        assert dict(config.objective) == STEM_OBJECTIVE, config.name


# -- presets live with their plugins -----------------------------------------------------------
REPO = Path(__file__).resolve().parents[1]


def _package_dir(registry: Registry, plugin_name: str) -> Path:
    module = registry.pm.get_plugin(plugin_name)
    return Path(module.__file__).resolve().parent


def _file_sources(preset) -> list[Path]:
    """The files of a preset's definitions (``"plugin X"`` marks the architecture's own preset)."""
    return [Path(s.rsplit(":", 1)[0]).resolve() for s in preset.sources if not s.startswith("plugin ")]


def test_every_plugin_ships_its_own_presets():
    registry = Registry()
    shipped = {name: _package_dir(registry, name) for name, info in registry.plugins.items()
               if info.dist and info.dist != "separena" and info.status == "ok"}
    assert len(shipped) >= 7, sorted(registry.plugins)
    checked = 0
    for name, preset in registry.presets.items():
        if preset.architecture not in registry.architectures:
            continue
        plugin = registry.plugin_of(preset.architecture)
        if plugin not in shipped:
            continue
        for path in _file_sources(preset):
            assert path.is_relative_to(shipped[plugin]), f"{name}: defined in {path}, not in {shipped[plugin]}"
            checked += 1
    assert checked >= 25
    for plugin, directory in shipped.items():  # the file each hook returns ships as package data
        if "separena_preset_files" in registry.plugins[plugin].hooks:
            pyproject = tomllib.loads((directory.parent / "pyproject.toml").read_text(encoding="utf-8"))
            data = pyproject["tool"]["setuptools"]["package-data"][directory.name]
            assert "presets.yaml" in data, f"{directory.parent / 'pyproject.toml'}: presets.yaml is not package data"


def test_core_registry_yaml_holds_suites_not_presets():
    import yaml

    core = yaml.safe_load((REPO / "registry.yaml").read_text(encoding="utf-8"))
    assert not core.get("presets"), "presets belong in the plugin that provides their architecture"
    assert (REPO / "core/separena/registry.yaml").resolve() == (REPO / "registry.yaml").resolve()
    registry = Registry()
    for suite in registry.suites.values():  # every plain name a suite lists is a preset some plugin ships
        for model in suite.models:
            if not any(c in model for c in "*?["):
                registry.preset(model)


def test_user_file_overrides_a_plugin_preset_and_keeps_both_sources(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("presets:\n  mask-inference-small:\n    architecture: mask-inference\n    params: {hidden_size: 32}\n")
    registry = Registry(registry_files=[path])
    preset = registry.preset("mask-inference-small")
    assert preset.params == {"hidden_size": 32}
    plugin_file, user_file = preset.sources
    assert "separena_mask_inference/presets.yaml:" in plugin_file
    assert user_file == f"{path}:2"
