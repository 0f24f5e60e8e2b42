// This device's data under a passphrase, as people meet it in the browser
// against the real backend (`qafila ui serve` started without the passphrase,
// as the desktop app starts): a new device chooses one; the next start shows
// nothing but the unlock screen until it is typed (a wrong one says so, in the
// app's language); the lock button closes it again; a store from an earlier,
// unencrypted Qafila asks for a new passphrase and opens with its records, and
// its folder holds nothing readable afterwards.

import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { E2E_PASSPHRASE, REPO_DIR, qafilaJson, serveUi, stop, tempRoot } from './backend';
import { LANGS, expect, expectDirection, ftl, snap, test } from './fixtures';

const PASSPHRASE = 'رمضان كريم ٢٠٢٦';

/** Every file in `dir`, as one byte string. */
function folderBytes(dir: string): Buffer {
  return Buffer.concat(
    readdirSync(dir, { withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => readFileSync(join(dir, entry.name))),
  );
}

for (const lang of LANGS) {
  test.describe(`data protection (${lang})`, () => {
    test.use({ lang });

    test('a new device chooses a passphrase; the next start asks for it', async ({ page }, testInfo) => {
      const root = tempRoot();
      const dataDir = join(root, 'app');
      let served = await serveUi(dataDir, true);
      try {
        await page.goto(served.open);
        await expectDirection(page, lang);
        await page.getByTestId('device-name-input').fill('تابلت نقطة الجامع');
        await page.getByTestId('passphrase-input').fill(PASSPHRASE);
        await page.getByTestId('passphrase-again-input').fill(`${PASSPHRASE}!`);
        await expect(page.getByText(ftl(lang, 'passphrase-mismatch'))).toBeVisible();
        await expect(page.getByTestId('init-device-button')).toBeDisabled();
        await page.getByTestId('passphrase-again-input').fill(PASSPHRASE);
        await page.getByTestId('init-device-button').click();
        await page.getByTestId('enroll-skip-button').click();
        await expect(page.getByRole('navigation')).toBeVisible();

        // The next start: locked, nothing else on the page.
        await stop(served.pid);
        served = await serveUi(dataDir, true);
        await page.goto(served.open);
        await expect(page.getByTestId('unlock')).toBeVisible();
        await expect(page.getByRole('navigation')).toHaveCount(0);
        await snap(page, testInfo, lang, 'unlock');
        await page.getByTestId('passphrase-input').fill('not the passphrase');
        await page.getByTestId('unlock-button').click();
        const alert = page.getByRole('alert');
        await expect(alert).toHaveAttribute('data-code', 'wrong_passphrase');
        await expect(alert).toContainText(lang === 'ar' ? 'كلمة السر غلط' : 'wrong passphrase');
        await page.getByTestId('passphrase-input').fill(PASSPHRASE);
        await page.getByTestId('unlock-button').click();
        await expect(page.getByRole('navigation')).toBeVisible();

        // Locked by hand: the unlock screen replaces the app at once.
        await page.getByTestId('lock-button').click();
        await expect(page.getByTestId('unlock')).toBeVisible();
        await expect(page.getByRole('navigation')).toHaveCount(0);
      } finally {
        await stop(served.pid);
        rmSync(root, { recursive: true, force: true });
      }
    });
  });
}

test('a store from an unencrypted Qafila is protected with a new passphrase and keeps its records', async ({
  page,
}) => {
  const root = mkdtempSync(join(tempRoot(), 'legacy-'));
  const dataDir = join(root, 'volunteer');
  cpSync(resolve(REPO_DIR, 'tests/fixtures/before-trust/volunteer'), dataDir, { recursive: true });
  const person = readFileSync(resolve(REPO_DIR, 'tests/fixtures/before-trust/volunteer-person.txt'), 'utf8').trim();
  expect(folderBytes(dataDir).includes(Buffer.from('SQLite format 3'))).toBe(true);
  const served = await serveUi(dataDir, true);
  try {
    await page.goto(served.open);
    await expect(page.getByRole('heading', { level: 2 })).toHaveText(ftl('ar', 'protect-title'));
    // The tests' own passphrase, so the command line can read the store after.
    await page.getByTestId('passphrase-input').fill(E2E_PASSPHRASE);
    await page.getByTestId('passphrase-again-input').fill(E2E_PASSPHRASE);
    await page.getByTestId('unlock-button').click();
    await expect(page.getByRole('navigation')).toBeVisible();
    const bytes = folderBytes(dataDir);
    expect(bytes.includes(Buffer.from('SQLite format 3')), 'the store is encrypted').toBe(false);
  } finally {
    await stop(served.pid);
  }
  try {
    // Its registered person is still there, read through the new key.
    const shown = await qafilaJson<{ id: string; erased: boolean }>([
      '--data-dir',
      dataDir,
      'beneficiary',
      'show',
      person,
    ]);
    expect(shown.id).toBe(person);
    expect(shown.erased).toBe(false);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
