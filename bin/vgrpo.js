#!/usr/bin/env node
// The `vgrpo` command: runs src/cli/main.ts through the Node loader in bin/register.js.
import './register.js';

const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
