// Telling a wedge scanner from a person. A USB or Bluetooth scanner in
// keyboard mode types a card's 175 characters a few milliseconds apart and
// presses Enter; a person types a name at a key every 80 ms or more. The scan
// screen routes a scanner's burst to the scan even when the focus is in a
// text field (the manual search, a medicine lot), so the card is scanned and
// the field gets back what it held before.

/** Longest pause between two keys of one run: scanners type a key every 5–30 ms. */
export const SCANNER_GAP_MS = 80;

/**
 * A scanner's stream can stall (a Bluetooth link, a busy machine): runs of
 * scanner-speed keys separated by a pause up to this long still make one scan.
 */
export const STALL_MS = 1500;

/** Fewest keys in a run for it to be a scanner's: people never type 12 keys under 80 ms apart. */
export const MIN_RUN = 12;

/**
 * Fewest characters a burst needs to count as a scan: a card has 175, and
 * nobody types 24 keys at scanner speed.
 */
export const MIN_SCAN_CHARS = 24;

/** Keys a scanner presses along with the characters (Shift for capitals): they neither add to a burst nor end it. */
const MODIFIERS = new Set(['Shift', 'CapsLock', 'AltGraph']);

/** A key that types a character (not Space: keyboard users press buttons with it, and cards have none). */
export function typesCharacter(e: Pick<KeyboardEvent, 'key' | 'ctrlKey' | 'metaKey' | 'altKey'>): boolean {
  return e.key.length === 1 && e.key !== ' ' && !e.ctrlKey && !e.metaKey && !e.altKey;
}

/** A burst that ended in Enter: the scanned text, and what the field held before the burst began. */
export interface Burst {
  text: string;
  before: string;
}

/** Keys at scanner speed, and what the field held before the first of them. */
interface Run {
  chars: string;
  before: string;
}

/**
 * Follows the keys typed into one field after another and recognises a
 * scanner's burst: from a run of `MIN_RUN` keys or more, each under
 * `SCANNER_GAP_MS` apart, to an Enter, with no pause longer than `STALL_MS`
 * (a stalling stream splits a scan into runs, some short), at least
 * `MIN_SCAN_CHARS` long. A person's keys make runs too short to start one,
 * so what they typed before the scanner started stays theirs.
 */
export class BurstWatch {
  private runs: Run[] = [];
  private last = Number.NEGATIVE_INFINITY;
  private field: unknown = null;

  /**
   * A key pressed at `at` (ms) in `field`, whose value before the key is `value`.
   * Returns the burst when the key is the Enter that ends a scan, else null.
   */
  key(
    at: number,
    e: Pick<KeyboardEvent, 'key' | 'ctrlKey' | 'metaKey' | 'altKey'>,
    field: unknown,
    value: string,
  ): Burst | null {
    if (MODIFIERS.has(e.key)) return null;
    const gap = field === this.field ? at - this.last : Number.POSITIVE_INFINITY;
    if (e.key === 'Enter') {
      const burst = gap <= STALL_MS ? this.scanned() : null;
      this.reset();
      return burst;
    }
    if (!typesCharacter(e) || gap > STALL_MS) this.reset();
    if (!typesCharacter(e)) return null;
    this.field = field;
    const run = this.runs.at(-1);
    if (run && gap <= SCANNER_GAP_MS) run.chars += e.key;
    else this.runs.push({ chars: e.key, before: value });
    this.last = at;
    return null;
  }

  /** The runs from the first one long enough to be a scanner's, if together they make a scan. */
  private scanned(): Burst | null {
    const first = this.runs.findIndex((r) => r.chars.length >= MIN_RUN);
    if (first < 0) return null;
    const text = this.runs
      .slice(first)
      .map((r) => r.chars)
      .join('');
    return text.length >= MIN_SCAN_CHARS ? { text, before: this.runs[first].before } : null;
  }

  reset(): void {
    this.runs = [];
    this.last = Number.NEGATIVE_INFINITY;
    this.field = null;
  }
}

/** A card's text: `QF1`, then the cards' base32 (`qafila_cards::base32::ALPHABET`). */
const CARD_AT_END = new RegExp(`QF1[0-9ACDEFHJ-NP-Z]{${MIN_SCAN_CHARS - 3},}$`);

/**
 * A card's whole text at the end of a field when Enter is pressed: a scan,
 * whatever the timing of its keys (a Bluetooth scanner whose stream stalled
 * longer than `STALL_MS`, a machine too busy to take keys at scanner speed).
 * People do not type a card's text into a name search or a lot number.
 */
export function cardAtEnd(value: string): Burst | null {
  const match = CARD_AT_END.exec(value);
  return match ? { text: match[0], before: value.slice(0, match.index) } : null;
}
