"""Layered YAML config (base + environment + dataset overlays) loaded once into the typed, frozen object of
core.config_schema."""
from __future__ import annotations

import os
from pathlib import Path
from types import UnionType
from typing import Any, Mapping, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from core.config_schema import PipelineConfig
from core.errors import PipelineError

REPO_ROOT = Path(__file__).resolve().parent.parent
BASE_CONF = REPO_ROOT / "conf" / "base.yaml"
DEFAULT_CONF = "conf/local.yaml,conf/datasets/movielens_100k.yaml"


def add_conf_option(parser) -> None:
    """The `--conf` option of every entry point: comma-separated overlays on top of conf/base.yaml."""
    parser.add_argument("--conf", default=DEFAULT_CONF,
                        help=f"comma-separated config overlays (default {DEFAULT_CONF})")


class ConfigError(PipelineError, ValueError):
    """A missing, unknown or mistyped config value; the message names the key and the file."""


def load_config(overlays: str | list[str] = DEFAULT_CONF) -> PipelineConfig:
    """Merge conf/base.yaml with the overlays (comma-separated string or list), validate, freeze.

    Relative paths in the overlays list are taken from the repository root; `{repo}`, `{cache_dir}`, `{dataset}`
    (dataset.name) and `~` in string values are expanded after merging.
    """
    files = [BASE_CONF] + [_resolve(p) for p in _split(overlays)]
    merged: dict[str, Any] = {}
    origin: dict[tuple[str, ...], Path] = {}
    for path in files:
        _deep_merge(merged, _read_yaml(path), origin, path, ())
    merged["sources"] = tuple(str(p) for p in files)
    names = {"repo": str(REPO_ROOT), "cache_dir": _cache_dir(merged)}
    dataset = merged.get("dataset")
    if isinstance(dataset, dict) and isinstance(dataset.get("name"), str):
        names["dataset"] = dataset["name"]
    merged = _drop_removed_entries(_expand(merged, names), PipelineConfig)
    try:
        cfg = PipelineConfig.model_validate(merged)
    except ValidationError as err:
        raise ConfigError(_explain(err, origin, files)) from None
    problems = [f"{key}: {problem} (set in {_origin_of(tuple(key.split('.')), origin)})"
                for key, problem in feature_name_problems(cfg)]
    if problems:
        raise ConfigError("invalid config:\n  " + "\n  ".join(problems))
    return cfg


def feature_name_problems(cfg: PipelineConfig) -> list[tuple[str, str]]:
    """(key, problem) for each feature name a key gives that the feature spec of this config does not have.

    The spec is a function of the config alone (features.spec), so a typo is caught here rather than when the
    ranker or the gate first runs, days into a backfill.
    """
    from features.spec import GBDT_LEAVES, feature_spec  # features builds on the config's schema, not on this loader

    spec = feature_spec(cfg, with_gbdt_leaves=cfg.ranker.use_gbdt_leaves)
    names = set(spec.names)
    problems = [("ranker.exclude_features", f"{name!r} is not a feature of the spec")
                for name in cfg.ranker.exclude_features if name not in names]
    # The gate checks the features the rankers take but the GBDT leaves: the spec less ranker.exclude_features
    # (models.gate_data.checked_features).
    checked = names - set(cfg.ranker.exclude_features) - {GBDT_LEAVES}
    numeric = {f.name for f in spec.features if f.kind == "numeric"} & checked
    problems += [("gate.data.drift_features", f"{name!r} is not a numeric feature the rankers take")
                 for name in cfg.gate.data.drift_features if name not in numeric]
    problems += [("gate.data.null_rate_ceilings", f"{name!r} is not a feature the rankers take")
                 for name in cfg.gate.data.null_rate_ceilings if name not in checked]
    return problems


