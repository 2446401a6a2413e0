#!/usr/bin/env bash
# The whole test suite: the contracts (artifacts reproduced by the pinned solc-js, then the
# Solidity tests under forge), then every Rust crate. Installs the pinned npm tools itself
# (contracts/package-lock.json, tools/package-lock.json) the first time, so a fresh machine needs only Rust and Node.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== contracts: npm tools (solc-js, forge), pinned"
if [ ! -x contracts/node_modules/.bin/forge ] || [ contracts/package-lock.json -nt contracts/node_modules/.package-lock.json ]; then
  npm ci --prefix contracts --no-audit --no-fund
fi

echo "== chain test tools: anvil and cast, pinned (tools/package-lock.json)"
if [ ! -x tools/node_modules/.bin/anvil ] || [ tools/package-lock.json -nt tools/node_modules/.package-lock.json ]; then
  npm ci --prefix tools --no-audit --no-fund
fi
# The tests that drive anvil and cast find them here; a missing tool fails those tests.
export MANYFOLD_ANVIL="$PWD/tools/node_modules/.bin/anvil"
export MANYFOLD_CAST="$PWD/tools/node_modules/.bin/cast"

echo "== contracts: committed artifacts match a fresh compile"
npm run --prefix contracts --silent check

echo "== contracts: Solidity tests (forge, compiling through solc-js)"
(cd contracts && ./node_modules/.bin/forge test)

echo "== rust"
cargo test --workspace --locked "$@"
