import { describe, expect, test } from 'vitest';
import { fireEvent, render, screen, waitFor, within } from '@testing-library/svelte';
import App from './App.svelte';
import { fakeBackend, push } from './test/fake-backend';
import { SITE, person, scanResult, status } from './test/fixtures';
import { setSite } from './lib/settings.svelte';
import type { SyncChipDto } from './lib/types';

async function choosePassphrase(first: string, again: string) {
  await fireEvent.input(screen.getByTestId('passphrase-input'), { target: { value: first } });
  await fireEvent.input(screen.getByTestId('passphrase-again-input'), { target: { value: again } });
}

describe('first run', () => {
  test('names the device with init_device, then enrolls with the typed relay and code', async () => {
    let initialised = false;
    const backend = fakeBackend({
      app_status: () => status({ initialised, device: undefined, convoys: [], sites: [] }),
      init_device: ({ name }) => {
        initialised = true;
        return { id: 'dev-1', name, store: '/tmp/store.db' };
      },
      enroll: ({ relay }) => ({ ...status().convoys[0], relay, status: 'pending', role: 'member' }),
    });

    render(App);

    const heading = await screen.findByRole('heading', { level: 1 });
    expect(heading.textContent).toContain('قافلة');
    expect((await screen.findByText('0.1.0')).id).toBe('version');
    await fireEvent.input(screen.getByTestId('device-name-input'), {
      target: { value: 'تابلت منى' },
    });
    const button = screen.getByTestId('init-device-button') as HTMLButtonElement;
    await choosePassphrase('قافلة الشتاء', 'قافلة الشتا');
    expect(await screen.findByText('الكلمتين مش زي بعض')).toBeTruthy();
    expect(button.disabled).toBe(true);
    await choosePassphrase('قصيرة', 'قصيرة');
    expect(button.disabled, 'shorter than the backend accepts').toBe(true);
    await choosePassphrase('قافلة الشتاء', 'قافلة الشتاء');
    expect(button.disabled).toBe(false);
    await fireEvent.click(button);

    await screen.findByTestId('enroll-code-input');
    expect(backend.of('init_device')).toEqual([
      { command: 'init_device', args: { name: 'تابلت منى', passphrase: 'قافلة الشتاء' } },
    ]);

    await fireEvent.input(screen.getByTestId('enroll-relay-input'), {
      target: { value: 'http://127.0.0.1:8443' },
    });
    await fireEvent.input(screen.getByTestId('enroll-code-input'), {
      target: { value: 'K7QF2-M2XD9-TNV6H8' },
    });
    await fireEvent.click(screen.getByTestId('enroll-button'));

    await screen.findByTestId('nav-scan');
    expect(backend.of('enroll')[0].args).toEqual({
      relay: 'http://127.0.0.1:8443',
      code: 'K7QF2-M2XD9-TNV6H8',
    });
    // No site chosen yet: the app opens on Today.
    expect(await screen.findByTestId('today')).toBeTruthy();
  });

  test('enrollment can be skipped to work alone, offline', async () => {
    let initialised = false;
    fakeBackend({
      app_status: () => status({ initialised, device: undefined, convoys: [], sites: [] }),
      init_device: ({ name }) => {
        initialised = true;
        return { id: 'dev-1', name, store: '/tmp/store.db' };
      },
    });

    render(App);
    await fireEvent.input(await screen.findByTestId('device-name-input'), {
      target: { value: 'laptop' },
    });
    await choosePassphrase('a long passphrase', 'a long passphrase');
    await fireEvent.click(screen.getByTestId('init-device-button'));
    await fireEvent.click(await screen.findByTestId('enroll-skip-button'));

    expect(await screen.findByTestId('today-no-convoy')).toBeTruthy();
  });

  test('a refused init_device shows the backend message in Arabic, in an alert', async () => {
    fakeBackend({
      app_status: () => status({ initialised: false, device: undefined }),
      init_device: () => {
        throw {
          code: 'already_initialised',
          message: 'this device is already set up',
          message_ar: 'الجهاز ده متسجّل قبل كده',
          retryable: false,
        };
      },
    });

    render(App);
    await fireEvent.input(await screen.findByTestId('device-name-input'), {
      target: { value: 'x' },
    });
    await choosePassphrase('a long passphrase', 'a long passphrase');
    await fireEvent.click(screen.getByTestId('init-device-button'));

    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('الجهاز ده متسجّل قبل كده');
    expect(alert.dataset.code).toBe('already_initialised');
  });
});

