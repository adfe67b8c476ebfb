#!/usr/bin/env node
/* global process */
// `tsc` emits only JavaScript; files that modules read at run time next to themselves
// (e.g. src/stages/health/status.html) are copied into the build output here:
//   node deploy/copy-assets.mjs [src] [dist]
import { cpSync, statSync } from 'node:fs'

const [from = 'src', to = 'dist'] = process.argv.slice(2)
cpSync(from, to, {
  recursive: true,
  filter: source => statSync(source).isDirectory() || !/\.(ts|mts|cts)$/.test(source)
})
