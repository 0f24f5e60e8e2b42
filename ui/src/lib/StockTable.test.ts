import { describe, expect, test } from 'vitest';
import { render, screen, waitFor } from '@testing-library/svelte';
import StockTable from './StockTable.svelte';
import { switchLanguage } from './i18n';
import { fakeBackend } from '../test/fake-backend';

const SITE = 'دير مواس';

describe('the stock table', () => {
  test('names the site-day the lead opened', async () => {
    switchLanguage('ar-EG');
    fakeBackend({
      day_status: () => ({
        site: SITE,
        date: '2026-12-01',
        closed: false,
        opened: 'اليوم التاني',
        items: [],
        anomalies: [],
      }),
    });
    render(StockTable, { site: SITE });
    await waitFor(() => expect(screen.getByTestId('day-opened').textContent).toBe('اليوم التاني'));
  });

  test('says nothing of an opening when the day was not opened', async () => {
    switchLanguage('ar-EG');
    fakeBackend({
      day_status: () => ({ site: SITE, date: '2026-12-01', closed: false, opened: null, items: [], anomalies: [] }),
    });
    render(StockTable, { site: SITE });
    await waitFor(() => expect(screen.getByTestId('stock').textContent).toContain('2026-12-01'));
    expect(screen.queryByTestId('day-opened')).toBeNull();
  });
});
