#!/usr/bin/env node
// Entry of `npx scheduled-jobs` (package.json "bin"). The CLI is TypeScript run through tsx, the
// project's devDependency (installed by `npm ci`): no build step, and the CLI always runs the same
// source as the stack it operates (bin/config.ts, lambdas/shared). See docs/operator-cli.md.
'use strict';
let register;
try {
  ({ register } = require('tsx/cjs/api'));
} catch {
  process.stderr.write('scheduled-jobs: tsx is not installed. Run `npm ci` in the project (with its devDependencies, not --omit=dev).\n');
  process.exit(2);
}
register();
require('./main.ts')
  .main()
  .catch((e) => {
    process.stderr.write(`scheduled-jobs: ${e && e.stack ? e.stack : e}\n`);
    process.exitCode = 1;
  });
