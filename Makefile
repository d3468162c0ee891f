# ktape: `make demo` and `make test` work on a fresh Debian machine, as root,
# with nothing else typed: both install what is missing first.

CARGO   ?= cargo
BIN     := target/release
PYTHON  := .venv/bin/python
export CARGO_TERM_COLOR ?= never

.PHONY: all deps build test test-rust test-e2e demo bench lint fmt clean

all: build

deps:
	@scripts/install-deps.sh

# One release build of every target: binaries, tests and benches share one
# feature resolution, so `cargo test` below reuses every artifact. Building
# only --bins resolves features without the dev-dependencies, and arrow and
# parquet would then be compiled twice.
build: deps
	$(CARGO) build --release --workspace --all-targets

# Rust tests run in the release profile so they reuse what `build` compiled
# (a second, debug build of arrow/parquet costs minutes on two cores).
test-rust: build
	$(CARGO) test --release --workspace

test-e2e: build
	KTAPE_BIN=$(CURDIR)/$(BIN) $(PYTHON) -m pytest -v -rA tests/

# lint first: a format or clippy failure is found in seconds once built.
test: lint test-rust test-e2e

demo: build
	@scripts/demo.sh

bench: build
	@scripts/bench.sh

lint: build
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
	rm -rf .venv demo.parquet demo-heatmap.svg demo-flame.svg demo.html demo.pftrace bench-out
