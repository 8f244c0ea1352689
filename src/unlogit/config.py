"""Typed dataclass configs, YAML presets and dotted command-line overrides.

A config is a tree of dataclasses. A preset (``configs/<group>/<name>.yaml``) holds only what
differs from the dataclass defaults; a preset may name a ``base:`` preset it extends. Overrides
such as ``train.lr=1e-4`` or ``data.name=cifar10`` are applied last. Every value is checked
against the field's type; an unknown key or an invalid choice raises :class:`ConfigError` naming
the key and what is allowed.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

import yaml

from .errors import ConfigError

T = TypeVar("T")

_PACKAGE_CONFIGS = Path(__file__).resolve().parent / "configs"  # installed wheel
_REPO_CONFIGS = Path(__file__).resolve().parents[2] / "configs"  # source checkout / editable install


def presets_dir() -> Path:
    """Folder holding the YAML presets (inside the wheel, or ``configs/`` of a checkout)."""
    for candidate in (_PACKAGE_CONFIGS, _REPO_CONFIGS):
        if candidate.is_dir():
            return candidate
    raise ConfigError(f"preset folder not found (looked in {_PACKAGE_CONFIGS} and {_REPO_CONFIGS}); reinstall unlogit")


def list_presets(group: str) -> list[str]:
    """Names of the presets in one group (e.g. ``classifier``, ``inverter``)."""
    folder = presets_dir() / group
    return sorted(p.stem for p in folder.glob("*.yaml"))


MAX_YAML_NODES = 100_000  # a config is a few hundred values; more, once aliases are expanded, is a bomb


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """The number of values ``node`` becomes once every alias is expanded (shared nodes counted per use)."""
    if id(node) in memo:
        return memo[id(node)]
    if isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(child, memo) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    else:
        size = 1
    memo[id(node)] = size
    return size


class _BoundedLoader(yaml.SafeLoader):
    """The safe loader, with a value that Python refuses to build (a date like 2001-13-45, an integer of more
    than 4,300 digits) turned into a YAML error at that value's line, like any other syntax error."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, OverflowError) as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"{exc} (the value {str(node.value)[:40]!r})", node.start_mark
            ) from exc


def safe_yaml(text: str) -> Any:
    """``yaml.safe_load`` that refuses a document whose aliases would expand it past :data:`MAX_YAML_NODES`
    values (a "billion laughs" file) before constructing it; YAML errors pass through as ``yaml.YAMLError``."""
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        size = _expanded_size(node, {})
        if size > MAX_YAML_NODES:
            raise ConfigError(
                f"the YAML expands to {size:,} values through its aliases (*name references); a "
                f"config has far fewer than {MAX_YAML_NODES:,}, so it is refused unexpanded"
            )
        return loader.construct_document(node)
    except RecursionError as exc:
        raise ConfigError("the YAML is nested too deeply to be a config") from exc
    finally:
        loader.dispose()


def read_yaml_mapping(path: Path, what: str) -> dict[str, Any]:
    """The YAML mapping in ``path`` (empty file: ``{}``); a parse error or another top-level type is a
    :class:`ConfigError` naming the file, the line and ``what`` it should be (a preset, a study...)."""
    try:
        data = safe_yaml(Path(path).read_text()) or {}
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1}, column {where.column + 1})" if where is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise ConfigError(f"{what} {path} is not valid YAML{line}: {problem}; fix the file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{what} {path} must hold a YAML mapping (key: value lines), not a {type(data).__name__}")
    return data


def load_preset_dict(group: str, name_or_path: str, _chain: tuple[str, ...] = ()) -> dict[str, Any]:
    """Read a preset (by name within ``group`` or as a YAML path), resolving ``base:`` chains (a chain that
    comes back to a preset it started from is an error naming the chain)."""
    if name_or_path in _chain:
        raise ConfigError(f"preset base chain loops: {' -> '.join([*_chain, name_or_path])}; fix the base: keys")
    path = Path(name_or_path)
    if not (path.suffix in {".yaml", ".yml"} and path.is_file()):
        path = presets_dir() / group / f"{name_or_path}.yaml"
        if not path.is_file():
            raise ConfigError(
                f"unknown {group} preset {name_or_path!r}; choose one of {list_presets(group)} "
                "or pass the path of a YAML file"
            )
    data = read_yaml_mapping(path, "preset")
    base = data.pop("base", None)
    if base is not None:
        data = deep_merge(load_preset_dict(group, str(base), (*_chain, name_or_path)), data)
    return data


