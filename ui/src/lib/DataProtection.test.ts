import { describe, expect, test, vi } from 'vitest';
import { fireEvent, render, screen, waitFor, within } from '@testing-library/svelte';
import DataProtection from './DataProtection.svelte';
import { formatNumber, translate } from './i18n';
import { fakeBackend } from '../test/fake-backend';

const choices = (testid: string) =>
  within(screen.getByTestId(testid))
    .getAllByRole('button')
    .map((b) => b.textContent?.trim());
const minutes = (n: number) => translate('ar-EG', 'lock-after-minutes', { n: formatNumber(n) });

describe("the lead's idle limit", () => {
  test('a member is offered nothing longer than the limit, and never "never"', () => {
    fakeBackend({});
    render(DataProtection, { lockAfter: 5, policy: 5, lead: false, minChars: 8, onchanged: vi.fn() });
    expect(choices('lock-after')).toEqual([minutes(1), minutes(5)]);
    expect(screen.getByTestId('lock-policy-note').textContent).toContain(formatNumber(5));
    expect(screen.queryByTestId('lock-policy')).toBeNull();
  });

  test('without a limit every choice is there, never included', () => {
    fakeBackend({});
    render(DataProtection, { lockAfter: 10, lead: false, minChars: 8, onchanged: vi.fn() });
    expect(choices('lock-after')).toHaveLength(6);
    expect(choices('lock-after')).toContain(translate('ar-EG', 'lock-after-never'));
    expect(screen.queryByTestId('lock-policy-note')).toBeNull();
  });

  test('a limit of an unusual length is offered as itself', () => {
    fakeBackend({});
    render(DataProtection, { lockAfter: 7, policy: 7, lead: false, minChars: 8, onchanged: vi.fn() });
    expect(choices('lock-after')).toEqual([minutes(1), minutes(5), minutes(7)]);
  });

  test('a lead sets the limit for the whole convoy', async () => {
    const backend = fakeBackend({ set_lock_policy: () => ({ event: 'e', kind: 'lock_policy' }) });
    const onchanged = vi.fn();
    render(DataProtection, { lockAfter: 10, lead: true, minChars: 8, onchanged });
    await fireEvent.click(within(screen.getByTestId('lock-policy')).getByText(minutes(30)));
    await waitFor(() => expect(onchanged).toHaveBeenCalled());
    expect(backend.of('set_lock_policy')[0].args).toEqual({ minutes: 30 });
  });
});
