# Qafila's two commands: `make run` opens the app, `make test` checks
# everything CI checks. Both install what is missing first.
SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(PATH)

.PHONY: run test deps ui lint test-rust test-ui test-browser bench-queue

# The app on a demo convoy with its own local relay (see scripts/run-demo.sh).
run: deps ui
	cargo build -p qafila-desktop -p qafila-cli
	./scripts/run-demo.sh

test: deps ui lint
	cargo build --workspace --all-targets --locked
	$(MAKE) test-ui test-browser test-rust

deps:
	./scripts/install-deps.sh

# The shell embeds ui/dist at compile time, so the UI is built before any
# cargo command that compiles qafila-desktop.
ui:
	cd ui && npm run build

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	./scripts/check-dependency-rules.sh

test-ui:
	cd ui && npm test

# Playwright driving Debian's Chromium (headless) against the built UI served by
# the real backend: `qafila ui serve` over a demo convoy and a relay it starts.
# Needs target/debug/qafila and ui/dist (`test` builds both first). Screenshots
# of every main screen land in target/screenshots/.
test-browser:
	cd ui && npm run e2e

test-rust:
	cargo test --workspace --locked --no-fail-fast

# Not part of `test`: the volunteer's queue timed in the browser (100 families
# with a wedge scanner at phone width, Arabic and English; ui/bench/). Prints a
# table and writes target/bench/queue.json; fails only if a basket went to the
# wrong family, never on timing.
bench-queue: ui
	cargo build -p qafila-cli --locked
	cd ui && npm run bench:queue