def deep_merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Recursively merge ``update`` into a copy of ``base``."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """Turn ``["train.lr=1e-4", "data.name=cifar10"]`` into a nested dict (values parsed as YAML)."""
    nested: dict[str, Any] = {}
    for full in items:
        item = full if len(full) <= 120 else full[:100] + "..."  # as errors show it: one line
        if "=" not in full:
            raise ConfigError(f"override {item!r} is not of the form key.path=value (e.g. train.lr=1e-4)")
        key, raw = full.split("=", 1)
        key = key.strip()
        if not key:
            raise ConfigError(f"override {item!r} has an empty key")
        try:
            value = safe_yaml(raw) if raw.strip() else ""
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or type(exc).__name__
            raise ConfigError(
                f"override {item!r}: the value is not valid YAML ({problem}); quote it or fix it"
            ) from exc
        # "1e-4" is a string to YAML 1.1; let the field type coerce it.
        node = nested
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r} conflicts with an earlier override of {part!r}")
        node[parts[-1]] = value
    return nested


def from_dict(cls: type[T], data: Mapping[str, Any] | None, path: str = "") -> T:
    """Build dataclass ``cls`` from a (partial) mapping, validating every key and value."""
    data = dict(data or {})
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields), key=str)  # keys read from YAML may be numbers
    if unknown:
        where = f" in {path.rstrip('.')}" if path else ""
        raise ConfigError(f"unknown config key '{path}{unknown[0]}'{where}; allowed keys: {sorted(fields)}")
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        kwargs[name] = _coerce(hints[name], value, f"{path}{name}")
    # nested dataclasses that were not given still need their defaults validated via __post_init__
    try:
        obj = cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:  # pragma: no cover - defensive
        raise ConfigError(f"invalid config for {path or cls.__name__}: {exc}") from exc
    return obj


def merge_into(obj: T, update: Mapping[str, Any], path: str = "") -> T:
    """Return a copy of dataclass ``obj`` with ``update`` applied (validated like :func:`from_dict`)."""
    merged = deep_merge(to_dict(obj), update)
    return from_dict(type(obj), merged, path)


def to_dict(obj: Any) -> Any:
    """Dataclass tree -> plain YAML/JSON-able dict."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def dump_yaml(obj: Any) -> str:
    """Serialise a config (dataclass or dict) as YAML text."""
    return yaml.safe_dump(to_dict(obj), sort_keys=False)


def build_config(
    cls: type[T], group: str, preset: str | None, overrides: Iterable[str] = (), extra: Mapping[str, Any] = ()
) -> T:
    """Defaults <- preset <- ``extra`` (from CLI flags) <- dotted overrides, validated."""
    data: dict[str, Any] = {}
    if preset:
        data = load_preset_dict(group, preset)
    if extra:
        data = deep_merge(data, extra)
    data = deep_merge(data, parse_overrides(overrides))
    return from_dict(cls, data)


