// Scanning with the camera, on a device of its own: Chromium's fake camera
// films a real demo card (its QR code as the card sheet prints it, e2e/camera.ts)
// and the app's bundled WebAssembly reader decodes it, under the desktop app's
// own Content-Security-Policy; the household shows as at a scanner, and the
// basket is handed out. And a camera the browser refuses. Each test launches a
// Chromium of its own with the fake-camera flags, so no other test has them.

import type { Browser, Page, Request } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_DIR } from './backend';
import { printedQr, writeY4m } from './camera';
import {
  LANGS,
  chooseSite,
  digitsFor,
  expect,
  expectNoHorizontalOverflow,
  ftl,
  openApp,
  snap,
  startIn,
  test as base,
  VILLAGE,
} from './fixtures';

/** The CSP the Tauri shell serves the UI with (src-tauri/tauri.conf.json). */
const CSP: string = JSON.parse(readFileSync(join(REPO_DIR, 'src-tauri', 'tauri.conf.json'), 'utf8'))
  .app.security.csp;

type Camera = { video: string } | 'refused';

const test = base.extend<{
  /** A page in a Chromium of its own whose camera films `video`, or is refused. */
  pageWithCamera: (camera: Camera) => Promise<Page>;
}>({
  // Playwright records traces and failure screenshots of this browser too.
  pageWithCamera: async (
    { playwright, launchOptions, viewport, deviceScaleFactor, hasTouch, locale, lang },
    use,
  ) => {
    const browsers: Browser[] = [];
    await use(async (camera) => {
      const flags =
        camera === 'refused'
          ? ['--use-fake-device-for-media-stream', '--deny-permission-prompts']
          : [
              '--use-fake-device-for-media-stream',
              '--use-fake-ui-for-media-stream',
              `--use-file-for-fake-video-capture=${camera.video}`,
            ];
      const browser = await playwright.chromium.launch({
        ...launchOptions,
        args: [...(launchOptions.args ?? []), ...flags],
      });
      browsers.push(browser);
      const context = await browser.newContext({ viewport, deviceScaleFactor, hasTouch, locale });
      const page = await context.newPage();
      await startIn(page, lang);
      // Keeps every stream the app is given, to check that it stops them.
      await page.addInitScript(() => {
        const devices = navigator.mediaDevices;
        if (!devices) return;
        const streams: MediaStream[] = [];
        (window as unknown as { cameraStreams: MediaStream[] }).cameraStreams = streams;
        const open = devices.getUserMedia.bind(devices);
        devices.getUserMedia = async (constraints) => {
          const stream = await open(constraints);
          streams.push(stream);
          return stream;
        };
      });
      return page;
    });
    for (const browser of browsers) await browser.close();
  },
});

/** Serves the app's page with the desktop shell's CSP, as the Tauri webview gets it. */
async function withTauriCsp(page: Page, url: string): Promise<void> {
  await page.route(`${url}/`, async (route) => {
    const response = await route.fetch();
    await route.fulfill({
      response,
      headers: { ...response.headers(), 'content-security-policy': CSP },
    });
  });
}

/** The state of every camera track the page was given. */
function trackStates(page: Page): Promise<string[]> {
  return page.evaluate(() =>
    (window as unknown as { cameraStreams: MediaStream[] }).cameraStreams.flatMap((s) =>
      s.getTracks().map((t) => t.readyState),
    ),
  );
}

