# `make test` works on a fresh machine: it creates .venv, installs torch first (a CPU build;
# override TORCH for a CUDA one), then the package and the tools, and runs lint and tests.
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH ?= torch==2.13.0
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION = 20

MODEL ?= informer
DATA ?=
# A file of your own (DATA=) is read with its own columns, not as the default data set's.
DATASET ?= $(if $(DATA),,$(if $(filter tft,$(MODEL)),stallion,ETTh1))
HOSTS ?=
LOCAL ?= local
ARGS ?=

.PHONY: setup run test lint format clean

setup: $(VENV)/.installed

$(VENV)/.installed: model_build/pyproject.toml requirements-dev.txt requirements-infra.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ./model_build -r requirements-dev.txt
	touch $@

# The local journey (local_mode/): preprocess, train on simulated SageMaker hosts (HOSTS=N; the
# default is local_mode.layout.DEFAULT_HOSTS), evaluate, gate, register in $(LOCAL)/registry.db;
# then approve that version, which runs the batch transform and publishes CSV, manifest, plots
# and an HTML report under $(LOCAL)/s3/.
# ARGS passes more run options, e.g. ARGS="--max-epochs 2 -H d_model=32".
run: setup
	$(PY) -m local_mode run --home $(LOCAL) --model $(MODEL) $(if $(DATASET),--dataset $(DATASET)) \
		$(if $(DATA),--data $(DATA)) $(if $(HOSTS),--hosts $(HOSTS)) $(ARGS)
	$(PY) -m local_mode approve --home $(LOCAL) --latest

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

# The results page must say what benchmarks/results/*.json say (regenerate: python benchmarks/report.py).
test: lint
	$(PY) benchmarks/report.py --check
	$(PY) -m pytest

format: setup
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

clean:
	rm -rf $(VENV) cdk.out .pytest_cache runs
