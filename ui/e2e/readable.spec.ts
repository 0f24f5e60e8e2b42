// Readable in the sun, measured on the rendered page in both languages: the
// verdict and the main action at 7:1 (WCAG AAA) in every result state, every
// focus ring at 3:1 against what it is drawn on, every control's boundary at
// 3:1, and no text under 16 px on a phone. Contrast is computed from computed
// styles (e2e/readable.ts), because axe skips most Arabic text.

import type { Page } from '@playwright/test';
import { LANGS, chooseSite, expect, goTo, openApp, revokeCard, scanCard, test } from './fixtures';
import { below, controlBoundaries, focusRingContrast, smallText, textContrast } from './readable';

/** Phones get 16 px text at least; a laptop's side bar and tables may be smaller. */
async function expectPhoneText(page: Page, phone: boolean): Promise<void> {
  if (phone) expect(await smallText(page.locator('body'), 16), 'text under 16 px').toEqual([]);
}

for (const lang of LANGS) {
  test.describe(`readable (${lang})`, () => {
    test.use({ lang });

    test('every result state at 7:1, boundaries at 3:1, phone text at 16 px', async ({ page, fresh }, testInfo) => {
      const phone = testInfo.project.name === 'phone';
      const [good, , forged, revoked] = fresh.cards;
      await revokeCard(fresh, revoked.number);
      await openApp(page, fresh, lang);
      await chooseSite(page);
      const result = page.getByTestId('result-panel');
      const body = page.locator('body');

      const states: [string, string][] = [
        ['ok', good.text],
        ['already_served', good.text],
        ['malformed', `QF1${'A'.repeat(40)}`],
        ['bad_signature', forged.text.slice(0, 100) + (forged.text[100] === 'A' ? 'C' : 'A') + forged.text.slice(101)],
        ['revoked', revoked.text],
      ];
      for (const [status, text] of states) {
        await page.getByTestId('scan-input').focus();
        await scanCard(page, text);
        await expect(result).toHaveAttribute('data-status', status);
        // The verdict, the name, what is due and the basket button: 7:1.
        expect(below(await textContrast(result), 7), `${status}: text under 7:1`).toEqual([]);
        expect(below(await controlBoundaries(body), 3), `${status}: boundaries under 3:1`).toEqual([]);
        await expectPhoneText(page, phone);
        if (status === 'ok') {
          await page.getByTestId('basket-button').click();
          const recorded = page.getByTestId('recorded-panel');
          await expect(recorded).toBeVisible();
          expect(below(await textContrast(recorded), 7), 'the undo bar under 7:1').toEqual([]);
        }
      }
    });

    test('every focus ring on the scan screen stands out at 3:1', async ({ page, fresh }) => {
      await openApp(page, fresh, lang);
      await chooseSite(page);
      await scanCard(page, fresh.cards[0].text);
      await expect(page.getByTestId('basket-button')).toBeVisible();
      // Open the item-by-item box so its steppers are in the Tab order too.
      await page.getByTestId('handout-items-toggle').focus();
      await page.keyboard.press(' ');
      await page.getByTestId('scan-input').focus();
      const rings: string[] = [];
      let reached = 0;
      // Once round the Tab order, back to the scan input.
      for (let i = 0; i < 60; i++) {
        await page.keyboard.press('Tab');
        const where = await page.evaluate(() => document.activeElement?.id ?? '');
        if (where === 'scan-input') break;
        const ring = await focusRingContrast(page);
        if (ring === null) {
          const what = await page.evaluate(() => document.activeElement?.outerHTML.slice(0, 80) ?? '');
          if (!what.startsWith('<body')) rings.push(`${what}: no focus ring`);
          continue;
        }
        reached += 1;
        if (ring.ratio < 3) rings.push(`${ring.what} ${ring.ratio}:1`);
      }
      expect(reached, 'the Tab order reached the controls').toBeGreaterThan(8);
      expect(rings).toEqual([]);
    });

    test('every screen: boundaries at 3:1, phone text at 16 px, body text at 4.5:1', async ({ page, shared }, testInfo) => {
      const phone = testInfo.project.name === 'phone';
      await openApp(page, shared, lang);
      for (const screen of ['today', 'lead', 'registrar', 'settings', 'scan'] as const) {
        await goTo(page, screen);
        const main = page.locator('main');
        expect(below(await controlBoundaries(page.locator('body')), 3), `${screen}: boundaries`).toEqual([]);
        expect(below(await textContrast(page.locator('body')), 4.5), `${screen}: text`).toEqual([]);
        await expect(main).toBeVisible();
        await expectPhoneText(page, phone);
      }
    });
  });
}
