# Two commands: `make demo` serves the demo catalogue, `make test` runs every test.
# Every target sets up what it needs, is idempotent, and is quick when nothing changed.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PORT   ?= 8000
STACK_PORT ?= 8080
# Pass PYTEST_ARGS="-k name" to select tests.
PYTEST_ARGS ?=

.PHONY: help install data validate site demo test lint system-deps clean stack stack-stop

help:
	@echo "make demo      set everything up and serve the demo catalogue on http://127.0.0.1:$(PORT)"
	@echo "make test      set everything up and run the whole test suite"
	@echo "make install   create $(VENV) with the pz command (.venv/bin/pz)"
	@echo "make data      obtain the sample data (sample DVC remote + PyPI) into the workspace"
	@echo "make validate  run pz validate on the catalogue"
	@echo "make site      build the site into site/"
	@echo "make stack     run nginx + dev RSP auth + DVC remote on http://127.0.0.1:$(STACK_PORT) (background)"
	@echo "make stack-stop  stop it"

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
	command -v shellcheck >/dev/null || missing="$$missing shellcheck"; \
	command -v nginx >/dev/null || test -x /usr/sbin/nginx || missing="$$missing nginx"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

# PZ_REQUIRE_BROWSER=1: here a missing Chromium fails the browser tests instead of skipping them.
test: $(STAMP) system-deps data lint
	PZ_REQUIRE_BROWSER=1 $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check site_builder pzclient tests bench scripts deploy

clean:
	rm -rf site .pytest_cache .ruff_cache

# The access-controlled stack on loopback: nginx (Debian's, its own config, pid
# and logs under deploy/dev/run/) in front of the built site, the JSON API and a
# DVC HTTP remote (a copy of dvc-remote/), with the dev Gafaelfawr. The site is
# built into deploy/dev/run/site. Tokens go to
# deploy/dev/tokens.json. Debian may also start its own nginx on :80; the stack
# does not use it.
stack: system-deps data
	$(BIN)/python deploy/dev/stack.py start --port $(STACK_PORT)

stack-stop: $(STAMP)
	$(BIN)/python deploy/dev/stack.py stop
