// The real backend the browser tests drive: the `qafila` binary that
// `cargo build` made, a relay (`qafila relay serve`), a demo convoy
// (`qafila demo`) and the app's loopback bridge (`qafila ui serve`) over that
// device's SQLite store. Nothing here is a mock: every process is the one a
// user runs (ARCHITECTURE.md, "The app: one command surface, two transports").

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** `ui/`, whatever directory Playwright was started from. */
export const UI_DIR = resolve(import.meta.dirname, '..');
export const REPO_DIR = resolve(UI_DIR, '..');

/** The binary `cargo build -p qafila-cli` (or `--workspace`) made. */
export const QAFILA_BIN =
  process.env.QAFILA_BIN ??
  join(resolve(REPO_DIR, process.env.CARGO_TARGET_DIR ?? 'target'), 'debug', 'qafila');

/** The built UI (`npm run build`). */
export const DIST_DIR = join(UI_DIR, 'dist');

/** Debian's Chromium: no browser is downloaded for these tests. */
export const CHROMIUM = process.env.QAFILA_CHROMIUM ?? '/usr/bin/chromium';

/** Where the screenshots for reviewers go (under `target/`, so never committed). */
export const SCREENSHOT_DIR = join(REPO_DIR, 'target', 'screenshots');

/** The demo's village, which is also the convoy's only site (crates/qafila-cli/src/demo.rs). */
export const VILLAGE = 'كفر الشيخ سالم';

/** What global setup hands to the workers (a JSON file named by `QAFILA_E2E_STATE`). */
export interface GlobalState {
  /** The temporary directory every data directory and database lives in. */
  root: string;
  relay: { url: string; pid: number };
  /** One demo device and its bridge, shared by the tests that record nothing. */
  shared: Backend;
}

/** A demo card: its scanned text and its holder as the backend has them. */
export interface DemoCard {
  text: string;
  /** The printed number, `KKKKK-NNNNNN`. */
  number: string;
  name: string;
  householdSize: number;
}

/** A running `qafila ui serve`. */
export interface Bridge {
  /** `http://127.0.0.1:PORT`, the UI and `/rpc`. */
  url: string;
  /** The address it printed to open, `${url}/#token=…`: what a page opens. */
  open: string;
  /** This run's token, which every `/rpc` call sends as `Authorization: Bearer …`. */
  token: string;
  /** The bridge's process id (SIGTERM stops it). */
  pid: number;
}

/** A device with a demo convoy on it and a `qafila ui serve` over its store. */
export interface Backend extends Bridge {
  dataDir: string;
  leadDir: string;
  relayUrl: string;
  cards: DemoCard[];
}

export function checkPrerequisites(): void {
  const missing: string[] = [];
  if (!existsSync(QAFILA_BIN)) {
    missing.push(`${QAFILA_BIN} (build it: cargo build -p qafila-cli)`);
  }
  if (!existsSync(join(DIST_DIR, 'index.html'))) {
    missing.push(`${DIST_DIR}/index.html (build it: cd ui && npm run build)`);
  }
  if (!existsSync(CHROMIUM)) {
    missing.push(`${CHROMIUM} (install Debian's chromium, or set QAFILA_CHROMIUM)`);
  }
  if (missing.length > 0) {
    throw new Error(`the browser tests need:\n  ${missing.join('\n  ')}`);
  }
}

export function tempRoot(): string {
  return mkdtempSync(join(process.env.TMPDIR ?? '/tmp', 'qafila-e2e-'));
}

/** Runs `qafila ARGS` to completion; rejects with its stderr when it fails. */
export async function qafila(args: string[], timeoutMs = 30_000): Promise<string> {
  try {
    const { stdout } = await run(QAFILA_BIN, args, {
      timeout: timeoutMs,
      maxBuffer: 16 << 20,
      env: cleanEnv(),
    });
    return stdout;
  } catch (e) {
    const err = e as Error & { stderr?: string; stdout?: string };
    throw new Error(
      `qafila ${args.join(' ')} failed: ${err.message}\n${err.stderr ?? ''}${err.stdout ?? ''}`,
    );
  }
}

/** `qafila --json …`, parsed. */
export async function qafilaJson<T>(args: string[]): Promise<T> {
  return JSON.parse(await qafila(['--json', ...args])) as T;
}

/** The passphrase every test device's data is sealed with. */
export const E2E_PASSPHRASE = 'قافلة الاختبار';

/**
 * The environment without a data directory that would override `--data-dir`,
 * with the devices' passphrase as a script sets it (`locked`: without, so
 * `ui serve` starts locked and the browser asks for it).
 */
function cleanEnv(locked = false): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, QAFILA_PASSPHRASE: E2E_PASSPHRASE };
  delete env.QAFILA_DATA_DIR;
  delete env.QAFILA_RELAY_CONFIG;
  if (locked) delete env.QAFILA_PASSPHRASE;
  return env;
}

/**
 * Processes this worker (or global setup) started and that still run: if the
 * process exits without stopping them (a crash, an interrupted run), they are
 * sent SIGTERM on the way out rather than left listening.
 */
const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of children) child.kill('SIGTERM');
});

/**
 * Starts a long-running `qafila` command that prints `listening on ADDR` as its
 * first line, and resolves with the address and the `extraLines` lines after
 * it (`qafila ui serve` prints the address to open as its second).
 */
