// Approving, re-roling and revoking a device from the lead's screen, with
// the fingerprint on both screens: a new tablet enrolls with the lead's code
// and shows its fingerprint while it waits; the lead's list shows the same
// fingerprint and that the keys are bound to its code, approves it as a
// storekeeper, makes it a registrar, then revokes it (SECURITY.md).

import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { qafila, qafilaJson, serveUi, stop } from './backend';
import { LANGS, expect, expectNoHorizontalOverflow, ftl, goTo, snap, test } from './fixtures';

for (const lang of LANGS) {
  test.describe(`device roster (${lang})`, () => {
    test.use({ lang });

    test('approve with a role by fingerprint, change the role, revoke', async ({ page, fresh }, testInfo) => {
      const lead = ['--data-dir', fresh.leadDir];
      const tabletDir = mkdtempSync(join(fresh.dataDir, '..', 'tablet-'));
      const tablet = ['--data-dir', tabletDir];
      await qafila([...tablet, 'init', '--device-name', 'تابلت المخزن']);
      const invite = await qafilaJson<{ codes: string[] }>([...lead, 'convoy', 'invite']);
      const enrolled = await qafilaJson<{ fingerprint: string }>([
        ...tablet,
        'enroll',
        '--relay',
        fresh.relayUrl,
        '--code',
        invite.codes[0],
      ]);

      // The tablet's own screen while it waits: its fingerprint.
      const own = await serveUi(tabletDir);
      try {
        await page.goto(own.open);
        await expect(page.getByTestId('waiting-approval')).toBeVisible();
        await expect(page.getByTestId('own-fingerprint')).toHaveText(enrolled.fingerprint);
        await snap(page, testInfo, lang, 'waiting-approval');
      } finally {
        await stop(own.pid);
      }

      // The lead's screen: the same fingerprint, bound to the lead's code.
      const leadBridge = await serveUi(fresh.leadDir);
      try {
        await page.goto(leadBridge.open);
        await expect(page.getByRole('navigation')).toBeVisible();
        await goTo(page, 'lead');
        const row = page.locator('[data-testid=device-row]').filter({ hasText: 'تابلت المخزن' });
        await expect(row).toHaveAttribute('data-status', 'pending');
        await expect(row.getByTestId('device-fingerprint')).toHaveText(enrolled.fingerprint);
        await expect(row.getByTestId('device-bound')).toHaveText(ftl(lang, 'lead-device-bound'));
        await row.getByTestId('role-select').selectOption('storekeeper');
        await row.getByTestId('approve-button').click();
        await expect(row).toContainText(enrolled.fingerprint);
        await snap(page, testInfo, lang, 'approve-compare-fingerprint');
        await row.getByTestId('confirm-yes').click();
        await expect(row).toHaveAttribute('data-status', 'approved');
        await expect(row).toHaveAttribute('data-role', 'storekeeper');

        // A new role, from the tablet's next records on.
        await row.getByTestId('role-select').selectOption('registrar');
        await row.getByTestId('role-button').click();
        await row.getByTestId('confirm-yes').click();
        await expect(row).toHaveAttribute('data-role', 'registrar');
        const devices = await qafilaJson<{ devices: { name: string; role: string }[] }>([...lead, 'convoy', 'devices']);
        expect(devices.devices.find((d) => d.name === 'تابلت المخزن')?.role).toBe('registrar');

        // Revoked for good.
        await row.getByTestId('revoke-button').click();
        await row.getByTestId('confirm-yes').click();
        await expect(row).toHaveAttribute('data-status', 'revoked');
        await expect(page.getByTestId('revoked-notice')).toContainText('تابلت المخزن');
        await expect(row.getByTestId('approve-button')).toHaveCount(0);
        await expectNoHorizontalOverflow(page);
        await snap(page, testInfo, lang, 'device-revoked');
      } finally {
        await stop(leadBridge.pid);
      }
      const refused = await qafila([...tablet, '--json', 'sync']).then(
        () => 'synced',
        (e: Error) => e.message,
      );
      expect(refused).toContain('device_revoked');
    });
  });
}
