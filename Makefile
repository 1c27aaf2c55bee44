# Two commands do all the set-up on a fresh machine:
#   make demo   -- installs into .venv, then runs the main job on the embedded default
#   make test   -- installs into .venv (with test tools), then runs ruff, the strict docs build and the test suite
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# the documentation site is built into the venv (a throwaway folder), never into the repository
SITE := $(VENV)/site
# mkdocs-material prints a banner about MkDocs 2.0 on every build unless told not to. Never add --quiet to a
# strict build: it silences the warnings, and --strict then has nothing to count (the build passes).
MKDOCS := NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs

.PHONY: venv demo test lint bench docs docs-serve clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip setuptools wheel
	# CPU build of torch (the wheel on this machine's disk; elsewhere pip fetches it)
	$(PY) -m pip install "torch==2.13.0" || $(PY) -m pip install "torch>=2.1" --index-url https://download.pytorch.org/whl/cpu
	$(PY) -m pip install numpy cython
	# xtcocotools (CrowdPose evaluation) must be built against numpy 2 from source
	$(PY) -m pip install --no-binary xtcocotools --no-build-isolation xtcocotools
	$(PY) -m pip install -e ".[torch,dev,export,crowdpose,docs,fast]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/litepose demo

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(MKDOCS) build --strict --site-dir $(SITE)
	$(PY) -m pytest -q
	# the tests that need a fresh interpreter, in a second process
	$(PY) -m pytest -q -m own_process

# the user guide and API reference; --strict: a broken link or a docstring role naming nothing fails
docs: $(STAMP)
	$(MKDOCS) build --strict --site-dir $(SITE)
	@echo "site: $(SITE)/index.html"

docs-serve: $(STAMP)
	$(MKDOCS) serve

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
