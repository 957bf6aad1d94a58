"""The JSON Schemas: valid against the 2020-12 metaschema, in step with the model."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator

from site_builder.catalog.model import PRODUCT_TYPES, ROLE_UCDS, TABLE_FORMATS
from site_builder.catalog.schema import SchemaChecker, load_schema
from site_builder.catalog.source import iter_product_folders, read_product
from site_builder.catalog.yamlio import YamlError, read_yaml

from .conftest import CORPUS, REPO


@pytest.mark.parametrize("name", ["product", "catalog"])
def test_schema_is_valid_draft_2020_12(name):
    schema = load_schema(name)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_product_types_and_roles_match_the_model():
    schema = load_schema("product")
    assert schema["properties"]["product_type"]["enum"] == list(PRODUCT_TYPES)
    assert schema["$defs"]["column"]["properties"]["role"]["enum"] == list(ROLE_UCDS)
    assert set(TABLE_FORMATS) <= set(schema["$defs"]["file"]["properties"]["format"]["enum"])


def test_every_field_is_documented():
    """The schema reference page is generated from these descriptions."""
    schema = load_schema("product")
    missing = [k for k, v in schema["properties"].items() if "description" not in v]
    assert missing == []


def _parseable_documents():
    """Every product.yaml of the corpus and the samples that is well-formed YAML."""
    paths = [case / "product.yaml" for kind in ("valid", "invalid") for case in sorted((CORPUS / kind).iterdir())]
    paths += [REPO / "products" / f / "product.yaml" for f in iter_product_folders(REPO)]
    for path in paths:
        try:
            yield path.parent.name, read_yaml(path)
        except YamlError:
            continue  # malformed-yaml and friends: no document to compare on


DOCUMENTS = list(_parseable_documents())


@pytest.mark.parametrize("name,doc", DOCUMENTS, ids=[n for n, _ in DOCUMENTS])
def test_fast_validator_agrees_with_reference_implementation(name, doc):
    """jsonschema-rs (fast path) and jsonschema (messages) must give the same verdict."""
    checker = SchemaChecker.named("product")
    reference = checker._validator.is_valid(doc.data)
    assert checker.is_valid(doc.data) == reference
    assert (checker.check(doc, "x") == []) == reference


def test_some_documents_fail_the_schema():
    """The agreement test above is only meaningful if both verdicts occur."""
    verdicts = {SchemaChecker.named("product").is_valid(doc.data) for _, doc in DOCUMENTS}
    assert verdicts == {True, False}


def test_sample_products_span_types():
    types = {read_product(REPO, f).data["product_type"] for f in iter_product_folders(REPO)}
    assert len(iter_product_folders(REPO)) >= 5
    assert len(types) >= 4
