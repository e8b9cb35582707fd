# rehearse: `make demo` (the whole job, end to end) and `make test` (the suite) do all set-up.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CUSTOMERS ?= 100000
ORDERS    ?= 300000
BENCH_SIZE ?= 1000000

.PHONY: venv system-deps postgres demo test bench clean

$(BIN)/.installed: pyproject.toml setup.py rehearse/anonymize/_fast.c
	@command -v cc >/dev/null 2>&1 || (echo "installing gcc for rehearse's C extension (apt-get)" >&2; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc >/dev/null) || \
	  echo "warning: no C compiler: the anonymizing pull runs without its C extension (slower)" >&2
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

venv: $(BIN)/.installed

# Debian packages the tests need (headless Chromium for the HTML report, Docker + debootstrap
# for the container backend) and the PostgreSQL server on 5432 that plays "production".
system-deps:
	bash scripts/system-deps.sh

postgres:
	bash scripts/ensure-postgres.sh

demo: venv postgres
	$(BIN)/python scripts/demo.py --customers $(CUSTOMERS) --orders $(ORDERS)

test: venv system-deps postgres
	bash scripts/test-venvs.sh >/dev/null  # project venvs for tests/migrate (built once, reused)
	$(BIN)/pytest -q -p no:cacheprovider

bench: venv postgres
	BENCH_SIZE=$(BENCH_SIZE) $(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) reports .pytest_cache
