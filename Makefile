# vidx: `make demo` sets up, then restyles the sample clip and upscales it to 720p with a
# before/after video beside it; `make test` sets up and runs ruff, mypy and pytest. Both create
# .venv/ in this folder and install into it with pip.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup chromium test lint typecheck pytest demo clean

setup: $(STAMP)

# the browser test's Chromium, from Debian (as root only; without it that test skips, saying why)
chromium:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
		>/dev/null; } || echo "chromium not installed: the browser tests will skip"

# pip byte-compiles what it installs one file at a time; compileall does the same on every core
# (a fresh set-up on 2 cores: 114-136 s, against 122-171 s). It cannot compile a file torch
# ships for Python 3.12 (pip cannot either, and says nothing), hence -qq and the status ignored.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --no-compile -e '.[test]'
	$(BIN)/python -m compileall -qq -j 0 $(VENV)/lib || true
	touch $(STAMP)

lint: setup
	$(BIN)/ruff check vidx temporal tests scripts
	$(BIN)/ruff format --check vidx temporal tests scripts
	$(BIN)/mypy vidx temporal

# the venv and Chromium side by side (pip and apt wait on downloads), ruff (a second), then mypy
# beside pytest: with no .mypy_cache yet (a fresh clone) mypy reads the types of torch and the
# other libraries for about two minutes, on one core, while pytest runs its tests on two worker
# processes (pytest-xdist; tests/conftest.py groups the tests, the Ray tests on one worker). The
# three share both cores at one priority, so mypy ends early rather than last, alone on a core.
# Both run to the end and either failing fails `make test`.
test:
	@$(MAKE) -f $(firstword $(MAKEFILE_LIST)) --no-print-directory -j2 setup chromium
	$(BIN)/ruff check vidx temporal tests scripts
	$(BIN)/ruff format --check vidx temporal tests scripts
	@$(MAKE) -f $(firstword $(MAKEFILE_LIST)) --no-print-directory -j2 --output-sync=line \
		typecheck pytest

typecheck: setup
	$(BIN)/mypy vidx temporal

pytest: setup
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup

demo: setup
	mkdir -p out
	$(BIN)/vidx restyle samples/rocket-tilt.mp4 -o out/rocket-tilt-720p.mp4 \
		--style blue-swirl --strength 0.7 --size 720p --upscaler lanczos --preset fast \
		--compare side --overwrite
	@echo "demo written to out/rocket-tilt-720p.mp4 (before | after: out/rocket-tilt-720p.compare.mp4)"

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache .mypy_cache
