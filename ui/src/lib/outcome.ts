// What the Scan screen shows about the person at the table, whether they came
// by card scan or by manual search: one shape for both.

import type { CheckInDto, RemainingDto, ScanDto, ScanStatus } from './types';

export interface Outcome {
  /** One of `ScanStatus`; any other string the backend may add shows as refused. */
  status: ScanStatus | (string & {});
  /** The backend's sentence about it (empty after a manual check-in). */
  message: string;
  message_ar: string;
  /** The printed card number, once the card could be read. */
  cardNumber: string | null;
  /** The card's serial, passed on with the hand-outs it leads to. */
  serial: string | null;
  /** The check-in, when one was recorded. */
  checkIn: CheckInDto | null;
  /**
   * A genuine card this device has reason to doubt (its number was never
   * seen issued here), in English and Arabic.
   */
  warning?: { message: string; message_ar: string } | null;
}

/** Thousandths, so "0.5" + "0.5" adds up exactly. */
export function milli(quantity: string): number {
  const n = Number(quantity);
  return Number.isFinite(n) ? Math.round(n * 1000) : 0;
}

/** A quantity back in the backend's text form ("1.5"). */
export function quantityText(thousandths: number): string {
  return String(thousandths / 1000);
}

export function stillDue(items: RemainingDto[]): RemainingDto[] {
  return items.filter((i) => milli(i.remaining) > 0);
}

/** Handed out at other tables (the doctor's), never in the standard basket. */
const OUTSIDE_BASKET = new Set(['medicine', 'checkup']);

/**
 * The backend's rule for "already served" (`distribution::nothing_left`):
 * nothing left of the basket's items when the round has any, else nothing
 * left at all (a medical convoy's round).
 */
export function nothingLeft(items: RemainingDto[]): boolean {
  const basket = items.filter((i) => !OUTSIDE_BASKET.has(i.item));
  return stillDue(basket.length > 0 ? basket : items).length === 0;
}

export function fromScan(scan: ScanDto): Outcome {
  return {
    status: scan.status,
    message: scan.message,
    message_ar: scan.message_ar,
    cardNumber: scan.card.number ?? null,
    serial: scan.card.serial ?? null,
    checkIn: scan.check_in ?? null,
    warning:
      scan.card.warning_message && scan.card.warning_message_ar
        ? { message: scan.card.warning_message, message_ar: scan.card.warning_message_ar }
        : null,
  };
}

/** A manual check-in reads like a scan of a good card: ok, or nothing left. */
export function fromManual(checkIn: CheckInDto): Outcome {
  return {
    status: nothingLeft(checkIn.entitlement.items) ? 'already_served' : 'ok',
    message: '',
    message_ar: '',
    cardNumber: null,
    serial: null,
    checkIn,
  };
}
