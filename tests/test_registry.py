from __future__ import annotations

import pytest

from separena import Registry, RegistryFileError, SeparenaError, UnknownNameError


def test_entry_points_discover_installed_plugins():
    registry = Registry()
    assert "mask-inference" in registry.architectures
    assert registry.plugins["separena-mask-inference[mask-inference]"].status == "ok"
    assert "mask-inference-small" in registry.list_models("mask-inference*")


def test_local_plugin_module_registers(bare_registry, fixture_plugin):
    bare_registry.load_module(fixture_plugin("good_minimal"))
    assert bare_registry.list_models() == ["tiny-masker"]
    model = bare_registry.create_model("tiny-masker", n_fft=128)
    assert model.encoder.n_fft == 128


def test_broken_plugin_is_reported_and_others_still_work(bare_registry, fixture_plugin):
    bare_registry.load_module(fixture_plugin("broken_import"))
    bare_registry.load_module(fixture_plugin("good_minimal"))
    assert bare_registry.list_models() == ["tiny-masker"]
    broken = bare_registry.plugins[fixture_plugin("broken_import")]
    assert broken.status == "failed"
    assert broken.errors == [
        f"plugin {fixture_plugin('broken_import')} failed at import: "
        "ModuleNotFoundError: No module named 'separena_this_module_does_not_exist'"
    ]


def test_bad_spec_records_each_problem_and_keeps_valid_records(bare_registry, fixture_plugin):
    bare_registry.load_module(fixture_plugin("bad_spec"))
    assert list(bare_registry.architectures) == ["fine-one"]
    info = bare_registry.plugins[fixture_plugin("bad_spec")]
    assert info.status == "partial"
    text = "\n".join(info.errors)
    assert "'Not_Kebab' is not kebab-case" in text
    assert "family expected one of mask, embedding, waveform, oracle, baseline, classic, got 'magic'" in text
    assert "separena_register_losses: TypeError: expected LossSpec items, got str" in text
    assert "dataset 'stems-with-paths': source_names: expected distinct names of letters" in text
    assert "stems-with-paths" not in bare_registry.datasets


def test_missing_requirement_marks_model_unavailable_without_importing(bare_registry, fixture_plugin):
    bare_registry.load_module(fixture_plugin("bad_spec"))
    reason = bare_registry.unavailable_reason("fine-one")
    assert reason is not None and reason.startswith("separena_nope not installed (needed by plugin")
    with pytest.raises(SeparenaError, match="model 'fine-one' is unavailable: separena_nope not installed"):
        bare_registry.create_model("fine-one")
    assert bare_registry.list_models(available=True) == []


def test_raising_hook_costs_only_its_plugin(bare_registry, fixture_plugin):
    bare_registry.load_module(fixture_plugin("raising_hook"))
    bare_registry.load_module(fixture_plugin("good_minimal"))
    assert list(bare_registry.architectures) == ["tiny-masker"]
    assert bare_registry.plugins[fixture_plugin("raising_hook")].errors == [
        f"plugin {fixture_plugin('raising_hook')} failed at separena_register_architectures: "
        "RuntimeError: boom at registration"
    ]


def test_name_collision_names_both_plugins(bare_registry, fixture_plugin):
    bare_registry.load_module(fixture_plugin("good_minimal"))
    bare_registry.load_module(fixture_plugin("name_collision"))
    assert bare_registry.architectures["tiny-masker"].summary == "linear mask"
    errors = bare_registry.plugins[fixture_plugin("name_collision")].errors
    assert errors and f"architecture 'tiny-masker' is already provided by plugin {fixture_plugin('good_minimal')}" in errors[0]


def test_names_normalise_case_and_underscores(bare_registry, fixture_plugin):
    bare_registry.load_module(fixture_plugin("good_minimal"))
    assert bare_registry.preset("Tiny_Masker").name == "tiny-masker"


