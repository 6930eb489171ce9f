# The README's two commands: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BROWSER := /usr/bin/chromium
PROMTOOL := /usr/bin/promtool

.PHONY: test check run bench clean matrix guide

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

test: check $(BROWSER) $(PROMTOOL)
	$(BIN)/pytest

# The guide's flag combinations, Phase 0 (master off); 1; 1+2; 1-3; 1-4 (tests/conftest.py reads
# STRATLOOP_TEST_FLAGS). `make matrix MATRIX=1-3` runs one; CI runs each as a job.
MATRIX := 0 1 1-2 1-3 1-4

matrix: check $(BROWSER) $(PROMTOOL)
	@for flags in $(MATRIX); do \
		echo "== the suite under STRATLOOP_TEST_FLAGS=$$flags"; \
		STRATLOOP_TEST_FLAGS=$$flags $(BIN)/pytest -q || exit 1; \
	done

# The deployment guide, top to bottom as written, on a fresh clone (minutes; CI's guide job).
guide: check
	RUN_DEPLOYMENT_GUIDE=1 $(BIN)/pytest tests/acceptance/test_guide_run.py -v

run: $(STAMP)
	$(BIN)/stratloop run --iterations 200

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	for script in config_validation strategy_overhead expression_eval backtest_eval factor_analysis loop_overhead audit_overhead audit_follow rollback; do \
		$(BIN)/python bench/$$script.py || exit 1; \
	done

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis
