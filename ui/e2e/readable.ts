// Reading the rendered page as the sun does: contrast computed from the
// browser's own computed styles, element by element. axe-core skips contrast
// on most Arabic text (it takes joined letters for an icon font), so an
// all-green axe run in Arabic proves little; this check reads colours and
// backgrounds itself and does not care which script the text is in.

import { expect, type Locator, type Page } from '@playwright/test';

/** What one element measured, and what it is (tag, test id, first words). */
export interface Reading {
  what: string;
  ratio: number;
}

/**
 * The colour arithmetic, installed in the page once (`install`): parsing
 * computed colours, blending translucent layers, WCAG relative luminance.
 * Self-contained, since its source is what runs in the page.
 */
function colours() {
  type Rgba = [number, number, number, number];
  const parse = (css: string): Rgba => {
    const rgb = /rgba?\(([^)]+)\)/.exec(css);
    const srgb = /color\(srgb ([^)]+)\)/.exec(css);
    if (!rgb && !srgb) throw new Error(`a colour this check cannot read: ${css}`);
    const parts = (rgb ?? srgb)![1].split(/[\s,/]+/).filter(Boolean).map(Number);
    const scale = rgb ? 255 : 1;
    const alpha = parts[3] === undefined || Number.isNaN(parts[3]) ? 1 : parts[3];
    return [parts[0] / scale, parts[1] / scale, parts[2] / scale, alpha];
  };
  const over = (top: Rgba, under: Rgba): Rgba => [
    top[0] * top[3] + under[0] * (1 - top[3]),
    top[1] * top[3] + under[1] * (1 - top[3]),
    top[2] * top[3] + under[2] * (1 - top[3]),
    1,
  ];
  /** What is painted behind `el`: ancestor backgrounds, translucent ones blended, over white. */
  const backgroundOf = (el: Element | null): Rgba => {
    const layers: Rgba[] = [];
    for (let e = el; e; e = e.parentElement) {
      const bg = parse(getComputedStyle(e).backgroundColor);
      if (bg[3] > 0) layers.push(bg);
      if (bg[3] >= 1) break;
    }
    return layers.reverse().reduce<Rgba>((under, layer) => over(layer, under), [1, 1, 1, 1]);
  };
  /** The text's colour as painted: faded by its own alpha and every ancestor's opacity. */
  const textOf = (el: Element): Rgba => {
    const c = parse(getComputedStyle(el).color);
    let opacity = c[3];
    for (let e: Element | null = el; e; e = e.parentElement) opacity *= Number(getComputedStyle(e).opacity);
    return over([c[0], c[1], c[2], opacity], backgroundOf(el));
  };
  const luminance = (c: Rgba) => {
    const lin = (v: number) => (v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
    return 0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2]);
  };
  const ratio = (a: Rgba, b: Rgba) => {
    const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
    return Math.round(((hi + 0.05) / (lo + 0.05)) * 100) / 100;
  };
  const shown = (el: Element) => {
    const style = getComputedStyle(el);
    const box = el.getBoundingClientRect();
    return (
      box.width > 1 &&
      box.height > 1 &&
      style.visibility !== 'hidden' &&
      style.display !== 'none' &&
      el.closest('.visually-hidden') === null
    );
  };
  const hasText = (el: Element) =>
    Array.from(el.childNodes).some((n) => n.nodeType === Node.TEXT_NODE && n.textContent!.trim() !== '');
  const describe = (el: Element) => {
    const id = el.getAttribute('data-testid');
    return `<${el.tagName.toLowerCase()}${id ? ` ${id}` : ''}> "${(el.textContent ?? '').trim().slice(0, 30)}"`;
  };
  return { parse, backgroundOf, textOf, ratio, shown, hasText, describe };
}

type Colours = ReturnType<typeof colours>;
declare global {
  interface Window {
    qafilaColours?: Colours;
  }
}

/** Puts the colour arithmetic in the page (again after a navigation). */
async function install(page: Page): Promise<void> {
  await page.evaluate(`window.qafilaColours = (${colours.toString()})()`);
}

/** The contrast of every visible element under `root` with text of its own, against what is behind it. */
export async function textContrast(root: Locator): Promise<Reading[]> {
  await install(root.page());
  return root.evaluate((rootEl) => {
    const c = window.qafilaColours!;
    return [rootEl, ...Array.from(rootEl.querySelectorAll('*'))]
      .filter((el) => c.hasText(el) && c.shown(el))
      .map((el) => ({ what: c.describe(el), ratio: c.ratio(c.textOf(el), c.backgroundOf(el)) }));
  });
}

