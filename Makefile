# The two commands: `make demo` and `make test`. Both set everything up first
# (virtualenv, Python packages from requirements.lock, Delta, s3a and S3Proxy jars via Maven) and
# re-running them skips what is already in place.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DAGSTER := $(VENV)/bin/dagster

export LAKEHOUSE_ENV ?= local
ifeq ($(filter cluster prod,$(LAKEHOUSE_ENV)),)
export LAKEHOUSE_ROOT ?= $(CURDIR)/.lakehouse
export DAGSTER_HOME ?= $(LAKEHOUSE_ROOT)/dagster_home
else
# cluster/prod: the lakehouse is in the bucket (LAKEHOUSE_S3_*), Dagster's state in PostgreSQL.
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
endif

# Demo data: a week of landings at a size that runs in a couple of minutes on 2 cores.
DEMO_START ?= 2026-01-01
DEMO_DAYS ?= 5
DEMO_ORDERS ?= 20000
DEMO_CUSTOMERS ?= 2000
DEMO_PRODUCTS ?= 200
DEMO_END = $(shell $(PY) -c "import datetime as d; print(d.date.fromisoformat('$(DEMO_START)') + d.timedelta(days=$(DEMO_DAYS) - 1))")

# Partitions bounded by the data: `make demo` declares the demo's days, `make ui` the days the local
# landing zone holds (first and last `date=` folder; the demo's days when it is empty), so the UI
# lists only days that exist ("filled" means something, the backfill dialog offers those days) and
# cumulative tables (lifetime value, features), which a backfill extends through the last
# partition, stop at the last day with data. LAKEHOUSE_START_DATE / LAKEHOUSE_END_DATE given by the
# caller win. Not for `make daemon`, whose sensors ingest days as they land, nor cluster/prod
# (the landing zone is in the bucket): there partitions run to today unless LAKEHOUSE_END_DATE is set.
DEMO_DAYS_ENV = export LAKEHOUSE_START_DATE="$${LAKEHOUSE_START_DATE:-$(DEMO_START)}" \
	LAKEHOUSE_END_DATE="$${LAKEHOUSE_END_DATE:-$(DEMO_END)}";
