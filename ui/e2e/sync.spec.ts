// The sync chip in the header: records wait after a hand-out; a sync from the
// command line sends them to the relay (the chip follows by polling
// `sync_status`), and a tap on the chip syncs through the app itself.

import { qafila, qafilaJson, rpcHeaders } from './backend';
import {
  LANGS,
  chooseSite,
  expect,
  expectNoHorizontalOverflow,
  ftl,
  openApp,
  scanCard,
  snap,
  test,
  VILLAGE,
} from './fixtures';

interface SyncChip {
  state: string;
  pending: number;
  last_synced_ms?: number;
}

interface DayStatus {
  items: { item: string; loaded: string; handed_out: string }[];
}

for (const lang of LANGS) {
  test.describe(`sync chip (${lang})`, () => {
    test.use({ lang });

    test('pending after a hand-out, none after a sync', async ({ page, request, fresh }, testInfo) => {
      const chip = page.getByTestId('sync-chip');
      const pending = page.getByTestId('sync-pending');
      const status = async () =>
        (await (
          await request.post(`${fresh.url}/rpc/sync_status`, { data: {}, headers: rpcHeaders(fresh) })
        ).json()) as SyncChip;

      await openApp(page, fresh, lang);
      await chooseSite(page);
      // The demo synced everything it made; the app has not synced since it started.
      await expect(chip).toHaveAttribute('data-state', 'never');
      await expect(pending).toHaveCount(0);

      await scanCard(page, fresh.cards[0].text);
      await expect(page.getByTestId('result-panel')).toHaveAttribute('data-status', 'ok');
      await page.getByTestId('basket-button').click();
      await expect(page.getByTestId('recorded-panel')).toBeVisible();

      // The check-in and the basket's hand-outs wait to leave the device.
      const before = await status();
      expect(before.pending).toBeGreaterThan(0);
      await expect(pending).toBeVisible({ timeout: 15_000 });
      await expect(chip).toContainText(ftl(lang, 'sync-state-never'));
      await expectNoHorizontalOverflow(page);

      // Another process syncs the same store (as `qafila sync --watch` would);
      // the bridge has no push, so the chip learns it from its next poll.
      await qafila(['--data-dir', fresh.dataDir, 'sync']);
      expect((await status()).pending).toBe(0);
      await expect(pending).toHaveCount(0, { timeout: 15_000 });

      // A tap syncs through the app: the chip says synced, and when.
      await chip.click();
      await expect(chip).toHaveAttribute('data-state', 'idle');
      await expect(chip).toContainText(ftl(lang, 'sync-state-idle'));
      await expect(page.getByTestId('sync-last')).toBeVisible();
      await expect(pending).toHaveCount(0);
      await snap(page, testInfo, lang, 'sync-idle');

      // The records really went through the relay: the lead's device gets them.
      await qafila(['--data-dir', fresh.leadDir, 'sync']);
      const day = await qafilaJson<DayStatus>([
        '--data-dir',
        fresh.leadDir,
        'day',
        'status',
        '--site',
        VILLAGE,
      ]);
      const food = day.items.find((i) => i.item === 'food_box');
      expect(food?.handed_out).toBe('1');
    });
  });
}