/**
 * The focused element's focus ring against what it is drawn on (outside the
 * element, over its parent's background; inside it with a negative offset),
 * or null when the focused element draws no ring.
 */
export async function focusRingContrast(page: Page): Promise<Reading | null> {
  await install(page);
  return page.evaluate(() => {
    const c = window.qafilaColours!;
    const el = document.activeElement;
    if (!el || el === document.body) return null;
    const style = getComputedStyle(el);
    if (style.outlineStyle === 'none' || parseFloat(style.outlineWidth) < 2) return null;
    const behind = c.backgroundOf(parseFloat(style.outlineOffset) < 0 ? el : el.parentElement);
    return { what: c.describe(el), ratio: c.ratio(c.parse(style.outlineColor), behind) };
  });
}

/**
 * Every visible control's boundary against what surrounds it: its border
 * when it draws one, or its own fill (a filled button's edge is where its
 * colour meets the page), whichever stands out more. A control that draws
 * neither (a `<summary>`, a segment of a switch) is bounded by the box it
 * sits in: the nearest ancestor with a border. Disabled controls are exempt,
 * as in WCAG.
 */
export async function controlBoundaries(root: Locator): Promise<Reading[]> {
  await install(root.page());
  return root.evaluate((rootEl) => {
    const c = window.qafilaColours!;
    const controls = 'button, input:not([type=file]):not([type=checkbox]):not([type=radio]), select, textarea, summary';
    // A box drawn with a border on all four sides (a card, a group) is a boundary too.
    const boxed = (el: Element) => {
      const style = getComputedStyle(el);
      return ['top', 'right', 'bottom', 'left'].every(
        (side) =>
          parseFloat(style.getPropertyValue(`border-${side}-width`)) >= 1 &&
          c.parse(style.getPropertyValue(`border-${side}-color`))[3] > 0,
      );
    };
    return [rootEl, ...Array.from(rootEl.querySelectorAll('*'))]
      .filter((el) => (el.matches(controls) || boxed(el)) && c.shown(el) && !(el as HTMLButtonElement).disabled)
      .map((el) => {
        const boundary = (box: Element) => {
          const style = getComputedStyle(box);
          const around = c.backgroundOf(box.parentElement);
          const border = c.parse(style.borderTopColor);
          const fill = c.parse(style.backgroundColor);
          const edge = parseFloat(style.borderTopWidth) >= 1 && border[3] >= 1 ? c.ratio(border, around) : 0;
          const filled = fill[3] >= 1 ? c.ratio(fill, around) : 0;
          return Math.max(edge, filled);
        };
        let ratio = boundary(el);
        for (let box = el.parentElement, up = 0; ratio === 1 || ratio === 0; box = box.parentElement, up++) {
          if (!box || up > 3) break;
          if (parseFloat(getComputedStyle(box).borderTopWidth) >= 1) ratio = boundary(box);
        }
        return { what: c.describe(el), ratio };
      });
  });
}

/**
 * Visible text under `root` set smaller than `px`: text of an element's own,
 * what a field shows, and a label drawn by CSS (`[data-label]::before`, the
 * column names of a table shown as cards).
 */
export async function smallText(root: Locator, px: number): Promise<string[]> {
  await install(root.page());
  return root.evaluate((rootEl, min) => {
    const c = window.qafilaColours!;
    const small: string[] = [];
    for (const el of [rootEl, ...Array.from(rootEl.querySelectorAll('*'))]) {
      if (!c.shown(el)) continue;
      const field = el.matches('input:not([type=checkbox]):not([type=radio]), select, textarea');
      const size = getComputedStyle(el).fontSize;
      if ((c.hasText(el) || field) && parseFloat(size) < min - 0.01) small.push(`${c.describe(el)} ${size}`);
      const label = getComputedStyle(el, '::before');
      if (el.hasAttribute('data-label') && label.content !== 'none' && parseFloat(label.fontSize) < min - 0.01) {
        small.push(`${c.describe(el)}: its label at ${label.fontSize}`);
      }
    }
    return small;
  }, px);
}

/** Inside `root`: no text under 16 px, no control or box edge under 3:1. */
export async function expectLegible(root: Locator): Promise<void> {
  await expect(root).toBeVisible();
  expect(await smallText(root, 16), 'text under 16 px').toEqual([]);
  expect(below(await controlBoundaries(root), 3), 'edges under 3:1').toEqual([]);
}

/** Readings under `min`, for an assertion whose failure names them. */
export function below(readings: Reading[], min: number): string[] {
  return readings.filter((r) => r.ratio < min).map((r) => `${r.what} ${r.ratio}:1`);
}
