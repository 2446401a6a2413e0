#!/usr/bin/env bash
# The whole test suite: the contracts (artifacts reproduced by the pinned solc-js, then the
# Solidity tests under forge), then every Rust crate. Installs the pinned npm tools itself
# (contracts/package-lock.json) the first time, so a fresh machine needs only Rust and Node.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== contracts: npm tools (solc-js, forge), pinned"
if [ ! -x contracts/node_modules/.bin/forge ] || [ contracts/package-lock.json -nt contracts/node_modules/.package-lock.json ]; then
  npm ci --prefix contracts --no-audit --no-fund
fi

echo "== contracts: committed artifacts match a fresh compile"
npm run --prefix contracts --silent check

echo "== contracts: Solidity tests (forge, compiling through solc-js)"
(cd contracts && ./node_modules/.bin/forge test)

echo "== rust"
cargo test --workspace --locked "$@"
