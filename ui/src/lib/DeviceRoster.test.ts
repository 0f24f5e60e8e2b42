import { describe, expect, test } from 'vitest';
import { fireEvent, render, screen, within } from '@testing-library/svelte';
import DeviceRoster from './DeviceRoster.svelte';
import { switchLanguage } from './i18n';
import { fakeBackend } from '../test/fake-backend';
import type { ConvoyDto, MemberDto } from './types';

const convoy: ConvoyDto = {
  id: '0190a1b2-0000-7000-8000-000000000001',
  name: 'قافلة الشتاء',
  day: '2026-12-01',
  relay: 'https://relay.example:8443',
  role: 'lead',
  status: 'approved',
  sites: [],
  my_role: 'lead',
  lead_fingerprint: '3M780VS9PSG05950',
  relays: [],
};

function member(device: string, name: string, extra: Partial<MemberDto>): MemberDto {
  return {
    device,
    name,
    role: 'member',
    status: 'pending',
    fingerprint: 'EJ72-F52R-M6PD-7H5Z-T21H',
    last_seen_ms: null,
    ...extra,
  };
}

describe('the lead approves devices with a role, by their fingerprint', () => {
  test('a bound device is approved with the role picked, the fingerprint shown to compare', async () => {
    switchLanguage('en');
    const tablet = member('d1', 'Tablet', { bound: true });
    const backend = fakeBackend({
      devices: () => [tablet],
      approve: ({ device, role }) => ({ ...tablet, device, role, status: 'approved' }),
    });
    render(DeviceRoster, { convoy, self: null });
    const row = await screen.findByTestId('device-row');
    expect(within(row).getByTestId('device-fingerprint').textContent).toBe('EJ72-F52R-M6PD-7H5Z-T21H');
    expect(within(row).getByTestId('device-bound')).toBeTruthy();
    await fireEvent.change(within(row).getByTestId('role-select'), { target: { value: 'registrar' } });
    await fireEvent.click(within(row).getByTestId('approve-button'));
    expect(row.textContent).toMatch(/as\W*registrar/);
    expect(row.textContent).toContain('EJ72-F52R-M6PD-7H5Z-T21H');
    await fireEvent.click(within(row).getByTestId('confirm-yes'));
    await within(row).findByText(/approved/);
    expect(backend.of('approve')[0].args).toMatchObject({ device: 'd1', role: 'registrar' });
    expect(backend.of('approve')[0].args.fingerprint).toBeUndefined();
  });

  test('a device with nothing to bind its keys waits for the fingerprint its screen shows', async () => {
    switchLanguage('en');
    const phone = member('d2', 'Phone', {});
    const backend = fakeBackend({
      devices: () => [phone],
      approve: ({ device }) => ({ ...phone, device, role: 'volunteer', status: 'approved' }),
    });
    render(DeviceRoster, { convoy, self: null });
    const row = await screen.findByTestId('device-row');
    await fireEvent.click(within(row).getByTestId('approve-button'));
    const yes = within(row).getByTestId('confirm-yes') as HTMLButtonElement;
    expect(yes.disabled).toBe(true);
    await fireEvent.input(within(row).getByTestId('fingerprint-input'), {
      target: { value: 'ej72 f52r m6pd 7h5z t21h' },
    });
    expect(yes.disabled).toBe(false);
    await fireEvent.click(yes);
    await within(row).findByText(/approved/);
    expect(backend.of('approve')[0].args).toMatchObject({
      device: 'd2',
      role: 'volunteer',
      fingerprint: 'ej72 f52r m6pd 7h5z t21h',
    });
  });

  test('a device whose keys are not the ones it enrolled with cannot be approved', async () => {
    switchLanguage('ar-EG');
    fakeBackend({ devices: () => [member('d3', 'جهاز', { bound: false })] });
    render(DeviceRoster, { convoy, self: null });
    const row = await screen.findByTestId('device-row');
    expect(within(row).getByTestId('device-unbound').textContent).toContain('متوافقش');
    expect((within(row).getByTestId('approve-button') as HTMLButtonElement).disabled).toBe(true);
  });

  test('a revocation says which relays it has not reached', async () => {
    switchLanguage('en');
    const volunteer = member('d4', 'Lost phone', { status: 'approved', role: 'volunteer' });
    fakeBackend({
      devices: () => [volunteer],
      revoke: () => ({ ...volunteer, status: 'revoked', valid_through: 7, unreached: ['http://192.168.43.1:8443'] }),
    });
    render(DeviceRoster, { convoy, self: null });
    const row = await screen.findByTestId('device-row');
    await fireEvent.click(within(row).getByTestId('revoke-button'));
    await fireEvent.click(within(row).getByTestId('confirm-yes'));
    const notice = await screen.findByTestId('revoked-notice');
    expect(notice.textContent).toContain('Lost phone');
    expect(notice.textContent).toContain('192.168.43.1');
    expect(row.getAttribute('data-status')).toBe('revoked');
  });
});
