// The registrar's screen on a device of its own: a small list imported
// through the file input (a dry run that says row by row what would be
// refused, then the real import), the likely duplicate it brings into the
// queue, and the village select of the card printing.

import {
  LANGS,
  chooseSite,
  digitsFor,
  expect,
  expectNoHorizontalOverflow,
  ftl,
  goTo,
  openApp,
  snap,
  test,
  VILLAGE,
} from './fixtures';
import { expectEveryColumnShown } from './layout';
import { expectLegible } from './readable';

/**
 * Six rows: two new families, one with no name, one whose household size is
 * not a number, a demo family spelled another way (refused: already
 * registered), and one whose name is close to a demo family's in the same
 * village and household size (registered, and queued as a likely duplicate).
 */
const CSV = [
  'الاسم,عدد أفراد الأسرة,القرية',
  `سلمى عبد الرحيم حسان,4,${VILLAGE}`,
  `مروان يسري عبد الفتاح,3,${VILLAGE}`,
  `,5,${VILLAGE}`,
  `نور الهدى كمال,abc,${VILLAGE}`,
  `هدي سعيد الجمال,4,${VILLAGE}`,
  `هدى سعيد محمد الجمال,4,${VILLAGE}`,
].join('\n');

for (const lang of LANGS) {
  test.describe(`registrar (${lang})`, () => {
    test.use({ lang });

    test('import a list, review the duplicate, village select', async ({ page, fresh }, testInfo) => {
      await openApp(page, fresh, lang);
      await chooseSite(page);
      await goTo(page, 'registrar');
      await expect(page.getByTestId('registrar').getByRole('heading', { level: 2 })).toHaveText(
        ftl(lang, 'registrar-title'),
      );

      // Nothing to review in the demo list; its one village, with its 36 families.
      await expect(page.getByTestId('duplicates-none')).toHaveText(ftl(lang, 'dup-none'));
      const village = page.getByTestId('village-select');
      await expect(village).toHaveValue(VILLAGE);
      await expect(village.locator('option')).toHaveCount(1);
      await expect(village.locator('option')).toContainText(digitsFor(lang, 36));
      await expectNoHorizontalOverflow(page);
      await snap(page, testInfo, lang, 'registrar');

      // Choosing the file runs a dry run: nothing is registered yet.
      await page.getByTestId('import-file-input').setInputFiles({
        name: 'families.csv',
        mimeType: 'text/csv',
        buffer: Buffer.from(`\ufeff${CSV}\n`, 'utf8'),
      });
      const report = page.getByTestId('import-report');
      await expect(report).toBeVisible();
      await expect(report).toHaveAttribute('data-dry-run', 'true');
      await expect(page.getByTestId('import-file-name')).toHaveText('families.csv');
      const refused = page.getByTestId('refused-row');
      await expect(refused).toHaveCount(3);
      await expect(refused.nth(0)).toHaveAttribute('data-line', '4');
      await expect(refused.nth(1)).toHaveAttribute('data-line', '5');
      await expect(refused.nth(1)).toContainText('نور الهدى كمال');
      await expect(refused.nth(2)).toHaveAttribute('data-line', '6');
      await expect(refused.nth(2)).toContainText('هدى سعيد الجمال');
      await expect(refused.nth(1).locator('[data-col=name] [lang=ar]')).toHaveText('نور الهدى كمال');
      await expectEveryColumnShown(page.getByTestId('refused-table'));
      await expectLegible(page.getByTestId('registrar'));
      await expect(page.getByTestId('duplicates-none')).toBeVisible();
      await expectNoHorizontalOverflow(page);
      await snap(page, testInfo, lang, 'import-dry-run');

      // The real import: three registered, and the twin of a demo family to review.
      const confirm = page.getByTestId('import-confirm-button');
      await expect(confirm).toContainText(digitsFor(lang, 3));
      await confirm.click();
      await expect(page.getByTestId('import-result')).toBeVisible();
      await expect(page.getByTestId('import-duplicates')).toContainText(digitsFor(lang, 1));
      const pair = page.getByTestId('duplicate-pair');
      await expect(pair).toHaveCount(1);
      await expect(pair).toContainText('هدى سعيد الجمال');
      await expect(pair).toContainText('هدى سعيد محمد الجمال');
      await expect(pair.getByTestId('merge-button')).toBeDisabled();
      await expect(village.locator('option')).toContainText(digitsFor(lang, 39));
      await expectNoHorizontalOverflow(page);
      await expectLegible(page.getByTestId('registrar'));
      await snap(page, testInfo, lang, 'registrar-duplicate');
    });
  });
}
