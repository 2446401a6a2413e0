#!/usr/bin/env node
// Compiles the deployable contracts with the pinned solc-js and fixed settings into
// artifacts/<Name>.json (ABI, creation and runtime bytecode). With --check, compiles
// and fails if the committed artifacts differ, which is what CI runs.
'use strict';
const fs = require('fs');
const path = require('path');
const solc = require('solc');

const ROOT = path.resolve(__dirname, '..');
const SOURCES = path.join(ROOT, 'solidity', 'src');
const ARTIFACTS = path.join(ROOT, 'artifacts');
// The contracts a deployment needs (DevToken: devnets and tests only), and the interfaces
// and libraries the node binds to.
const DEPLOYABLE = ['Primary', 'Secondary', 'PoseidonT5', 'PrecompileVerifier', 'DevToken'];
const EXPECTED_COMPILER = '0.8.30+commit.73712a01.Emscripten.clang';
const SETTINGS = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: 'cancun',
  // No metadata hash: artifacts then depend on the sources only, not on file paths or
  // comments' bytes, and a fresh compile reproduces them exactly.
  metadata: { bytecodeHash: 'none', appendCBOR: false },
  outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
};

function listSources(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return listSources(full);
    return entry.name.endsWith('.sol') ? [full] : [];
  });
}

function compile() {
  if (solc.version() !== EXPECTED_COMPILER) {
    throw new Error(`solc-js is ${solc.version()}, expected ${EXPECTED_COMPILER}; run npm ci`);
  }
  const sources = {};
  for (const file of listSources(SOURCES).sort()) {
    const name = path.relative(SOURCES, file).split(path.sep).join('/');
    sources[name] = { content: fs.readFileSync(file, 'utf8') };
  }
  const output = JSON.parse(solc.compile(JSON.stringify({ language: 'Solidity', sources, settings: SETTINGS })));
  const errors = (output.errors || []).filter((e) => e.severity === 'error');
  for (const e of output.errors || []) console.error(e.formattedMessage);
  if (errors.length > 0) throw new Error(`${errors.length} compilation error(s)`);

  const artifacts = {};
  for (const [file, contracts] of Object.entries(output.contracts)) {
    for (const [name, out] of Object.entries(contracts)) {
      if (!DEPLOYABLE.includes(name) && !file.startsWith('interfaces/')) continue;
      artifacts[name] = {
        contractName: name,
        sourceName: file,
        compiler: EXPECTED_COMPILER,
        settings: { optimizer: SETTINGS.optimizer, evmVersion: SETTINGS.evmVersion },
        abi: out.abi,
        bytecode: '0x' + out.evm.bytecode.object,
        deployedBytecode: '0x' + out.evm.deployedBytecode.object,
      };
    }
  }
  for (const name of DEPLOYABLE) {
    if (!artifacts[name]) throw new Error(`no contract ${name} in the sources`);
    const size = (artifacts[name].deployedBytecode.length - 2) / 2;
    if (size > 24576) throw new Error(`${name} is ${size} bytes, over the 24 KiB code limit`);
  }
  return artifacts;
}

function render(artifact) {
  return JSON.stringify(artifact, null, 2) + '\n';
}

function main() {
  const check = process.argv.includes('--check');
  const artifacts = compile();
  const names = Object.keys(artifacts).sort();
  if (check) {
    const committed = fs.readdirSync(ARTIFACTS).filter((f) => f.endsWith('.json')).sort();
    const expected = names.map((n) => `${n}.json`);
    let stale = JSON.stringify(committed) !== JSON.stringify(expected);
    if (stale) console.error(`artifact set differs: committed ${committed}, compiled ${expected}`);
    for (const name of names) {
      const file = path.join(ARTIFACTS, `${name}.json`);
      if (!fs.existsSync(file) || fs.readFileSync(file, 'utf8') !== render(artifacts[name])) {
        console.error(`artifacts/${name}.json differs from a fresh compile`);
        stale = true;
      }
    }
    if (stale) {
      console.error('run `npm run compile` in contracts/ and commit the artifacts');
      process.exit(1);
    }
    console.log(`${names.length} artifacts match a fresh compile with solc ${solc.version()}`);
    return;
  }
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  for (const f of fs.readdirSync(ARTIFACTS)) if (f.endsWith('.json')) fs.unlinkSync(path.join(ARTIFACTS, f));
  for (const name of names) fs.writeFileSync(path.join(ARTIFACTS, `${name}.json`), render(artifacts[name]));
  for (const name of DEPLOYABLE) {
    console.log(`${name}: ${(artifacts[name].deployedBytecode.length - 2) / 2} bytes of runtime code`);
  }
}

main();