export function startListening(
  args: string[],
  timeoutMs = 15_000,
  extraLines = 0,
  locked = false,
): Promise<{ child: ChildProcess; addr: string; extra: string[] }> {
  const child = spawn(QAFILA_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], env: cleanEnv(locked) });
  children.add(child);
  child.on('exit', () => children.delete(child));
  let stdout = '';
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    // Kept short: only for the error message if the process dies early.
    if (stderr.length < 8192) stderr += chunk;
  });
  return new Promise((resolveStart, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      reject(new Error(`qafila ${args.join(' ')}: no "listening on" within ${timeoutMs} ms\n${stderr}`));
    }, timeoutMs);
    child.stdout!.setEncoding('utf8');
    let started = false;
    child.stdout!.on('data', (chunk: string) => {
      if (started) return; // The rest is drained.
      stdout += chunk;
      const lines = stdout.split('\n');
      if (lines.length < 2 + extraLines) return;
      started = true;
      clearTimeout(timer);
      const first = lines[0].trim();
      const match = /^listening on (\S+)$/.exec(first);
      if (!match) {
        child.kill('SIGTERM');
        reject(new Error(`qafila ${args.join(' ')}: unexpected first line ${JSON.stringify(first)}`));
        return;
      }
      resolveStart({ child, addr: match[1], extra: lines.slice(1, 1 + extraLines).map((l) => l.trim()) });
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`qafila ${args.join(' ')} exited (${code ?? signal}) before listening\n${stderr}`));
    });
  });
}

/** Sends SIGTERM and waits for the process to end (SIGKILL after a grace period). */
export async function stop(pid: number, graceMs = 5_000): Promise<void> {
  if (!alive(pid)) return;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (alive(pid) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  if (alive(pid)) process.kill(pid, 'SIGKILL');
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function startRelay(root: string): Promise<{ url: string; pid: number }> {
  const { child, addr } = await startListening([
    'relay',
    'serve',
    '--listen',
    '127.0.0.1:0',
    '--db',
    join(root, 'relay.db'),
  ]);
  return { url: `http://${addr}`, pid: child.pid! };
}

interface VerifyJson {
  valid: boolean;
  number: string;
  beneficiary: string;
}

interface BeneficiaryJson {
  name: string;
  household_size: number;
}

/** Reads who holds each card, from the device's own store (`cards verify`, `beneficiary show`). */
async function describeCards(dataDir: string, texts: string[]): Promise<DemoCard[]> {
  return Promise.all(
    texts.map(async (text) => {
      const card = await qafilaJson<VerifyJson>(['--data-dir', dataDir, 'cards', 'verify', text]);
      if (!card.valid) throw new Error(`demo card ${card.number} does not verify`);
      const person = await qafilaJson<BeneficiaryJson>([
        '--data-dir',
        dataDir,
        'beneficiary',
        'show',
        card.beneficiary,
      ]);
      return { text, number: card.number, name: person.name, householdSize: person.household_size };
    }),
  );
}

/**
 * A new device with the demo convoy (its own lead, 36 families, 5 card texts,
 * stock), synced through `relayUrl`, and a `qafila ui serve` over it with no
 * background sync (the tests sync when they mean to).
 */
export async function startBackend(root: string, relayUrl: string): Promise<Backend> {
  const dir = mkdtempSync(join(root, 'device-'));
  const dataDir = join(dir, 'app');
  const leadDir = join(dir, 'lead');
  await qafila(['--data-dir', dataDir, 'demo', '--relay', relayUrl, '--lead-dir', leadDir], 60_000);
  const texts = readFileSync(join(dataDir, 'demo-cards.txt'), 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
  if (texts.length !== 5) throw new Error(`the demo wrote ${texts.length} card texts, not 5`);
  const cards = await describeCards(dataDir, texts);
  const bridge = await serveUi(dataDir);
  return { ...bridge, dataDir, leadDir, relayUrl, cards };
}

/**
 * `qafila ui serve` over a device's store, with no background sync (the tests
 * sync when they mean to), and the token from the address it printed;
 * `locked`: started as the desktop app is, without the passphrase, so the page
 * asks for it.
 */
export async function serveUi(dataDir: string, locked = false): Promise<Bridge> {
  const { child, addr, extra } = await startListening(
    [
      '--data-dir',
      dataDir,
      'ui',
      'serve',
      '--listen',
      '127.0.0.1:0',
      '--static',
      DIST_DIR,
      '--sync-interval',
      '0',
    ],
    15_000,
    1,
    locked,
  );
  const url = `http://${addr}`;
  const match = /^open (http:\/\/\S+\/#token=([0-9a-f]{64}))$/.exec(extra[0]);
  if (!match || !match[1].startsWith(`${url}/`)) {
    child.kill('SIGTERM');
    throw new Error(`qafila ui serve: unexpected second line ${JSON.stringify(extra[0])}`);
  }
  return { url, open: match[1], token: match[2], pid: child.pid! };
}

/** The headers a `/rpc` call from outside the page sends: the token, as the UI does. */
export function rpcHeaders(bridge: Bridge): Record<string, string> {
  return { authorization: `Bearer ${bridge.token}` };
}

export function readState(): GlobalState {
  const path = process.env.QAFILA_E2E_STATE;
  if (!path) throw new Error('QAFILA_E2E_STATE is not set: run the tests with `npm run e2e`');
  return JSON.parse(readFileSync(path, 'utf8')) as GlobalState;
}