def _drop_removed_entries(merged: dict, model: type[BaseModel]) -> dict:
    """`merged` without the entries set to null in a mapping whose values cannot be null (gate.data.
    null_rate_ceilings, spark.settings, ...): how an overlay removes an entry an earlier file gave, since mappings
    merge key by key (e.g. the ceiling of a 30-day feature when an overlay drops the 30-day window). Likewise a key
    that has a default and cannot be null, set to null, takes its default again (dataset.time_unit, which an overlay
    on a dataset that set it drops to read text times)."""
    kept = dict(merged)
    for name, field in model.model_fields.items():
        value = kept.get(name)
        if value is None and name in kept and not field.is_required() and not _may_be_null(field.annotation):
            del kept[name]
            continue
        if not isinstance(value, dict):
            continue
        kinds = get_args(field.annotation) if get_origin(field.annotation) in (Union, UnionType) else (
            field.annotation,)
        section = next((kind for kind in kinds if isinstance(kind, type) and issubclass(kind, BaseModel)), None)
        mapping = next((kind for kind in kinds if get_origin(kind) is dict), None)
        if section is not None:
            kept[name] = _drop_removed_entries(value, section)
        elif mapping is not None and type(None) not in get_args(get_args(mapping)[1]) + (get_args(mapping)[1],):
            kept[name] = {key: item for key, item in value.items() if item is not None}
    return kept


def _may_be_null(annotation) -> bool:
    return annotation is None or type(None) in get_args(annotation)


def _split(overlays: str | list[str]) -> list[str]:
    items = overlays.split(",") if isinstance(overlays, str) else overlays
    return [item.strip() for item in items if item.strip()]


def _resolve(path: str) -> Path:
    candidate = Path(path)
    if not candidate.is_absolute() and not candidate.exists():
        candidate = REPO_ROOT / candidate
    return candidate


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    with path.open() as handle:
        data = yaml.safe_load(handle) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    return data


def _deep_merge(into: dict, overlay: Mapping, origin: dict, path: Path, prefix: tuple[str, ...]) -> None:
    for key, value in overlay.items():
        key_path = prefix + (str(key),)
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _deep_merge(into[key], value, origin, path, key_path)
        else:
            into[key] = value
            origin[key_path] = path


def _cache_dir(merged: dict) -> str:
    raw = os.environ.get("DAILYREC_CACHE_DIR") or merged.get("cache_dir") or "~/.cache/dailyrec"
    return os.path.expanduser(str(raw))


def _expand(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {key: _expand(item, names) for key, item in value.items()}
    if isinstance(value, list):
        return [_expand(item, names) for item in value]
    if isinstance(value, str):
        for name, replacement in names.items():
            value = value.replace("{" + name + "}", replacement)
        return os.path.expanduser(value) if value.startswith("~") else value
    return value


def _explain(err: ValidationError, origin: dict[tuple[str, ...], Path], files: list[Path]) -> str:
    lines = []
    for problem in err.errors():
        key = tuple(str(part) for part in problem["loc"])
        dotted = ".".join(key) or "config"
        where = _origin_of(key, origin)
        if problem["type"] == "missing":
            detail = f"missing (looked in {', '.join(str(f) for f in files)})"
        elif problem["type"] == "extra_forbidden":
            detail = f"unknown key, set in {where}"
        elif isinstance(problem.get("input"), dict):  # a check across a section's keys: the message names them
            detail = f"{problem['msg']} (set in {where})"
        else:
            detail = f"{problem['msg']} (got {problem.get('input')!r}, set in {where})"
        lines.append(f"{dotted}: {detail}")
    return "invalid config:\n  " + "\n  ".join(lines)


def _origin_of(key: tuple[str, ...], origin: dict[tuple[str, ...], Path]) -> str:
    """The file that set key; for a section (a check across its fields), every file that set part of it."""
    within = [str(path) for set_key, path in origin.items() if set_key[:len(key)] == key]
    if within:
        return ", ".join(dict.fromkeys(within))
    for length in range(len(key) - 1, 0, -1):
        if key[:length] in origin:
            return str(origin[key[:length]])
    return "<unknown file>"
