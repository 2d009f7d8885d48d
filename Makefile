# conntrack-exporter: `make run` and `make test` set up a fresh Debian/Ubuntu
# host (system packages, npm dependencies), build, then run or test.
SHELL := /bin/bash
.DEFAULT_GOAL := build

# Needed to build and run the exporter.
RUN_PACKAGES := libnetfilter-conntrack-dev pkg-config g++ make python3 ca-certificates
# Needed by the test suite: real namespaces, nftables, the conntrack CLI as a
# reference, promtool, curl to scrape from inside a namespace.
TEST_PACKAGES := conntrack nftables iproute2 prometheus curl util-linux procps

NATIVE_SOURCES := binding.gyp $(wildcard native/*.cc native/*.h)
TS_SOURCES := $(shell find src -name '*.ts') tsconfig.json tsconfig.build.json
ADDON := build/Release/conntrack.node
UNIT_TESTS = $(wildcard test/unit/*.test.ts)
E2E_TESTS = $(wildcard test/e2e/*.test.ts)
TEST_FLAGS := --import tsx --test --test-concurrency=1 --test-timeout=300000

.PHONY: deps run-deps test-deps build run test test-unit test-e2e lint typecheck format clean

run-deps:
	@scripts/check-node.sh
	@scripts/ensure-packages.sh $(RUN_PACKAGES)

test-deps: run-deps
	@scripts/ensure-packages.sh $(TEST_PACKAGES)

# npm ci also builds the addon (package.json has gypfile: true).
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

$(ADDON): $(NATIVE_SOURCES) node_modules/.package-lock.json
	npx node-gyp rebuild
	@touch $@

dist/cli.js: $(TS_SOURCES) node_modules/.package-lock.json
	npx tsc -p tsconfig.build.json
	@chmod +x dist/cli.js
	@touch $@

build: run-deps node_modules/.package-lock.json $(ADDON) dist/cli.js

run: build
	node dist/cli.js $(ARGS)

lint: node_modules/.package-lock.json
	npx eslint .
	npx prettier --check .

typecheck: node_modules/.package-lock.json
	npx tsc -p tsconfig.json --noEmit

test-unit: build
	node $(TEST_FLAGS) $(UNIT_TESTS)

# The end-to-end tests need root: they create network namespaces.
test-e2e: test-deps build
	node $(TEST_FLAGS) $(E2E_TESTS)

test: test-deps build lint typecheck
	node $(TEST_FLAGS) $(UNIT_TESTS) $(E2E_TESTS)

format: node_modules/.package-lock.json
	npx prettier --write .

clean:
	rm -rf build dist
