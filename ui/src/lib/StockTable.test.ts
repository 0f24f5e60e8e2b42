import { describe, expect, test } from 'vitest';
import { render, screen, waitFor } from '@testing-library/svelte';
import StockTable from './StockTable.svelte';
import { switchLanguage } from './i18n';
import { fakeBackend } from '../test/fake-backend';
import { expectCardReady } from '../test/tables';
import type { StockLineDto } from './types';

const SITE = 'دير مواس';

function stockLine(overrides: Partial<StockLineDto> = {}): StockLineDto {
  return {
    item: 'food_box',
    item_en: 'Food box',
    item_ar: 'كرتونة مواد غذائية',
    opening: '0',
    loaded: '10',
    transferred_in: '0',
    transferred_out: '0',
    handed_out: '2',
    returned: '0',
    lost: '0',
    expected: '8',
    counted: null,
    variance: null,
    variance_reason: null,
    ...overrides,
  };
}

/** The site's day as `day_status` answers it: open, with `items`, and opened under `opened` if given. */
function dayStatus(items: StockLineDto[], opened: string | null = null) {
  return { site: SITE, date: '2026-12-01', closed: false, opened, items, anomalies: [] };
}

describe('the stock table', () => {
  test('names the site-day the lead opened', async () => {
    switchLanguage('ar-EG');
    fakeBackend({
      day_status: () => dayStatus([], 'اليوم التاني'),
    });
    render(StockTable, { site: SITE });
    await waitFor(() => expect(screen.getByTestId('day-opened').textContent).toBe('اليوم التاني'));
  });

  test('says nothing of an opening when the day was not opened', async () => {
    switchLanguage('ar-EG');
    fakeBackend({
      day_status: () => dayStatus([]),
    });
    render(StockTable, { site: SITE });
    await waitFor(() => expect(screen.getByTestId('stock').textContent).toContain('2026-12-01'));
    expect(screen.queryByTestId('day-opened')).toBeNull();
  });

  test('its scroll box is a named region a keyboard can reach', async () => {
    switchLanguage('en');
    fakeBackend({
      day_status: () => dayStatus([stockLine()]),
    });
    render(StockTable, { site: SITE });
    const region = await screen.findByRole('region', { name: /Stock at/ });
    expect(region.getAttribute('tabindex')).toBe('0');
    expect(region.querySelector('[data-testid=stock-table]')).not.toBeNull();
  });

  test('each figure carries its column as the label a phone shows; a plan item carries its language', async () => {
    switchLanguage('en');
    fakeBackend({
      // A counted line (the widest table), and an item the plan named in Arabic only.
      day_status: () =>
        dayStatus([stockLine({ counted: '7' }), stockLine({ item: 'lentils', item_en: '', item_ar: 'عدس' })]),
    });
    render(StockTable, { site: SITE });
    const table = await screen.findByRole('table');
    expectCardReady(table);
    const counted = table.querySelector('[data-item=food_box] [data-col=counted]');
    expect(counted?.getAttribute('data-label')).toBe('Counted');
    expect(counted?.textContent).toBe('7');
    expect(screen.getByRole('rowheader', { name: 'عدس' }).querySelector('[lang=ar]')?.textContent).toBe('عدس');
    expect(screen.getByRole('rowheader', { name: 'Food box' }).querySelector('[lang=en]')?.textContent).toBe(
      'Food box',
    );
    // The site in the heading is read in its own language, the heading in the app's.
    expect(screen.getByRole('heading', { level: 3 }).querySelector('[lang=ar]')?.textContent).toBe(SITE);
  });
});
