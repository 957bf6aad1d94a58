"""The metadata YAML loader: lines, duplicates, YAML 1.2 scalars, hostile input."""

from __future__ import annotations

import math

import pytest

from site_builder.catalog.yamlio import YamlError, parse_yaml, read_yaml


def test_lines_of_keys_and_items():
    doc = parse_yaml("id: a\ncolumns:\n  - name: x\n    ucd: pos.ra\n  - {name: y, role: z}\n")
    assert doc.lines[("id",)] == 1
    assert doc.lines[("columns", 0)] == 3
    assert doc.lines[("columns", 0, "ucd")] == 4
    assert doc.lines[("columns", 1, "role")] == 5
    assert doc.line_of(("columns", 1, "missing", 3)) == 5


def test_duplicate_keys_are_recorded_with_their_line():
    doc = parse_yaml("a: 1\nb:\n  c: 1\n  c: 2\na: 3\n")
    assert doc.duplicates == [(("b", "c"), 4), (("a",), 5)]
    assert doc.data == {"a": 3, "b": {"c": 2}}


@pytest.mark.parametrize(
    "text,value",
    [
        ("no", "no"), ("on", "on"), ("yes", "yes"), ("NO", "NO"),  # YAML 1.1 booleans stay strings
        ("true", True), ("False", False), ("~", None), ("null", None), ("", None),
        ("2026-11-23", "2026-11-23"),  # dates stay strings; the schema checks the format
        ("0.2", 0.2), ("-1", -1), ("99.0", 99.0), ("1e3", 1000.0), ("0x1f", 31),
        ("9223372036854775807", 9223372036854775807),
        ("'0.2'", "0.2"), ('"true"', "true"), ("1_000", "1_000"), ("12:30", "12:30"),
    ],
)
def test_yaml_1_2_scalars(text, value):
    assert parse_yaml(f"v: {text}\n").data["v"] == value


def test_special_floats():
    data = parse_yaml("v: [.inf, -.inf, .nan]").data["v"]
    assert data[0] == math.inf and data[1] == -math.inf and math.isnan(data[2])


@pytest.mark.parametrize(
    "text,line,words",
    [
        ("a: [1, 2\nb: 3\n", 2, "malformed YAML"),
        ("id: x\ntitle: [unclosed\n", 3, "flow sequence opened on line 2"),
        ('id: x\ntitle: "unclosed\nsummary: y\n', 4, "quoted scalar opened on line 2"),
        ("a: 1\n  b: 2\n", 2, "mapping values are not allowed"),
        ("a: !!python/object/apply:os.system ['true']\n", 1, "unsupported YAML tag"),
        ("a: !custom 1\n", 1, "unsupported YAML tag"),
        ("base: &b {x: 1}\nother:\n  <<: *b\n", 3, "merge keys"),
        ("? [a, b]\n: 1\n", 1, "keys must be plain"),
        ("a: 1\n---\nb: 2\n", 2, "malformed YAML"),
    ],
)
def test_bad_yaml_is_an_error_with_a_line(text, line, words):
    with pytest.raises(YamlError) as info:
        parse_yaml(text)
    assert info.value.line == line
    assert words in info.value.message
    assert info.value.hint


def test_alias_bomb_is_refused_quickly():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 10):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 10)}]")
    with pytest.raises(YamlError, match="too many aliases"):
        parse_yaml("\n".join(lines) + "\n")


def test_bom_is_tolerated_and_non_utf8_is_reported(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_bytes("\ufeffid: caf\u00e9\n".encode())
    assert read_yaml(good).data == {"id": "café"}
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"id: a\ntitle: caf\xe9\n")
    with pytest.raises(YamlError, match="not UTF-8") as info:
        read_yaml(bad)
    assert info.value.line == 2


def test_empty_document():
    doc = parse_yaml("# only a comment\n")
    assert doc.data is None
