"""Loading a YAML input file into a pydantic model with one precise error: file, line, entry, field.

Every input a user writes (objectives, drill plans, targets) goes through here, so every bad file is
reported the same way and nothing downstream ever sees an unvalidated value.

Hostile input is refused at load, before anything is built from it: a file over MAX_BYTES, a key given twice
in one mapping (YAML would keep the last one silently: the error names both lines), and an alias bomb ("billion
laughs": a few lines of aliases that expand to billions of values) through a limit on aliases and on the
expanded size of the document, checked on the parsed node graph without expanding it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from harness.errors import ConfigError

M = TypeVar("M", bound=BaseModel)

# Far above any real objectives, plan or target file (the largest is a few KiB and a few hundred values).
MAX_BYTES = 1 << 20
MAX_ALIASES = 100
MAX_VALUES = 100_000
_MERGE_TAG = "tag:yaml.org,2002:merge"


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
    if len(data) > MAX_BYTES:
        raise ConfigError(path, "", f"{what} is {len(data)} bytes; the limit is {MAX_BYTES} bytes")
    text = data.decode("utf-8", errors="replace")
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        _check_graph(path, root)
        raw = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(path, where, f"not valid YAML: {err.problem}") from None
    finally:
        loader.dispose()
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


def _check_graph(path: Path, root: yaml.Node | None) -> None:
    """Duplicate keys, too many aliases and too large an expansion, on the composed graph.

    An alias is the same node object reached twice, so each distinct node is walked once and its expanded
    size is memoised: the check costs the size of the file, not of the expansion."""
    if root is None:
        return
    sizes: dict[int, int] = {}
    aliases = 0

    def size(node: yaml.Node, depth: int = 0) -> int:
        nonlocal aliases
        key = id(node)
        if key in sizes:
            aliases += 1
            if aliases > MAX_ALIASES:
                raise ConfigError(
                    path, f"line {node.start_mark.line + 1}", f"more than {MAX_ALIASES} YAML aliases: refused"
                )
            if sizes[key] < 0:
                raise ConfigError(path, f"line {node.start_mark.line + 1}", "a YAML alias refers to itself")
            return sizes[key]
        sizes[key] = -1  # in progress: meeting it again below means a recursive alias
        if depth > 100:
            raise ConfigError(path, f"line {node.start_mark.line + 1}", "nested more than 100 levels deep")
        total = 1
        if isinstance(node, yaml.MappingNode):
            _check_duplicate_keys(path, node)
            for k, v in node.value:
                total += size(k, depth + 1) + size(v, depth + 1)
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                total += size(item, depth + 1)
        if total > MAX_VALUES:
            raise ConfigError(
                path,
                f"line {node.start_mark.line + 1}",
                f"expands to more than {MAX_VALUES} values (YAML aliases?): refused",
            )
        sizes[key] = total
        return total

    size(root)


def _check_duplicate_keys(path: Path, node: yaml.MappingNode) -> None:
    first_line: dict[tuple[str, str], int] = {}
    for k, _v in node.value:
        if not isinstance(k, yaml.ScalarNode) or k.tag == _MERGE_TAG:
            continue
        line = k.start_mark.line + 1
        ident = (k.tag, k.value)
        if ident in first_line:
            raise ConfigError(
                path,
                f"line {line}",
                f"key '{k.value}' is given twice in one mapping (lines {first_line[ident]} and {line}); "
                f"YAML would keep only the last one",
            )
        first_line[ident] = line
