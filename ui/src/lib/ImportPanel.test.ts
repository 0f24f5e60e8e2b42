import { describe, expect, test } from 'vitest';
import { fireEvent, render, screen } from '@testing-library/svelte';
import ImportPanel from './ImportPanel.svelte';
import { switchLanguage } from './i18n';
import { fakeBackend } from '../test/fake-backend';
import { expectCardReady } from '../test/tables';

describe('the import dry run', () => {
  test('its refused rows show on a phone as labelled cards; names and sheet names carry their language', async () => {
    switchLanguage('en');
    fakeBackend({
      import_file: ({ name, dry_run }) => ({
        file: name,
        format: 'xlsx',
        encoding: 'utf-8',
        sheet: 'الأسر',
        dry_run,
        rows: 3,
        registered: 1,
        refused: [
          {
            line: 3,
            name: 'نور الهدى كمال',
            reasons: [
              {
                code: 'household_size',
                message: 'The household size «abc» is not a whole number from 1 to 30.',
                message_ar: 'عدد أفراد الأسرة «abc» مش رقم صحيح من ١ لـ ٣٠.',
              },
            ],
          },
          {
            line: 4,
            name: 'Nour Kamal',
            reasons: [{ code: 'duplicate', message: 'Already registered.', message_ar: 'متسجل قبل كده.' }],
          },
        ],
        ignored_columns: [],
        other_sheets: ['ملاحظات'],
        likely_duplicates: null,
      }),
    });
    render(ImportPanel);
    const file = new File(['x'], 'families.xlsx');
    await fireEvent.change(screen.getByTestId('import-file-input'), { target: { files: [file] } });
    const table = await screen.findByTestId('refused-table');
    expectCardReady(table);
    expect(screen.getByRole('rowheader', { name: '3' }).getAttribute('data-label')).toBe('Row');
    const names = Array.from(table.querySelectorAll('[data-col=name] [lang]')).map((el) => [
      el.getAttribute('lang'),
      el.textContent,
    ]);
    expect(names).toEqual([
      ['ar', 'نور الهدى كمال'],
      ['en', 'Nour Kamal'],
    ]);
    const sheets = Array.from(screen.getByTestId('import-report').querySelectorAll('p [lang=ar]')).map(
      (el) => el.textContent,
    );
    expect(sheets).toEqual(['الأسر', 'ملاحظات']);
  });
});
