#!/usr/bin/env node
'use strict';
// The `cs` command: runs the compiled CLI (npm run build first); no TypeScript at start-up.
require('../dist/src/cli/main.js').main(process.argv);
