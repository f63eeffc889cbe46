"""pydantic's validation errors as lines an operator can act on: the dotted key and what was expected."""
from __future__ import annotations

import typing
from pathlib import Path
from typing import Any, Optional

from pydantic import BaseModel

from .model import SECRET_KEYS, ConfigError, Env, display


def dotted_key(path: tuple) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def describe_input(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return "a mapping" if isinstance(value, dict) else "a list"
    if value is None:
        return "nothing (null)"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_TYPE_WORDS = {
    "int_parsing": "an integer",
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_parsing": "a number",
    "float_type": "a number",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
    "string_type": "a string",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "list_type": "a list",
}


def _model_at(loc: tuple) -> Optional[type[BaseModel]]:
    """The model class reached by following ``loc`` from Env (for listing allowed keys)."""
    model: Any = Env
    for part in loc:
        if isinstance(part, int) or not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        field = model.model_fields.get(part)
        if field is None:
            return None
        ann = field.annotation
        args = [a for a in typing.get_args(ann) if a is not type(None)]
        model = args[0] if args and typing.get_origin(ann) is not None else ann
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def explain(err: dict) -> tuple[str, str]:
    loc = tuple(err.get("loc", ()))
    key = dotted_key(loc)
    etype = err.get("type", "")
    secret = key in SECRET_KEYS
    got = "" if secret else f", got {describe_input(err.get('input'))}"
    if etype == "missing":
        return key, "required key is missing"
    if etype == "extra_forbidden":
        parent = _model_at(loc[:-1])
        allowed = f" (allowed keys here: {', '.join(parent.model_fields)})" if parent else ""
        return key, f"unknown key{allowed}"
    if etype == "literal_error":
        expected = (err.get("ctx") or {}).get("expected", "")
        return key, f"expected {expected}{got}"
    if etype in _TYPE_WORDS:
        return key, f"expected {_TYPE_WORDS[etype]}{got}"
    if etype in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return key, f"{err.get('msg', '').replace('Input should be', 'expected a value')}{got}"
    if etype == "value_error":
        msg = str(err.get("msg", "")).removeprefix("Value error, ")
        return key, msg if "got" in msg else f"{msg}{got}"
    msg = str(err.get("msg", "invalid value"))
    return key, f"{msg[0].lower() + msg[1:] if msg else msg}{got}"


def fail(path: Path, problems: list[str], missing_vars: Optional[list[tuple[str, str]]] = None,
         where: str = "") -> ConfigError:
    """The env file's problems, one line each; the ${VAR}s that are not set come last, on one line."""
    shown = display(path)
    lines = [f"{shown}: {p}" for p in problems]
    if missing_vars:
        lines.append(f"{shown}: not set in the environment{where}: {missing_list(missing_vars)}")
    return ConfigError("\n".join(lines), file=path, problems=problems, missing_vars=missing_vars, where=where)


def missing_list(missing_vars: list[tuple[str, str]]) -> str:
    return ", ".join(f"{var} (key '{key}')" for key, var in missing_vars)
