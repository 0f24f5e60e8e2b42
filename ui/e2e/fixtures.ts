// The tests' fixtures and the steps they share: the language a test runs in,
// the backend it drives (the shared demo device, or a fresh one of its own),
// and helpers for the checks every screen gets (direction, overflow,
// screenshots).

import { test as base, expect, type Page, type TestInfo } from '@playwright/test';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  SCREENSHOT_DIR,
  UI_DIR,
  VILLAGE,
  qafila,
  readState,
  startBackend,
  stop,
  type Backend,
} from './backend';

export { expect, VILLAGE };
export type { Backend };

export type Lang = 'ar' | 'en';
export const LANGS: readonly Lang[] = ['ar', 'en'];

interface Fixtures {
  /** The language the app is in when the test opens it (an option: `test.use({ lang })`). */
  lang: Lang;
  /** The demo device global setup started: for tests that record nothing. */
  shared: Backend;
  /** A device of this test's own, with a fresh demo convoy: for tests that record. */
  fresh: Backend;
}

export const test = base.extend<Fixtures>({
  lang: ['ar', { option: true }],

  // The language is a UI setting kept in local storage (settings.svelte.ts),
  // read when the app starts: set it before the first page script runs, unless
  // the test already switched it on the settings screen.
  page: async ({ page, lang }, use) => {
    await startIn(page, lang);
    await use(page);
  },

  shared: async ({}, use) => {
    await use(readState().shared);
  },

  fresh: async ({}, use) => {
    const state = readState();
    const backend = await startBackend(state.root, state.relay.url);
    try {
      await use(backend);
    } finally {
      await stop(backend.pid);
      rmSync(join(backend.dataDir, '..'), { recursive: true, force: true });
    }
  },
});

/** Makes the app start in `lang` on this page (unless the test switches it itself). */
export async function startIn(page: Page, lang: Lang): Promise<void> {
  await page.addInitScript((locale: string) => {
    if (localStorage.getItem('qafila.locale') === null) {
      localStorage.setItem('qafila.locale', locale);
    }
  }, lang === 'en' ? 'en' : 'ar-EG');
}

/**
 * Opens the app on `backend` at the address its bridge printed (with the
 * token) and waits until its shell is ready (the tab bar shows).
 */
export async function openApp(page: Page, backend: Pick<Backend, 'open'>, lang: Lang): Promise<void> {
  await page.goto(backend.open);
  await expect(page.getByRole('navigation')).toBeVisible();
  await expectDirection(page, lang);
}

/** `<html lang dir>` says the language the test runs in. */
export async function expectDirection(page: Page, lang: Lang): Promise<void> {
  const html = page.locator('html');
  await expect(html).toHaveAttribute('dir', lang === 'ar' ? 'rtl' : 'ltr');
  await expect(html).toHaveAttribute('lang', lang === 'ar' ? 'ar-EG' : 'en');
}

/**
 * On Today (where a device without a chosen site starts): picks the demo's
 * site among the known ones and starts scanning.
 */
export async function chooseSite(page: Page): Promise<void> {
  await expect(page.getByTestId('today')).toBeVisible();
  await page.getByTestId('site-option').filter({ hasText: VILLAGE }).click();
  await expect(page.getByTestId('site-input')).toHaveValue(VILLAGE);
  await page.getByTestId('start-scanning').click();
  await expect(page.getByTestId('scan')).toBeVisible();
  await expect(page.getByTestId('scan-site')).toHaveText(VILLAGE);
}

/** Goes to one of the five screens through the tab bar (side bar on a laptop). */
export async function goTo(
  page: Page,
  screen: 'scan' | 'today' | 'lead' | 'registrar' | 'settings',
): Promise<void> {
  await page.getByTestId(`nav-${screen}`).click();
  await expect(page.getByTestId(screen)).toBeVisible();
}

const messages = new Map<Lang, Map<string, string>>();

/**
 * A one-line message of the UI's Fluent file (`src/locales/ar-EG.ftl` or
 * `en.ftl`), so the tests check the words the user sees without copying them.
 */
export function ftl(lang: Lang, id: string): string {
  let table = messages.get(lang);
  if (!table) {
    table = new Map();
    const file = join(UI_DIR, 'src', 'locales', lang === 'ar' ? 'ar-EG.ftl' : 'en.ftl');
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const m = /^([a-z][a-z0-9_-]*) = (.+)$/.exec(line);
      if (m) table.set(m[1], m[2].trim());
    }
    messages.set(lang, table);
  }
  const text = table.get(id);
  if (text === undefined || text.includes('{')) {
    throw new Error(`${id} is not a one-line message without arguments in ${lang}`);
  }
  return text;
}

