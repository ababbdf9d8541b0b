# futurelab developer entry points. On a fresh machine (python3, node + npm) these do all set-up:
#
#   make test    venv + editable install with [test] + labextension build, then pytest, jest
#                (test-js) and the browser tests (test-ui, Debian's /usr/bin/chromium)
#   make lab     same set-up, then JupyterLab on notebooks/ (127.0.0.1)
#   make bench   set-up with [bench], then python -m benchmarks
#   make clean   remove build output (keeps .venv and node_modules; see distclean)
#
# Second runs are fast: pip runs only when pyproject.toml/package.json/yarn.lock change (stamp
# files in .venv), jlpm install only when package.json/yarn.lock change, and `jlpm build` only when
# the TypeScript/CSS sources are newer than the last build. The venv's labextension dir is a
# symlink to python/futurelab/labextension, so after `jlpm build` (or `jlpm watch`) a browser
# reload shows the new front end.

SHELL := /bin/bash
.DEFAULT_GOAL := test

VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PIP_FLAGS ?= -q --progress-bar off
TESTS ?= tests python/futurelab
PYTEST_ARGS ?=

# jlpm, jupyter, jupyter-builder (called by the package.json scripts) come from the venv.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# jlpm/yarn 3 reads CI=true as "immutable lockfile"; .yarnrc.yml turns that off explicitly.

LABEXT_OUT := python/futurelab/labextension
# The scheduler's web dashboard bundle (esbuild; `jlpm build` makes it with the labextension).
DASHBOARD_OUT := python/futurelab/dashboard/static
# Stamp of the last `jlpm build` (tsc leaves unchanged outputs untouched, so their mtimes can't
# tell). Removed by `make clean`; a missing $(LABEXT_OUT) forces a rebuild too.
LABEXT_BUILT := labextension/lib/.built
# Where JupyterLab finds this venv's prebuilt extensions: a symlink to $(LABEXT_OUT), like
# `jupyter labextension develop` makes, so `jlpm build` / `jlpm watch` output is live.
LABEXT_LINK := $(VENV)/share/jupyter/labextensions/futurelab

LOCKS := $(wildcard yarn.lock)
TS_SOURCES := $(shell find labextension/src labextension/style -type f 2>/dev/null)
INSTALL_DEPS := pyproject.toml package.json $(LOCKS) | $(PY)

ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)
LAB_PORT ?= 8888
LAB_ARGS ?=

UI_DIR := labextension/ui-tests
CHROMIUM_PATH ?= /usr/bin/chromium
PLAYWRIGHT_ARGS ?=

.PHONY: test test-py test-js test-ui lab bench env env-bench link-labextension build-labextension \
        clean distclean help FORCE

help:
	@sed -n '2,9p' Makefile | sed 's/^# \{0,1\}//'

# --- environment ----------------------------------------------------------------------------

$(PY):
	python3 -m venv $(VENV)
	$(PIP) install $(PIP_FLAGS) --upgrade pip

# Point $(LABEXT_LINK) at the build output (what `jupyter labextension develop` does; that
# command needs a `_jupyter_labextension_paths()` in futurelab/__init__.py, which we don't rely on).
define link_labextension
	@if [ -d $(LABEXT_OUT) ] && [ "$$(readlink $(LABEXT_LINK))" != "$(CURDIR)/$(LABEXT_OUT)" ]; then \
	  echo "linking $(LABEXT_LINK) -> $(CURDIR)/$(LABEXT_OUT)"; \
	  mkdir -p $(dir $(LABEXT_LINK)) && rm -rf $(LABEXT_LINK) && \
	  ln -s $(CURDIR)/$(LABEXT_OUT) $(LABEXT_LINK); \
	fi
endef

# Editable install of the Python side. The npm side is this Makefile's job (node_modules and
# build rules below), so pip's build hook is told to skip it: HATCH_JUPYTER_BUILDER_SKIP_NPM=1.
# (A plain `pip install -e .` without it runs `jlpm install && jlpm build` itself.)
# The symlink is removed first so pip never writes into, or uninstalls from, the build output.
define pip_install
	@if [ -L $(LABEXT_LINK) ]; then rm $(LABEXT_LINK); fi
	HATCH_JUPYTER_BUILDER_SKIP_NPM=1 $(PIP) install $(PIP_FLAGS) -e ".[$(1)]"
	@touch $@
endef

$(VENV)/.installed-test: $(INSTALL_DEPS)
	$(call pip_install,test)

$(VENV)/.installed-bench: $(INSTALL_DEPS)
	$(call pip_install,bench)
	$(link_labextension)

# jlpm comes from the venv (jupyterlab / jupyter-builder).
node_modules/.installed: package.json $(LOCKS) | $(VENV)/.installed-test
	jlpm install
	@touch $@

# Rebuilt when a source is newer than the stamp, or when an output is gone (jlpm clean:all).
$(LABEXT_BUILT): $(TS_SOURCES) package.json tsconfig.json install.json \
                 $(if $(wildcard $(LABEXT_OUT)/package.json),,FORCE) \
                 $(if $(wildcard $(DASHBOARD_OUT)/dashboard.js),,FORCE) | node_modules/.installed
	jlpm build
	@touch $@

FORCE:

build-labextension: $(LABEXT_BUILT)

link-labextension: $(LABEXT_BUILT)
	$(link_labextension)

env: $(VENV)/.installed-test link-labextension

env-bench: $(VENV)/.installed-bench

# --- targets --------------------------------------------------------------------------------

test: test-py test-js test-ui

test-py: env
	$(PY) -m pytest $(TESTS) -q -p no:cacheprovider $(PYTEST_ARGS)

# Unit tests of the labextension's front-end model (jest + ts-jest, fed by recorded comm messages).
test-js: node_modules/.installed
	jlpm jest

# Browser tests: @playwright/test drives Debian's Chromium ($(CHROMIUM_PATH); Playwright downloads
# no browser) against a real JupyterLab that labextension/ui-tests/start_lab.sh starts and stops.
# Screenshots: labextension/ui-tests/test-results/screenshots/; report: .../playwright-report/.
test-ui: env $(UI_DIR)/node_modules/.installed
	@test -x "$(CHROMIUM_PATH)" || { echo "test-ui: no Chromium at $(CHROMIUM_PATH):" \
	  "apt-get install chromium (or set CHROMIUM_PATH)"; exit 1; }
	cd $(UI_DIR) && CHROMIUM_PATH="$(CHROMIUM_PATH)" CI=1 npx playwright test $(PLAYWRIGHT_ARGS)

$(UI_DIR)/node_modules/.installed: $(UI_DIR)/package.json $(UI_DIR)/package-lock.json
	cd $(UI_DIR) && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-fund --no-audit
	@touch $@

lab: env
	$(VENV)/bin/jupyter lab --no-browser --ip=127.0.0.1 --port=$(LAB_PORT) \
	  --ServerApp.root_dir=notebooks --LabApp.extension_manager=readonly $(ALLOW_ROOT) $(LAB_ARGS)

bench: env-bench
	$(PY) -m benchmarks

clean:
	rm -rf labextension/lib tsconfig.tsbuildinfo $(LABEXT_OUT) $(DASHBOARD_OUT) dist build \
	  python/*.egg-info *.egg-info test-results playwright-report \
	  $(UI_DIR)/test-results $(UI_DIR)/playwright-report $(UI_DIR)/.cache

# Also drops installed dependencies: the next `make` reinstalls everything (slow).
distclean: clean
	rm -rf node_modules .yarn/cache .yarn/install-state.gz $(VENV) $(UI_DIR)/node_modules