def test_unknown_model_suggests_close_names(bare_registry, fixture_plugin):
    bare_registry.load_module(fixture_plugin("good_minimal"))
    with pytest.raises(UnknownNameError) as info:
        bare_registry.create_model("tiny-maskr")
    assert str(info.value) == "unknown model 'tiny-maskr' (did you mean 'tiny-masker'?); see `separena list`"


def test_bad_override_is_one_line(bare_registry, fixture_plugin):
    bare_registry.load_module(fixture_plugin("good_minimal"))
    with pytest.raises(SeparenaError) as info:
        bare_registry.create_model("tiny-masker", n_ftt=128)
    assert str(info.value) == ("model 'tiny-masker': parameter n_ftt: unknown parameter of architecture 'tiny-masker'; "
                               "expected one of n_src, sample_rate, n_fft, hop_length, mask_activation "
                               "(did you mean 'n_fft'?)")
    with pytest.raises(SeparenaError, match=r"parameter mask_activation: expected one of 'sigmoid', 'softmax', 'relu', got 'tanh'"):
        bare_registry.create_model("tiny-masker", mask_activation="tanh")


def test_model_config_fills_defaults_and_objective(bare_registry, fixture_plugin):
    bare_registry.load_module(fixture_plugin("good_minimal"))
    config = bare_registry.model_config("tiny-masker", hop_length=8)
    assert config.params == {"n_src": 2, "sample_rate": 8000, "n_fft": 64, "hop_length": 8,
                             "mask_activation": "sigmoid"}
    assert config.objective == {"pit-si-sdr": 1.0}
    assert config.plugin == fixture_plugin("good_minimal")


def test_list_models_filters_by_pattern_and_task():
    registry = Registry()
    assert registry.list_models("mask-inference-s*") == ["mask-inference-small"]
    assert "mask-inference" in registry.list_models(task="speech")
    with pytest.raises(UnknownNameError, match=r"unknown task 'speach' \(did you mean 'speech'\?\)"):
        registry.list_models(task="speach")  # a typo is not an empty answer


def test_select_raises_on_unknown_plain_name_but_not_on_empty_pattern():
    registry = Registry()
    assert registry.select(["nothing-matches-*"]) == []
    with pytest.raises(UnknownNameError):
        registry.select(["mask-inferense"])


def test_misspelled_hook_fails_only_its_plugin(bare_registry, fixture_plugin):
    bare_registry.load_module(fixture_plugin("misspelled_hook"))
    bare_registry.load_module(fixture_plugin("good_minimal"))
    assert list(bare_registry.architectures) == ["tiny-masker"]
    info = bare_registry.plugins[fixture_plugin("misspelled_hook")]
    assert info.status == "failed"
    assert info.errors == [
        f"plugin {fixture_plugin('misspelled_hook')} failed at registration: unknown hook "
        "'separena_register_architecture' (did you mean 'separena_register_architectures'?)"
    ]
    assert bare_registry.plugins[fixture_plugin("good_minimal")].status == "ok"


