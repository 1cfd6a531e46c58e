"""The run configuration: one YAML file, checked whole before any data is read.

Each stage owns a frozen dataclass of its parameters in its own module (see
``pipelines/default.yaml`` for every key with its default and meaning). This
module composes them into :class:`Config` and loads YAML into it strictly:

* an unknown key is an error naming the key and the keys allowed there;
* a value of the wrong type, outside its range or not among its choices
  (``typing.Literal``) is an error naming the key and what is allowed;
* byte sizes may be written as integers or as strings such as ``"256MiB"``.

Errors are :class:`ConfigError` with a one-line message; the CLI prints it
and exits with status 2.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import typing
from dataclasses import dataclass, field
from importlib import resources

import yaml

from dedup.exact import ExactDedupConfig
from dedup.near import NearDedupConfig
from dedup.substring import SubstringConfig
from pipelines.read import InputConfig
from pipelines.validate import ValidationConfig
from pipelines.write import OutputConfig
from sanitize.canaries import CanaryConfig
from sanitize.dilution import DilutionConfig
from sanitize.pii import PiiConfig
from sanitize.traces import TracesConfig


class ConfigError(ValueError):
    """A configuration problem, phrased for the person who wrote the file."""


@dataclass(frozen=True)
class Config:
    """Everything a run needs besides its inputs and output directory."""

    seed: int = field(default=0, metadata={"min": 0, "max": 2**32 - 1, "help": "seed of every random choice"})
    input: InputConfig = field(default_factory=InputConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    exact_dedup: ExactDedupConfig = field(default_factory=ExactDedupConfig)
    near_dedup: NearDedupConfig = field(default_factory=NearDedupConfig)
    substring: SubstringConfig = field(default_factory=SubstringConfig)
    traces: TracesConfig = field(default_factory=TracesConfig)
    pii: PiiConfig = field(default_factory=PiiConfig)
    dilution: DilutionConfig = field(default_factory=DilutionConfig)
    canaries: CanaryConfig = field(default_factory=CanaryConfig)
    output: OutputConfig = field(default_factory=OutputConfig)

    def to_dict(self) -> dict:
        """The effective config as plain JSON types (tuples become lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def digest(self) -> str:
        """sha256 of the canonical JSON of the effective config (first 16 hex digits)."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


_SIZE = re.compile(r"^\s*(\d+)\s*(B|KB|KiB|MB|MiB|GB|GiB)?\s*$")
_UNITS = {None: 1, "B": 1, "KB": 10**3, "KiB": 2**10, "MB": 10**6, "MiB": 2**20, "GB": 10**9, "GiB": 2**30}


def _parse_size(key: str, value) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = _SIZE.match(value) if isinstance(value, str) else None
    if not match:
        raise ConfigError(f"config key '{key}': {value!r} is not a byte size; write an integer or e.g. '256MiB'")
    return int(match.group(1)) * _UNITS[match.group(2)]


def _convert(key: str, annotation, value, meta: dict):
    """Check one value against its field's annotation and metadata; return it typed."""
    origin = typing.get_origin(annotation)
    if dataclasses.is_dataclass(annotation):
        if not isinstance(value, dict):
            raise ConfigError(f"config key '{key}' must be a mapping of {', '.join(_field_names(annotation))}")
        return _build(annotation, value, key + ".")
    if origin is typing.Literal:
        allowed = typing.get_args(annotation)
        if value not in allowed:
            raise ConfigError(
                f"config key '{key}': {value!r} is not allowed; allowed values: {', '.join(map(str, allowed))}"
            )
        return value
    if origin in (tuple, list):
        (item_type, *_rest) = typing.get_args(annotation)
        if not isinstance(value, list):
            raise ConfigError(f"config key '{key}' must be a list")
        return tuple(_convert(f"{key}[{i}]", item_type, v, {}) for i, v in enumerate(value))
    if origin is typing.Union:
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        if value is None:
            return None
        return _convert(key, options[0], value, meta)
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"config key '{key}': {value!r} is not allowed; allowed values: true, false")
        return value
    if annotation is int:
        number = _parse_size(key, value) if meta.get("unit") == "bytes" else value
        if not isinstance(number, int) or isinstance(number, bool):
            raise ConfigError(f"config key '{key}': {value!r} is not an integer")
        _check_range(key, number, meta)
        return number
    if annotation is float:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ConfigError(f"config key '{key}': {value!r} is not a number")
        _check_range(key, float(value), meta)
        return float(value)
    if annotation is str:
        if not isinstance(value, str) or (meta.get("nonempty") and not value):
            raise ConfigError(f"config key '{key}': {value!r} is not a non-empty string")
        return value
    raise TypeError(f"config field {key} has an unsupported annotation {annotation!r}")


def _check_range(key: str, number, meta: dict) -> None:
    low, high = meta.get("min"), meta.get("max")
    if (low is not None and number < low) or (high is not None and number > high):
        bounds = f"{'-inf' if low is None else low} .. {'inf' if high is None else high}"
        raise ConfigError(f"config key '{key}': {number!r} is out of range; allowed values: {bounds}")


def _field_names(cls) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def _build(cls, mapping: dict, prefix: str = ""):
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    for key in mapping:
        if key not in fields:
            raise ConfigError(f"config key '{prefix}{key}' is unknown; allowed keys: {', '.join(fields)}")
    values = {
        name: _convert(prefix + name, hints[name], mapping[name], dict(fields[name].metadata))
        for name in fields
        if name in mapping
    }
    try:
        return cls(**values)
    except ValueError as err:  # cross-field checks in a stage config's __post_init__
        raise ConfigError(f"config section '{prefix.rstrip('.') or 'top level'}': {err}") from None


def config_from_mapping(mapping: dict | None) -> Config:
    """Build a checked :class:`Config` from parsed YAML (``None`` means all defaults)."""
    if mapping is None:
        return Config()
    if not isinstance(mapping, dict):
        raise ConfigError("the config file must be a YAML mapping at the top level")
    return _build(Config, mapping)


def load_config(path: str | None) -> Config:
    """Read and check the YAML file at ``path``; ``None`` gives the defaults."""
    if path is None:
        return Config()
    try:
        with open(path, encoding="utf-8") as fh:
            mapping = yaml.safe_load(fh)
    except OSError as err:
        raise ConfigError(f"cannot read config file {path}: {err.strerror}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"config file {path} is not valid YAML{where}") from None
    return config_from_mapping(mapping)


def default_config_text() -> str:
    """The documented default config shipped with the package."""
    return resources.files("pipelines").joinpath("default.yaml").read_text(encoding="utf-8")
