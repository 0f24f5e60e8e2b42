// The lead's screen after a hand-out at the table: the site's stock (the
// demo loads 200 food boxes; one went out) and the convoy's devices.

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
} from './fixtures';
import { expectEveryColumnShown } from './layout';
import { expectLegible } from './readable';

for (const lang of LANGS) {
  test.describe(`lead (${lang})`, () => {
    test.use({ lang });

    test('stock table and device roster', async ({ page, fresh }, testInfo) => {
      await openApp(page, fresh, lang);
      await chooseSite(page);
      await scanCard(page, fresh.cards[0].text);
      await expect(page.getByTestId('result-panel')).toHaveAttribute('data-status', 'ok');
      await page.getByTestId('basket-button').click();
      await expect(page.getByTestId('recorded-panel')).toBeVisible();

      await goTo(page, 'lead');
      await expect(page.getByTestId('lead').getByRole('heading', { level: 2 })).toHaveText(
        ftl(lang, 'lead-title'),
      );

      // One basket: a food box, a kilo of meat and the household's blankets.
      const food = page.locator('[data-testid=stock-row][data-item=food_box]');
      await expect(food.locator('[data-col=loaded]')).toHaveText(digitsFor(lang, 200));
      await expect(food.locator('[data-col=handed-out]')).toHaveText(digitsFor(lang, 1));
      await expect(food.locator('[data-col=expected]')).toHaveText(digitsFor(lang, 199));
      const blanket = page.locator('[data-testid=stock-row][data-item=blanket]');
      await expect(blanket.locator('[data-col=loaded]')).toHaveText(digitsFor(lang, 120));
      await expect(blanket.locator('[data-col=handed-out]')).not.toHaveText(digitsFor(lang, 0));
      await expect(page.locator('[data-testid=stock-row][data-item=meat_kg]')).toBeVisible();
      await expect(page.getByTestId('stock-row')).toHaveCount(3);
      // Every column can be read at once, on a phone too: no figure is cut off
      // or waits behind a sideways scroll.
      await expectEveryColumnShown(page.getByTestId('stock-table'));

      // The convoy's devices, as the relay lists them: the lead and this one.
      const rows = page.getByTestId('device-row');
      await expect(rows).toHaveCount(2);
      await expect(rows.filter({ hasText: 'قائد القافلة' })).toHaveCount(1);
      const self = rows.filter({ hasText: 'جهاز المتطوع' });
      await expect(self).toHaveAttribute('data-status', 'approved');
      await expect(self).toContainText(ftl(lang, 'lead-device-this'));
      // This device is not the lead: it may not approve or revoke.
      await expect(page.getByText(ftl(lang, 'lead-devices-not-lead'))).toBeVisible();
      await expect(page.getByTestId('revoke-button')).toHaveCount(0);

      await expectNoHorizontalOverflow(page);
      await expectLegible(page.getByTestId('lead'));
      await snap(page, testInfo, lang, 'lead');
    });
  });
}
