// The layout must work right to left and left to right from the same CSS:
// only logical properties (inline/block, start/end), never left/right.

import { describe, expect, test } from 'vitest';

// Every .svelte and .css file under src/, as text (Vite reads them at test time).
const SOURCES = import.meta.glob<string>(['./**/*.svelte', './**/*.css'], {
  query: '?raw',
  import: 'default',
  eager: true,
});

const PHYSICAL: RegExp[] = [
  // margin-left, padding-right, border-left(-width…), scroll-margin-right, …
  /(?<![\w-])(?:margin|padding|border|scroll-margin|scroll-padding|inset)-(?:left|right)\b/,
  // left: / right: as properties
  /(?<![\w-])(?:left|right)\s*:/,
  // border-top-left-radius and friends
  /border-(?:top|bottom)-(?:left|right)-radius/,
  // text-align / float / clear with a physical side
  /(?:text-align|float|clear)\s*:\s*(?:left|right)\b/,
];

/** The CSS of a file: a whole .css file, a .svelte file's <style> blocks and style="…" attributes. */
function cssOf(path: string, text: string): string {
  if (path.endsWith('.css')) return text;
  const blocks = [...text.matchAll(/<style[^>]*>([\s\S]*?)<\/style>/g)].map((m) => m[1]);
  const inline = [...text.matchAll(/\bstyle(?::[\w-]+)?=["{]([^"}]*)["}]/g)].map((m) => m[1]);
  return [...blocks, ...inline].join('\n');
}

function withoutComments(css: string): string {
  return css.replace(/\/\*[\s\S]*?\*\//g, '');
}

export function physicalProperties(css: string): string[] {
  return withoutComments(css)
    .split('\n')
    .filter((line) => PHYSICAL.some((re) => re.test(line)))
    .map((line) => line.trim());
}

describe('CSS', () => {
  test('the check catches physical properties and lets logical ones through', () => {
    expect(physicalProperties('a { margin-left: 1rem; }')).toHaveLength(1);
    expect(physicalProperties('a { padding-right: 0 }')).toHaveLength(1);
    expect(physicalProperties('a { border-left-width: 2px }')).toHaveLength(1);
    expect(physicalProperties('a {\n  left: 0;\n}')).toHaveLength(1);
    expect(physicalProperties('a { text-align: right }')).toHaveLength(1);
    expect(physicalProperties('a { float: left }')).toHaveLength(1);
    expect(physicalProperties('a { border-top-right-radius: 2px }')).toHaveLength(1);
    expect(
      physicalProperties(
        'a { margin-inline-start: 1rem; inset-inline-end: 0; text-align: start; border-start-end-radius: 1px; }',
      ),
    ).toEqual([]);
  });

  test('no .svelte or .css file of the UI uses left/right', () => {
    const paths = Object.keys(SOURCES);
    const found = paths.flatMap((path) =>
      physicalProperties(cssOf(path, SOURCES[path])).map((line) => `${path}: ${line}`),
    );
    expect(paths.length).toBeGreaterThan(10);
    expect(paths).toContain('./app.css');
    expect(found).toEqual([]);
  });
});
