// What a table of the lead or the registrar must carry for a phone, where
// each row shows as a card (src/tables.css): its roles spelled out, and each
// cell labelled with its column's header.

import { expect } from 'vitest';

/**
 * `table` states its roles in the markup, and every body cell under a column
 * header carries that header's text as `data-label`, but for a row's own
 * header, which heads its card.
 */
export function expectCardReady(table: HTMLElement): void {
  expect(table.getAttribute('role')).toBe('table');
  const headers = Array.from(table.querySelectorAll('thead th'));
  expect(headers.length).toBeGreaterThan(1);
  for (const header of headers) expect(header.getAttribute('role'), header.textContent ?? '').toBe('columnheader');
  const rows = Array.from(table.querySelectorAll('tbody tr'));
  expect(rows.length).toBeGreaterThan(0);
  for (const row of rows) {
    expect(row.getAttribute('role')).toBe('row');
    let column = 0;
    for (const cell of Array.from((row as HTMLTableRowElement).cells)) {
      const rowHeader = cell.tagName === 'TH';
      expect(cell.getAttribute('role')).toBe(rowHeader ? 'rowheader' : 'cell');
      if (cell.colSpan === 1 && !(rowHeader && !cell.hasAttribute('data-label'))) {
        expect(cell.getAttribute('data-label'), cell.textContent ?? '').toBe(headers[column]?.textContent?.trim());
      }
      column += cell.colSpan;
    }
  }
}
