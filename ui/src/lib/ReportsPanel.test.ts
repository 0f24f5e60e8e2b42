import { describe, expect, test } from 'vitest';
import { fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import ReportsPanel from './ReportsPanel.svelte';
import { switchDigits, switchLanguage } from './i18n';
import { fakeBackend } from '../test/fake-backend';

const SITE = 'دير مواس';

function backend(date: string) {
  return fakeBackend({
    day_status: () => ({ site: SITE, date, closed: false, items: [], anomalies: [] }),
    day_report: () => ({ html: '<html></html>' }),
  });
}

describe('the reports panel', () => {
  test("exports default to the convoy's day, not this computer's date", async () => {
    switchLanguage('ar-EG');
    backend('2026-10-29');
    render(ReportsPanel, { site: SITE });
    await waitFor(() =>
      expect((screen.getByTestId('export-from') as HTMLInputElement).value).toBe('2026-10-29'),
    );
    expect((screen.getByTestId('export-to') as HTMLInputElement).value).toBe('2026-10-29');
  });

  test("the printed report follows the app's digit setting", async () => {
    switchLanguage('ar-EG');
    const fake = backend('2026-12-01');
    window.print = () => {};
    render(ReportsPanel, { site: SITE });
    await fireEvent.click(screen.getByTestId('report-print'));
    await waitFor(() => expect(fake.of('day_report')).toHaveLength(1));
    expect(fake.of('day_report')[0].args).toMatchObject({ english: false, eastern_digits: true });
    switchDigits('latn');
    await fireEvent.click(screen.getByTestId('report-print'));
    await waitFor(() => expect(fake.of('day_report')).toHaveLength(2));
    expect(fake.of('day_report')[1].args).toMatchObject({ english: false, eastern_digits: false });
  });
});
