# Obruten: one entry point for every developer task. `make help` lists them.
# The virtual environment uses Debian's /usr/bin/python3 when present: PostgreSQL and Patroni run
# as an unprivileged user, who cannot read a Python installed under /root (pyenv).
PY ?= $(shell test -x /usr/bin/python3 && echo /usr/bin/python3 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
PATIENTS ?= 2000

.PHONY: help setup haproxy demo test test-fast fuzz lint browser bench bench-failover bench-wardkit bench-postreg bench-status bench-read-copy bench-analysis clean

help: ## list the tasks
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'
	@echo "  Tests: tests/unit (no servers), tests/functional/<domain> (PostgreSQL, apps, CLIs); markers"
	@echo "  browser, cluster, fault, e.g. .venv/bin/python -m pytest tests/functional/ops -m 'not browser'"

setup: $(STAMP) ## create .venv and install Obruten with its test tools

$(STAMP): pyproject.toml
	@test -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf || { \
	  echo "==> Installing Debian's fonts-dejavu-core (the ward kit PDF embeds DejaVu Sans, ADR 0048)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq fonts-dejavu-core >/dev/null; \
	  test -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf || { echo "fonts-dejavu-core could not be installed: install it by hand or set OBRUTEN_KIT_FONT_DIR"; exit 1; }; }
	@echo "==> Creating $(VENV) with $(PY) and installing Obruten (a few minutes the first time)"
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --progress-bar off -e '.[test]'
	@rm -f $(VENV)/.installed-*; touch $(STAMP)

browser: ## install Debian's Chromium for the end-to-end tests (needs root or sudo)
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "==> Installing Chromium from Debian's packages"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; \
	  command -v chromium >/dev/null 2>&1 || { echo "Chromium could not be installed: install the 'chromium' package by hand"; exit 1; }; }

haproxy: ## install Debian's HAProxy for the read-copy balancer and its tests (needs root or sudo)
	@command -v haproxy >/dev/null 2>&1 || test -x /usr/sbin/haproxy || { \
	  echo "==> Installing HAProxy from Debian's packages"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq haproxy >/dev/null; \
	  test -x /usr/sbin/haproxy || { echo "HAProxy could not be installed: install the 'haproxy' package by hand"; exit 1; }; }

demo: setup ## start PostgreSQL, seed a synthetic region, serve the web UI on http://127.0.0.1:8000
	$(BIN)/obruten demo --patients $(PATIENTS)

lint: setup ## ruff, mypy, the layer contracts (lint-imports) and the import-cycle check; runs all four, fails if any fails
	@status=0; \
	echo "==> ruff"; $(BIN)/ruff check src tests bench tools || status=1; \
	echo "==> mypy"; $(BIN)/mypy || status=1; \
	echo "==> lint-imports (layer contracts in pyproject.toml)"; PYTHONPATH=src $(BIN)/lint-imports --no-logo || status=1; \
	echo "==> import cycles"; $(BIN)/python tools/import_cycles.py src obruten || status=1; \
	exit $$status

test: setup browser haproxy lint ## set up and run the whole test suite (unit, functional with a short fuzz run, browser, cluster)
	$(BIN)/python -m pytest

test-fast: setup ## the unit tier: no servers, no PostgreSQL, under a minute
	$(BIN)/python -m pytest tests/unit -q

FUZZ_EXAMPLES ?= 100
fuzz: setup ## fuzz the journal, ops and ward-agent APIs longer, with a fresh seed (FUZZ_EXAMPLES=100)
	OBRUTEN_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) OBRUTEN_FUZZ_SEED=$${OBRUTEN_FUZZ_SEED:-$$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')} \
	  $(BIN)/python -m pytest -m fuzz tests/functional/fuzz/test_fuzz.py

bench: setup ## run the read-path benchmark (100,000 patients)
	$(BIN)/python bench/read_path.py

bench-failover: setup ## 20 primary-crash drills on a local Patroni cluster (~20 min)
	@mkdir -p bench/results
	$(BIN)/python bench/failover.py --drills 20 --json bench/results/failover.json | tee bench/results/failover.txt

bench-wardkit: setup ## ward kits for a 1,100-unit region, and one ward
	$(BIN)/python bench/wardkit_build.py --repeat 3

bench-postreg: setup ## 10,000 downtime entries submitted and queued for review
	$(BIN)/python bench/postreg_submit.py --repeat 3

bench-status: setup ## how fast a status message reaches 20 nodes
	$(BIN)/python bench/status_propagation.py --followers 20 --messages 10

bench-read-copy: setup ## simulated staff with think time against a read copy (100,000 patients)
	$(BIN)/python bench/read_copy_load.py

bench-analysis: setup ## event-analysis reports (Markdown, PDF, de-identified) by size
	$(BIN)/python bench/analysis_report.py --sizes 50,200,800 --repeat 5

clean: ## stop the embedded database, delete its data (also outside var/) and remove var/ (all local data!)
	-$(BIN)/obruten db destroy --yes
	rm -rf var