ifeq ($(filter cluster prod,$(LAKEHOUSE_ENV)),)
LANDED_DAYS = $(shell ls -d "$(LAKEHOUSE_ROOT)"/landing/*/date=* 2>/dev/null | sed 's|.*/date=||' | sort -u)
DATA_DAYS_ENV = export LAKEHOUSE_START_DATE="$${LAKEHOUSE_START_DATE:-$(or $(firstword $(LANDED_DAYS)),$(DEMO_START))}" \
	LAKEHOUSE_END_DATE="$${LAKEHOUSE_END_DATE:-$(or $(lastword $(LANDED_DAYS)),$(DEMO_END))}";
else
DATA_DAYS_ENV =
endif

.PHONY: setup system-packages compose-config demo lineage-sample test test-fast ui daemon spark-connect validate lock clean bench

setup: $(VENV)/.installed $(VENV)/.jars

# Debian packages the tests use, as command:package pairs, installed (as root, with apt) only
# when the command is missing: PostgreSQL 15 for the throwaway servers (no cluster is created
# or started by the install), docker-compose v1, which validates docker-compose.yml without
# a container engine, and Chromium, which the browser test (tests/test_browser.py) drives with
# playwright (playwright's own browser download is not used); Prometheus and its Pushgateway for
# the metrics tests (tests/servers/prometheus.py starts its own on free ports).
APT_TOOLS := /usr/lib/postgresql/15/bin/postgres:postgresql-15 docker-compose:docker-compose chromium:chromium \
	/usr/bin/prometheus:prometheus /usr/bin/prometheus-pushgateway:prometheus-pushgateway
system-packages:
	@missing=""; for pair in $(APT_TOOLS); do \
	  command -v "$${pair%%:*}" >/dev/null 2>&1 || missing="$$missing $${pair#*:}"; done; \
	if [ -n "$$missing" ] && [ "$$(id -u)" != 0 ]; then \
	  echo "The server tests need these Debian packages:$$missing (install them as root, or run make test-fast)"; exit 1; fi; \
	if [ -n "$$missing" ]; then \
	  mkdir -p /etc/postgresql-common/createcluster.d && \
	  echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/lakehouse-no-main.conf && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(VENV)/.installed: pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --constraint requirements.lock --editable '.[test]'
	touch $@

$(VENV)/.jars: $(VENV)/.installed resources/jars.py platform/jars.py
	$(PY) platform/jars.py fetch
	touch $@

# The instance config of the environment (SQLite for local/ci, PostgreSQL for cluster/prod),
# and the silver_orders pool created before the first run asks for it (the run queue only
# enforces pools it already knows).
INSTANCE_CONFIG := platform/dagster.$(if $(filter cluster prod,$(LAKEHOUSE_ENV)),$(LAKEHOUSE_ENV),local).yaml

$(DAGSTER_HOME)/dagster.yaml: $(INSTANCE_CONFIG) | setup
	mkdir -p "$(DAGSTER_HOME)"
	cp $(INSTANCE_CONFIG) "$@"
	$(DAGSTER) instance concurrency set silver_orders 1

demo: setup $(DAGSTER_HOME)/dagster.yaml
	$(PY) -m datagen --root "$(LAKEHOUSE_ROOT)/landing" --start-date $(DEMO_START) --days $(DEMO_DAYS) \
		--orders $(DEMO_ORDERS) --customers $(DEMO_CUSTOMERS) --products $(DEMO_PRODUCTS)
	$(DEMO_DAYS_ENV) $(DAGSTER) asset materialize -f platform/definitions.py -d . --select '*' \
		--partition-range $(DEMO_START)...$(DEMO_END)
	$(PY) platform/summary.py

# The demo with lineage written to $(LAKEHOUSE_ROOT)/lineage/events.jsonl; the last run's
# events are copied to lineage/sample-events.jsonl and summarised per OpenLineage job.
lineage-sample: export LAKEHOUSE_LINEAGE = file
lineage-sample: demo
	$(PY) platform/lineage_sample.py

test: setup system-packages
	$(PY) -m pytest

test-fast: setup
	$(PY) -m pytest -m "not slow and not servers"

# The compose stack's configuration, resolved (secrets must be in the environment).
compose-config: system-packages
	docker-compose -f docker-compose.yml config

validate: setup
	$(DAGSTER) definitions validate -w workspace.yaml

# Run a command in place of the recipe's shell (exec, no process between make and it) with SIGINT
# and SIGTERM at their defaults. A job started in the background of a non-interactive shell
# (`make ui &` in a script, a CI step, a supervisor) inherits SIGINT *ignored*, and dagster dev,
# which handles SIGTERM the way Python handles SIGINT, would then ignore SIGTERM too and keep
# the webserver, the daemon and the code servers running.
FOREGROUND = exec $(PY) -c 'import os, signal, sys; [signal.signal(s, signal.SIG_DFL) for s in (signal.SIGINT, signal.SIGTERM)]; os.execvp(sys.argv[1], sys.argv[1:])'

# The UI: webserver, daemon and code servers in the foreground. Ctrl-C, or SIGTERM to make (which
# make passes on to its recipe) stops them all within seconds (tests/test_ui.py). Partitions end at
# the last landed day (DATA_DAYS_ENV above).
UI_HOST ?= 127.0.0.1
UI_PORT ?= 3000
ui: setup $(DAGSTER_HOME)/dagster.yaml
	$(DATA_DAYS_ENV) $(FOREGROUND) $(DAGSTER) dev -w workspace.yaml --host $(UI_HOST) --port $(UI_PORT)

# A warm Spark for local runs: a Spark Connect server on 127.0.0.1:15002 (Delta, UTC, the
# platform's settings), in the foreground. Runs started with
# LAKEHOUSE_SPARK_REMOTE=sc://127.0.0.1:15002 (e.g. `make ui` or `make daemon` in another shell)
# connect to it instead of starting a JVM of their own.
spark-connect: setup
	SPARK_HOME="$$($(PY) -c 'import pyspark, os; print(os.path.dirname(pyspark.__file__))')" \
	SPARK_CONNECT_BIND_ADDRESS=127.0.0.1 SPARK_DRIVER_HOST=127.0.0.1 SPARK_CONNECT_MASTER="local[*]" \
	PYSPARK_PYTHON=$(CURDIR)/$(PY) PYTHONPATH=$(CURDIR) PYTHON=$(PY) platform/spark/connect-server.sh

# The sensors without the UI: the landing sensor and the automation sensor start
# running (LAKEHOUSE_AUTOMATION=on) and drive ingestion and late-data refreshes.
daemon: setup $(DAGSTER_HOME)/dagster.yaml
	LAKEHOUSE_AUTOMATION=on $(VENV)/bin/dagster-daemon run -w workspace.yaml

# The benchmark (bench/): the platform against plain PySpark and DuckDB; figures, not a test.
# Flags: make bench BENCH_ARGS="--sizes 1000000,10000000 --repeats 3" (python -m bench --help).
BENCH_ARGS ?=

$(VENV)/.bench-installed: $(VENV)/.installed pyproject.toml
	$(PY) -m pip install --quiet --constraint requirements.lock --editable '.[test,bench]'
	touch $@

bench: setup $(VENV)/.bench-installed
	$(PY) -m bench $(BENCH_ARGS)

lock:
	{ echo "# Exact versions for reproducible installs, used as pip constraints by \`make setup\`."; echo "# Regenerate after changing pyproject.toml: make lock"; \
	  $(PY) -m pip freeze --exclude-editable; } > requirements.lock

clean:
	rm -rf "$(LAKEHOUSE_ROOT)"
