// The bridge's token, as a browser sees it (SECURITY.md, "Local surfaces"):
// the app opened at the address `qafila ui serve` printed takes the token out
// of the address bar and sends it with every command; a page opened without
// it gets the bridge's refusal and no data; and a page of another site in the
// same browser cannot make the bridge record anything, with or without the
// token in a query string.

import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import type { Request } from '@playwright/test';
import { readState, rpcHeaders, serveUi, stop, type Bridge } from './backend';
import { expect, openApp, test } from './fixtures';

/** Another site, served to this browser by the test (no DNS involved). */
const EVIL = 'http://evil.example';

interface AppStatus {
  initialised: boolean;
}

/** `app_status` asked with the token, as the page would. */
async function appStatus(bridge: Bridge): Promise<AppStatus> {
  const response = await fetch(`${bridge.url}/rpc/app_status`, {
    method: 'POST',
    headers: { ...rpcHeaders(bridge), 'content-type': 'application/json' },
    body: '{}',
  });
  expect(response.status).toBe(200);
  return (await response.json()) as AppStatus;
}

test('the app takes the token from the address and sends it with every call', async ({
  page,
  shared,
}) => {
  const requests: Request[] = [];
  page.on('request', (r) => requests.push(r));

  await openApp(page, shared, 'ar');
  expect(page.url()).not.toContain(shared.token);
  expect(page.url()).not.toContain('#token');

  // A reload of the tab keeps working: the token is in its session storage.
  await page.reload();
  await expect(page.getByRole('navigation')).toBeVisible();

  const calls = requests.filter((r) => new URL(r.url()).pathname.startsWith('/rpc/'));
  expect(calls.length).toBeGreaterThan(1);
  for (const call of calls) {
    expect(await call.headerValue('authorization'), call.url()).toBe(`Bearer ${shared.token}`);
  }
  // Never in an address, nor in a Referer.
  for (const request of requests) {
    expect(request.url()).not.toContain(shared.token);
    expect((await request.headerValue('referer')) ?? '').not.toContain(shared.token);
  }
});

test('a page opened without the token gets no data and says what to open', async ({
  page,
  shared,
}) => {
  const answers: number[] = [];
  page.on('response', (r) => {
    if (new URL(r.url()).pathname.startsWith('/rpc/')) answers.push(r.status());
  });
  await page.goto(shared.url);
  await expect(page.getByTestId('error-alert')).toHaveAttribute('data-code', 'token_required');
  await expect(page.getByTestId('error-alert')).toContainText('#token=');
  expect(answers.length).toBeGreaterThan(0);
  expect(answers.every((status) => status === 401)).toBe(true);
  await expect(page.getByRole('navigation')).toHaveCount(0);
});

test('another site in the same browser cannot make the bridge record anything', async ({
  page,
}) => {
  // A device not yet set up: the attack tries to name it.
  const bridge = await serveUi(mkdtempSync(join(readState().root, 'unnamed-')));
  try {
    const target = `${bridge.url}/rpc/init_device`;
    await page.route(`${EVIL}/**`, (route) =>
      route.fulfill({
        contentType: 'text/html',
        body: `<!doctype html><title>win a prize</title>
<form id="plain" method="post" enctype="text/plain" action="${target}">
  <input name='{"name":"evil","x":"' value='"}'>
</form>
<script>
  window.tries = Promise.allSettled([
    fetch(${JSON.stringify(target)}, { method: 'POST', mode: 'no-cors', body: '{"name":"evil"}' }),
    fetch(${JSON.stringify(target)}, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"name":"evil"}',
    }),
    fetch(${JSON.stringify(target)}, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer ${'0'.repeat(64)}' },
      body: '{"name":"evil"}',
    }),
  ]).then((all) =>
    all.map((r) => (r.status === 'fulfilled' ? \`\${r.value.type} \${r.value.status}\` : 'failed')),
  );
</script>`,
      }),
    );
    await page.goto(`${EVIL}/`);
    // No answer the page can read: a no-cors answer is opaque, and the
    // CORS preflight of the others is refused (or the browser blocks the
    // request to this machine outright).
    const outcomes = await page.evaluate(
      () => (window as unknown as { tries: Promise<string[]> }).tries,
    );
    expect(outcomes).toHaveLength(3);
    for (const outcome of outcomes) expect(['opaque 0', 'failed']).toContain(outcome);
    expect(outcomes.slice(1)).toEqual(['failed', 'failed']);

    // A form posts across sites without a preflight; the bridge refuses it.
    await page.locator('#plain').evaluate((form: HTMLFormElement) => form.submit());
    await page.waitForURL(target);
    await expect(page.locator('body')).toContainText('forbidden_origin');

    // The token itself, leaked into a link on another site: never read there.
    await page.goto(`${EVIL}/`);
    await page.locator('#plain').evaluate((form: HTMLFormElement, token: string) => {
      form.action = `${form.action}?token=${token}`;
      form.submit();
    }, bridge.token);
    await page.waitForURL(/\/rpc\/init_device\?token=/);
    await expect(page.locator('body')).toContainText('forbidden_origin');

    expect((await appStatus(bridge)).initialised).toBe(false);
  } finally {
    await stop(bridge.pid);
  }
});
