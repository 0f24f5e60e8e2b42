// A lead's keys in the app, against the real backend: the lead's laptop backs
// them up from Settings (a file the browser saves); a new laptop's first-run
// screen restores from that file, refuses a wrong backup passphrase in the
// app's words, records nothing before its first sync, and after it is the
// convoy's lead, its own log carried on.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { type Bridge, rpcHeaders, serveUi, stop, tempRoot } from './backend';
import { expect, ftl, goTo, openApp, snap, test } from './fixtures';

const BACKUP_PASSPHRASE = 'ورقة في الخزنة ٢٠٢٦';
const NEW_PASSPHRASE = 'لابتوب القائد الجديد';

test('a lead backs up its keys in the app and a new laptop carries the convoy on', async ({
  page,
  request,
  fresh,
}, testInfo) => {
  const root = mkdtempSync(join(tempRoot(), 'keys-'));
  const servers: Bridge[] = [];
  try {
    // The lead's laptop: Settings → back up the convoy's keys.
    const lead = await serveUi(fresh.leadDir);
    servers.push(lead);
    await openApp(page, lead, 'ar');
    await goTo(page, 'settings');
    await page.getByTestId('keys-passphrase').fill(BACKUP_PASSPHRASE);
    await expect(page.getByTestId('keys-export-button')).toBeDisabled();
    await page.getByTestId('keys-passphrase-again').fill(BACKUP_PASSPHRASE);
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByTestId('keys-export-button').click(),
    ]);
    expect(download.suggestedFilename()).toMatch(/^qafila-keys-\d{4}-\d{2}-\d{2}\.qafila-keys$/);
    const file = join(root, download.suggestedFilename());
    await download.saveAs(file);
    await expect(page.getByTestId('keys-exported')).toBeVisible();
    await snap(page, testInfo, 'ar', 'settings-lead-keys');
    const text = readFileSync(file, 'utf8');
    expect(JSON.parse(text).kind).toBe('qafila-keys');
    expect(text).not.toContain('كفر الشيخ سالم');
    await stop(lead.pid);
    servers.pop();

    // The new laptop, started as the desktop app starts.
    const restored = await serveUi(join(root, 'new-laptop'), true);
    servers.push(restored);
    await page.goto(restored.open);
    await page.getByTestId('restore-lead-button').click();
    await page.getByTestId('restore-file').setInputFiles(file);
    await snap(page, testInfo, 'ar', 'restore-lead');
    await page.getByTestId('restore-backup-passphrase').fill('not the backup passphrase');
    await page.getByTestId('restore-passphrase').fill(NEW_PASSPHRASE);
    await page.getByTestId('restore-passphrase-again').fill(NEW_PASSPHRASE);
    await page.getByTestId('restore-button').click();
    const alert = page.getByRole('alert');
    await expect(alert).toHaveAttribute('data-code', 'wrong_backup_passphrase');
    await expect(alert).toContainText('كلمة سر النسخة الاحتياطية غلط');

    await page.getByTestId('restore-backup-passphrase').fill(BACKUP_PASSPHRASE);
    await page.getByTestId('restore-passphrase').fill(NEW_PASSPHRASE);
    await page.getByTestId('restore-passphrase-again').fill(NEW_PASSPHRASE);
    await page.getByTestId('restore-button').click();
    await expect(page.getByRole('navigation')).toBeVisible();

    // Nothing is recorded before the lead's log is back...
    const call = (command: string, data: object) =>
      request.post(`${restored.url}/rpc/${command}`, { data, headers: rpcHeaders(restored) });
    const early = await call('set_lock_policy', { minutes: 5 });
    expect(((await early.json()) as { code: string }).code).toBe('restore_pending');
    // ...and after one sync it leads the convoy.
    await page.getByTestId('sync-chip').click();
    await expect(page.getByTestId('sync-chip')).toHaveAttribute('data-state', 'idle', { timeout: 30_000 });
    const later = await call('set_lock_policy', { minutes: 5 });
    expect(later.ok()).toBe(true);
    await goTo(page, 'settings');
    await expect(page.getByTestId('my-role')).toContainText(ftl('ar', 'member-role-lead'));
  } finally {
    for (const server of servers) await stop(server.pid);
    rmSync(root, { recursive: true, force: true });
  }
});
