// Browser end-to-end tests: Debian's Chromium (no browser is downloaded)
// driving the built UI served by the real `qafila ui serve`, over a real
// SQLite store synced through a real relay (e2e/global-setup.ts). Each test
// runs at phone and laptop width; the specs loop over Arabic and English.
//
// Before `npm run e2e`: `cargo build -p qafila-cli` and `npm run build`
// (`make test` does both first).

import { defineConfig } from '@playwright/test';
import { CHROMIUM, REPO_DIR } from './e2e/backend';

export default defineConfig({
  testDir: './e2e',
  testMatch: '*.spec.ts',
  globalSetup: './e2e/global-setup.ts',
  globalTeardown: './e2e/global-teardown.ts',
  // CI has two cores: a browser and a backend per worker.
  workers: 2,
  fullyParallel: true,
  // A flaky test must show, not pass on its second try.
  retries: 0,
  forbidOnly: Boolean(process.env.CI),
  timeout: 60_000,
  expect: { timeout: 10_000 },
  reporter: 'list',
  // Traces and failure screenshots; the reviewers' screenshots go to
  // target/screenshots (e2e/fixtures.ts, `snap`).
  outputDir: `${REPO_DIR}/target/playwright`,
  use: {
    browserName: 'chromium',
    headless: true,
    launchOptions: {
      executablePath: CHROMIUM,
      // No sandbox when CI runs as root in a container; no GPU on the machines.
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    },
    // The browser's own language stays out of it: the app's setting decides.
    locale: 'en-US',
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
  },
  projects: [
    {
      name: 'phone',
      use: { viewport: { width: 360, height: 740 }, deviceScaleFactor: 2, hasTouch: true },
    },
    {
      name: 'laptop',
      use: { viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 },
      // The camera is a phone's way to scan; its tests run at phone width only.
      testIgnore: 'camera.spec.ts',
    },
  ],
});
