# My Order Fellow — the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo
PORT ?= 5150
export PORT

.PHONY: run test test-pg check fmt admin bench build release tools

## run: migrate the embedded SQLite database and start the server on $PORT (default 5150)
run:
	$(CARGO) run --release --bin order_fellow-cli -- db migrate
	$(CARGO) run --release --bin order_fellow-cli -- start

## test: the whole suite (unit, model and request tests) on SQLite
test:
	$(CARGO) test --workspace --all-targets -- --test-threads=$${TEST_THREADS:-4}

## test-pg: the tests that touch the database, against PostgreSQL ($$PG_URL, default the local test database)
test-pg:
	DATABASE_URL=$${PG_URL:-postgres://postgres@127.0.0.1:5432/test} DB_MAX_CONNECTIONS=5 \
		$(CARGO) test --workspace --all-targets -- --test-threads=$${TEST_THREADS:-4} requests:: models:: e2e::

## tools: what the tests run beside the server, into target/tools (never the user's Python):
## a venv with tests/tools/requirements.txt. Safe to re-run; reinstalls only when the list changed.
TOOLS := target/tools
tools: $(TOOLS)/venv/.installed
$(TOOLS)/venv/.installed: tests/tools/requirements.txt
	python3 -m venv $(TOOLS)/venv
	$(TOOLS)/venv/bin/pip install --quiet --disable-pip-version-check -r tests/tools/requirements.txt
	touch $@

## check: formatting and lints, warnings are errors
check:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

## admin: create or promote an admin: make admin EMAIL=a@b.c PASSWORD='10+ chars'
admin:
	@test -n "$(EMAIL)" -a -n "$(PASSWORD)" || { echo "usage: make admin EMAIL=you@example.com PASSWORD='at least 10 chars'"; exit 2; }
	@ADMIN_PASSWORD='$(PASSWORD)' $(CARGO) run --release --bin order_fellow-cli -- task create_admin email:$(EMAIL)

## bench: signed-order intake load test against the release server; DB=postgres for PostgreSQL
## (PG_URL, default the local test database), SEED=1000000 to measure again with that many orders
## stored (intake and the order search), BENCH_ARGS="--duration 60" for longer runs
bench:
	$(CARGO) build --release --bin order_fellow-cli
	$(CARGO) run --release -p order_fellow_bench -- --server $${CARGO_TARGET_DIR:-target}/release/order_fellow-cli \
		--db $(or $(DB),sqlite) --pg-url $(or $(PG_URL),postgres://postgres@127.0.0.1:5432/test) \
		--seed $(or $(SEED),0) $(BENCH_ARGS)
