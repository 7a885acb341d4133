# `make test` works on a fresh machine: it creates .venv, installs torch first (a CPU build;
# override TORCH for a CUDA one), then the package and the tools, and runs lint and tests.
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH ?= torch==2.13.0
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION = 20

RUN := runs/$(shell date +%Y%m%d-%H%M%S)
MODEL ?= informer
DATASET ?= $(if $(filter tft,$(MODEL)),stallion,ETTh1)
DATA ?=

.PHONY: setup run test lint format clean

setup: $(VENV)/.installed

$(VENV)/.installed: model_build/pyproject.toml requirements-dev.txt requirements-infra.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ./model_build -r requirements-dev.txt
	touch $@

# The pipeline's steps on this machine, laid out as SageMaker lays out channels and model dirs.
run: setup
	$(PY) -m forecasting.steps.preprocess --model $(MODEL) --dataset $(DATASET) \
		$(if $(DATA),--data $(DATA)) --output-dir $(RUN)/data
	$(PY) -m forecasting.steps.train --model $(MODEL) \
		--train $(RUN)/data/train --validation $(RUN)/data/validation \
		--model-dir $(RUN)/model --output-data-dir $(RUN)/output --checkpoint-dir $(RUN)/checkpoints
	$(PY) -m forecasting.steps.evaluate --model-dir $(RUN)/model --test $(RUN)/data/test \
		--output-dir $(RUN)/evaluation
	@echo "metrics: $(RUN)/evaluation/evaluation.json"

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

test: lint
	$(PY) -m pytest

format: setup
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

clean:
	rm -rf $(VENV) cdk.out .pytest_cache runs
