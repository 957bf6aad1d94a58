"""Read YAML metadata keeping the line of every value.

Metadata files are parsed with libyaml (PyYAML's C parser) into nodes, which
carry their position, and turned into plain Python values here. Doing the
construction ourselves gives three things a plain ``yaml.safe_load`` does not:

* a map from every value's path (``("columns", 3, "ucd")``) to its line, so
  that schema errors point at the right line;
* duplicate keys reported (PyYAML silently keeps the last one);
* YAML 1.2 scalars: ``no``/``on`` stay strings, dates stay strings (the schema
  checks their format), so a release called ``0.2`` must be quoted but a
  survey called ``NO`` is not turned into ``False``.

It is several times faster than a pure-Python round-trip loader, which
matters for catalogues of 10,000 products. Writing YAML that keeps comments
(``pz add``) uses ruamel.yaml instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

try:  # libyaml is in every PyYAML wheel; the pure-Python parser is the fallback
    _BaseLoader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _BaseLoader = yaml.SafeLoader

Path_ = tuple[str | int, ...]

_NULL = {"", "~", "null", "Null", "NULL"}
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"^[-+]?(?:[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT = re.compile(
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
_TAG_HINT = "remove the '!' tag and write the value as plain text (quote it if needed)"
# Nodes visited per document: protects against alias bombs ("billion laughs").
_MAX_NODES = 200_000


_STR, _SEQ, _MAP = "tag:yaml.org,2002:str", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"


class _Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    """A loader that resolves no implicit tag: _scalar decides from the plain text.

    PyYAML's resolver runs a dozen regular expressions in Python for every
    scalar; skipping it halves the parse time of a product.yaml.
    """

    def resolve(self, kind: type, value: Any, implicit: Any) -> str:
        if kind is yaml.ScalarNode:
            return _STR
        return _SEQ if kind is yaml.SequenceNode else _MAP


class YamlError(Exception):
    """The text is not well-formed YAML, or uses a feature metadata may not use."""

    def __init__(self, message: str, line: int | None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.hint = hint or (
            "fix the YAML syntax near this line (indentation, quotes, a missing ':')" if line else None
        )


@dataclass
class YamlDocument:
    """A parsed YAML document and where each of its values stands.

    Attributes
    ----------
    data
        The plain value (dicts, lists, str, int, float, bool, None).
    lines
        Path of each value -> 1-based line of its key (mapping entries) or of
        the item itself (sequence items). The root is ``()``.
    duplicates
        ``(path, line)`` of every key that appears a second time in its mapping.
    """

    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)
    duplicates: list[tuple[Path_, int]] = field(default_factory=list)

    def line_of(self, path: Path_) -> int:
        """The line of ``path``, or of its closest ancestor that has one."""
        path = tuple(path)
        while path:
            line = self.lines.get(path)
            if line is not None:
                return line
            path = path[:-1]
        return self.lines.get((), 1)


def _scalar(node: yaml.ScalarNode) -> Any:
    tag = node.tag
    if tag not in _PLAIN_TAGS and tag != "!":
        raise YamlError(
            f"unsupported YAML tag {tag!r}; metadata may only use plain values", node.start_mark.line + 1,
            _TAG_HINT,
        )
    value = node.value
    if node.style or tag == "!":  # quoted or block scalar: always a string
        return value
    if value in _NULL:
        return None
    if value in _BOOL:
        return _BOOL[value]
    if _INT.match(value):
        return int(value, 0) if value.lstrip("+-")[:2] in ("0o", "0x") else int(value)
    if _FLOAT.match(value):
        return float(value.lower().replace(".inf", "inf").replace(".nan", "nan"))
    return value


_PLAIN_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
}


def parse_yaml(text: str) -> YamlDocument:
    """Parse one YAML document, keeping lines and noting duplicate keys.

    Raises
    ------
    YamlError
        Malformed YAML (with the line of the problem), several documents,
        custom tags, or an alias bomb.
    """
    loader = _Loader(text)
    try:
        try:
            root = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            problem = exc.problem or "malformed YAML"
            if exc.context:
                opened = exc.context_mark
                if opened is not None and mark is not None and opened.line != mark.line:
                    # where PyYAML notices an unclosed bracket or quote is often the end of the
                    # file; the line that opened it is the one to fix
                    problem = f"{problem} ({exc.context} opened on line {opened.line + 1})"
                else:
                    problem = f"{problem} ({exc.context})"
            raise YamlError(f"malformed YAML: {problem}", mark.line + 1 if mark else None) from None
        except yaml.YAMLError as exc:
            raise YamlError(f"malformed YAML: {exc}", None) from None
    finally:
        loader.dispose()
    doc = YamlDocument(data=None)
    if root is None:
        return doc
    doc.lines[()] = root.start_mark.line + 1
    budget = [_MAX_NODES]
    doc.data = _construct(root, (), doc, budget)
    return doc


def _construct(node: yaml.Node, path: Path_, doc: YamlDocument, budget: list[int]) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        raise YamlError("document too large or uses too many aliases", node.start_mark.line + 1,
                        "write the values out instead of repeating aliases")
    if isinstance(node, yaml.ScalarNode):
        return _scalar(node)
    if node.tag not in _PLAIN_TAGS:
        raise YamlError(
            f"unsupported YAML tag {node.tag!r}; metadata may only use plain values", node.start_mark.line + 1,
            _TAG_HINT,
        )
    lines = doc.lines
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, child in enumerate(node.value):
            child_path = (*path, index)
            lines[child_path] = child.start_mark.line + 1
            items.append(_construct(child, child_path, doc, budget))
        return items
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            raise YamlError("mapping keys must be plain strings", key_node.start_mark.line + 1,
                            "write 'key: value' with a plain word as key")
        key = key_node.value if key_node.tag != "tag:yaml.org,2002:merge" else "<<"
        if key == "<<":
            raise YamlError("merge keys ('<<') are not supported in metadata", key_node.start_mark.line + 1,
                            "write the fields out in full")
        child_path = (*path, key)
        line = key_node.start_mark.line + 1
        if key in mapping:
            doc.duplicates.append((child_path, line))
        lines[child_path] = line
        mapping[key] = _construct(value_node, child_path, doc, budget)
    return mapping


def read_yaml(path: Path) -> YamlDocument:
    """Read and parse a YAML file (UTF-8, a BOM is tolerated).

    Raises
    ------
    YamlError
        The file is not UTF-8 or not well-formed YAML.
    OSError
        The file cannot be read.
    """
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise YamlError("file is not UTF-8 text", line, "save the file with UTF-8 encoding") from None
    return parse_yaml(text)
