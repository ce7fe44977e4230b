"""Loading a YAML input file into a pydantic model with one precise error: file, line, entry, field.

Every input a user writes (objectives, drill plans, targets) goes through here, so every bad file is
reported the same way and nothing downstream ever sees an unvalidated value."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from harness.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def field_path(raw: Any, loc: tuple[Any, ...]) -> str:
    """A readable path like components[3] (postgresql).scenarios[1] (az-failure).rto.max_s — list items are
    labelled with their `id` or `name` when they have one."""
    out, cur = "", raw
    for part in loc:
        if isinstance(part, int):
            cur = cur[part] if isinstance(cur, list) and part < len(cur) else None
            label = (cur.get("id") or cur.get("name")) if isinstance(cur, dict) else None
            out += f"[{part}]" + (f" ({label})" if isinstance(label, str) else "")
        else:
            out += f".{part}" if out else str(part)
            cur = cur.get(part) if isinstance(cur, dict) else None
    return out


def line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the deepest YAML node a pydantic error location resolves to."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            pair = next(((k, v) for k, v in node.value if k.value == part), None)
            if pair is None:
                break
            # the key's line: for a block value (window:, scope:) that is where a reader looks
            line, node = pair[0].start_mark.line + 1, pair[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def load_model(
    path: str | Path,
    model: type[M],
    *,
    what: str,
    expect: str,
    name_of: Callable[[Any, tuple[Any, ...]], str] = field_path,
) -> tuple[M, bytes]:
    """Parse `path` as YAML and validate it as `model`; returns the model and the file's bytes.

    `what` names the file in a read error ("objectives file"); `expect` says what the top level must hold."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ConfigError(path, "", f"cannot read {what}: {err.strerror}") from None
    text = data.decode("utf-8", errors="replace")
    try:
        root = yaml.compose(text)
        raw = yaml.safe_load(text)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(path, where, f"not valid YAML: {err.problem}") from None
    if not isinstance(raw, dict):
        raise ConfigError(path, "line 1", f"expected a mapping with {expect}")
    try:
        return model.model_validate(raw), data
    except ValidationError as err:
        first = err.errors()[0]
        loc = tuple(first["loc"])
        line = line_of(root, loc)
        field = name_of(raw, loc) or "top level"
        msg = first["msg"].removeprefix("Value error, ")
        more = f" (and {err.error_count() - 1} more problem(s))" if err.error_count() > 1 else ""
        raise ConfigError(path, f"line {line}: {field}" if line else field, msg + more) from None