describe('the shell', () => {
  test('shows the sync chip and the five places, and opens Scan once a site is chosen', async () => {
    setSite(SITE);
    const backend = fakeBackend({ app_status: () => status(), sync_now: () => status().sync });

    render(App);

    const chip = await screen.findByTestId('sync-chip');
    expect(chip.dataset.state).toBe('idle');
    expect(chip.textContent).toContain('٣');
    expect(await screen.findByTestId('scan-input')).toBeTruthy();
    for (const place of ['scan', 'today', 'lead', 'registrar', 'settings']) {
      expect(screen.getByTestId(`nav-${place}`)).toBeTruthy();
    }
    expect(screen.getByTestId('nav-scan').textContent).toContain('مسح');
    expect(screen.getByTestId('nav-scan').getAttribute('aria-current')).toBe('page');

    await fireEvent.click(chip);
    await waitFor(() => expect(backend.of('sync_now')).toHaveLength(1));
  });

  test('a sync that fails says why, from the chip the backend answers with', async () => {
    let chip: SyncChipDto = status().sync;
    fakeBackend({
      app_status: () => status({ sync: chip }),
      sync_now: () => {
        chip = {
          state: 'offline',
          pending: 3,
          error: {
            code: 'relay_unreachable',
            message: 'the relay could not be reached',
            message_ar: 'السيرفر مش بيرد؛ هنحاول تاني لوحدنا',
            retryable: true,
          },
        };
        return chip;
      },
    });
    render(App);

    await fireEvent.click(await screen.findByTestId('sync-chip'));

    expect((await screen.findByRole('alert')).textContent).toContain('السيرفر مش بيرد');
    expect(screen.getByTestId('sync-chip').dataset.state).toBe('offline');
  });

  test('outside any convoy the chip says so and leads to joining one', async () => {
    const backend = fakeBackend({
      app_status: () => status({ convoys: [], sync: { state: 'local_only', pending: 0 } }),
    });
    render(App);

    const chip = await screen.findByTestId('sync-chip');
    expect(chip.textContent).toContain('على الجهاز ده بس');
    await fireEvent.click(chip);
    expect(await screen.findByTestId('join-convoy')).toBeTruthy();
    expect(backend.of('sync_now')).toEqual([]);
  });

  test('pushed sync states (Tauri events) reach the chip', async () => {
    fakeBackend({ app_status: () => status() });
    render(App);
    const chip = await screen.findByTestId('sync-chip');
    // Let the app subscribe before the shell pushes.
    await waitFor(() => expect(chip.dataset.state).toBe('idle'));
    await new Promise((r) => setTimeout(r, 0));

    await push('sync-status', { state: 'syncing', pending: 12 });

    await waitFor(() => expect(screen.getByTestId('sync-chip').dataset.state).toBe('syncing'));
    expect(screen.getByTestId('sync-pending').textContent).toContain('١٢');
  });

  test('Today keeps the convoy and the site, then opens Scan', async () => {
    fakeBackend({ app_status: () => status() });
    render(App);

    await screen.findByTestId('today');
    // One convoy: chosen without asking.
    await waitFor(() => expect(localStorage.getItem('qafila.convoy')).toBe(status().convoys[0].id));
    const sites = screen.getAllByTestId('site-option').map((b) => b.textContent);
    expect(sites).toEqual([SITE, 'الوحدة الصحية']);
    await fireEvent.click(screen.getAllByTestId('site-option')[1]);
    await fireEvent.click(screen.getByTestId('start-scanning'));

    expect(localStorage.getItem('qafila.site')).toBe('الوحدة الصحية');
    expect((await screen.findByTestId('scan-site')).textContent).toBe('الوحدة الصحية');
  });

  test('the language switch turns the page around and changes every text', async () => {
    fakeBackend({ app_status: () => status() });
    render(App);

    await fireEvent.click(await screen.findByTestId('nav-settings'));
    expect(document.documentElement.dir).toBe('rtl');
    expect(document.documentElement.lang).toBe('ar-EG');
    expect(screen.getByTestId('nav-settings').textContent).toContain('الإعدادات');

    await fireEvent.click(screen.getByTestId('language-switch-en'));

    expect(document.documentElement.dir).toBe('ltr');
    expect(document.documentElement.lang).toBe('en');
    expect(screen.getByTestId('nav-settings').textContent).toContain('Settings');
    expect(screen.getByTestId('nav-lead').textContent).toContain('Lead');
    expect(screen.getByRole('heading', { level: 2 }).textContent).toBe('Settings');
    expect(localStorage.getItem('qafila.locale')).toBe('en');

    await fireEvent.click(screen.getByTestId('language-switch-ar-EG'));
    expect(document.documentElement.dir).toBe('rtl');
    expect(screen.getByTestId('nav-lead').textContent).toContain('المسؤول');
  });

  test('the digits setting shows a household of five as ٥ or 5', async () => {
    setSite(SITE);
    fakeBackend({ app_status: () => status(), scan: () => scanResult('ok') });
    render(App);

    const scanAndReadSize = async () => {
      await fireEvent.click(await screen.findByTestId('nav-scan'));
      const input = await screen.findByTestId('scan-input');
      await fireEvent.input(input, { target: { value: 'QF1TEST' } });
      await fireEvent.submit(screen.getByTestId('scan-form'));
      return (await screen.findByTestId('result-household-size')).textContent?.trim();
    };

    expect(await scanAndReadSize()).toBe('٥');
    // The card number stays as printed, whatever the digits.
    expect(screen.getByTestId('result-card-number').textContent).toBe('00001-000001');

    await fireEvent.click(screen.getByTestId('nav-settings'));
    await fireEvent.click(screen.getByTestId('digits-switch-latn'));
    expect(localStorage.getItem('qafila.digits')).toBe('latn');

    expect(await scanAndReadSize()).toBe('5');
    expect(within(screen.getByTestId('result-panel')).getByText(person.name!)).toBeTruthy();
  });

  test('settings show the relay read-only and what this device is', async () => {
    fakeBackend({ app_status: () => status() });
    render(App);
    await fireEvent.click(await screen.findByTestId('nav-settings'));

    expect(screen.getByTestId('relay-url').textContent).toBe('https://relay.example:8443');
    expect(screen.getByTestId('about-version').textContent).toBe('0.1.0');
    expect(screen.getByTestId('about-device-name').textContent).toBe('تابلت منى');
    expect(screen.getByTestId('about-device-id').textContent).toBe(status().device!.id);
  });
});

