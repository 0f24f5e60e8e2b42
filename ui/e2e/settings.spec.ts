// The settings screen on the shared demo device: the language switch turns
// the whole page around and is remembered; the convoy and its relay show.

import {
  LANGS,
  chooseSite,
  expect,
  expectDirection,
  expectNoHorizontalOverflow,
  ftl,
  goTo,
  openApp,
  snap,
  test,
  type Lang,
} from './fixtures';

for (const lang of LANGS) {
  test.describe(`settings (${lang})`, () => {
    test.use({ lang });

    test('language switch, convoy and relay', async ({ page, shared }, testInfo) => {
      const other: Lang = lang === 'ar' ? 'en' : 'ar';
      await openApp(page, shared, lang);
      await chooseSite(page);
      await goTo(page, 'settings');
      const heading = page.getByTestId('settings').getByRole('heading', { level: 2 });
      await expect(heading).toHaveText(ftl(lang, 'settings-title'));
      await expect(page.getByTestId(`language-switch-${lang === 'ar' ? 'ar-EG' : 'en'}`)).toHaveAttribute(
        'aria-pressed',
        'true',
      );
      await expect(page.getByTestId('relay-url')).toHaveText(shared.relayUrl);
      await expect(page.getByTestId('about-device-name')).toHaveText('جهاز المتطوع');
      await expectNoHorizontalOverflow(page);
      await snap(page, testInfo, lang, 'settings');

      // The other language: words, direction and `lang` change at once...
      await page.getByTestId(`language-switch-${other === 'ar' ? 'ar-EG' : 'en'}`).click();
      await expectDirection(page, other);
      await expect(heading).toHaveText(ftl(other, 'settings-title'));
      await expect(page.getByTestId('nav-scan')).toHaveText(ftl(other, 'nav-scan'));
      // ...and stay after a reload (the choice is in local storage).
      await page.reload();
      await expectDirection(page, other);
      await expect(page.getByTestId('settings')).toBeVisible();
      await expect(heading).toHaveText(ftl(other, 'settings-title'));

      // And back.
      await page.getByTestId(`language-switch-${lang === 'ar' ? 'ar-EG' : 'en'}`).click();
      await expectDirection(page, lang);
      await expect(heading).toHaveText(ftl(lang, 'settings-title'));
    });
  });
}
