# The course in two commands:  make lab  (open the lessons)  and  make test  (check everything).
# Both create .venv with Python 3.11 on first use and install the pinned dependencies; the
# install is skipped while pyproject.toml and this Makefile are unchanged (the stamp file is keyed
# on their checksum).

PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
# Extra pip arguments, e.g. a CPU-only torch build on a laptop (see README):
#   make lab PIP_ARGS="--extra-index-url https://download.pytorch.org/whl/cpu"
PIP_ARGS ?=
DEPS_KEY := $(firstword $(shell cat pyproject.toml Makefile | cksum))
# Quantus, the evaluation library lesson 09 cross-checks against, is installed without its
# dependencies: it asks for opencv-python, which would overwrite the opencv-python-headless that
# pytorch-grad-cam brings (both are the module cv2); its other needs are pinned in pyproject.toml.
QUANTUS := quantus==0.6.0
STAMP := $(VENV)/.installed-$(DEPS_KEY)
LINTED := xaiutils tests benchmarks studies notebooks site conftest.py

.PHONY: setup lab test lint unit notebooks book clean

setup: $(STAMP)

$(STAMP):
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found. Install Python 3.11 (python.org, pyenv or your package manager), or point PYTHON at it: make PYTHON=/path/to/python3.11"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check $(PIP_ARGS) -e ".[course]"
	$(BIN)/python -m pip install --disable-pip-version-check $(PIP_ARGS) --no-deps $(QUANTUS)
	@rm -f $(VENV)/.installed-*
	@touch $@
	@echo "installed into $(VENV) (pyproject.toml + Makefile checksum $(DEPS_KEY))"

# JupyterLab on lesson 00. As root (containers, cloud and CI machines) it needs --allow-root.
# jupyter/overrides.json answers the first-run "get notified about Jupyter news?" prompt (no)
# and turns off update checks: nothing is fetched. LAB_ARGS adds options (the test: a port).
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)
LAB_ARGS ?=
lab: $(STAMP)
	@mkdir -p $(VENV)/share/jupyter/lab/settings
	@cmp -s jupyter/overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json || \
		cp jupyter/overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json
	$(BIN)/jupyter lab $(ROOT_FLAG) --ServerApp.root_dir=notebooks \
		--LabApp.default_url=/lab/tree/00_setup_and_tour.ipynb $(LAB_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

# Tests run in TEST_JOBS parallel pytest-xdist workers (2 by default: this course's 2-core CPU;
# more on a bigger machine, 0 for one process), each with one PyTorch thread so that the workers
# do not fight over the cores; --dist loadfile keeps a notebook's cells, and a test file's
# fixtures, on one worker. On 2 cores this took pytest from about 500 s to about 400 s.
TEST_JOBS ?= 2
PYTEST := OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -n $(TEST_JOBS) --dist loadfile
NBVAL := --nbval-lax --nbval-current-env

# Unit tests and every lesson under nbval, in one pytest session (one summary line).
test: lint
	$(PYTEST) tests notebooks $(NBVAL)

unit: $(STAMP)
	$(PYTEST) tests

notebooks: $(STAMP)
	$(PYTEST) notebooks $(NBVAL)

# The course as a website: every notebook executed into build/<lesson>.html, linked in order,
# with build/index.html (from README.md) and MathJax copied in, so it reads offline. One line
# per notebook (site/build.py).
book: $(STAMP)
	@$(BIN)/python site/build.py --out build

clean:
	rm -rf build .pytest_cache .ruff_cache
