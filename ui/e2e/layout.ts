// Checks for the lead's and the registrar's tables on a phone: every column
// can be read (no cell cut off by the screen's edge or hidden in a sideways
// scroller). Text sizes and edges: e2e/readable.ts.

import { expect, type Locator } from '@playwright/test';

/**
 * Every column of `table` is there to read: each cell lies wholly inside the
 * viewport's width and inside every box around it that scrolls or clips (so
 * no column waits behind a sideways scroll), and each column header is either
 * shown itself or written as the label of every cell of its column (the card
 * a row becomes on a phone).
 */
export async function expectEveryColumnShown(table: Locator): Promise<void> {
  await expect(table).toBeVisible();
  const problems = await table.evaluate((element) => {
    const tableEl = element as HTMLTableElement;
    const found: string[] = [];
    const edges = (r: DOMRect) => `[${Math.round(r.left)}, ${Math.round(r.right)}]`;

    // What a box lets through: the viewport's width, narrowed by each
    // ancestor whose overflow is not visible (its padding box).
    const viewport = { left: 0, right: window.innerWidth, top: -Infinity, bottom: Infinity };
    function clipOf(node: Element) {
      const clip = { ...viewport };
      for (let p = node.parentElement; p; p = p.parentElement) {
        const style = getComputedStyle(p);
        if (style.clipPath !== 'none') return null;
        if (style.overflowX === 'visible' && style.overflowY === 'visible') continue;
        const r = p.getBoundingClientRect();
        const left = r.left + p.clientLeft;
        const top = r.top + p.clientTop;
        clip.left = Math.max(clip.left, left);
        clip.right = Math.min(clip.right, left + p.clientWidth);
        clip.top = Math.max(clip.top, top);
        clip.bottom = Math.min(clip.bottom, top + p.clientHeight);
      }
      return clip;
    }

    /** Where a cell's box or its content falls outside what shows; `null` when all of it shows. */
    function cut(cell: HTMLTableCellElement): string | null {
      const style = getComputedStyle(cell);
      if (style.display === 'none' || style.visibility === 'hidden') return 'not displayed';
      const clip = clipOf(cell);
      if (clip === null) return 'visually hidden';
      const content = document.createRange();
      content.selectNodeContents(cell);
      for (const [what, r] of [
        ['box', cell.getBoundingClientRect()],
        ['content', content.getBoundingClientRect()],
      ] as const) {
        if (what === 'box' && (r.width === 0 || r.height === 0)) return 'no size';
        if (what === 'content' && r.width === 0) continue;
        if (
          r.left < clip.left - 0.5 ||
          r.right > clip.right + 0.5 ||
          r.top < clip.top - 0.5 ||
          r.bottom > clip.bottom + 0.5
        ) {
          return `${what} ${edges(r)} outside ${edges(new DOMRect(clip.left, 0, clip.right - clip.left, 0))}`;
        }
      }
      return null;
    }

    const headers = Array.from(tableEl.tHead?.rows[0]?.cells ?? []);
    if (headers.length === 0) found.push('no column headers');
    const columns: HTMLTableCellElement[][] = headers.map(() => []);
    for (const body of Array.from(tableEl.tBodies)) {
      for (const row of Array.from(body.rows)) {
        let column = 0;
        for (const cell of Array.from(row.cells)) {
          const problem = cut(cell);
          const text = (cell.textContent ?? '').trim().slice(0, 30);
          if (problem) found.push(`row ${row.sectionRowIndex}, "${text}": ${problem}`);
          if (cell.colSpan === 1) columns[column]?.push(cell);
          column += cell.colSpan;
        }
      }
    }

    headers.forEach((header, i) => {
      const name = (header.textContent ?? '').trim();
      if (cut(header) === null) return;
      // Not shown as a header: every cell of the column must carry it, but
      // for a row's own header, which heads its card.
      for (const cell of columns[i]) {
        if (cell.tagName === 'TH' && cell.scope === 'row' && !cell.dataset.label) continue;
        const label = getComputedStyle(cell, '::before');
        if (cell.dataset.label !== name || label.content === 'none' || label.display === 'none') {
          found.push(`column "${name}": a cell ("${(cell.textContent ?? '').trim()}") shows no label`);
        }
      }
      if (columns[i].length === 0) found.push(`column "${name}": no cells`);
    });
    return found;
  });
  expect(problems, 'cells cut off or columns without a header').toEqual([]);
}
