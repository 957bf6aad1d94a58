# Two commands: `make demo` serves the demo catalogue, `make test` runs every test.
# Every target sets up what it needs, is idempotent, and is quick when nothing changed.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PORT   ?= 8000
# Pass PYTEST_ARGS="-k name" to select tests.
PYTEST_ARGS ?=

.PHONY: help install data validate site demo test lint system-deps clean

help:
	@echo "make demo      set everything up and serve the demo catalogue on http://127.0.0.1:$(PORT)"
	@echo "make test      set everything up and run the whole test suite"
	@echo "make install   create $(VENV) with the pz command (.venv/bin/pz)"
	@echo "make data      obtain the sample data (sample DVC remote + PyPI) into the workspace"
	@echo "make validate  run pz validate on the catalogue"
	@echo "make site      build the site into site/"

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

# The data of the sample products: most objects ship in dvc-remote/, GPL ones
# come from their PyPI package; `dvc pull` then fills the workspace.
data: $(STAMP)
	$(BIN)/python scripts/fetch_sample_data.py
	$(BIN)/dvc pull

validate: data
	$(BIN)/pz validate

site: $(STAMP)
	$(BIN)/pz build --out site

demo: validate site
	$(BIN)/pz serve --out site --port $(PORT)

# System programs the tests drive for real: git, and Debian's Chromium for the
# browser tests (Playwright drives it; downloading Playwright's own browser is
# not possible here). Needs root (CI runs as root); otherwise install by hand.
system-deps:
	@missing=""; \
	command -v git >/dev/null || missing="$$missing git"; \
	test -x /usr/bin/chromium || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

test: $(STAMP) system-deps data lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check site_builder pzclient tests bench scripts

clean:
	rm -rf site .pytest_cache .ruff_cache
