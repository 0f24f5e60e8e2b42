import { describe, expect, test } from 'vitest';
import { fireEvent, render, screen, waitFor, within } from '@testing-library/svelte';
import AnomalyList from './AnomalyList.svelte';
import DayEnd from './DayEnd.svelte';
import { switchLanguage } from './i18n';
import { fakeBackend } from '../test/fake-backend';
import { expectCardReady } from '../test/tables';
import type { AnomalyDto, CountSheetDto, ReconciliationDto, StockLineDto } from './types';

const SITE = 'كفر الشيخ سالم';

const sheet: CountSheetDto = {
  site: SITE,
  date: '2026-12-01',
  closed: false,
  items: [{ item: 'food_box', item_en: 'Food box', item_ar: 'كرتونة مواد غذائية', fractions: false, counted: null }],
  reasons: [
    { code: 'counting_error', en: 'Counting error', ar: 'خطأ في العد' },
    { code: 'theft', en: 'Theft', ar: 'سرقة' },
  ],
};

function line(counted: string, variance: string, reason: string | null = null): StockLineDto {
  return {
    item: 'food_box',
    item_en: 'Food box',
    item_ar: 'كرتونة مواد غذائية',
    opening: '0',
    loaded: '200',
    transferred_in: '0',
    transferred_out: '0',
    handed_out: '13',
    returned: '0',
    lost: '0',
    expected: '187',
    counted,
    variance,
    variance_reason: reason,
  };
}

function reconciliation(recorded: boolean, reason: string | null): ReconciliationDto {
  return {
    site: SITE,
    date: '2026-12-01',
    recorded,
    lines: [line('185', '-2', reason)],
    missing_reasons: reason ? [] : ['food_box'],
  };
}

describe('the blind count', () => {
  test('shows nothing expected until the count is typed, then asks a reason for the difference', async () => {
    switchLanguage('en');
    const backend = fakeBackend({
      day_close: () => null,
      count_sheet: () => sheet,
      devices_waiting: () => ({ site: SITE, date: '2026-12-01', last_hand_out_ms: null, relay_reachable: true, devices: [] }),
      reconcile: ({ preview, counts }) =>
        reconciliation(!preview && Boolean(counts[0].reason), counts[0].reason ?? null),
    });
    const counting: boolean[] = [];
    render(DayEnd, { site: SITE, oncounting: (on: boolean) => counting.push(on) });
    await fireEvent.click(await screen.findByTestId('count-start'));
    expect(counting).toEqual([true]);
    const panel = screen.getByTestId('day-end');
    expect(panel.textContent).not.toContain('187');
    expect((screen.getByTestId('count-show') as HTMLButtonElement).disabled).toBe(true);
    await fireEvent.input(screen.getByTestId('count-input'), { target: { value: '185' } });
    await fireEvent.click(screen.getByTestId('count-show'));
    const row = await screen.findByTestId('variance-row');
    expect(within(row).getByText('187')).toBeTruthy();
    // On a phone each figure shows its column as its label; what to say about
    // the difference stays on the item's card.
    expectCardReady(screen.getByTestId('variance-table'));
    expect(row.nextElementSibling?.classList.contains('continued')).toBe(true);
    expect(within(row.nextElementSibling as HTMLElement).getByTestId('reason-select')).toBeTruthy();
    expect(backend.of('reconcile')[0].args).toMatchObject({ site: SITE, preview: true });
    expect(counting).toEqual([true, false]);

    // Recording waits for a reason; the reason and note go with the count.
    expect((screen.getByTestId('count-record') as HTMLButtonElement).disabled).toBe(true);
    await fireEvent.change(screen.getByTestId('reason-select'), { target: { value: 'counting_error' } });
    await fireEvent.input(screen.getByTestId('reason-note'), { target: { value: 'recounted twice' } });
    await fireEvent.click(screen.getByTestId('count-record'));
    await screen.findByTestId('count-recorded');
    expect(backend.of('reconcile')[1].args).toMatchObject({
      preview: false,
      counts: [{ item: 'food_box', counted: '185', reason: 'counting_error', note: 'recounted twice' }],
    });
  });

  test('a closed day shows who closed it and whether the signature holds', async () => {
    switchLanguage('en');
    fakeBackend({
      day_close: () => ({
        event: 'e1',
        site: SITE,
        date: '2026-12-01',
        closed_by: 'Lead',
        closed_ms: Date.now(),
        covered: ['Lead', 'Mona'],
        outstanding: ['Karim'],
        signature_valid: false,
        signed_text: 'qafila-day-close/1',
      }),
    });
    render(DayEnd, { site: SITE });
    const closed = await screen.findByTestId('day-closed');
    expect(closed.getAttribute('data-valid')).toBe('false');
    expect(screen.getByTestId('closed-without').textContent).toContain('Karim');
    expect(screen.getByTestId('signature').textContent).toContain('NOT valid');
    expect(screen.queryByTestId('close-day')).toBeNull();
  });
});

describe('reviewing anomalies', () => {
  test('an explanation needs a note; the review shows beside the anomaly', async () => {
    switchLanguage('en');
    const anomaly: AnomalyDto = {
      code: 'double_hand_out',
      message: 'household Fatma received 2 Food box from 2 devices; entitled to 1',
      message_ar: '',
      events: ['a', 'b'],
      id: '0123456789abcdef0123456789abcdef',
      review: null,
    };
    const backend = fakeBackend({
      anomalies: () => [anomaly],
      review_anomaly: ({ outcome, note }) => ({ outcome, note, event: 'r1', at_ms: 1 }),
    });
    render(AnomalyList);
    const item = await screen.findByTestId('anomaly');
    expect((within(item).getByTestId('review-explained') as HTMLButtonElement).disabled).toBe(true);
    await fireEvent.input(within(item).getByTestId('review-note'), { target: { value: 'two members came' } });
    await fireEvent.click(within(item).getByTestId('review-explained'));
    await waitFor(() => expect(item.getAttribute('data-reviewed')).toBe('explained'));
    expect(backend.of('review_anomaly')[0].args).toEqual({
      id: anomaly.id,
      outcome: 'explained',
      note: 'two members came',
    });
    expect(within(item).getByTestId('anomaly-review').textContent).toContain('two members came');
  });

  test('a name or a note typed in the other language is marked with it, not the sentence around it', async () => {
    switchLanguage('en');
    fakeBackend({
      anomalies: () => [
        {
          code: 'double_hand_out',
          message: 'household فاطمة حسن received 2 Food box from 2 devices; entitled to 1',
          message_ar: 'الأسرة فاطمة حسن استلمت 2 كرتونة مواد غذائية من 2 أجهزة؛ المستحق 1',
          events: ['a', 'b'],
          id: '0123456789abcdef0123456789abcdef',
          review: { outcome: 'explained', note: 'اتنين من الأسرة جم', event: 'r1', at_ms: 1 },
        },
      ],
    });
    render(AnomalyList);
    const item = await screen.findByTestId('anomaly');
    const marked = Array.from(item.querySelectorAll('[lang]')).map((el) => [el.getAttribute('lang'), el.textContent]);
    expect(marked).toEqual([
      ['ar', 'فاطمة حسن'],
      ['ar', 'اتنين من الأسرة جم'],
    ]);
    expect(item.textContent).toContain('household فاطمة حسن received 2 Food box');
  });
});
