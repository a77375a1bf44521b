# Every README command is a target here. `make install` creates .venv once (re-run after setup.cfg changes).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO := out/demo
TOKENIZER := checkpoints/tokenizer-64
# The learned-vs-cascaded pair trained side by side (issue 5's ablation), benched beside TOKENIZER.
ABLATION := checkpoints/ablation-learned checkpoints/ablation-cascaded

.PHONY: install test test-all demo bench clean

install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[agents,dist,dev]'
	touch $(STAMP)

test: install
	$(BIN)/pytest

test-all: install
	$(BIN)/pytest -m ''

demo: install
	$(BIN)/millivid render --seed 0 --out $(DEMO)/world.png
	$(BIN)/millivid walk --env millivid/VoxelLoop-v0 --explorer revisit --frames 300 --seed 0 --out $(DEMO)/revisit.mp4
	$(BIN)/millivid collect datasets/voxel-revisit-64.toml --out $(DEMO)/voxel-revisit-64 --episodes 4 --resume
	$(BIN)/millivid verify $(DEMO)/voxel-revisit-64
	$(BIN)/millivid encode --tokenizer $(TOKENIZER) --data $(DEMO)/voxel-revisit-64
	$(BIN)/millivid bench tokenizer --tokenizer $(TOKENIZER) --compare $(filter-out $(TOKENIZER),$(ABLATION)) --data $(DEMO)/voxel-revisit-64 --out $(DEMO)/tokenizer.json

bench: install
	$(BIN)/millivid bench env --out bench/env.json
	$(BIN)/millivid bench data --out bench/data.json

clean:
	rm -rf $(VENV) out bench .pytest_cache