def test_plugins_command_lists_misspelled_hook_as_failed(fixture_plugin):
    from click.testing import CliRunner

    from separena.cli import main

    result = CliRunner().invoke(main, ["--plugin", fixture_plugin("misspelled_hook"), "plugins"],
                                env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    start = next(i for i, line in enumerate(lines) if "misspelled_hook.py" in line)
    row = [lines[start]]
    for line in lines[start + 1:]:  # the row's wrapped lines: an empty first cell
        if not line.startswith("│") or line.split("│")[1].strip():
            break
        row.append(line)
    cell = " ".join(line.split("│")[-2].strip() for line in row)  # the status column, unwrapped
    assert cell == (f"failed: plugin {fixture_plugin('misspelled_hook')} failed at registration: unknown hook "
                    "'separena_register_architecture' (did you mean 'separena_register_architectures'?)")
    ok = [line for line in lines if "separena-mask-inference" in line]
    assert ok and ok[0].split("│")[-2].strip() == "ok"


# -- one vocabulary of families ------------------------------------------------------------------
# The same architecture from a native plugin and from an adapter (asteroid, nussl): one family.
SAME_ARCHITECTURE = {
    "conv-tasnet": ("asteroid-conv-tasnet",),
    "dprnn-tasnet": ("asteroid-dprnn-tasnet", "nussl-dual-path"),
    "mask-inference": ("nussl-mask-inference", "nussl-end-to-end"),
    "deep-clustering": ("nussl-dpcl",),
    "chimera-pp": ("nussl-chimera",),
    "open-unmix": ("nussl-open-unmix-like",),
}


def test_families_are_defined_once_with_a_rule_each():
    from typing import get_args

    from separena.specs import FAMILIES, FAMILY_RULES, Family

    assert FAMILIES == get_args(Family) == tuple(FAMILY_RULES)
    assert all(rule and "\n" not in rule for rule in FAMILY_RULES.values())


def test_the_same_architecture_has_one_family_across_plugins():
    architectures = Registry().architectures
    for native, adapters in SAME_ARCHITECTURE.items():
        for adapter in adapters:
            assert architectures[adapter].family == architectures[native].family, (adapter, native)
    for name, spec in architectures.items():  # any adapter named after a native architecture
        stem = name.split("-", 1)[1] if name.startswith(("asteroid-", "nussl-")) else None
        if stem in architectures:
            assert spec.family == architectures[stem].family, (name, stem)


def test_hooks_doc_lists_every_family_with_its_rule():
    from pathlib import Path

    from separena.specs import FAMILY_RULES

    text = (Path(__file__).resolve().parents[1] / "docs/plugins/hooks.md").read_text(encoding="utf-8")
    for family, rule in FAMILY_RULES.items():
        assert f"| `{family}` | {rule} |" in text, f"docs/plugins/hooks.md: family {family!r} and its rule"


def test_suite_data_builds_the_suites_dataset_at_its_rate_with_overrides(tmp_path):
    (tmp_path / "tones.yaml").write_text(
        "suites:\n  tones:\n    dataset: tones-2mix\n    dataset_params: {n_valid: 2, n_test: 3, test_seconds: 0.5}\n"
        "    sample_rate: 8000\n    segment_seconds: 0.25\n    budget: {steps: 1}\n    seeds: [0]\n"
        "    models: [mask-inference-small]\n")
    registry = Registry(registry_files=[tmp_path / "tones.yaml"])
    data = registry.suite_data("tones")
    assert data.sample_rate == 8000 and len(data.test) == 3
    assert len(registry.suite_data("tones", n_test=5).test) == 5
    with pytest.raises(UnknownNameError, match="suite"):
        registry.suite_data("tonez")


def test_a_dataset_parameter_no_builder_takes_is_one_line_and_a_builders_own_type_error_is_not_hidden():
    from separena.specs import DatasetSpec

    def helper(size: int) -> int:
        return size

    def build(*, sample_rate: int, size: int = 1) -> dict:
        if size < 0:
            helper(sise=size)  # a bug of the builder's own: its TypeError must surface as it is
        return {"sample_rate": sample_rate, "size": size}

    spec = DatasetSpec("toy", build, "a toy")
    assert spec.create(8000, {"size": 2}) == {"sample_rate": 8000, "size": 2}
    with pytest.raises(SeparenaError, match=r"^dataset toy: unknown parameter 'sise'; expected a parameter of "):
        spec.create(8000, {"sise": 2})
    with pytest.raises(TypeError, match="unexpected keyword argument 'sise'"):
        spec.create(8000, {"size": -1})


def test_params_unchecked_list_a_bad_preset_that_fails_when_built(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("presets:\n  typo-net: {architecture: mask-inference, params: {hiden_size: 8}}\n")
    with pytest.raises(RegistryFileError, match=r"bad.yaml:2: presets.typo-net.params.hiden_size: unknown parameter"):
        Registry(registry_files=[bad]).presets
    names_only = Registry(registry_files=[bad], check_params=False)
    assert "typo-net" in names_only.presets
    with pytest.raises(SeparenaError, match="typo-net"):
        names_only.create_model("typo-net")
