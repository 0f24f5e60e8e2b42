// The UI's own settings, kept in this browser's local storage (ARCHITECTURE.md:
// "Language, digits and the chosen convoy/site are UI settings"). The relay and
// everything else come from the backend.

export type Locale = 'ar-EG' | 'en';
export type Digits = 'arab' | 'latn';

export const LOCALES: readonly Locale[] = ['ar-EG', 'en'];

const KEY = {
  locale: 'qafila.locale',
  digits: 'qafila.digits',
  convoy: 'qafila.convoy',
  site: 'qafila.site',
} as const;

export interface Settings {
  locale: Locale;
  /** Null until the volunteer picks: then digits follow the language. */
  digits: Digits | null;
  /** Convoy id chosen on the Today screen ('' = none). */
  convoy: string;
  /** Site name chosen on the Today screen ('' = none). */
  site: string;
}

function read(key: string): string | null {
  try {
    return localStorage.getItem(key);
  } catch {
    // Storage can be disabled (private windows); the defaults then hold.
    return null;
  }
}

function write(key: string, value: string | null): void {
  try {
    if (value === null) localStorage.removeItem(key);
    else localStorage.setItem(key, value);
  } catch {
    // Same as above: the setting lasts for this page only.
  }
}

function stored(): Settings {
  const locale = read(KEY.locale);
  const digits = read(KEY.digits);
  return {
    locale: locale === 'en' ? 'en' : 'ar-EG',
    digits: digits === 'arab' || digits === 'latn' ? digits : null,
    convoy: read(KEY.convoy) ?? '',
    site: read(KEY.site) ?? '',
  };
}

export const settings: Settings = $state(stored());

/** Reads local storage again (on start, and between tests). */
export function reloadSettings(): void {
  Object.assign(settings, stored());
}

export function setLocale(locale: Locale): void {
  settings.locale = locale;
  write(KEY.locale, locale);
}

export function setDigits(digits: Digits): void {
  settings.digits = digits;
  write(KEY.digits, digits);
}

export function setConvoy(convoy: string): void {
  settings.convoy = convoy;
  write(KEY.convoy, convoy || null);
}

export function setSite(site: string): void {
  const name = site.trim();
  settings.site = name;
  write(KEY.site, name || null);
}
