import { describe, expect, test } from 'vitest';
import { FluentBundle, FluentResource } from '@fluent/bundle';
import {
  SOURCES,
  formatNumber,
  formatRelative,
  languageRuns,
  t,
  translate,
  switchLanguage,
  switchDigits,
} from './i18n';
import { settings } from './settings.svelte';

function ids(source: string): string[] {
  return new FluentResource(source).body.map((entry) => entry.id);
}

// The UI's source (tests aside), as text.
const CODE = import.meta.glob<string>(['../**/*.svelte', '../**/*.ts', '!../**/*.test.ts'], {
  query: '?raw',
  import: 'default',
  eager: true,
});

/** Every `t('literal-id')` in the UI's source. */
function usedIds(): Set<string> {
  const found = new Set<string>();
  for (const text of Object.values(CODE)) {
    for (const m of text.matchAll(/\bt\(\s*'([a-z][a-z0-9_-]*)'/g)) found.add(m[1]);
  }
  return found;
}

describe('the .ftl files', () => {
  test('parse without errors', () => {
    for (const [locale, source] of Object.entries(SOURCES)) {
      const bundle = new FluentBundle(locale);
      expect(bundle.addResource(new FluentResource(source)), locale).toEqual([]);
    }
  });

  test('every message id in one file exists in the other', () => {
    const ar = new Set(ids(SOURCES['ar-EG']));
    const en = new Set(ids(SOURCES.en));
    expect([...ar].filter((id) => !en.has(id)), 'in ar-EG.ftl, missing from en.ftl').toEqual([]);
    expect([...en].filter((id) => !ar.has(id)), 'in en.ftl, missing from ar-EG.ftl').toEqual([]);
    expect(ar.size).toBeGreaterThan(100);
  });

  test('every id the UI asks for exists', () => {
    const ar = new Set(ids(SOURCES['ar-EG']));
    const used = usedIds();
    expect(used.size).toBeGreaterThan(100);
    expect([...used].filter((id) => !ar.has(id))).toEqual([]);
  });

  test('the ids built from backend codes exist for every code the contract names', () => {
    const ar = new Set(ids(SOURCES['ar-EG']));
    const built = [
      ...[
        'ok',
        'already_served',
        'unknown_beneficiary',
        'malformed',
        'unknown_issuer',
        'bad_signature',
        'revoked',
        'issuer_withdrawn',
        'issuer_device_revoked',
      ].map(
        (s) => `status-${s}`,
      ),
      ...['local_only', 'never', 'idle', 'syncing', 'offline', 'error'].map((s) => `sync-state-${s}`),
      ...['box', 'meal', 'kg', 'piece', 'pack', 'service'].map((u) => `unit-${u}`),
      ...['pending', 'approved', 'revoked'].map((s) => `convoy-status-${s}`),
      ...['lead', 'member', 'volunteer', 'registrar', 'storekeeper', 'legacy'].map((r) => `member-role-${r}`),
      ...['same_national_id', 'similar_name'].map((r) => `dup-reason-${r}`),
      ...['transport', 'unreachable', 'bad_answer'].map((c) => `error-${c}`),
      ...['insecure', 'denied', 'not-found', 'busy', 'decoder', 'stopped', 'failed'].map(
        (p) => `camera-problem-${p}`,
      ),
    ];
    expect(built.filter((id) => !ar.has(id))).toEqual([]);
  });
});

describe('numbers', () => {
  test('counts follow the digits setting; Arabic defaults to Eastern digits', () => {
    expect(formatNumber(5)).toBe('٥');
    expect(formatNumber('1.5')).toBe('١٫٥');
    switchDigits('latn');
    expect(formatNumber(5)).toBe('5');
    expect(formatNumber('1.5')).toBe('1.5');
  });

  test('English defaults to Western digits until the volunteer chooses', () => {
    switchLanguage('en');
    expect(settings.digits).toBeNull();
    expect(formatNumber(1234)).toBe('1,234');
    switchDigits('arab');
    expect(formatNumber(12)).toBe('١٢');
  });

  test('numbers inside messages use the same digits, with Arabic plurals', () => {
    const strip = (s: string) => s.replace(/[\u2068\u2069]/g, '');
    expect(strip(t('sync-pending', { count: 1 }))).toBe('سجل واحد مستني');
    expect(strip(t('sync-pending', { count: 2 }))).toBe('سجلين مستنيين');
    expect(strip(t('sync-pending', { count: 7 }))).toBe('٧ سجلات مستنية');
    switchDigits('latn');
    expect(strip(t('sync-pending', { count: 7 }))).toBe('7 سجلات مستنية');
    expect(strip(translate('en', 'sync-pending', { count: 1 }))).toBe('1 record waiting');
  });

  test('relative times are in the current language and digits', () => {
    const now = Date.UTC(2026, 0, 15, 12, 0, 0);
    expect(formatRelative(now - 5 * 60_000, now)).toContain('٥');
    switchLanguage('en');
    expect(formatRelative(now - 5 * 60_000, now)).toBe('5 minutes ago');
  });
});

describe('the language of typed data', () => {
  test('Arabic names are Arabic, Latin ones English', async () => {
    const { langOf } = await import('./i18n');
    expect(langOf('منى علي حسن')).toBe('ar');
    expect(langOf('كفر الشيخ سالم 2')).toBe('ar');
    expect(langOf('Volunteer 2')).toBe('en');
    expect(langOf('')).toBe('en');
    expect(langOf(null)).toBe('en');
  });
});

describe('typed data inside a sentence', () => {
  test('in the English UI, only the Arabic stretch is marked Arabic', () => {
    switchLanguage('en');
    expect(languageRuns('household منى علي حسن received 2 Food box; entitled to 1')).toEqual([
      { text: 'household ' },
      { text: 'منى علي حسن', lang: 'ar' },
      { text: ' received 2 Food box; entitled to 1' },
    ]);
    // A Fluent placeable keeps its isolation marks outside the stretch.
    expect(languageRuns(t('lead-stock-title', { site: 'كفر الشيخ سالم' }))).toEqual([
      { text: 'Stock at \u2068' },
      { text: 'كفر الشيخ سالم', lang: 'ar' },
      { text: '\u2069' },
    ]);
    // Eastern digits are the digits setting, not Arabic text; marks stay on their letter.
    expect(languageRuns('٣ boxes for عليٌّ')).toEqual([
      { text: '٣ boxes for ' },
      { text: 'عليٌّ', lang: 'ar' },
    ]);
    expect(languageRuns('nothing typed here')).toEqual([{ text: 'nothing typed here' }]);
    expect(languageRuns('')).toEqual([]);
  });

  test('in the Arabic UI, only the Latin stretch is marked English', () => {
    switchLanguage('ar-EG');
    expect(languageRuns('صرف زيادة عن المستحق باستثناء: the box was torn; a second one replaced it')).toEqual([
      { text: 'صرف زيادة عن المستحق باستثناء: ' },
      { text: 'the box was torn; a second one replaced it', lang: 'en' },
    ]);
    expect(languageRuns('ساعة Tablet 3 كانت متأخرة ٥ دقايق')).toEqual([
      { text: 'ساعة ' },
      { text: 'Tablet', lang: 'en' },
      { text: ' 3 كانت متأخرة ٥ دقايق' },
    ]);
    expect(languageRuns('الأسرة منى علي استلمت ٢')).toEqual([{ text: 'الأسرة منى علي استلمت ٢' }]);
  });
});
