// Debian's Chromium for the console's browser tests (driven by playwright-core). Without it the
// tests skip, loudly; under CI=true a missing browser fails the run (.ci/run installs it).
import fs from 'node:fs';

export const CHROMIUM = process.env.SAMSA_CHROMIUM ?? '/usr/bin/chromium';
export const chromiumAvailable = fs.existsSync(CHROMIUM);
if (!chromiumAvailable) {
  const msg = `console browser test: no Chromium at ${CHROMIUM} (apt-get install chromium, or set SAMSA_CHROMIUM)`;
  if (process.env.CI === 'true') throw new Error(`${msg} — required under CI=true`);
  console.warn(`\n*** SKIPPED: ${msg} ***\n`);
}
