# Every README command is a target here. `make install` creates .venv once (re-run after setup.cfg changes).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO := out/demo
TOKENIZER := checkpoints/tokenizer-64
SIM := checkpoints/sim-64
# The learned-vs-cascaded pair trained side by side (the paper's ablation), benched beside TOKENIZER.
ABLATION := checkpoints/ablation-learned checkpoints/ablation-cascaded

.PHONY: install test test-all demo bench tokenizer sim revisit clean

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
	$(BIN)/millivid rollout --sim $(SIM) --data $(DEMO)/voxel-revisit-64 --episode 0 --context 64 --frames 32 --out $(DEMO)/rollout
	$(BIN)/millivid collect datasets/voxel-revisit-64-quick.toml --out $(DEMO)/voxel-revisit-64-quick --episodes 3 --resume
	$(BIN)/millivid encode --tokenizer $(TOKENIZER) --data $(DEMO)/voxel-revisit-64-quick
	$(BIN)/millivid bench revisit --protocol quick --episodes 3 --sims $(SIM) --data $(DEMO)/voxel-revisit-64-quick --out $(DEMO)/revisit
	@echo "Browse the episodes and the rollout:   $(BIN)/millivid view $(DEMO)/voxel-revisit-64 --rollouts $(DEMO)/rollout"
	@echo "Browse the revisit benchmark's frames: $(BIN)/millivid view $(DEMO)/voxel-revisit-64-quick --rollouts $(DEMO)/revisit"

bench: install
	$(BIN)/millivid bench env --out bench/env.json
	$(BIN)/millivid bench data --out bench/data.json

# Retrains checkpoints/tokenizer-64 from nothing, as its model card lists the stages, then benches
# the result beside the shipped weights on the held-out set. About 2 hours on 2 cores (the first
# stage alone is 89 minutes); every step resumes where a killed run stopped. Stage 2's class head
# reads full resolution only (--class-scales 1); stage 3 replaces it with one that reads every
# resolution, which therefore starts fresh.
REPRO := runs/tokenizer-64
TRAIN_SET := data/voxel-explore-64-512w
HELD_OUT := data/voxel-revisit-64-full
TRAIN := $(BIN)/millivid train-tokenizer --data $(TRAIN_SET) --resume

tokenizer: install
	$(BIN)/millivid collect datasets/voxel-explore-64.toml --out $(TRAIN_SET) --episodes 512 --frames 1024 --resume
	$(BIN)/millivid collect datasets/voxel-revisit-64.toml --out $(HELD_OUT) --resume
	$(TRAIN) --out $(REPRO)/1-base --steps 30000 --token-blocks 2 --keep-all 0.4 --eval-every 2000
	$(TRAIN) --out $(REPRO)/2-palette --init $(REPRO)/1-base --palette-weight 0.0003 --keep-all 0.4 \
	    --class-head --class-scales 1 --class-weight 0.003 --steps 4400 --lr 1e-4 --eval-every 1100
	$(TRAIN) --out $(REPRO)/3-head --init $(REPRO)/2-palette --freeze-tokenizer --class-head --class-scales 4 \
	    --class-weight 0.003 --steps 2000 --lr 3e-3 --eval-every 1000
	$(TRAIN) --out $(REPRO)/4-joint --init $(REPRO)/3-head --class-weight 0.03 --steps 3000 --lr 1e-4 --eval-every 1500
	$(BIN)/millivid bench tokenizer --tokenizer $(REPRO)/4-joint --compare $(TOKENIZER) --data $(HELD_OUT) \
	    --out $(REPRO)/bench.json

# Retrains checkpoints/sim-64 (the MilliVid diffusion model, CPU preset) on 64 encoded training
# episodes, benches it on the held-out set, and trains its reward head for the reach task
# (checkpoints/sim-64-reach-head). About 2.5 hours on 2 cores; every step resumes.
SIM_REPRO := runs/sim-64
SIM_SET := data/voxel-explore-64-64w
REACH_SET := data/voxel-reach-64

sim: install
	$(BIN)/millivid collect datasets/voxel-explore-64.toml --out $(SIM_SET) --episodes 64 --frames 1024 --resume
	$(BIN)/millivid collect datasets/voxel-revisit-64.toml --out $(HELD_OUT) --resume
	$(BIN)/millivid encode --tokenizer $(TOKENIZER) --data $(SIM_SET)
	$(BIN)/millivid encode --tokenizer $(TOKENIZER) --data $(HELD_OUT)
	$(TRAIN_SIM) --data $(SIM_SET) --out $(SIM_REPRO) --strategy millivid
	$(BIN)/millivid bench rollout --sim $(SIM_REPRO) --data $(HELD_OUT) --out $(SIM_REPRO)/bench.json
	$(BIN)/millivid collect datasets/voxel-reach-64.toml --out $(REACH_SET) --episodes 256 --resume
	$(BIN)/millivid encode --tokenizer $(TOKENIZER) --data $(REACH_SET)
	$(BIN)/millivid train-reward --data $(REACH_SET) --sim $(SIM_REPRO) --out $(SIM_REPRO)-reach-head

# The object-permanence comparison: flat and FramePack trained exactly as `make sim` trains MilliVid
# (same tokenizer, data, tokens per step, model size and steps), the cascaded-tokenizer ablation on
# copies of the data encoded by its tokenizer, then `bench revisit` on the held-out set. Each run
# takes about as long as `make sim`; everything resumes.
REVISIT := runs/revisit
CASCADED := checkpoints/ablation-cascaded
TRAIN_SIM := $(BIN)/millivid train-sim --preset cpu --steps 4200 --lr 6e-4 --resume
REVISIT_BENCH := $(BIN)/millivid bench revisit --protocol paper --episodes 8

revisit: sim
	$(TRAIN_SIM) --data $(SIM_SET) --out $(REVISIT)/flat --strategy flat
	$(TRAIN_SIM) --data $(SIM_SET) --out $(REVISIT)/framepack --strategy framepack
	$(BIN)/millivid collect datasets/voxel-explore-64.toml --out $(SIM_SET)-cascaded --episodes 64 --frames 1024 --resume
	$(BIN)/millivid collect datasets/voxel-revisit-64.toml --out $(HELD_OUT)-cascaded --resume
	$(BIN)/millivid encode --tokenizer $(CASCADED) --data $(SIM_SET)-cascaded
	$(BIN)/millivid encode --tokenizer $(CASCADED) --data $(HELD_OUT)-cascaded
	$(TRAIN_SIM) --data $(SIM_SET)-cascaded --out $(REVISIT)/cascaded --strategy millivid --tokenizer $(CASCADED)
	$(REVISIT_BENCH) --sims $(SIM_REPRO) $(REVISIT)/flat $(REVISIT)/framepack --data $(HELD_OUT) --out $(REVISIT)/report
	$(REVISIT_BENCH) --sims $(REVISIT)/cascaded --data $(HELD_OUT)-cascaded --out $(REVISIT)/report-cascaded

clean:
	rm -rf $(VENV) out bench .pytest_cache
