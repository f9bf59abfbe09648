# vidx: `make demo` sets up and restyles the sample clip to 4K; `make test` sets up and runs
# ruff, mypy and pytest. Both create .venv/ in this folder and install into it with pip.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup test lint demo clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

lint: setup
	$(BIN)/ruff check vidx temporal tests scripts
	$(BIN)/ruff format --check vidx temporal tests scripts
	$(BIN)/mypy vidx temporal

test: lint
	$(BIN)/python -m pytest -q

demo: setup
	mkdir -p out
	$(BIN)/vidx restyle samples/astronaut-pan.mp4 -o out/astronaut-pan-4k.mp4 --style 3 --size 4k \
		--upscaler esrgan-anime --preset fast --overwrite
	@echo "demo written to out/astronaut-pan-4k.mp4"

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache .mypy_cache
