"""The client tutorial notebook as a site page: ``docs/client-tutorial.md`` is rendered from
``docs/client-tutorial.ipynb`` (code, text outputs, HTML tables, figures as PNG files) and must
stay in step with it. After changing or re-running the notebook, regenerate the page with

    .venv/bin/python -m pytest tests/test_client_docs.py --update-goldens

The page is plain Markdown with the notebook's HTML tables: no notebook plugin, no inline
script, so it lives under the site's Content-Security-Policy like every other page.
To refresh the notebook's stored outputs, run it against a clone of the catalogue:
``PZCLIENT_URL=$PWD jupyter nbconvert --to notebook --execute --inplace docs/client-tutorial.ipynb``.
"""

from __future__ import annotations

import base64
import hashlib
import re
import subprocess

import nbformat
import pytest

from tests.conftest import BIN, REPO

DOCS = REPO / "docs"
NOTEBOOK = DOCS / "client-tutorial.ipynb"
PAGE = DOCS / "client-tutorial.md"
FIGURES = DOCS / "client-tutorial-figures"
_STYLE = re.compile(r"<style[^>]*>.*?</style>\s*", re.S)


def render(notebook: nbformat.NotebookNode) -> tuple[str, dict[str, bytes]]:
    """Markdown of the notebook and its figures ``{file name: PNG bytes}``."""
    parts = ["<!-- Generated from client-tutorial.ipynb by tests/test_client_docs.py "
             "(--update-goldens): do not edit. -->", ""]
    figures: dict[str, bytes] = {}
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            parts += [cell.source, ""]
            if cell.source.startswith("# "):
                parts += ["[Download this notebook](client-tutorial.ipynb) and run it in Jupyter "
                          "(on the RSP, your token is already set).", ""]
            continue
        if cell.cell_type != "code":
            continue
        parts += ["```python", cell.source, "```", ""]
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if output.output_type == "stream":
                parts += ["```text", output.text.rstrip("\n"), "```", ""]
            elif "image/png" in data:
                png = base64.b64decode(data["image/png"])
                name = f"figure-{len(figures) + 1}.png"
                figures[name] = png
                parts += [f"![Figure {len(figures)}]({FIGURES.name}/{name})", ""]
            elif "text/html" in data:
                html = _STYLE.sub("", data["text/html"]).strip()
                parts += ['<div class="notebook-output" markdown="0">', html, "</div>", ""]
            elif "text/plain" in data:
                parts += ["```text", data["text/plain"].rstrip("\n"), "```", ""]
    return "\n".join(parts).rstrip("\n") + "\n", figures


def test_page_is_rendered_from_the_notebook(update_goldens):
    text, figures = render(nbformat.read(NOTEBOOK, as_version=4))
    assert len(figures) >= 2, "the stored notebook has lost its plots: run it again"
    if update_goldens:
        PAGE.write_text(text, encoding="utf-8")
        FIGURES.mkdir(exist_ok=True)
        for old in FIGURES.glob("*.png"):
            old.unlink()
        for name, png in figures.items():
            (FIGURES / name).write_bytes(png)
    assert PAGE.read_text(encoding="utf-8") == text, (
        "docs/client-tutorial.md is out of date: pytest tests/test_client_docs.py --update-goldens")
    stored = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in FIGURES.glob("*.png")}
    assert stored == {n: hashlib.sha256(b).hexdigest() for n, b in figures.items()}


def test_stored_outputs_hold_no_local_path_or_token():
    notebook = NOTEBOOK.read_text(encoding="utf-8")
    outputs = "".join(str(c.get("outputs", "")) for c in nbformat.reads(notebook, as_version=4).cells)
    assert "/tmp/" not in outputs and "/work/" not in outputs and "/home/" not in outputs
    assert "gt-" not in outputs and "127.0.0.1" not in outputs


@pytest.mark.slow
def test_tutorial_page_is_on_the_site(tmp_path):
    out = tmp_path / "site"
    subprocess.run([str(BIN / "pz"), "build", "--out", str(out), "--strict"], cwd=REPO, check=True,
                   capture_output=True)
    page = (out / "client-tutorial" / "index.html").read_text(encoding="utf-8")
    assert page.count("open_catalog") >= 2 and "PZ Server: 6 products" in page
    assert page.count('class="dataframe"') >= 5  # the notebook's tables
    assert page.count('src="../client-tutorial-figures/figure-') >= 2
    assert "<script" not in page.split('<article', 1)[1].split("</article>", 1)[0]
    assert (out / "client-tutorial-figures" / "figure-1.png").is_file()
    assert (out / "client-tutorial.ipynb").is_file()  # the download link works
    assert 'href="client-tutorial/"' in (out / "index.html").read_text(encoding="utf-8")