for (const lang of LANGS) {
  test.describe(`camera (${lang})`, () => {
    test.use({ lang });

    test('a card read by the camera: the household shows, the basket goes out', async ({
      pageWithCamera,
      fresh,
    }, testInfo) => {
      const card = fresh.cards[0];
      const video = join(fresh.dataDir, '..', 'camera.y4m');
      writeY4m(video, printedQr(fresh.dataDir, card.number));
      const page = await pageWithCamera({ video });

      // Everything the page loads, and anything the CSP refuses.
      const requests: Request[] = [];
      page.on('request', (r) => requests.push(r));
      const refused: string[] = [];
      page.on('console', (m) => {
        if (/Content.Security.Policy/i.test(m.text())) refused.push(m.text());
      });
      await withTauriCsp(page, fresh.url);

      // The decoder's .wasm waits until the live picture has been photographed.
      let releaseWasm: () => void = () => {};
      const wasmHeld = new Promise<void>((r) => (releaseWasm = r));
      await page.route(/\.wasm$/, async (route) => {
        await wasmHeld;
        await route.fallback();
      });

      await openApp(page, fresh, lang);
      await chooseSite(page);
      await page.getByTestId('camera-button').click();
      const view = page.getByTestId('camera-view');
      await expect(view).toBeVisible();
      await expect(page.getByTestId('camera-status')).toHaveText(ftl(lang, 'camera-starting'));
      // The card's picture is playing.
      await expect
        .poll(() =>
          page
            .getByTestId('camera-video')
            .evaluate((v: HTMLVideoElement) => v.readyState >= 2 && v.videoWidth === 640),
        )
        .toBe(true);
      // While the camera shows, the scanner's input does not take the focus (a
      // phone would open its keyboard over the picture).
      await expect(page.getByTestId('scan-input')).not.toBeFocused();
      await expectNoHorizontalOverflow(page);
      await snap(page, testInfo, lang, 'camera-live');

      releaseWasm();

      // Read (or, if the decoder failed, said so): the same `scan` a wedge
      // scanner's text makes, and the same result.
      const result = page.getByTestId('result-panel');
      const problem = page.getByTestId('camera-problem');
      await expect(result.or(problem)).toBeVisible();
      await expect(problem).toHaveCount(0);
      const scans = requests.filter((r) => r.url() === `${fresh.url}/rpc/scan`);
      expect(scans.map((r) => r.postDataJSON())).toEqual([{ input: card.text, site: VILLAGE }]);
      await expect(result).toHaveAttribute('data-status', 'ok');
      await expect(result).toHaveAttribute('data-tone', 'ok');
      await expect(page.getByTestId('result-headline')).toHaveText(ftl(lang, 'status-ok'));
      await expect(page.getByTestId('result-name')).toHaveText(card.name);
      await expect(page.getByTestId('result-household-size')).toHaveText(
        digitsFor(lang, card.householdSize),
      );
      await expect(page.getByTestId('result-card-number')).toHaveText(card.number);
      // The camera is off again: its view is gone and its one track stopped.
      await expect(view).toHaveCount(0);
      expect(await trackStates(page)).toEqual(['ended']);
      await expect(page.getByTestId('camera-button')).toBeVisible();
      await expectNoHorizontalOverflow(page);
      await snap(page, testInfo, lang, 'camera-scan-ok');

      await page.getByTestId('basket-button').click();
      await expect(page.getByTestId('recorded-panel')).toHaveAttribute('data-phase', 'open');
      await expect(page.getByTestId('undo-button')).toBeVisible();
      await expect(page.getByTestId('scan-input')).toBeFocused();

      // The decoder came from the app itself: nothing left the app's origin,
      // and the CSP of the desktop shell let the WebAssembly compile.
      const urls = requests.map((r) => r.url());
      expect(urls.filter((u) => !u.startsWith(`${fresh.url}/`))).toEqual([]);
      expect(urls.filter((u) => /\/assets\/zxing_reader-[\w-]+\.wasm$/.test(u))).toHaveLength(1);
      expect(refused).toEqual([]);
    });

    test('a camera the browser refuses: what to do, and the scanner input still works', async ({
      pageWithCamera,
      shared,
    }, testInfo) => {
      const page = await pageWithCamera('refused');
      await openApp(page, shared, lang);
      await chooseSite(page);
      await page.getByTestId('camera-button').click();

      const problem = page.getByTestId('camera-problem');
      await expect(problem).toHaveAttribute('data-problem', 'denied');
      await expect(problem).toHaveText(ftl(lang, 'camera-problem-denied'));
      await expect(page.getByTestId('camera-view')).toHaveCount(0);
      // Tapping again is how to retry once the camera is allowed.
      await expect(page.getByTestId('camera-button')).toBeVisible();
      await expect(page.getByTestId('scan-input')).toBeFocused();
      await expectNoHorizontalOverflow(page);
      await snap(page, testInfo, lang, 'camera-refused');
    });
  });
}
