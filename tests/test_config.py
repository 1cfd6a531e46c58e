"""Strict config loading: defaults, unknown keys and bad values are named."""
import pytest
import yaml

from pipelines.config import Config, ConfigError, config_from_mapping, default_config_text, load_config


def test_shipped_default_file_is_the_default_config():
    assert config_from_mapping(yaml.safe_load(default_config_text())) == Config()


@pytest.mark.parametrize(
    "mapping, fragment",
    [
        ({"outptu": {}}, "config key 'outptu' is unknown; allowed keys: seed, input"),
        ({"output": {"compresion": "zstd"}}, "'output.compresion' is unknown; allowed keys: shard_target_bytes"),
        ({"output": {"compression": "lz4"}}, "'output.compression': 'lz4' is not allowed; allowed values: zstd, snappy"),
        ({"input": {"format": "csv"}}, "allowed values: auto, jsonl, parquet, text"),
        ({"validation": {"normalization": "NFD"}}, "allowed values: NFC, NFKC, none"),
        ({"exact_dedup": {"enabled": "yes"}}, "'exact_dedup.enabled': 'yes' is not allowed; allowed values: true, false"),
        ({"seed": -1}, "'seed': -1 is out of range"),
        ({"output": {"compression_level": 40}}, "'output.compression_level': 40 is out of range; allowed values: 1 .. 22"),
        ({"validation": {"max_text_bytes": "ten"}}, "'validation.max_text_bytes': 'ten' is not a byte size"),
        ({"input": {"text_field": ""}}, "'input.text_field': '' is not a non-empty string"),
        ({"output": "fast"}, "config key 'output' must be a mapping"),
    ],
)
def test_bad_config_names_key_and_allowed_values(mapping, fragment):
    with pytest.raises(ConfigError) as err:
        config_from_mapping(mapping)
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)


def test_byte_sizes_accept_units():
    config = config_from_mapping({"output": {"shard_target_bytes": "2MiB", "row_group_bytes": "1 MB"}})
    assert config.output.shard_target_bytes == 2 * 2**20
    assert config.output.row_group_bytes == 10**6


def test_partial_file_overrides_only_named_keys(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("seed: 7\ninput:\n  text_field: body\n")
    config = load_config(str(path))
    assert config.seed == 7 and config.input.text_field == "body" and config.input.id_field == "id"
    assert config.digest() != Config().digest()


def test_unreadable_and_invalid_yaml_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(str(tmp_path / "missing.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("seed: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_config(str(bad))
