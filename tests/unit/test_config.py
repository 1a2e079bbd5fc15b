"""Settings: defaults, partial updates, and bad values that fall back per field."""

from finch_lsp.config import FinchConfig, describe_fields, parse_settings


def test_defaults_match_protocol():
    c = FinchConfig()
    assert (c.model, c.device, c.training.threshold, c.training.buffer_size) == ("auto", "auto", 10, 100)
    assert (c.training.weights.critical, c.training.weights.medium, c.training.weights.good) == (10, 3, 1)
    assert c.teacher.enabled is False and c.teacher.sample_rate == 0.05 and c.training.auto_train is True


def test_section_or_bare_payload():
    assert parse_settings({"finch": {"model": "tiny-qwen2"}})[0].model == "tiny-qwen2"
    assert parse_settings({"model": "tiny-qwen2"})[0].model == "tiny-qwen2"
    assert parse_settings(None)[0] == FinchConfig()


def test_bad_value_names_field_and_default():
    config, problems = parse_settings({"finch": {"training": {"threshold": "ten", "epochs": 2}}})
    assert config.training.threshold == 10 and config.training.epochs == 2
    assert len(problems) == 1 and "finch.training.threshold" in problems[0] and "default 10" in problems[0]


def test_out_of_range_and_enum():
    config, problems = parse_settings({"finch": {"teacher": {"sampleRate": 7}, "completion": {"multiline": "sometimes"}}})
    assert config.teacher.sample_rate == 0.05 and config.completion.multiline == "auto"
    assert {p.split(":")[0] for p in problems} == {"finch.teacher.sampleRate", "finch.completion.multiline"}


def test_partial_update_keeps_other_fields():
    base, _ = parse_settings({"finch": {"model": "tiny-qwen2", "training": {"threshold": 3}}})
    config, problems = parse_settings({"finch": {"training": {"epochs": 5}}}, base)
    assert (config.model, config.training.threshold, config.training.epochs) == ("tiny-qwen2", 3, 5) and not problems


def test_wrong_shapes_and_unknown_keys():
    config, problems = parse_settings({"finch": {"training": 5, "nope": 1}})
    assert config.training == FinchConfig().training
    assert any("finch.training" in p for p in problems) and any("finch.nope" in p for p in problems)


def test_every_leaf_setting_has_a_description():
    rows = describe_fields()
    assert len(rows) >= 19 and all(desc for _, _, desc in rows)
    assert "finch.training.weights.critical" in {name for name, _, _ in rows}


def test_settings_doc_is_generated_from_the_config():
    from pathlib import Path

    from finch_lsp.config import settings_markdown

    doc = Path(__file__).resolve().parents[2] / "docs" / "settings.md"
    assert doc.read_text() == settings_markdown(), "regenerate: python -m finch_lsp.config > docs/settings.md"


import math  # noqa: E402

import pytest  # noqa: E402


@pytest.mark.parametrize("value", ["Infinity", "-Infinity", "NaN", float("inf"), float("nan"), 1e30, 0, -3, "heavy"])
def test_weights_out_of_range_fall_back_to_the_default(value):
    config, problems = parse_settings({"finch": {"training": {"weights": {"critical": value}}}})
    assert config.training.weights.critical == 10.0
    assert len(problems) == 1 and "finch.training.weights.critical" in problems[0] and "default 10.0" in problems[0]


@pytest.mark.parametrize("field,value,default", [
    ("threshold", 10**30, 10), ("bufferSize", 10**9, 100), ("learningRate", "Infinity", 1e-3),
    ("learningRate", "NaN", 1e-3), ("rank", 4096, 16), ("alpha", 10**6, 32), ("epochs", 1e30, 6),
])
def test_training_numbers_are_bounded(field, value, default):
    config, problems = parse_settings({"finch": {"training": {field: value}}})
    assert msgspec_value(config.training, field) == default and len(problems) == 1 and field in problems[0]


def msgspec_value(struct, camel: str):
    import msgspec

    (field,) = [f for f in msgspec.structs.fields(struct) if f.encode_name == camel]
    return getattr(struct, field.name)


def test_every_number_setting_has_a_finite_documented_range():
    from finch_lsp.config import field_ranges

    ranges = field_ranges()
    numbers = [name for name, default, _ in describe_fields() if isinstance(default, (int, float)) and not isinstance(default, bool)]
    assert numbers and all("x <=" in ranges[name] or "x <" in ranges[name] for name in numbers)
    for name, default, _ in describe_fields():
        if isinstance(default, float):
            assert math.isfinite(default)


def test_a_huge_bad_value_is_shown_short():
    _, problems = parse_settings({"finch": {"teacher": {"model": "x" * 100_000}}})
    assert len(problems) == 1 and len(problems[0]) < 400


def test_a_data_dir_string_is_taken():
    config, problems = parse_settings({"finch": {"dataDir": "/tmp/finch-data", "model": "tiny-qwen2"}})
    assert (config.data_dir, config.model, problems) == ("/tmp/finch-data", "tiny-qwen2", [])
