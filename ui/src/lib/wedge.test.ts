import { describe, expect, it } from 'vitest';
import { BurstWatch, MIN_RUN, MIN_SCAN_CHARS, SCANNER_GAP_MS, STALL_MS, cardAtEnd, typesCharacter } from './wedge';
import { random } from '../test/random';

const CARD_ALPHABET = '0123456789ACDEFHJKLMNPQRSTUVWXYZ';
const key = (k: string) => ({ key: k, ctrlKey: false, metaKey: false, altKey: false });

function cardText(next: () => number): string {
  let text = 'QF1';
  while (text.length < 175) text += CARD_ALPHABET[Math.floor(next() * CARD_ALPHABET.length)];
  return text;
}

/** Types `text` into a field whose value is `value`, a key every `gap()` ms from `at`; returns the time and value after. */
function type(watch: BurstWatch, field: object, text: string, value: string, at: number, gap: () => number, shift = false) {
  for (const c of text) {
    at += gap();
    // A scanner holds Shift for capitals: its own keydown comes first.
    if (shift && /[A-Z]/.test(c)) expect(watch.key(at, key('Shift'), field, value)).toBeNull();
    expect(watch.key(at, key(c), field, value)).toBeNull();
    value += c;
  }
  return { at, value };
}

describe('BurstWatch', () => {
  it('recognises a scanner burst, with Shift pressed for capitals, whatever the field held', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const next = random(seed);
      const watch = new BurstWatch();
      const field = {};
      const held = next() < 0.5 ? '' : 'محمد';
      const text = cardText(next);
      const typed = type(watch, field, text, held, 1000, () => 1 + next() * (SCANNER_GAP_MS - 1), true);
      const burst = watch.key(typed.at + next() * SCANNER_GAP_MS, key('Enter'), field, typed.value);
      expect(burst).toEqual({ text, before: held });
    }
  });

  it('never takes a person typing for a scanner, however long the text', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const next = random(seed);
      const watch = new BurstWatch();
      const field = {};
      const words = 'ابتثجحخدذرزسشصضطظعغفقكلمنهوي0123456789abcdefghijklmnop';
      let text = '';
      const length = 1 + Math.floor(next() * 200);
      while (text.length < length) text += words[Math.floor(next() * words.length)];
      // Fast typists roll over two or three keys in a row under 80 ms, then
      // pause; never twelve in a row.
      let quick = 0;
      const gap = () => {
        quick = quick < 2 && next() < 0.4 ? quick + 1 : 0;
        return quick > 0 ? 10 + next() * 60 : SCANNER_GAP_MS + 1 + next() * 300;
      };
      const typed = type(watch, field, text, '', 0, gap);
      expect(watch.key(typed.at + 10, key('Enter'), field, typed.value)).toBeNull();
    }
  });

  it('keeps what a person typed before the scanner started, and only the burst is the scan', () => {
    const next = random(7);
    const watch = new BurstWatch();
    const field = {};
    const person = type(watch, field, 'فاطمة', '', 0, () => 150);
    const text = cardText(next);
    const scanner = type(watch, field, text, person.value, person.at + 400, () => 8);
    expect(watch.key(scanner.at + 8, key('Enter'), field, scanner.value)).toEqual({ text, before: 'فاطمة' });
  });

  it('takes a scan whose stream stalled midway, even in short runs, as one scan', () => {
    const next = random(5);
    const watch = new BurstWatch();
    const field = {};
    const text = cardText(next);
    const head = type(watch, field, text.slice(0, 90), '', 0, () => 6);
    const middle = type(watch, field, text.slice(90, 93), head.value, head.at + 400, () => 6);
    const tail = type(watch, field, text.slice(93), middle.value, middle.at + 300, () => 6);
    expect(watch.key(tail.at + 300, key('Enter'), field, tail.value)).toEqual({ text, before: '' });
    // A stall longer than a scanner's is the end of it.
    const cut = new BurstWatch();
    const first = type(cut, field, text.slice(0, 90), '', 0, () => 6);
    const second = type(cut, field, text.slice(90), first.value, first.at + STALL_MS + 1, () => 6);
    expect(cut.key(second.at + 6, key('Enter'), field, second.value)).toEqual({
      text: text.slice(90),
      before: text.slice(0, 90),
    });
    // A short fast run just before the scan (keys rolled over) is a person's.
    const rolled = new BurstWatch();
    const pair = type(rolled, field, 'ab'.padEnd(MIN_RUN - 1, 'c'), '', 0, () => 20);
    const scan = type(rolled, field, text, pair.value, pair.at + 200, () => 6);
    expect(rolled.key(scan.at + 6, key('Enter'), field, scan.value)).toEqual({ text, before: pair.value });
  });

  it('ignores a short fast burst, a pause before Enter, a key in another field, or an edit key', () => {
    const next = random(11);
    const field = {};
    const short = new BurstWatch();
    const few = type(short, field, 'QF1ABC'.padEnd(MIN_SCAN_CHARS - 1, 'A'), '', 0, () => 5);
    expect(short.key(few.at + 5, key('Enter'), field, few.value)).toBeNull();

    const paused = new BurstWatch();
    const all = type(paused, field, cardText(next), '', 0, () => 5);
    expect(paused.key(all.at + STALL_MS + 1, key('Enter'), field, all.value)).toBeNull();

    const moved = new BurstWatch();
    const there = type(moved, field, cardText(next), '', 0, () => 5);
    expect(moved.key(there.at + 5, key('Enter'), {}, '')).toBeNull();

    const edited = new BurstWatch();
    const half = type(edited, field, cardText(next), '', 0, () => 5);
    expect(edited.key(half.at + 5, key('Backspace'), field, half.value)).toBeNull();
    expect(edited.key(half.at + 10, key('Enter'), field, half.value)).toBeNull();
  });

  it('counts only keys that type a character', () => {
    expect(typesCharacter(key('a'))).toBe(true);
    expect(typesCharacter(key('ض'))).toBe(true);
    expect(typesCharacter(key(' '))).toBe(false);
    expect(typesCharacter(key('Enter'))).toBe(false);
    expect(typesCharacter({ ...key('c'), ctrlKey: true })).toBe(false);
  });
});

describe('cardAtEnd', () => {
  const CARD = 'QF104FTN0003QE00000040U4A1JQ74R4VDQ7D5UTVF0MXY038K862RZAX';

  it('finds a whole card typed after what the field held, however slowly', () => {
    expect(cardAtEnd(`فاطمة${CARD}`)).toEqual({ text: CARD, before: 'فاطمة' });
    expect(cardAtEnd(CARD)).toEqual({ text: CARD, before: '' });
  });

  it('leaves names, national IDs, lots and short or foreign text alone', () => {
    for (const text of ['فاطمة', '29001150101235', 'LOT-2026-17', 'QF1ABC', `${CARD} `, CARD.toLowerCase(), 'QF1' + 'I'.repeat(30)]) {
      expect(cardAtEnd(text)).toBeNull();
    }
  });
});
