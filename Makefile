# mqchat: `make run` starts the server on defaults, `make test` runs every test.
# Both set up what they need: the virtualenv, the packages, and system packages.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test check bench soak fmt clean system-deps

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || { apt-get update -qq && apt-get install -y -qq python3-venv && $(PYTHON) -m venv $(VENV); }

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/mqchat serve

test: $(STAMP) system-deps
	$(BIN)/python -m pytest

# System packages the tests use, installed only when missing: Mosquitto (the suite runs
# against it too) and what its mqchat plugin is compiled with.
MOSQUITTO_PACKAGES := mosquitto mosquitto-dev libmosquitto-dev libsqlite3-dev libssl-dev
system-deps:
	@dpkg-query -W -f='$${Status}\n' $(MOSQUITTO_PACKAGES) 2>/dev/null | grep -c '^install ok installed' | grep -qx 5 \
		|| { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(MOSQUITTO_PACKAGES); }

check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Every scenario on both brokers, side by side (one column per broker): 1:1 messaging end
# to end (fixed rate at 1,000 msg/s, full speed, losses checked) on the embedded broker in
# its own process and inline and on Mosquitto, with each broker's raw relay; groups,
# receipts, presence and 10,000 connected users on both; then the embedded broker against
# stock amqtt, and media uploads. See BENCHMARKS.md.
bench: $(STAMP) system-deps
	$(BIN)/mqchat bench --brokers embedded,mosquitto --compare-process --rate 1000
	$(BIN)/python -m clients.bench.features --brokers embedded,mosquitto
	$(BIN)/python -m tests.broker.bench
	$(BIN)/python -m tests.bench.media_upload

# 30 minutes of a moderate mixed load (500 users, 50 msg/s, groups, receipts, presence
# churn) with memory and latency sampled every 10 s; not part of `make test`. Writes
# soak-results/{soak.csv,soak.png,soak.md}. SOAK_ARGS="--minutes 2" for a short run.
soak: $(STAMP)
	$(BIN)/python -c "import matplotlib" 2>/dev/null || $(BIN)/python -m pip install -q -e ".[dev,soak]"
	$(BIN)/python -m clients.bench.soak $(SOAK_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
