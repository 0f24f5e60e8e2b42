import { describe, expect, test } from 'vitest';
import { fromManual, milli, nothingLeft, quantityText } from './outcome';
import { checkIn, items } from '../test/fixtures';
import type { RemainingDto } from './types';

const item = (code: string, remaining: string): RemainingDto => ({
  item: code,
  item_en: code,
  item_ar: code,
  unit: 'piece',
  allowed: remaining,
  received: '0',
  remaining,
});

describe('quantities', () => {
  test('add up exactly in thousandths and go back to the backend text form', () => {
    expect(milli('0.5') + milli('0.5')).toBe(1000);
    expect(quantityText(1500)).toBe('1.5');
    expect(quantityText(2000)).toBe('2');
    expect(milli('not a number')).toBe(0);
  });
});

describe('already served, as the backend decides it', () => {
  test('only the basket counts while the round has basket items', () => {
    expect(nothingLeft([item('food_box', '0'), item('checkup', '3')])).toBe(true);
    expect(nothingLeft([item('food_box', '1'), item('checkup', '0')])).toBe(false);
  });

  test('a medical round (no basket item) counts everything', () => {
    expect(nothingLeft([item('checkup', '1')])).toBe(false);
    expect(nothingLeft([item('checkup', '0'), item('medicine', '0')])).toBe(true);
  });

  test('a manual check-in reads like a scan', () => {
    expect(fromManual(checkIn()).status).toBe('ok');
    expect(fromManual(checkIn(true)).status).toBe('already_served');
    expect(items(true).every((i) => i.remaining === '0')).toBe(true);
  });
});