describe('a locked device', () => {
  test('shows nothing but the unlock screen until the passphrase opens it', async () => {
    let locked = true;
    const backend = fakeBackend({
      app_status: () => status({ locked, device: locked ? undefined : status().device }),
      unlock: ({ passphrase }) => {
        if (passphrase !== 'قافلة الشتاء') {
          throw {
            code: 'wrong_passphrase',
            message: 'wrong passphrase for this device\'s data (4 tries left before a wait)',
            message_ar: 'كلمة السر غلط؛ فاضل 4 محاولات قبل الانتظار',
            retryable: false,
          };
        }
        locked = false;
        return status().device!;
      },
    });
    setSite(SITE);

    render(App);
    const input = (await screen.findByTestId('passphrase-input')) as HTMLInputElement;
    expect(screen.queryByTestId('nav-scan')).toBeNull();
    expect(screen.queryByTestId('sync-chip')).toBeNull();
    expect(screen.queryByTestId('passphrase-again-input'), 'an encrypted store asks once').toBeNull();
    await fireEvent.input(input, { target: { value: 'غلط' } });
    await fireEvent.click(screen.getByTestId('unlock-button'));
    const alert = await screen.findByRole('alert');
    expect(alert.dataset.code).toBe('wrong_passphrase');
    expect(input.value, 'a wrong guess is cleared').toBe('');

    await fireEvent.input(input, { target: { value: 'قافلة الشتاء' } });
    await fireEvent.click(screen.getByTestId('unlock-button'));
    expect(await screen.findByTestId('scan-input')).toBeTruthy();
    expect(backend.of('unlock').map((c) => c.args)).toEqual([
      { passphrase: 'غلط' },
      { passphrase: 'قافلة الشتاء' },
    ]);
  });

  test('a store from before encryption asks for a new passphrase twice', async () => {
    fakeBackend({ app_status: () => status({ locked: true, encrypted: false, device: undefined }) });
    render(App);
    expect(await screen.findByTestId('passphrase-again-input')).toBeTruthy();
    expect(screen.getByRole('heading', { level: 2 }).textContent).toContain('احمي بيانات الجهاز');
  });

  test('the lock button brings the unlock screen', async () => {
    let locked = false;
    setSite(SITE);
    const backend = fakeBackend({
      app_status: () => status({ locked, device: locked ? undefined : status().device }),
      lock: () => {
        locked = true;
        return {};
      },
    });
    render(App);
    await fireEvent.click(await screen.findByTestId('lock-button'));
    expect(await screen.findByTestId('unlock')).toBeTruthy();
    expect(backend.of('lock')).toHaveLength(1);
    expect(screen.queryByTestId('scan-input')).toBeNull();
  });

  test('a command refused because the backend locked itself brings the unlock screen', async () => {
    let locked = false;
    setSite(SITE);
    fakeBackend({
      app_status: () => status({ locked, device: locked ? undefined : status().device }),
      scan: () => {
        // Idle too long: the backend closed the store.
        locked = true;
        throw {
          code: 'locked',
          message: 'this device is locked',
          message_ar: 'بيانات الجهاز مقفولة',
          retryable: false,
        };
      },
    });
    render(App);
    const input = await screen.findByTestId('scan-input');
    await fireEvent.input(input, { target: { value: 'Q1ABCDEF' } });
    await fireEvent.submit(screen.getByTestId('scan-form'));
    expect(await screen.findByTestId('unlock')).toBeTruthy();
    expect(screen.queryByTestId('scan-input')).toBeNull();
  });
});