# ---------------------------------------------------------------------------------------------
def _coerce(tp: Any, value: Any, key: str) -> Any:
    """``value`` as type ``tp`` (Union, Literal, dataclass, list/tuple, dict, bool, int, float, str)."""
    if tp is Any:
        return value
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        return _to_union(tp, value, key)
    if origin is Literal:
        allowed = get_args(tp)
        if isinstance(value, bool) and {"on", "off"} & set(allowed):  # YAML 1.1 reads off/on as booleans
            value = "on" if value else "off"
        if value not in allowed:
            raise ConfigError(f"config key {key!r}: {value!r} is not allowed; choose one of {list(allowed)}")
        return value
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"config key {key!r} is a section; give a mapping, not {value!r}")
        return from_dict(tp, value, f"{key}.")
    if origin in (list, tuple, typing.List, typing.Tuple):  # noqa: UP006
        return _to_sequence(tp, origin, value, key)
    if origin in (dict, typing.Dict):  # noqa: UP006
        if not isinstance(value, Mapping):
            raise ConfigError(f"config key {key!r} expects a mapping, got {value!r}")
        args = get_args(tp)
        item_tp = args[1] if len(args) == 2 else Any
        return {k: _coerce(item_tp, v, f"{key}.{k}") for k, v in value.items()}
    scalar = _SCALARS.get(tp)
    return scalar(value, key) if scalar else value


def _to_union(tp: Any, value: Any, key: str) -> Any:
    args = get_args(tp)
    if value is None and type(None) in args:
        return None
    errors = []
    for arg in args:
        if arg is type(None):
            continue
        try:
            return _coerce(arg, value, key)
        except ConfigError as exc:
            errors.append(str(exc))
    raise ConfigError(errors[0] if errors else f"config key {key!r}: invalid value {value!r}")


def _to_sequence(tp: Any, origin: Any, value: Any, key: str) -> list | tuple:
    if isinstance(value, str):
        value = [v for v in value.split(",") if v.strip()]
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"config key {key!r} expects a list, got {value!r}")
    args = get_args(tp)
    item_tp = args[0] if args else Any
    items = [_coerce(item_tp, v, f"{key}[{i}]") for i, v in enumerate(value)]
    return tuple(items) if origin is tuple else items


def _to_bool(value: Any, key: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"true", "false", "yes", "no", "1", "0"}:
        return value.lower() in {"true", "yes", "1"}
    raise ConfigError(f"config key {key!r} expects true or false, got {value!r}")


def _to_int(value: Any, key: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and not isinstance(value, bool):
        try:
            return int(float(value)) if float(value).is_integer() else int(value)
        except (ValueError, OverflowError):
            pass
    raise ConfigError(f"config key {key!r} expects an integer, got {value!r}")


def _to_float(value: Any, key: str) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return _parse_number(value)
        except (ValueError, ZeroDivisionError):
            pass
    raise ConfigError(f"config key {key!r} expects a number, got {value!r}")


def _to_str(value: Any, key: str) -> str:
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value)
    raise ConfigError(f"config key {key!r} expects a string, got {value!r}")


_SCALARS = {bool: _to_bool, int: _to_int, float: _to_float, str: _to_str}


def _parse_number(text: str) -> float:
    """Parse ``"1e-4"``, ``"0.5"`` or a fraction such as ``"8/255"``."""
    text = text.strip()
    if "/" in text:
        num, den = text.split("/", 1)
        return float(num) / float(den)
    return float(text)


NAME_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")  # and report names


def check_name(value: str, key: str) -> None:
    """Raise ConfigError unless ``value`` can name a folder or file inside a run: letters, digits, ``.``, ``_`` and
    ``-`` only, not starting with a dot (so never ``..``, a path or a hidden file), at most 100 characters."""
    if (
        not isinstance(value, str)
        or not value
        or len(value) > 100
        or value.startswith(".")
        or ".." in value
        or not set(value) <= NAME_CHARACTERS
    ):
        raise ConfigError(
            f"config key {key!r} must be a name of letters, digits, '.', '_' and '-' (not starting with '.', "
            f"at most 100 characters), got {value!r}"
        )


def check_at_most(value: float, key: str, top: float) -> None:
    """Raise ConfigError when ``value`` is above its stated limit ``top`` (sizes that allocate memory)."""
    if value > top:
        raise ConfigError(f"config key {key!r} must be at most {top:,}, got {value:,}")


def check_positive(value: float, key: str, allow_zero: bool = False) -> None:
    """Raise ConfigError unless ``value`` is a finite number > 0 (or >= 0); NaN and infinity are refused."""
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ConfigError(f"config key {key!r} must be {bound}, got {value!r}")
