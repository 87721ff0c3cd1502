#!/usr/bin/env node
// Launcher for the `samsa` command: runs bin/samsa.ts through tsx, so `npx samsa` works from a
// checkout after `npm ci` with no build step.
import { register } from 'tsx/esm/api';

register();
await import('./samsa.ts');
