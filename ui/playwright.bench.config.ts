// The queue benchmark (bench/queue.bench.ts, `make bench-queue`): the e2e
// tests' browser, backend and phone, but its own folder and settings, so
// `npm run e2e` and `make test` never run it. One worker, so the two
// languages are timed one after the other and not against each other on a
// two-core machine; no traces, which would slow what is being timed.
//
// Before `npm run bench:queue`: `cargo build -p qafila-cli` and `npm run build`.

import { defineConfig } from '@playwright/test';
import { REPO_DIR } from './e2e/backend';
import e2e from './playwright.config';

const phone = e2e.projects?.find((p) => p.name === 'phone');
if (!phone) throw new Error('playwright.config.ts has no phone project');

export default defineConfig({
  testDir: './bench',
  testMatch: '*.bench.ts',
  globalSetup: './bench/global-setup.ts',
  globalTeardown: './bench/global-teardown.ts',
  workers: 1,
  fullyParallel: false,
  retries: 0,
  forbidOnly: Boolean(process.env.CI),
  // Registering 120 families, 100 scans of 175 keys, and the checks after.
  timeout: 20 * 60_000,
  expect: { timeout: 10_000 },
  reporter: 'list',
  outputDir: `${REPO_DIR}/target/playwright-bench`,
  use: {
    ...e2e.use,
    trace: 'off',
    screenshot: 'only-on-failure',
  },
  projects: [{ name: 'phone', use: phone.use }],
});
