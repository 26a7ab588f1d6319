# Rotoflow. `make run PLATE=... PROMPT=...` and `make test` install what they need first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
SHARED ?= ../shared
# The lite detector's weights (YOLOX-Nano, for text prompts; see README: Models). `make setup`
# stages this copy into the model store that `rotoflow` uses (ROTOFLOW_MODEL_DIR, else
# <ROTOFLOW_HOME>/models, default ~/.rotoflow/models); without it they are pulled from their
# GitHub release on first use.
YOLOX_ONNX ?= $(SHARED)/models/yolox-nano/yolox_nano.onnx

PLATE  ?=
PROMPT ?=
BOX    ?=
FRAME  ?=
ARGS   ?=

.PHONY: setup browser run test lint benchmark clean

$(BIN)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,models]'
	SAM2_BUILD_CUDA=0 $(BIN)/python -m pip install --quiet --no-build-isolation -c constraints.txt sam2==1.1.0
	touch $@

setup: $(BIN)/.installed
	@if [ -f "$(YOLOX_ONNX)" ]; then $(BIN)/rotoflow models add yolox-nano "$(YOLOX_ONNX)" --skip-staged; fi

# Debian's Chromium, for the tests that screenshot the Prefect UI (root or sudo; apt only).
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
browser:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }

run: setup
	@test -n "$(PLATE)" || { echo "usage: make run PLATE=path/to/plate PROMPT='the dancer' [BOX=x0,y0,x1,y1] [FRAME=n]" >&2; exit 2; }
	$(BIN)/rotoflow run "$(PLATE)" $(if $(PROMPT),--prompt "$(PROMPT)") $(if $(BOX),--box "$(BOX)") $(if $(FRAME),--frame $(FRAME)) $(ARGS)

test: setup browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest -q

benchmark: setup
	$(BIN)/python benchmarks/davis.py
	$(BIN)/python benchmarks/memory.py

clean:
	rm -rf $(VENV) rotoflow_output .pytest_cache .ruff_cache
