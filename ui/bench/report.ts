// The queue benchmark's figures: per family as measured, per language as
// summarised, written to target/bench/ and printed as one table. Timing is
// reported against the issue's targets, never asserted: CI machines have two
// noisy cores. Only misattribution fails the run.

import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { REPO_DIR } from '../e2e/backend';
import type { Lang } from '../e2e/fixtures';
import type { FamilyCounts } from './probe';

export const BENCH_DIR = join(REPO_DIR, 'target', 'bench');
export const RESULT_PATH = join(BENCH_DIR, 'queue.json');

/** The issue's targets (p95), reported beside the figures. */
export const TARGETS = {
  verdictP95Ms: 100,
  readyP95Ms: 150,
  scansPerFamily: 1,
  tapsPerFamily: 1,
  misattributed: 0,
} as const;

/** One family of the queue: where it stood, what the page measured, and what it received (`FamilyCounts`). */
export interface FamilyRow extends FamilyCounts {
  /** Place in the queue, from 1. */
  place: number;
  /** The printed card number (no name: the figures carry no personal data). */
  card: string;
  householdSize: number;
  /** `data-status` of the verdict (`ok` for every family of the queue). */
  status: string | null;
  /** The verdict named this family, not another. */
  rightName: boolean;
  verdictMs: number | null;
  verdictDomMs: number | null;
  /** Of `verdictMs`, the `/rpc/scan` request (bench/probe.ts, `Timing`). */
  verdictRpcMs: number | null;
  /** `null` when there was nothing to tap (no basket button). */
  readyMs: number | null;
  readyDomMs: number | null;
  /** Of `readyMs`, the `/rpc/hand_out_basket` request. */
  readyRpcMs: number | null;
}

/** What the device's own store says was handed out, checked after the run. */
export interface Attribution {
  /** Families of the queue whose records are not exactly one standard basket. */
  queueWrong: string[];
  /** Families registered and carded but kept out of the queue that got something. */
  bystandersServed: string[];
  /** Households served beyond the queue's, per the distribution export. */
  extraHouseholds: number;
  /** Open anomalies on the device after the run, by code. */
  anomalies: Record<string, number>;
  misattributed: number;
}

export interface LanguageResult {
  lang: Lang;
  viewport: { width: number; height: number } | null;
  /** The scanner's pause between keys, on top of the browser's round trip. */
  keyDelayMs: number;
  families: number;
  bystanders: number;
  summary: Summary;
  attribution: Attribution;
  rows: FamilyRow[];
}

export interface Summary {
  verdictP50Ms: number | null;
  verdictP95Ms: number | null;
  readyP50Ms: number | null;
  readyP95Ms: number | null;
  /** The bridge's share: the scan and basket requests' p50/p95. */
  scanRpcP50Ms: number | null;
  scanRpcP95Ms: number | null;
  basketRpcP50Ms: number | null;
  basketRpcP95Ms: number | null;
  /** Families whose verdict or readiness never came (within the probe's limit). */
  timeouts: number;
  tapsPerFamily: number;
  scansPerFamily: number;
  keysPerFamily: number;
  /** Scans that began with the focus elsewhere than the scan input. */
  scansFromOtherFocus: number;
  keyGapMeanMs: number | null;
  keyGapMaxMs: number | null;
  misattributed: number;
}

/**
 * Nearest-rank percentile. A missing figure (a time-out) counts as slower
 * than any measured one, so time-outs push the percentile up, not out.
 */
export function percentile(values: (number | null)[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = values
    .map((v) => v ?? Number.POSITIVE_INFINITY)
    .sort((a, b) => a - b);
  const value = sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)];
  return Number.isFinite(value) ? value : null;
}

const mean = (values: number[]): number =>
  values.length === 0 ? 0 : values.reduce((a, b) => a + b, 0) / values.length;

export function summarise(rows: FamilyRow[], attribution: Attribution): Summary {
  const gaps = rows.map((r) => r.keyGapMeanMs).filter((g): g is number => g !== null);
  const maxGaps = rows.map((r) => r.keyGapMaxMs).filter((g): g is number => g !== null);
  return {
    verdictP50Ms: percentile(rows.map((r) => r.verdictMs), 50),
    verdictP95Ms: percentile(rows.map((r) => r.verdictMs), 95),
    readyP50Ms: percentile(rows.map((r) => r.readyMs), 50),
    readyP95Ms: percentile(rows.map((r) => r.readyMs), 95),
    scanRpcP50Ms: percentile(rows.map((r) => r.verdictRpcMs), 50),
    scanRpcP95Ms: percentile(rows.map((r) => r.verdictRpcMs), 95),
    basketRpcP50Ms: percentile(rows.map((r) => r.readyRpcMs), 50),
    basketRpcP95Ms: percentile(rows.map((r) => r.readyRpcMs), 95),
    timeouts: rows.filter((r) => r.verdictMs === null || r.readyMs === null).length,
    tapsPerFamily: mean(rows.map((r) => r.taps)),
    scansPerFamily: mean(rows.map((r) => r.scans)),
    keysPerFamily: mean(rows.map((r) => r.keys)),
    scansFromOtherFocus: rows.filter((r) => r.focusAtFirstKey !== 'scan-input').length,
    keyGapMeanMs: gaps.length === 0 ? null : mean(gaps),
    keyGapMaxMs: maxGaps.length === 0 ? null : Math.max(...maxGaps),
    misattributed: attribution.misattributed,
  };
}

