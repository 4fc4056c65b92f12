# make run   - install into .venv (first time) and serve on http://127.0.0.1:3978
# make test  - install, type-check (mypy), start what the tests need (Redis), run the test suite
# make bench - run the benchmarks in bench/
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TORCH_VERSION ?= 2.13.0

.PHONY: run test bench lint clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@# Install torch first and pinned: a bare "torch" requirement would make pip resolve
	@# a multi-GB CUDA build. Keep whatever torch already imports (e.g. a CUDA build).
	@$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install --disable-pip-version-check -q "torch==$(TORCH_VERSION)"
	$(PY) -m pip install --disable-pip-version-check -q -e '.[dev,ray]'
	@# spandrel (super-resolution models) asks for torchvision, whose PyPI build needs the CUDA
	@# torch: installed without its dependencies (imaging/canvas/spandrel_compat.py says why).
	$(PY) -m pip install --disable-pip-version-check -q --no-deps "spandrel>=0.4.2" "einops>=0.7"
	@touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/easel serve

test: $(STAMP)
	$(VENV)/bin/mypy
	$(PY) tests/ensure_redis.py
	$(PY) tests/ensure_browser.py
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) -m bench.turn
	$(PY) -m bench.rewrite
	$(PY) -m bench.state
	$(PY) -m bench.discord
	$(PY) -m bench.jobs_queue
	$(PY) -m bench.engines
	$(PY) -m bench.arena
	$(PY) -m bench.canvas
	$(PY) -m bench.api
	$(PY) -m bench.safety
	@echo "bench.soak (10 minutes, a Redis restart), bench.scale (Ray) and bench.gpu run on their own"

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) .easel-data .pytest_cache