/** A number as the UI writes it: Eastern Arabic digits in Arabic, Western in English. */
export function digitsFor(lang: Lang, n: number | string): string {
  const text = String(n);
  return lang === 'ar' ? text.replace(/[0-9]/g, (d) => '٠١٢٣٤٥٦٧٨٩'[Number(d)]) : text;
}

/**
 * Nothing sticks out of the viewport sideways: the page cannot be scrolled
 * horizontally, and no visible element (outside a scrolling box of its own)
 * reaches past either edge. In Arabic an overflow goes off the left edge, so
 * both edges are checked.
 */
export async function expectNoHorizontalOverflow(page: Page): Promise<void> {
  const report = await page.evaluate(() => {
    const width = window.innerWidth;
    const root = document.documentElement;
    // Inside a box that scrolls or clips on its own, or hidden by a clip path
    // (the visually-hidden pattern): not what sticks out of the page.
    const clipped = (el: Element): boolean => {
      if (getComputedStyle(el).clipPath !== 'none') return true;
      for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
        const style = getComputedStyle(p);
        if (style.overflowX !== 'visible' || style.clipPath !== 'none') return true;
      }
      return false;
    };
    const offenders: string[] = [];
    for (const el of Array.from(document.body.querySelectorAll('*'))) {
      const rect = el.getBoundingClientRect();
      if (rect.width === 0 || rect.height === 0) continue;
      const style = getComputedStyle(el);
      if (style.visibility === 'hidden' || style.display === 'none') continue;
      if (rect.left < -0.5 || rect.right > width + 0.5) {
        if (clipped(el)) continue;
        const id = el.getAttribute('data-testid');
        const cls = el.getAttribute('class');
        const text = (el.textContent ?? '').trim().slice(0, 40);
        offenders.push(
          `<${el.tagName.toLowerCase()}${id ? ` data-testid=${id}` : ''}${cls ? ` class="${cls}"` : ''}> ` +
            `[${Math.round(rect.left)}, ${Math.round(rect.right)}] "${text}"`,
        );
      }
    }
    return { scrollWidth: root.scrollWidth, width, offenders: offenders.slice(0, 10) };
  });
  expect(report.offenders, `elements outside the ${report.width} px viewport`).toEqual([]);
  expect(report.scrollWidth, 'the page scrolls sideways').toBeLessThanOrEqual(report.width);
}

/**
 * A screenshot of the whole screen for reviewers:
 * `target/screenshots/LANG-PROJECT-NAME.png` (e.g. `ar-phone-scan-ok.png`),
 * also attached to the test's report. The viewport is stretched to the page's
 * height for the shot, as on a very tall screen: a full-page capture would
 * leave the sticky tab bar in the middle of the picture, over the content.
 */
export async function snap(page: Page, testInfo: TestInfo, lang: Lang, name: string): Promise<void> {
  // Let fonts finish loading so the Arabic is shaped with the app's own face.
  await page.evaluate(() => document.fonts.ready.then(() => undefined));
  const path = join(SCREENSHOT_DIR, `${lang}-${testInfo.project.name}-${name}.png`);
  const viewport = page.viewportSize();
  const height = await page.evaluate(() => document.documentElement.scrollHeight);
  if (viewport && height > viewport.height) {
    await page.setViewportSize({ width: viewport.width, height });
  }
  try {
    await page.screenshot({ path, animations: 'disabled', caret: 'hide' });
  } finally {
    if (viewport) await page.setViewportSize(viewport);
  }
  await testInfo.attach(name, { path, contentType: 'image/png' });
}

/**
 * Enters a card's text into the focused scan input and presses Enter. With
 * `keystrokes`, key by key as a USB or Bluetooth (wedge) scanner types it;
 * otherwise inserted at once, like a paste (typing 175 keys takes seconds on
 * a busy two-core machine, and the screen reads the text only on Enter).
 */
export async function scanCard(page: Page, text: string, keystrokes = false): Promise<void> {
  const input = page.getByTestId('scan-input');
  await expect(input).toBeFocused();
  if (keystrokes) await page.keyboard.type(text);
  else await page.keyboard.insertText(text);
  await expect(input).toHaveValue(text);
  await page.keyboard.press('Enter');
}

/** The lead revokes `card` (its printed number); the device learns it at its next sync, done here. */
export async function revokeCard(backend: Backend, card: string): Promise<void> {
  await qafila(['--data-dir', backend.leadDir, 'cards', 'revoke', card, '--reason', 'lost']);
  await qafila(['--data-dir', backend.leadDir, 'sync']);
  await qafila(['--data-dir', backend.dataDir, 'sync']);
}
