# mhpipe: two commands for a fresh clone (Python 3.11+ and make, nothing else).
#   make run    create .venv from the hashed lock, make sample data if absent, run the nightly flow once
#   make test   same environment, then the test suite
#   make serve  a local Prefect server + the scheduled deployments (nightly 02:00, retention 03:30)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DATA   ?= data
RAW    ?= $(DATA)/raw

.PHONY: run test serve trigger venv lock sample clean-data

venv: $(STAMP)

# Everything (runtime, test tools, build backend) comes from requirements.lock, pinned with hashes.
# The project itself is installed editable without build isolation, so no unpinned download happens.
$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "mhpipe needs Python 3.11+"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation --no-index -e .
	@touch $(STAMP)

sample: venv
	@test -d $(RAW) || $(BIN)/mhpipe synth --users 1000 --days 30 --seed 7 --fault-rate 0.02 --out $(RAW)

run: sample
	$(BIN)/mhpipe run --init --raw $(RAW) --data $(DATA) --policies policies

test: venv
	$(BIN)/python -m pytest

PORT ?= 4200
# Ctrl-C stops serving and the server. Trigger a run meanwhile with `make trigger`.
serve: venv
	$(BIN)/python -m flows.serve --raw $(RAW) --data $(DATA) --policies policies --port $(PORT)

FLOW ?= nightly-batch/nightly
trigger: venv
	PREFECT_API_URL=http://127.0.0.1:$(PORT)/api $(BIN)/prefect deployment run $(FLOW) --watch

# Maintainers only: refresh the lock after editing requirements.in (needs pip-tools).
lock:
	$(BIN)/python -m piptools compile --generate-hashes --allow-unsafe --strip-extras \
	  --no-emit-index-url --no-emit-find-links -o requirements.lock requirements.in

clean-data:
	rm -rf $(DATA)/raw $(DATA)/vault $(DATA)/keys $(DATA)/warehouse $(DATA)/audit $(DATA)/orchestrator $(DATA)/cache $(DATA)/staging $(DATA)-published
