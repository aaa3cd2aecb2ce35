# Tidemark: `make run` starts the server, `make test` runs every test. Both install what
# is missing first (PostgreSQL 15, TimescaleDB).

CARGO ?= cargo
TEST_RUNNER := $(shell $(CARGO) nextest --version >/dev/null 2>&1 && echo "nextest run --no-fail-fast" || echo "test --no-fail-fast")

.PHONY: run test deps build bench bench-syslog bench-hunt

deps:
	@scripts/install-deps.sh

build: deps
	$(CARGO) build --release --bin tidemark

run: build
	$(CARGO) run --release --bin tidemark -- serve

test:
	TIDEMARK_TEST_DEPS=1 scripts/install-deps.sh
	scripts/with-test-cluster.sh $(CARGO) $(TEST_RUNNER)

bench: deps
	TIDEMARK_CLUSTER_DURABLE=1 scripts/with-test-cluster.sh $(CARGO) bench --bench ingest

bench-syslog: deps
	TIDEMARK_CLUSTER_DURABLE=1 scripts/with-test-cluster.sh $(CARGO) bench --bench syslog

bench-hunt:
	TIDEMARK_BENCH_DEPS=1 scripts/install-deps.sh
	TIDEMARK_CLUSTER_DURABLE=1 scripts/with-test-cluster.sh $(CARGO) bench --bench hunt
