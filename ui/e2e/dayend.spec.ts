// The lead's day end in the app, on the lead's own device: a volunteer hands
// out a basket and syncs; the lead serves the same family again by override
// (a double hand-out and an override to review), reviews both, counts blind
// (nothing expected on screen while typing), gives a reason for the one
// difference, sees the volunteer has not synced since the last hand-out, and
// closes the day without it, signed.

import { readFileSync } from 'node:fs';
import { qafila, qafilaJson, serveUi, stop } from './backend';
import {
  LANGS,
  chooseSite,
  digitsFor,
  expect,
  expectNoHorizontalOverflow,
  ftl,
  goTo,
  openApp,
  scanCard,
  snap,
  test,
  VILLAGE,
} from './fixtures';
import { expectEveryColumnShown } from './layout';
import { expectLegible } from './readable';

interface DayStatus {
  items: { item: string; expected: string; counted: string | null; variance_reason: string | null }[];
  closed: boolean;
}

for (const lang of LANGS) {
  test.describe(`day end (${lang})`, () => {
    test.use({ lang });

    test('review, blind count, close signed', async ({ page, fresh }, testInfo) => {
      // The volunteer's table: one basket, then a sync.
      await openApp(page, fresh, lang);
      await chooseSite(page);
      await scanCard(page, fresh.cards[0].text);
      await expect(page.getByTestId('result-panel')).toHaveAttribute('data-status', 'ok');
      await page.getByTestId('basket-button').click();
      await expect(page.getByTestId('recorded-panel')).toBeVisible();
      await qafila(['--data-dir', fresh.dataDir, 'sync']);

      // The lead's device: receives it, then serves the same family again by
      // override.
      const lead = ['--data-dir', fresh.leadDir];
      await qafila([...lead, 'sync']);
      const card = await qafilaJson<{ beneficiary: string }>([...lead, 'cards', 'verify', fresh.cards[0].text]);
      await qafila([...lead, 'scan', fresh.cards[0].text, '--site', VILLAGE]);
      await qafila([
        ...lead,
        'handout',
        '--item',
        'food_box',
        '--qty',
        '1',
        '--site',
        VILLAGE,
        '--override',
        '--reason',
        'the box was torn; a second one replaced it',
        card.beneficiary,
      ]);
      const leadBridge = await serveUi(fresh.leadDir);
      try {
        await page.goto(leadBridge.open);
        await expect(page.getByRole('navigation')).toBeVisible();
        await chooseSite(page);
        await goTo(page, 'lead');

        // Two anomalies: the double hand-out and the override.
        const anomalies = page.getByTestId('anomaly');
        await expect(anomalies).toHaveCount(2);
        const double = anomalies.and(page.locator('[data-code=double_hand_out]'));
        await double.getByTestId('review-note').fill('الكرتونة الأولى اتقطعت واتبدلت');
        await double.getByTestId('review-explained').click();
        await expect(double).toHaveAttribute('data-reviewed', 'explained');
        const override = anomalies.and(page.locator('[data-code=override]'));
        await expect(override.getByTestId('review-explained')).toBeDisabled();
        await override.getByTestId('review-loss').click();
        await expect(override).toHaveAttribute('data-reviewed', 'loss');
        // What people typed keeps its own language inside the sentence, so a
        // screen reader reads it with the right voice; the sentence itself is
        // the app's.
        const person = fresh.cards[0].name;
        if (lang === 'ar') {
          await expect(override.locator('[lang=en]')).toHaveText('the box was torn; a second one replaced it');
          await expect(double.locator('[lang]')).toHaveCount(0);
        } else {
          await expect(double.locator('[lang=ar]').first()).toHaveText(person);
          await expect(double.getByTestId('anomaly-review').locator('[lang=ar]')).toHaveText(
            'الكرتونة الأولى اتقطعت واتبدلت',
          );
          await expect(override.locator('[lang]')).toHaveCount(0);
        }
        await expectEveryColumnShown(page.getByTestId('stock-table'));
        await expectLegible(page.getByTestId('lead'));

        // The blind count: no expected figure anywhere while counting.
        const status = await qafilaJson<DayStatus>([...lead, 'day', 'status', '--site', VILLAGE]);
        await page.getByTestId('count-start').click();
        await expect(page.getByTestId('stock-table')).toHaveCount(0);
        await expect(page.getByTestId('count-item')).toHaveCount(status.items.length);
        for (const line of status.items) {
          const expected = Number(line.expected);
          const counted = line.item === 'food_box' ? expected - 1 : expected;
          await page
            .locator(`[data-testid=count-item][data-item=${line.item}]`)
            .getByTestId('count-input')
            .fill(String(counted));
        }
        await expectLegible(page.getByTestId('lead'));
        await snap(page, testInfo, lang, 'day-end-count');
        await page.getByTestId('count-show').click();

        // Then the differences: one box short needs a reason.
        const food = page.locator('[data-testid=variance-row][data-item=food_box]');
        const expectedBoxes = status.items.find((l) => l.item === 'food_box')!.expected;
        await expect(food.locator('[data-col=expected]')).toHaveText(digitsFor(lang, expectedBoxes));
        await expect(page.getByTestId('count-record')).toBeDisabled();
        await expectEveryColumnShown(page.getByTestId('variance-table'));
        await expectNoHorizontalOverflow(page);
        await expectLegible(page.getByTestId('lead'));
        await snap(page, testInfo, lang, 'day-end-differences');
        await page.locator('[data-testid=reason-select][data-item=food_box]').selectOption('counting_error');
        await page.getByTestId('count-record').click();
        await expect(page.getByTestId('count-recorded')).toBeVisible();
        const counted = await qafilaJson<DayStatus>([...lead, 'day', 'status', '--site', VILLAGE]);
        const box = counted.items.find((l) => l.item === 'food_box')!;
        expect(box.counted).toBe(String(Number(expectedBoxes) - 1));
        expect(box.variance_reason).toBe('counting_error');

        // The volunteer has not synced since the lead's hand-out: closing
        // waits for it, or closes without it and says so.
        await expect(page.getByTestId('waiting-device')).toHaveCount(1);
        await expect(page.getByTestId('waiting-device')).toContainText('جهاز المتطوع');
        await page.getByTestId('close-day').click();
        await expect(page.getByTestId('day-end').getByTestId('error-alert')).toHaveAttribute(
          'data-code',
          'devices_outstanding',
        );
        await page.getByTestId('close-without').check();
        await page.getByTestId('close-day').click();
        const closed = page.getByTestId('day-closed');
        await expect(closed).toBeVisible();
        await expect(closed).toHaveAttribute('data-valid', 'true');
        await expect(page.getByTestId('signature')).toHaveText(ftl(lang, 'dayend-signature-valid'));
        await expect(page.getByTestId('closed-without')).toContainText('جهاز المتطوع');
        const after = await qafilaJson<DayStatus>([...lead, 'day', 'status', '--site', VILLAGE]);
        expect(after.closed).toBe(true);

        await expectNoHorizontalOverflow(page);
        await expectLegible(page.getByTestId('lead'));
        await snap(page, testInfo, lang, 'day-end-closed');

        // The day report goes to the print dialog (through a hidden frame),
        // in the app's language, signed off.
        await page.getByTestId('report-print').click();
        await expect(page.getByTestId('reports-message')).toHaveText(ftl(lang, 'reports-printed'));
        const report = page.frameLocator('iframe.print-frame').first();
        await expect(report.locator('html')).toHaveAttribute('dir', lang === 'ar' ? 'rtl' : 'ltr');
        // Scripts cannot run in it: a sandbox without scripts, and the
        // report's own policy (SECURITY.md, "Local surfaces").
        await expect(page.locator('iframe.print-frame').first()).toHaveAttribute(
          'sandbox',
          'allow-same-origin allow-modals',
        );
        await expect(report.locator('meta[http-equiv="Content-Security-Policy"]')).toHaveAttribute(
          'content',
          /^default-src 'none';/,
        );
        await expect(report.locator('body')).toContainText(VILLAGE);
        await expect(report.locator('body')).toContainText('جهاز المتطوع');

        // Where the point is (the demo said Kafr El Sheikh): the lead names
        // the district in full; the export carries it.
        await expect(page.getByTestId('place-governorate')).toHaveValue('15');
        await page.getByTestId('place-district').fill('مركز سيدي سالم');
        await page.getByTestId('place-save').click();
        await expect(page.getByTestId('place-saved')).toBeVisible();

        // An HXL export of today, saved as a file: Arabic intact, no names.
        await page.getByTestId('export-format').selectOption('csv');
        await page.getByTestId('export-hxl').check();
        const [download] = await Promise.all([
          page.waitForEvent('download'),
          page.getByTestId('export-save').click(),
        ]);
        const path = await download.path();
        const bytes = readFileSync(path);
        expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
        const csv = bytes.toString('utf8');
        expect(csv).toContain('#adm1+name');
        expect(csv).toContain(VILLAGE);
        expect(csv).toContain('مركز سيدي سالم'); // the district the lead described in the app
        expect(csv).not.toContain(fresh.cards[0].name);
        expect(download.suggestedFilename()).toMatch(/^qafila-distribution-hxl-.*\.csv$/);

        // Opened again, the stock table has what was counted too: its widest,
        // five columns, every one shown.
        await page.reload();
        await expect(
          page.locator('[data-testid=stock-row][data-item=food_box] [data-col=counted]'),
        ).toHaveText(digitsFor(lang, Number(expectedBoxes) - 1));
        await expectEveryColumnShown(page.getByTestId('stock-table'));
        await snap(page, testInfo, lang, 'day-end-stock-counted');
      } finally {
        await stop(leadBridge.pid);
      }
    });
  });
}
