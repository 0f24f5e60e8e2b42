// The volunteer's path at the table, on a device of its own: pick the site,
// scan a card as a wedge scanner types it, hand out the basket, get refused the
// second time; undo a hand-out and be served again; refuse a forged card.

import {
  LANGS,
  chooseSite,
  digitsFor,
  expect,
  expectDirection,
  expectNoHorizontalOverflow,
  ftl,
  openApp,
  scanCard,
  snap,
  test,
  VILLAGE,
} from './fixtures';

/** The card number alphabet (Crockford-like base 32, no I, O, B, G). */
const ALPHABET = '0123456789ACDEFHJKLMNPQRSTUVWXYZ';

/** The same text with one character changed, inside the card's alphabet. */
function altered(text: string, at: number): string {
  const old = text[at];
  const replacement = ALPHABET[(ALPHABET.indexOf(old) + 1) % ALPHABET.length];
  return text.slice(0, at) + replacement + text.slice(at + 1);
}

for (const lang of LANGS) {
  test.describe(`volunteer (${lang})`, () => {
    test.use({ lang });

    test('scan, hand out, already served, undo, forged card', async ({ page, fresh }, testInfo) => {
      const [served, undone, other] = fresh.cards;
      await openApp(page, fresh, lang);

      // A device with no site chosen yet opens on Today.
      await expect(page).toHaveURL(/#\/today$/);
      await expectNoHorizontalOverflow(page);
      await snap(page, testInfo, lang, 'today');
      await chooseSite(page);
      await expectNoHorizontalOverflow(page);

      // 1. A good card: green, the holder's name and household, what is due.
      await scanCard(page, served.text, true);
      const result = page.getByTestId('result-panel');
      await expect(result).toHaveAttribute('data-status', 'ok');
      await expect(result).toHaveAttribute('data-tone', 'ok');
      await expect(page.getByTestId('result-headline')).toHaveText(ftl(lang, 'status-ok'));
      await expect(page.getByTestId('result-name')).toHaveText(served.name);
      await expect(page.getByTestId('result-village')).toHaveText(VILLAGE);
      // Arabic data is marked Arabic in either UI, for a screen reader's voice.
      await expect(page.getByTestId('result-name')).toHaveAttribute('lang', 'ar');
      await expect(page.getByTestId('result-village')).toHaveAttribute('lang', 'ar');
      await expect(page.getByTestId('scan-site')).toHaveAttribute('lang', 'ar');
      await expect(page.getByTestId('result-household-size')).toHaveText(
        digitsFor(lang, served.householdSize),
      );
      await expect(page.getByTestId('result-card-number')).toHaveText(served.number);
      await expect(page.locator('[data-testid=remaining-item][data-item=food_box]')).toBeVisible();
      // Heard once, from the one live region the screen keeps: the verdict,
      // the name and what is due. Nothing else on the screen is live.
      const heard = page.getByTestId('scan-announcement');
      await expect(heard).toContainText(ftl(lang, 'status-ok'));
      await expect(heard).toContainText(served.name);
      await expect(heard).toContainText(ftl(lang, 'result-remaining-title'));
      await expect(page.locator('[aria-live]')).toHaveCount(1);
      await expectDirection(page, lang);
      await expectNoHorizontalOverflow(page);
      await snap(page, testInfo, lang, 'scan-ok');

      // The standard basket, in one tap; the scan input takes the focus back.
      await page.getByTestId('basket-button').click();
      const recorded = page.getByTestId('recorded-panel');
      await expect(recorded).toBeVisible();
      await expect(recorded).toHaveAttribute('data-phase', 'open');
      await expect(page.getByTestId('undo-button')).toBeVisible();
      await expect(result).toBeHidden();
      await expect(page.getByTestId('scan-input')).toBeFocused();
      await expect(heard).toContainText(ftl(lang, 'recorded-title'));
      await expect(heard).toContainText(served.name);
      // The undo countdown ticks silently.
      await expect(page.locator('[aria-live]')).toHaveCount(1);
      await expectNoHorizontalOverflow(page);
      await snap(page, testInfo, lang, 'handout');

      // 2. The same card again: amber, already served, nothing to hand out.
      await scanCard(page, served.text);
      await expect(result).toHaveAttribute('data-status', 'already_served');
      await expect(result).toHaveAttribute('data-tone', 'warn');
      await expect(page.getByTestId('result-headline')).toHaveText(ftl(lang, 'status-already_served'));
      await expect(page.getByTestId('result-name')).toHaveText(served.name);
      await expect(page.getByTestId('result-message')).not.toBeEmpty();
      await expect(page.getByTestId('basket-button')).toHaveCount(0);
      await expect(heard).toContainText(ftl(lang, 'status-already_served'));
      await expectNoHorizontalOverflow(page);
      await snap(page, testInfo, lang, 'scan-already-served');

      // 3. Another card: basket, then Undo within its 8 seconds.
      await scanCard(page, undone.text);
      await expect(result).toHaveAttribute('data-status', 'ok');
      await expect(page.getByTestId('result-name')).toHaveText(undone.name);
      await page.getByTestId('basket-button').click();
      await expect(recorded).toHaveAttribute('data-phase', 'open');
      await page.getByTestId('undo-button').click();
      await expect(recorded).toHaveAttribute('data-phase', 'undone');
      await expect(page.getByTestId('undone-message')).toHaveText(ftl(lang, 'undo-done'));
      await snap(page, testInfo, lang, 'undone');
      // Voided: the household may be served again.
      await page.getByTestId('scan-input').focus();
      await scanCard(page, undone.text);
      await expect(result).toHaveAttribute('data-status', 'ok');
      await expect(page.getByTestId('result-name')).toHaveText(undone.name);
      await expect(page.getByTestId('result-checked-in-before')).toBeVisible();
      await expect(page.getByTestId('basket-button')).toBeVisible();

      // 4. A card with one character changed: red, forged or altered.
      await scanCard(page, altered(other.text, 100));
      await expect(result).toHaveAttribute('data-status', 'bad_signature');
      await expect(result).toHaveAttribute('data-tone', 'refused');
      await expect(page.getByTestId('result-headline')).toHaveText(ftl(lang, 'status-bad_signature'));
      // What to do, in the app's language (the backend sends both).
      await expect(page.getByTestId('result-message')).toHaveText(
        lang === 'ar' ? /^[\u0600-\u06FF\s\p{P}]+$/u : /^[\x20-\x7E]+$/,
      );
      await expect(page.getByTestId('result-name')).toHaveCount(0);
      await expect(page.getByTestId('basket-button')).toHaveCount(0);
      await expectNoHorizontalOverflow(page);
      await snap(page, testInfo, lang, 'scan-forged');
    });

    test('a wedge scan with the focus on any control serves nobody but the new card', async ({
      page,
      fresh,
    }) => {
      const cards = fresh.cards;
      await openApp(page, fresh, lang);
      await chooseSite(page);
      await scanCard(page, cards[0].text, true);
      const result = page.getByTestId('result-panel');
      await expect(page.getByTestId('result-name')).toHaveText(cards[0].name);
      // The volunteer's last tap (or Tab) left the focus on a control of the
      // result panel; the scanner types the next family's card and Enter.
      const controls = [
        async () => page.getByTestId('basket-button'),
        async () => page.getByTestId('handout-items-toggle'),
        async () => {
          // Opened from the keyboard (Space stays the buttons').
          await page.getByTestId('handout-items-toggle').focus();
          await page.keyboard.press(' ');
          return page.locator('[data-testid=item-plus]').first();
        },
      ];
      for (const [i, control] of controls.entries()) {
        const next = cards[i + 1];
        const target = await control();
        await target.focus();
        await expect(target).toBeFocused();
        await page.keyboard.type(next.text);
        await page.keyboard.press('Enter');
        await expect(page.getByTestId('result-name')).toHaveText(next.name);
        await expect(result).toHaveAttribute('data-status', 'ok');
        await expect(page.getByTestId('recorded-panel')).toHaveCount(0);
        await expect(page.getByTestId('scan-input')).toBeFocused();
      }
      // Nobody was served: the first family is still due its basket.
      await scanCard(page, cards[0].text);
      await expect(result).toHaveAttribute('data-status', 'ok');
      await expect(page.getByTestId('result-name')).toHaveText(cards[0].name);
      await expect(page.getByTestId('basket-button')).toBeVisible();
    });
  });
}