function partialPath(lang: Lang): string {
  return join(BENCH_DIR, `queue-${lang}.json`);
}

/** Before a run: no language's figures from an earlier run may be merged into this one's. */
export function clearResults(): void {
  mkdirSync(BENCH_DIR, { recursive: true });
  for (const lang of ['ar', 'en'] as const) rmSync(partialPath(lang), { force: true });
  rmSync(RESULT_PATH, { force: true });
}

/**
 * Milliseconds to a tenth: the page's clock is coarsened to 0.1 ms (no
 * cross-origin isolation), and binary fractions of it are noise.
 */
function tenths(_key: string, value: unknown): unknown {
  return typeof value === 'number' && !Number.isInteger(value) ? Math.round(value * 10) / 10 : value;
}

/** One language's figures, as soon as they are known (before any assertion can fail the test). */
export function saveLanguage(result: LanguageResult): void {
  mkdirSync(BENCH_DIR, { recursive: true });
  writeFileSync(partialPath(result.lang), JSON.stringify(result, tenths, 2) + '\n');
}

/** After the run: both languages in `queue.json`, and the table on stdout. */
export function writeReport(): void {
  const results = (['ar', 'en'] as const)
    .map(partialPath)
    .filter((path) => existsSync(path))
    .map((path) => JSON.parse(readFileSync(path, 'utf8')) as LanguageResult);
  if (results.length === 0) return;
  const report = {
    benchmark: 'queue',
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? null, node: process.version },
    targets: TARGETS,
    languages: Object.fromEntries(results.map((r) => [r.lang, r])),
  };
  writeFileSync(RESULT_PATH, JSON.stringify(report, null, 2) + '\n');
  console.log(formatTable(results));
  console.log(`\nper family: ${RESULT_PATH}`);
}

const ms = (v: number | null, missing = 'timeout'): string => (v === null ? missing : v.toFixed(1));

export function formatTable(results: LanguageResult[]): string {
  const header = [
    'lang',
    'families',
    'verdict p50',
    'verdict p95',
    'ready p50',
    'ready p95',
    'scans/family',
    'taps/family',
    'keys/family',
    'misattributed',
  ];
  const rows = results.map((r) => {
    const s = r.summary;
    return [
      r.lang,
      String(r.families),
      ms(s.verdictP50Ms),
      ms(s.verdictP95Ms),
      ms(s.readyP50Ms),
      ms(s.readyP95Ms),
      s.scansPerFamily.toFixed(2),
      s.tapsPerFamily.toFixed(2),
      s.keysPerFamily.toFixed(1),
      String(s.misattributed),
    ];
  });
  const target = [
    'target',
    '',
    '',
    `< ${TARGETS.verdictP95Ms}`,
    '',
    `< ${TARGETS.readyP95Ms}`,
    String(TARGETS.scansPerFamily),
    String(TARGETS.tapsPerFamily),
    '',
    String(TARGETS.misattributed),
  ];
  const all = [header, ...rows, target];
  const widths = header.map((_, i) => Math.max(...all.map((line) => line[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i])).join('  ');
  const notes = results.flatMap((r) => {
    const s = r.summary;
    const a = r.attribution;
    const anomalies = Object.entries(a.anomalies)
      .map(([code, n]) => `${code} ×${n}`)
      .join(', ');
    const pair = (p50: number | null, p95: number | null) => `${ms(p50, '?')}/${ms(p95, '?')} ms`;
    const cards = (numbers: string[], none: string) => (numbers.length === 0 ? none : numbers.join(' '));
    return [
      `${r.lang}: of those, the bridge's requests (p50/p95): scan ${pair(s.scanRpcP50Ms, s.scanRpcP95Ms)}, ` +
        `basket ${pair(s.basketRpcP50Ms, s.basketRpcP95Ms)}`,
      `    scanner: ${ms(s.keyGapMeanMs, '?')} ms a key, largest gap ${ms(s.keyGapMaxMs, '?')} ms; ` +
        `scans begun with the focus off the scan input: ${s.scansFromOtherFocus}; time-outs: ${s.timeouts}`,
      `    queue families wrong: ${cards(a.queueWrong, 'none')}; ` +
        `${r.bystanders} carded bystanders: ${cards(a.bystandersServed.map((n) => `SERVED ${n}`), 'untouched')}; ` +
        `other households served: ${a.extraHouseholds}; open anomalies: ${anomalies === '' ? 'none' : anomalies}`,
    ];
  });
  const viewport = results[0].viewport;
  const phone = viewport ? `${viewport.width} × ${viewport.height}` : '?';
  return [
    '',
    `Queue benchmark: one phone (${phone}, touch), a wedge scanner, one standard basket per family.`,
    'verdict: scanner Enter → result panel with the name painted (ms)',
    'ready:   basket tap → scan input focused, recorded panel open, result gone, painted (ms)',
    '',
    line(header),
    ...rows.map(line),
    line(target),
    '',
    ...notes,
  ].join('\n');
}
