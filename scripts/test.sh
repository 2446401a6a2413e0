#!/usr/bin/env bash
# The whole test suite. Installs nothing beyond what cargo fetches; see README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --locked "$@"
