# Two commands do everything on a fresh machine:
#   make demo   local stack + generated events + one DAG run end to end + each layer's row counts,
#               then Superset with the marts' dashboard (left running: make stack-down stops it)
#   make test   ruff, sqlfluff + the whole test suite (unit, DAG integrity, integration on the local stack)

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
# dbt in a virtualenv of its own (requirements-dbt.txt), where the DAG looks for it (PRODUCT_CDC_DBT_EXECUTABLE)
DBT_VENV := .venv-dbt
DBT_INSTALLED := $(DBT_VENV)/.installed
# Outside include/ (Astro bind-mounts ./include over the image's copy): where the Dockerfile builds it too.
MANIFEST := dbt_target/manifest.json
DBT_SOURCES := $(shell find include/dbt/models include/dbt/macros -type f) include/dbt/dbt_project.yml \
	include/dbt/selectors.yml

.PHONY: install manifest demo test lint stack-up stack-down airflow docs superset health bench bench-small-runs clean

# --compile-bytecode: uv, unlike pip, leaves compiling to the first import, and an interpreter under
# PYTHONDONTWRITEBYTECODE never writes it, so each one compiled Airflow from source (docs/benchmark.md).
$(INSTALLED): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -r requirements-dev.txt
	@# dbt left in a venv from before it moved to $(DBT_VENV) (dbt's packages share the dbt namespace).
	$(BIN)/uv pip uninstall --quiet --python $(BIN)/python dbt-core dbt-postgres dbt-adapters dbt-common \
		dbt-extractor dbt-protos dbt-semantic-interfaces
	touch $@

$(DBT_INSTALLED): requirements-dbt.txt | $(INSTALLED)
	test -x $(DBT_VENV)/bin/python || $(PYTHON) -m venv $(DBT_VENV)
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(DBT_VENV)/bin/python -r requirements-dbt.txt
	touch $@

install: $(INSTALLED) $(DBT_INSTALLED)

# The dbt manifest Cosmos renders the DAG's dbt task group from; DAG parsing never runs dbt.
$(MANIFEST): $(INSTALLED) $(DBT_INSTALLED) $(DBT_SOURCES)
	cd include/dbt && DBT_PROFILES_DIR=. $(CURDIR)/$(DBT_VENV)/bin/dbt parse --quiet --target-path $(CURDIR)/dbt_target

manifest: $(MANIFEST)

# The stack's Kafka and Kafka Connect are Java servers whose jars Maven resolves from Maven Central
# (devstack/stack/maven.py); javac compiles Kafka Connect's demo connector (devstack/stack/idle_source).
JAVA := /usr/bin/javac
MVN := /usr/bin/mvn
STACK_TOOLS := $(JAVA) $(MVN)
$(JAVA):
	@test "$$(id -u)" = 0 || { echo "the local stack's Kafka needs a JDK: run 'sudo apt-get install default-jdk-headless'" >&2; exit 1; }
	DEBIAN_FRONTEND=noninteractive apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends default-jdk-headless
# Order-only: a Java update must not make Maven look out of date.
$(MVN): | $(JAVA)
	@test "$$(id -u)" = 0 || { echo "the local stack's Kafka comes from Maven Central: run 'sudo apt-get install maven'" >&2; exit 1; }
	DEBIAN_FRONTEND=noninteractive apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends maven

demo: $(MANIFEST) $(STACK_TOOLS)
	$(BIN)/python -m devstack demo

# sqlfluff over include/sql and the dbt models; the staging models as dbt compiles them, offline.
lint: $(INSTALLED) $(DBT_INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m devstack.sqllint

# The browser tests drive Debian's Chromium (Playwright's own browser download is never used).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	@test "$$(id -u)" = 0 || { echo "the browser tests need Debian's chromium: run 'sudo apt-get install chromium'" >&2; exit 1; }
	DEBIAN_FRONTEND=noninteractive apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

# The CeleryExecutor mode's broker (CORD_AIRFLOW_EXECUTOR=celery): Debian's Redis, which devstack starts
# on loopback with a password of the stack's (the package's own service is not used).
REDIS_SERVER := /usr/bin/redis-server
$(REDIS_SERVER):
	@test "$$(id -u)" = 0 || { echo "the CeleryExecutor mode needs Debian's redis-server: run 'sudo apt-get install redis-server'" >&2; exit 1; }
	DEBIAN_FRONTEND=noninteractive apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server

# Two workers, each with a stack of its own (tests/conftest.py): the integration tests mostly wait.
test: lint $(MANIFEST) $(CHROMIUM) $(REDIS_SERVER) $(STACK_TOOLS)
	$(BIN)/python -m pytest --numprocesses 2 --dist loadscope

stack-up: $(INSTALLED) $(STACK_TOOLS)
	$(BIN)/python -m devstack up

stack-down: $(INSTALLED)
	$(BIN)/python -m devstack down

# A real Airflow (API server/UI, scheduler, DAG processor, triggerer) on the local stack; with
# CORD_AIRFLOW_EXECUTOR=celery, the CeleryExecutor with Redis and two Celery workers.
airflow: $(MANIFEST) $(STACK_TOOLS) $(if $(filter celery,$(CORD_AIRFLOW_EXECUTOR)),$(REDIS_SERVER))
	$(BIN)/python -m devstack up
	$(BIN)/python -m devstack airflow

# The dbt docs with the catalog of the local warehouse (build it first: make demo), on loopback until Ctrl-C.
docs: $(MANIFEST) $(STACK_TOOLS)
	$(BIN)/python -m devstack up
	$(BIN)/python -m devstack docs

# Superset with the marts' dashboard (include/superset) on the local stack, on loopback until
# `make stack-down`; its venv of its own (devstack/superset/requirements.txt) is built on first use.
superset: $(INSTALLED) $(STACK_TOOLS)
	$(BIN)/python -m devstack superset

# Throughput, memory and incremental cost on a stack of its own: make bench [EVENTS=1000000]
EVENTS ?= 1000000
bench: $(MANIFEST) $(STACK_TOOLS)
	$(BIN)/python -m devstack.bench --events $(EVENTS)

# The small run under a real scheduler: first, nothing new, 1% new; each task's times (docs/benchmark.md)
bench-small-runs: $(MANIFEST) $(STACK_TOOLS)
	$(BIN)/python -m devstack.bench.small_runs

# PASS/WARN/FAIL per bronze table, staging model and mart of the local stack's warehouse.
health: $(INSTALLED)
	eval "$$($(BIN)/python -m devstack env)" && $(BIN)/python -m include.cdc.checks.health

clean:
	-$(BIN)/python -m devstack reset
	rm -rf .stack-tests .stack-tests-worker* .stack-bench dbt_target include/dbt/target include/dbt/logs .pytest_cache .ruff_cache
