// The volunteer's queue, timed: 100 families at one phone (the e2e tests'
// phone: 360 × 740, touch) with a wedge scanner, in Arabic and in English,
// each language on a device of its own (the `fresh` demo convoy plus 120
// families carded for the benchmark: bench/device.ts). Per family the scanner
// types the card key by key and Enter into whatever has the focus after the
// last tap (nothing focuses the scan input for it), and the volunteer taps the
// standard basket as soon as the verdict offers it.
//
// Reported per language (bench/report.ts): scan to verdict and tap to ready
// for the next card (p50/p95, measured in the page: bench/probe.ts), scans,
// taps and keys per family, and families misattributed, checked afterwards in
// the device's own store (bench/attribution.ts). Only misattribution fails the
// run; timing is reported, not asserted.
//
// Run with `make bench-queue` (it builds the CLI and the UI first).

import type { Page } from '@playwright/test';
import { serveUi, stop } from '../e2e/backend';
import { LANGS, chooseSite, expect, openApp, test } from '../e2e/fixtures';
import { checkAttribution, siteDay } from './attribution';
import { BYSTANDERS, QUEUE_LENGTH, loadStock, registerFamilies, type Family } from './device';
import { PROBE_TIMEOUT_MS, installQueueProbe, type Timing } from './probe';
import { saveLanguage, summarise, type FamilyRow } from './report';

/**
 * Pause between two keys of the scanner, on top of the browser's own round
 * trip per key: scanners type a key every 5–30 ms. The gap the page saw is
 * reported (`keyGapMeanMs`, `keyGapMaxMs`).
 */
const KEY_DELAY_MS = Number(process.env.QAFILA_BENCH_KEY_DELAY_MS ?? '5');

/**
 * Serves `queue` on the scan screen, one family after the other, and returns
 * what the page measured for each, and the card numbers of the families
 * whose verdict named someone else.
 */
async function serveQueue(page: Page, queue: Family[]): Promise<{ rows: FamilyRow[]; namedOther: Set<string> }> {
  const basket = page.getByTestId('basket-button');
  const rows: FamilyRow[] = [];
  const namedOther = new Set<string>();
  for (const [i, family] of queue.entries()) {
    await page.evaluate(() => window.__qafilaQueueProbe!.startFamily());
    await page.keyboard.type(family.text, { delay: KEY_DELAY_MS });
    await page.keyboard.press('Enter');
    const verdict = await page.evaluate(async () => {
      const probe = window.__qafilaQueueProbe!;
      const seen = await probe.verdict();
      // Armed before the tap, which is sent only once this returns.
      probe.armReady();
      return seen;
    });
    if (verdict.name !== null && verdict.name !== family.name) namedOther.add(family.number);
    // The volunteer trusts the screen: whenever it offers the basket they
    // tap it, even under a wrong name (the check afterwards counts that
    // family as misattributed).
    let ready: Timing | null = null;
    if (verdict.status === 'ok' && (await basket.count()) > 0) {
      await basket.tap();
      ready = await page.evaluate(() => window.__qafilaQueueProbe!.ready());
    }
    const counts = await page.evaluate(() => window.__qafilaQueueProbe!.counts());
    rows.push({
      place: i + 1,
      card: family.number,
      householdSize: family.householdSize,
      status: verdict.status,
      rightName: verdict.name === family.name,
      verdictMs: verdict.ms,
      verdictDomMs: verdict.domMs,
      verdictRpcMs: verdict.rpcMs,
      readyMs: ready?.ms ?? null,
      readyDomMs: ready?.domMs ?? null,
      readyRpcMs: ready?.rpcMs ?? null,
      ...counts,
    });
  }
  return { rows, namedOther };
}

for (const lang of LANGS) {
  test.describe(`queue (${lang})`, () => {
    test.use({ lang });

    test(`${QUEUE_LENGTH} families, one scan and one tap each`, async ({ page, fresh }, testInfo) => {
      // The CLI writes to the device with its bridge stopped, and a new
      // bridge starts after (bench/device.ts says why).
      await stop(fresh.pid);
      const families = await test.step('register and card the families, load the truck', async () => {
        const all = await registerFamilies(fresh, QUEUE_LENGTH + BYSTANDERS);
        await loadStock(fresh);
        return all;
      });
      // The bystanders are spread through the list (every sixth family), so
      // a scan that lands on a neighbour's record would show on one of them.
      const every = Math.floor(families.length / BYSTANDERS);
      const bystanders = families.filter((_, i) => i % every === every - 1);
      const queue = families.filter((_, i) => i % every !== every - 1);
      expect(queue).toHaveLength(QUEUE_LENGTH);
      expect(bystanders).toHaveLength(BYSTANDERS);
      const firstDay = await siteDay(fresh);

      const bridge = await serveUi(fresh.dataDir);
      let served: Awaited<ReturnType<typeof serveQueue>>;
      try {
        await page.addInitScript(installQueueProbe, PROBE_TIMEOUT_MS);
        await openApp(page, { ...fresh, ...bridge }, lang);
        await chooseSite(page);
        served = await test.step(`serve ${QUEUE_LENGTH} families`, () => serveQueue(page, queue));
      } finally {
        // Before the checks, which write to the device.
        await stop(bridge.pid);
      }

      const attribution = await test.step('check who got what, in the device store', async () =>
        checkAttribution(fresh, queue, bystanders, { from: firstDay, to: await siteDay(fresh) }, served.namedOther),
      );
      const summary = summarise(served.rows, attribution);
      saveLanguage({
        lang,
        viewport: page.viewportSize(),
        keyDelayMs: KEY_DELAY_MS,
        families: queue.length,
        bystanders: bystanders.length,
        summary,
        attribution,
        rows: served.rows,
      });
      await testInfo.attach('summary', { body: JSON.stringify(summary, null, 2), contentType: 'application/json' });
      // The one hard requirement: every basket went to the family whose card
      // was scanned, and to nobody else.
      expect(attribution, 'families misattributed').toMatchObject({
        queueWrong: [],
        bystandersServed: [],
        extraHouseholds: 0,
        misattributed: 0,
      });
    });
  });
}
