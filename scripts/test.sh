#!/usr/bin/env bash
# The test command of README.md: installs what the tests need on a fresh
# Debian machine, then runs every Go test. CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# bubblewrap: the code sandbox's preferred isolation (tests also cover the
# namespace fallback). Best effort: tests that need it skip when it is absent.
if ! command -v bwrap >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
	(as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap) >/dev/null 2>&1 ||
		echo "test.sh: could not install bubblewrap; sandbox tests use the namespace fallback" >&2
fi

# clang: compiles the CUDA kernels (backend/cuda/kernels) for a real GPU
# architecture, since CI has no GPU and no CUDA toolkit. Best effort: the
# test skips when clang is absent.
if ! command -v clang++ >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
	(as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang) >/dev/null 2>&1 ||
		echo "test.sh: could not install clang; the CUDA kernel compile test will skip" >&2
fi

# Hugging Face's Rust tokenizer, prebuilt for Node, for the tokenizer's
# differential test (tokenizer/testdata/hf). Skipped by the test when absent.
if command -v npm >/dev/null 2>&1 && [ -f tokenizer/testdata/hf/package.json ] && [ ! -d tokenizer/testdata/hf/node_modules ]; then
	(cd tokenizer/testdata/hf && npm install --no-audit --no-fund --silent) ||
		echo "test.sh: npm install failed; the HF differential tokenizer test will skip" >&2
fi

# Debian's chromium: the dashboard's browser test (dashboard/browser_test.go)
# drives it headless. Best effort: the test skips when it is absent.
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
	(as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 ||
		echo "test.sh: could not install chromium; the dashboard browser test will skip" >&2
fi

# The official openai npm client (version pinned in package.json), for the
# server's compatibility test (serve/openai_test.go). Skipped when absent.
if command -v npm >/dev/null 2>&1 && [ -f serve/testdata/openai/package.json ] && [ ! -d serve/testdata/openai/node_modules ]; then
	(cd serve/testdata/openai && npm install --no-audit --no-fund --silent) ||
		echo "test.sh: npm install failed; the openai client test will skip" >&2
fi

export CGO_ENABLED=0
# Formatting and import grouping (standard library, third-party, this
# module: goimports -local github.com/r1go/r1) are checked, not hoped for;
# internal/importgroups' test checks the grouping with the other tests.
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './tokenizer/testdata/*'))
if [ -n "$unformatted" ]; then
	echo "test.sh: not gofmt-formatted:" $unformatted >&2
	exit 1
fi
go vet ./...
go vet -tags cuda ./...
go test -timeout 60m ./...
