// Every string the UI shows comes from Fluent: `locales/ar-EG.ftl` (Egyptian
// Arabic, the primary) and `locales/en.ftl`. `t()` reads the current language
// from `settings`, a Svelte state, so any template that calls it follows a
// language switch by itself.
//
// Numbers: counts, quantities and household sizes go through `formatNumber`
// with the digits setting (Eastern ٠١٢ or Western 012). Card numbers and ids
// never do: they stay as printed, inside `<bdi dir="ltr">`.

import { FluentBundle, FluentNumber, FluentResource, type FluentVariable } from '@fluent/bundle';
import arSource from '../locales/ar-EG.ftl?raw';
import enSource from '../locales/en.ftl?raw';
import {
  settings,
  setDigits,
  setLocale,
  type Digits,
  type Locale,
} from './settings.svelte';

export type { Digits, Locale };

/** The .ftl sources, for the parity test. */
export const SOURCES: Record<Locale, string> = { 'ar-EG': arSource, en: enSource };

function bundle(locale: Locale, source: string): FluentBundle {
  const b = new FluentBundle(locale);
  const errors = b.addResource(new FluentResource(source));
  if (errors.length > 0) {
    // A broken .ftl is a build mistake; the tests parse both files and fail on it.
    console.error(`Fluent errors in ${locale}.ftl`, errors);
  }
  return b;
}

const BUNDLES: Record<Locale, FluentBundle> = {
  'ar-EG': bundle('ar-EG', arSource),
  en: bundle('en', enSource),
};

export type Args = Record<string, string | number | null | undefined>;

/** The Unicode blocks of the Arabic script, for a character class. */
const ARABIC = '\\u0600-\\u06FF\\u0750-\\u077F\\u08A0-\\u08FF\\uFB50-\\uFDFF\\uFE70-\\uFEFF';
const ARABIC_LETTER = new RegExp(`[${ARABIC}]`, 'u');

/**
 * The language of a piece of data people typed (a name, a village, a site):
 * Arabic when it has Arabic letters, else English. Marked `lang` on the
 * element, so a screen reader reads an Arabic name in the English UI with an
 * Arabic voice (and the reverse).
 */
export function langOf(text: string | null | undefined): 'ar' | 'en' {
  return ARABIC_LETTER.test(text ?? '') ? 'ar' : 'en';
}

/**
 * A stretch of the other language's script in a sentence of the UI's: from
 * its first letter to its last (and the marks on it), across the spaces,
 * digits and punctuation between them, never across a letter of the UI's own
 * language. Digits alone are not a stretch: Eastern digits in the English UI
 * are the digits setting, not Arabic text.
 */
const ARABIC_WORD_LETTER = `(?=\\p{L})[${ARABIC}]`;
const LATIN_WORD_LETTER = `(?![${ARABIC}])\\p{L}`;
const OTHER_SCRIPT: Record<Locale, RegExp> = {
  en: new RegExp(`${ARABIC_WORD_LETTER}(?:[^\\p{L}]*${ARABIC_WORD_LETTER})*\\p{M}*`, 'gu'),
  'ar-EG': new RegExp(`${LATIN_WORD_LETTER}(?:[^\\p{L}${ARABIC}]*${LATIN_WORD_LETTER})*\\p{M}*`, 'gu'),
};

/** A piece of a sentence, with the language to mark it with if it is not the UI's. */
export interface LanguageRun {
  text: string;
  lang?: 'ar' | 'en';
}

/**
 * A sentence in the UI's language (one of the backend's, or a message with a
 * name or a note in it) cut where data in the other script starts and ends,
 * so that stretch alone carries `lang`: an Arabic name in an English
 * sentence is read with an Arabic voice, and the sentence around it is not.
 */
export function languageRuns(text: string): LanguageRun[] {
  const other = settings.locale === 'en' ? 'ar' : 'en';
  const runs: LanguageRun[] = [];
  let at = 0;
  for (const match of text.matchAll(OTHER_SCRIPT[settings.locale])) {
    if (match.index > at) runs.push({ text: text.slice(at, match.index) });
    runs.push({ text: match[0], lang: other });
    at = match.index + match[0].length;
  }
  if (at < text.length) runs.push({ text: text.slice(at) });
  return runs;
}

/** The digits in force: the volunteer's choice, or the language's usual ones. */
export function digits(): Digits {
  return settings.digits ?? (settings.locale === 'en' ? 'latn' : 'arab');
}

function numberOptions(system: Digits): Intl.NumberFormatOptions {
  return { numberingSystem: system, maximumFractionDigits: 3 };
}

/** A message in the given language (used for errors that need both). */
export function translate(locale: Locale, id: string, args?: Args): string {
  const b = BUNDLES[locale];
  const message = b.getMessage(id);
  if (!message?.value) return id;
  const system = digits();
  const values: Record<string, FluentVariable> = {};
  for (const [key, value] of Object.entries(args ?? {})) {
    if (value === null || value === undefined) continue;
    values[key] = typeof value === 'number' ? new FluentNumber(value, numberOptions(system)) : value;
  }
  // Collected, not thrown: a missing argument shows as its name, never a crash.
  const errors: Error[] = [];
  return b.formatPattern(message.value, values, errors);
}

/** A message in the current language. */
export function t(id: string, args?: Args): string {
  return translate(settings.locale, id, args);
}

/** Picks the Arabic or English text of a DTO that carries both. */
export function pick(ar: string | null | undefined, en: string | null | undefined): string {
  const first = settings.locale === 'en' ? en : ar;
  const second = settings.locale === 'en' ? ar : en;
  return first || second || '';
}

function intlLocale(): string {
  return settings.locale === 'en' ? 'en' : 'ar-EG';
}

/** A count or quantity in the current digits. Strings are quantities ("1.5"). */
export function formatNumber(value: number | string | null | undefined): string {
  if (value === null || value === undefined || value === '') return '';
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isFinite(n)) return String(value);
  return new Intl.NumberFormat(intlLocale(), numberOptions(digits())).format(n);
}

/** "5 minutes ago" in the current language and digits. */
export function formatRelative(thenMs: number, nowMs: number = Date.now()): string {
  const seconds = Math.round((thenMs - nowMs) / 1000);
  const format = new Intl.RelativeTimeFormat(`${intlLocale()}-u-nu-${digits()}`, {
    numeric: 'auto',
  });
  const abs = Math.abs(seconds);
  if (abs < 45) return format.format(0, 'second');
  if (abs < 45 * 60) return format.format(Math.round(seconds / 60), 'minute');
  if (abs < 22 * 3600) return format.format(Math.round(seconds / 3600), 'hour');
  return format.format(Math.round(seconds / 86400), 'day');
}

/** `<html lang dir>` for the current language. */
export function applyDocumentLanguage(): void {
  const root = document.documentElement;
  root.lang = settings.locale;
  root.dir = settings.locale === 'en' ? 'ltr' : 'rtl';
}

/** Switches the language, remembers it and turns the page around. */
export function switchLanguage(locale: Locale): void {
  setLocale(locale);
  applyDocumentLanguage();
}

/** Switches the digits and remembers the choice. */
export function switchDigits(system: Digits): void {
  setDigits(system);
}
