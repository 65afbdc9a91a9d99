# The two commands of the README. Each creates .venv on first use, installs torch==2.13.0
# first, then this project.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

# Which build of torch: cuda where nvidia-smi finds an NVIDIA GPU, else cpu; TORCH=cpu or
# TORCH=cuda chooses. PyPI's Linux wheel is the CUDA build (about 17 nvidia packages, several
# GB): the CPU build comes from PyTorch's CPU index, added with --extra-index-url so that pip's
# own settings (a mirror, a folder of wheels) still count; its 2.13.0+cpu sorts above PyPI's
# 2.13.0, so pip takes it. A machine that cannot reach that index (offline, with wheels of its
# own) installs what pip's own indexes hold, without a network error per package.
TORCH ?= $(shell nvidia-smi -L >/dev/null 2>&1 && echo cuda || echo cpu)
CPU_INDEX ?= https://download.pytorch.org/whl/cpu
# "=", not ":=": looked at only when torch is installed
TORCH_INDEX = $(if $(filter cpu,$(TORCH)),$(shell $(PYTHON) -c "import urllib.request as r; \
	r.urlopen('$(CPU_INDEX)/torch/', timeout=10)" >/dev/null 2>&1 && \
	echo --extra-index-url $(CPU_INDEX)))

.PHONY: run test lint bench clean

run: $(VENV)/.installed-run
	$(PY) -m bot

# one pytest-xdist worker per core (JOBS=1 runs them in one process); a module's tests stay
# together, so each module's server and weights fixtures are built once
JOBS ?= auto
test: $(VENV)/.installed-dev
	$(PY) -m pytest -n $(JOBS) --dist loadscope

lint: $(VENV)/.installed-dev
	$(PY) -m ruff check .

bench: $(VENV)/.installed-run
	$(PY) -m model.bench

$(VENV)/.installed-torch:
	@case "$(TORCH)" in cpu|cuda) echo "torch 2.13.0, the $(TORCH) build (TORCH=cpu or \
	TORCH=cuda to choose)";; *) echo "TORCH must be cpu or cuda, not $(TORCH)"; exit 2;; esac
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0 $(TORCH_INDEX)
	touch $@

$(VENV)/.installed-run: $(VENV)/.installed-torch pyproject.toml
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed-torch pyproject.toml
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed-run

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
