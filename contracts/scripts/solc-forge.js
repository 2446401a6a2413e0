#!/usr/bin/env node
// Answers forge as the `solc` binary would, through the pinned solc-js: forge asks for
// `--version`, then passes standard JSON on stdin. This keeps forge off the network (it
// would otherwise download a native solc) and compiles tests with the very compiler that
// builds the committed artifacts.
'use strict';
const fs = require('fs');
const path = require('path');
const solc = require('solc');

const args = process.argv.slice(2);
if (args.includes('--version')) {
  process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
  process.exit(0);
}
const chunks = [];
process.stdin.on('data', (d) => chunks.push(d));
process.stdin.on('end', () => {
  const readImport = (p) => {
    try {
      return { contents: fs.readFileSync(path.resolve(p), 'utf8') };
    } catch (e) {
      return { error: `cannot read ${p}: ${e.message}` };
    }
  };
  process.stdout.write(solc.compile(Buffer.concat(chunks).toString('utf8'), { import: readImport }));
});
