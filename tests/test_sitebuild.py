"""Builds that scale: incremental rebuilds, parallel workers, the swap, and the link check."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from site_builder.site import build as site_module
from site_builder.site import incremental as productbuild
from site_builder.site.build import SiteBuildError, build_site
from site_builder.site.linkcheck import check_links
from tests.test_api import _assert_api_valid
from tests.test_productpage import commit_all, copy_data_descriptions
from tests.test_site import HOSTILE_YAML, REPO, SAMPLE_IDS, add_product, make_catalogue

DC2 = "dc2-training-9816"


def tree(site: Path) -> dict[str, bytes]:
    """Every file of a built site but the build id, by relative path."""
    return {str(p.relative_to(site)): p.read_bytes() for p in sorted(site.rglob("*"))
            if p.is_file() and p.name != productbuild.BUILD_ID_FILE}


@pytest.fixture
def catalogue(tmp_path: Path) -> Path:
    root = make_catalogue(tmp_path)
    copy_data_descriptions(root)
    commit_all(root)
    return root


def test_rebuild_renders_only_the_changed_product_and_shows_the_change(catalogue: Path, tmp_path: Path) -> None:
    out = tmp_path / "site"
    first = build_site(catalogue, out, generated_at=None)
    assert first.rendered == len(SAMPLE_IDS)
    again = build_site(catalogue, out, generated_at=None)
    assert again.rendered == 0
    yaml_path = catalogue / "products" / DC2 / "product.yaml"
    yaml_path.write_text(yaml_path.read_text("utf-8").replace("title: DC2 training set, healpix 9816",
                                                              "title: Renamed training set"), encoding="utf-8")
    changed = build_site(catalogue, out, generated_at=None)
    assert changed.rendered == 1
    assert "<title>Renamed training set - PZ Server</title>" in (out / "products" / DC2 / "index.html").read_text()
    assert json.loads((out / "api/v1/products" / f"{DC2}.json").read_text())["metadata"]["title"] == "Renamed training set"
    listed = {p["id"]: p for p in json.loads((out / "api/v1/products.json").read_text())["products"]}
    assert listed[DC2]["title"] == "Renamed training set"
    # The incremental result is exactly what a build from scratch gives.
    assert tree(out) == tree(build_site(catalogue, tmp_path / "fresh", cache=False, generated_at=None).out)


def test_a_build_without_the_cache_leaves_one_for_the_next(catalogue: Path, tmp_path: Path) -> None:
    out = tmp_path / "site"
    assert build_site(catalogue, out, cache=False, generated_at=None).rendered == len(SAMPLE_IDS)
    again = build_site(catalogue, out, generated_at=None)
    assert again.rendered == 0  # `pz build --no-cache` ignores the old cache, not the next build
    assert tree(out) == tree(build_site(catalogue, tmp_path / "fresh", cache=False, generated_at=None).out)


def test_a_rebuild_takes_the_site_pages_over_when_nothing_they_show_changed(
        catalogue: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "site"
    build_site(catalogue, out, generated_at=None)
    yaml_path = catalogue / "products" / DC2 / "product.yaml"
    yaml_path.write_text(yaml_path.read_text("utf-8").replace("title: DC2 training set, healpix 9816",
                                                              "title: Renamed training set"), encoding="utf-8")
    with monkeypatch.context() as patch:  # a title is on no page that mkdocs renders
        patch.setattr(site_module, "_build_pages", lambda *a: pytest.fail("mkdocs ran"))
        assert build_site(catalogue, out, generated_at=None).rendered == 1
    assert "<title>Renamed training set - PZ Server</title>" in (out / "products" / DC2 / "index.html").read_text()
    assert tree(out) == tree(build_site(catalogue, tmp_path / "fresh", cache=False, generated_at=None).out)


def test_a_change_to_what_mkdocs_renders_builds_those_pages_again(catalogue: Path, tmp_path: Path) -> None:
    out = tmp_path / "site"
    build_site(catalogue, out, generated_at=None)
    with (catalogue / "docs" / "about.md").open("a") as about:
        about.write("\nA sentence added to the about page.\n")
    yaml_path = catalogue / "products" / DC2 / "product.yaml"  # a new owner: a new owner page
    yaml_path.write_text(yaml_path.read_text("utf-8").replace("github: pz-coordination", "github: new-owner"),
                         encoding="utf-8")
    build_site(catalogue, out, generated_at=None)
    assert "A sentence added to the about page." in (out / "about" / "index.html").read_text("utf-8")
    assert (out / "owners" / "new-owner" / "index.html").is_file()
    assert tree(out) == tree(build_site(catalogue, tmp_path / "fresh", cache=False, generated_at=None).out)


def test_a_commit_rerenders_its_product_with_the_new_history(catalogue: Path, tmp_path: Path) -> None:
    out = tmp_path / "site"
    build_site(catalogue, out, generated_at=None)
    pointer = catalogue / "products" / "pzserver-upload-example" / "upload_example.csv.dvc"
    pointer.write_text(pointer.read_text().replace(pointer.read_text().split("md5: ")[1][:32], "f" * 32))
    subprocess.run(["git", "-c", "user.name=Bob", "-c", "user.email=b@example.org", "commit", "-qam",
                    "New version of the upload example"], cwd=catalogue, check=True)
    result = build_site(catalogue, out, generated_at=None)
    assert result.rendered == 1
    page = (out / "products" / "pzserver-upload-example" / "index.html").read_text()
    assert "New version of the upload example" in page and "f" * 32 in page
    assert tree(out) == tree(build_site(catalogue, tmp_path / "fresh", cache=False, generated_at=None).out)


def test_removed_product_disappears_from_the_site_and_api(catalogue: Path, tmp_path: Path) -> None:
    out = tmp_path / "site"
    build_site(catalogue, out)
    shutil.rmtree(catalogue / "products" / "pzserver-upload-example")
    build_site(catalogue, out)
    assert not (out / "products" / "pzserver-upload-example").exists()
    assert not (out / "api/v1/products/pzserver-upload-example.json").exists()
    assert json.loads((out / "api/v1/products.json").read_text())["count"] == len(SAMPLE_IDS) - 1


def test_failed_rebuild_leaves_the_previous_site_untouched(catalogue: Path, tmp_path: Path) -> None:
    out = tmp_path / "site"
    build_site(catalogue, out, generated_at=None)
    before = tree(out)
    (catalogue / "products" / DC2 / "product.yaml").write_text("id: [unclosed\n", encoding="utf-8")
    with pytest.raises(SiteBuildError, match=rf"products/{DC2}/product.yaml:\d+: error"):
        build_site(catalogue, out, generated_at=None)
    assert tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["repo", "site"])  # no staging left


def test_failure_after_taking_over_pages_puts_them_back(catalogue: Path, tmp_path: Path) -> None:
    out = tmp_path / "site"
    build_site(catalogue, out, generated_at=None)
    before = tree(out)
    # A broken link makes the strict build fail after the unchanged pages were moved over.
    with (catalogue / "docs" / "about.md").open("a") as about:
        about.write('\n<a href="no-such-page/">missing</a>\n')
    with pytest.raises(SiteBuildError, match="no-such-page"):
        build_site(catalogue, out, strict=True, generated_at=None)
    assert tree(out) == before


def test_failure_after_taking_over_pages_restores_changed_and_removed_ones(catalogue: Path,
                                                                          tmp_path: Path) -> None:
    out = tmp_path / "site"
    build_site(catalogue, out, generated_at=None)
    before = tree(out)
    yaml_path = catalogue / "products" / DC2 / "product.yaml"
    yaml_path.write_text(yaml_path.read_text("utf-8").replace("title: DC2 training set, healpix 9816",
                                                              "title: Renamed training set"), encoding="utf-8")
    shutil.rmtree(catalogue / "products" / "pzserver-upload-example")
    with (catalogue / "docs" / "about.md").open("a") as about:
        about.write('\n<a href="no-such-page/">missing</a>\n')
    with pytest.raises(SiteBuildError, match="no-such-page"):
        build_site(catalogue, out, strict=True, generated_at=None)
    assert tree(out) == before  # the old page of the changed product, and the removed one, are back
    assert sorted(p.name for p in tmp_path.iterdir()) == ["repo", "site"]


def test_parallel_workers_build_the_same_site(catalogue: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    serial = build_site(catalogue, tmp_path / "serial", cache=False, generated_at=None).out
    monkeypatch.setattr(productbuild, "PARALLEL_FROM", 1)
    parallel = build_site(catalogue, tmp_path / "parallel", cache=False, workers=2, generated_at=None).out
    assert tree(parallel) == tree(serial)


def test_broken_product_in_parallel_build_is_reported(catalogue: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(productbuild, "PARALLEL_FROM", 1)
    add_product(catalogue, "broken", "id: broken\ntitle: [unclosed\n")
    with pytest.raises(SiteBuildError, match=r"products/broken/product.yaml:\d+: error"):
        build_site(catalogue, tmp_path / "site", workers=2)
    assert not (tmp_path / "site").exists()


def test_mkdocs_failing_while_workers_render_stops_them_and_leaves_nothing(
        catalogue: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import multiprocessing

    monkeypatch.setattr(productbuild, "PARALLEL_FROM", 1)  # workers render while mkdocs runs
    (catalogue / "docs" / "broken.md").write_text("# Broken\n\n[a link](no-such-page.md)\n", encoding="utf-8")
    with pytest.raises(SiteBuildError, match=r"no-such-page\.md"):
        build_site(catalogue, tmp_path / "site", strict=True, workers=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["repo"]  # no site, staging or mkdocs folder
    assert multiprocessing.active_children() == []


def test_whole_sample_site_has_no_broken_link(catalogue: Path, tmp_path: Path) -> None:
    add_product(catalogue, "hostile", HOSTILE_YAML)
    out = build_site(catalogue, tmp_path / "site", strict=True).out
    pages = list(out.rglob("*.html"))
    assert len(pages) > 20
    assert check_links(out) == []


def test_link_check_finds_missing_pages_escapes_and_javascript(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "index.html").write_text(
        '<a href="../b/">b</a> <a href="../c/">c</a> <img src="x.png"> <a href="../../../etc/passwd">x</a>'
        '<a href="JavaScript:alert(1)">j</a> <a href="https://example.org/">ok</a> <a href="#top">t</a>')
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "index.html").write_text('<a href="../a/index.html#x">a</a>')
    found = sorted((b.page, b.target, b.reason) for b in check_links(tmp_path))
    assert found == [
        ("a/index.html", "../../../etc/passwd", "link leaves the site"),
        ("a/index.html", "../c/", "link to a page or file that the site does not have"),
        ("a/index.html", "JavaScript:alert(1)", "javascript: link"),
        ("a/index.html", "x.png", "link to a page or file that the site does not have"),
    ]


def test_unknown_input_is_named_without_a_link(tmp_path: Path) -> None:
    root = make_catalogue(tmp_path, with_samples=False)
    add_product(root, "child", HOSTILE_YAML.replace("id: hostile", "id: child")
                + "provenance: {derived_from: [not-here]}\n")
    out = build_site(root, tmp_path / "site", strict=True).out
    page = (out / "products" / "child" / "index.html").read_text()
    assert "not-here (not in the catalogue)" in page and 'href="../not-here/"' not in page


@pytest.mark.slow
def test_site_and_api_of_a_generated_1000_product_catalogue(tmp_path: Path) -> None:
    """The parallel path end to end: every page rendered, every JSON valid against its schema."""
    import sys

    sys.path.insert(0, str(REPO / "bench"))
    from sitegen import make_site_catalog

    root = make_site_catalog(tmp_path / "catalog", 1000)
    result = build_site(root, tmp_path / "site", strict=True)
    assert (result.products, result.rendered) == (1000, 1000)
    assert _assert_api_valid(result.out) == 1000
    assert len(list((result.out / "products").glob("*/index.html"))) == 1000
    listed = json.loads((result.out / "api/v1/products.json").read_text())
    assert [p["id"] for p in listed["products"]] == sorted(p.name for p in (root / "products").iterdir())
    history = json.loads((result.out / "api/v1/products" / f"{listed['products'][0]['id']}.json").read_text())["history"]
    assert [h["message"] for h in history] == ["Synthetic catalogue"]
