// The one door to the Rust side: `call(command, args)` (ARCHITECTURE.md, "The
// app: one command surface, two transports"). Inside the Tauri webview it goes
// through IPC (`invoke('call', …)`); in a plain browser — the Playwright tests
// against `qafila ui serve`, or `npm run dev` next to it — it is an HTTP POST to
// `/rpc/{command}`. Both end in the same `Session::call`.

import { invoke } from '@tauri-apps/api/core';
import { listen, type UnlistenFn } from '@tauri-apps/api/event';
import { bridgeToken } from './bridge-token';
import { translate } from './i18n';
import type {
  AppError,
  ArgsOf,
  CommandName,
  DataChangedDto,
  ResultOf,
  SyncChipDto,
} from './types';

/** How often a browser asks for the sync state (no push channel over HTTP). */
export const SYNC_POLL_MS = 5000;

/** A failed call, carrying the backend's `AppError` fields. */
export class CallError extends Error implements AppError {
  readonly code: string;
  readonly message_ar: string;
  readonly retryable: boolean;

  constructor(error: AppError) {
    super(error.message);
    this.name = 'CallError';
    this.code = error.code;
    this.message_ar = error.message_ar;
    this.retryable = error.retryable;
  }
}

interface TauriInternals {
  invoke?: unknown;
}

/** True inside the Tauri webview (its IPC bridge is installed), false in a browser. */
export function inTauri(): boolean {
  const internals = (window as unknown as { __TAURI_INTERNALS__?: TauriInternals })
    .__TAURI_INTERNALS__;
  return typeof internals?.invoke === 'function';
}

function isAppError(value: unknown): value is AppError {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.code === 'string' && typeof v.message === 'string';
}

/** An error made on this side (no answer, an answer that is not JSON), in both languages. */
function clientError(code: string, detail: string): CallError {
  return new CallError({
    code,
    message: translate('en', `error-${code}`, { detail }),
    message_ar: translate('ar-EG', `error-${code}`, { detail }),
    retryable: true,
  });
}

/** Whatever a call threw, as a `CallError` with both languages filled in. */
export function toCallError(thrown: unknown): CallError {
  if (thrown instanceof CallError) return thrown;
  if (isAppError(thrown)) {
    return new CallError({
      code: thrown.code,
      message: thrown.message,
      message_ar: thrown.message_ar || thrown.message,
      retryable: Boolean(thrown.retryable),
    });
  }
  if (typeof thrown === 'string') {
    // Tauri hands over a command's error as its serialised value; a string may
    // still be a JSON AppError from an older shell.
    try {
      const parsed: unknown = JSON.parse(thrown);
      if (isAppError(parsed)) return toCallError(parsed);
    } catch {
      // Not JSON: a plain message from the transport.
    }
    return clientError('transport', thrown);
  }
  if (thrown instanceof Error) return clientError('transport', thrown.message);
  return clientError('transport', String(thrown));
}

async function callHttp(command: string, args: unknown): Promise<unknown> {
  // The bridge refuses every command without its token (bridge-token.ts);
  // without one the call still goes, and the bridge's answer says what to open.
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  const token = bridgeToken();
  if (token !== null) headers.authorization = `Bearer ${token}`;
  let response: Response;
  try {
    response = await fetch(`/rpc/${command}`, {
      method: 'POST',
      headers,
      body: JSON.stringify(args),
    });
  } catch (e) {
    throw clientError('unreachable', e instanceof Error ? e.message : String(e));
  }
  const text = await response.text();
  let body: unknown = null;
  if (text.trim() !== '') {
    try {
      body = JSON.parse(text);
    } catch {
      throw clientError('bad_answer', `HTTP ${response.status}: ${text.slice(0, 200)}`);
    }
  }
  if (!response.ok) {
    if (isAppError(body)) throw toCallError(body);
    throw clientError('bad_answer', `HTTP ${response.status}`);
  }
  return body;
}

let lockedHandler: (() => void) | null = null;

/**
 * Calls `handler` whenever a command is refused because the device's data is
 * locked (the backend locked it after the idle time): the shell then shows the
 * unlock screen instead of whatever was on screen. Returns the function that
 * stops.
 */
export function whenLocked(handler: () => void): () => void {
  lockedHandler = handler;
  return () => {
    if (lockedHandler === handler) lockedHandler = null;
  };
}

/** Runs one backend command; rejects with a `CallError`. */
export async function call<K extends CommandName>(
  command: K,
  args: ArgsOf<K>,
): Promise<ResultOf<K>> {
  try {
    if (inTauri()) {
      return await invoke<ResultOf<K>>('call', { command, args });
    }
    return (await callHttp(command, args)) as ResultOf<K>;
  } catch (e) {
    const error = toCallError(e);
    if (error.code === 'locked') lockedHandler?.();
    throw error;
  }
}

// Typed wrappers, one per command of the contract. Optional arguments left
// undefined are dropped by JSON.stringify on both transports.

export const appStatus = () => call('app_status', {});
export const initDevice = (name: string, passphrase: string) =>
  call('init_device', { name, passphrase });
export const unlock = (passphrase: string) => call('unlock', { passphrase });
export const restoreKeys = (file: string, backupPassphrase: string, passphrase: string) =>
  call('restore_keys', { file, backup_passphrase: backupPassphrase, passphrase });
export const exportKeys = (backupPassphrase: string) =>
  call('export_keys', { backup_passphrase: backupPassphrase });
export const keysSheet = (file: string) => call('keys_sheet', { file });
export const lock = () => call('lock', {});
export const changePassphrase = (old: string, next: string) =>
  call('change_passphrase', { old, new: next });
export const setLockAfter = (minutes: number) => call('set_lock_after', { minutes });
export const setLockPolicy = (minutes: number) => call('set_lock_policy', { minutes });
export const enroll = (relay: string, code: string) => call('enroll', { relay, code });
export const syncNow = () => call('sync_now', {});
export const syncStatus = () => call('sync_status', {});
export const scan = (input: string, site: string) => call('scan', { input, site });
export const search = (query: string, limit = 20) => call('search', { query, limit });
export const checkInManual = (beneficiary: string, site: string, reason: string) =>
  call('check_in_manual', { beneficiary, site, reason });
export const handOut = (args: ArgsOf<'hand_out'>) => call('hand_out', args);
export const handOutBasket = (beneficiary: string, site: string, card?: string) =>
  call('hand_out_basket', { beneficiary, site, card });
export const voidEvent = (event: string, reason: string) => call('void', { event, reason });
export const dayStatus = (site: string, date?: string) => call('day_status', { site, date });
export const anomalies = () => call('anomalies', {});
export const devices = (convoy?: string) => call('devices', { convoy });
export const approve = (device: string, role: string, fingerprint?: string, convoy?: string) =>
  call('approve', { device, role, fingerprint, convoy });
export const setRole = (device: string, role: string, convoy?: string) =>
  call('set_role', { device, role, convoy });
export const revoke = (device: string, convoy?: string) => call('revoke', { device, convoy });
export const importFile = (name: string, bytes_base64: string, dry_run: boolean) =>
  call('import_file', { name, bytes_base64, dry_run });
export const duplicates = () => call('duplicates', {});
export const merge = (kept: string, merged: string, reason: string) =>
  call('merge', { kept, merged, reason });
export const dismiss = (a: string, b: string) => call('dismiss', { a, b });
export const villages = () => call('villages', {});
export const issueCards = (village: string) => call('issue_cards', { village });
export const cardSheet = (village: string) => call('card_sheet', { village });

export interface LiveHandlers {
  /** A new sync state for the header's chip. */
  onSync: (status: SyncChipDto) => void;
  /** Data on this device changed: screens showing it should read it again. */
  onData: (change: DataChangedDto) => void;
}

/**
 * Follows the backend's pushes: Tauri events in the webview, a `sync_status`
 * poll every few seconds in a browser (where a changed `last_synced_ms` stands
 * for `data-changed`). Returns the function that stops following.
 */
export function followBackend(handlers: LiveHandlers): () => void {
  if (inTauri()) {
    const pending: Promise<UnlistenFn>[] = [
      listen<SyncChipDto>('sync-status', (e) => handlers.onSync(e.payload)),
      listen<DataChangedDto>('data-changed', (e) => handlers.onData(e.payload)),
    ];
    return () => {
      for (const p of pending) {
        p.then((unlisten) => unlisten()).catch(() => {});
      }
    };
  }
  let lastSynced: number | null | undefined;
  let stopped = false;
  const poll = async () => {
    try {
      const status = await syncStatus();
      if (stopped) return;
      handlers.onSync(status);
      const synced = status.last_synced_ms ?? null;
      if (lastSynced !== undefined && synced !== lastSynced) {
        handlers.onData({ reason: 'sync' });
      }
      lastSynced = synced;
    } catch {
      // The next poll tries again; the chip keeps its last state meanwhile.
    }
  };
  void poll();
  const timer = setInterval(poll, SYNC_POLL_MS);
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}

// The lead's day end.
export const countSheet = (site: string, date?: string) => call('count_sheet', { site, date });
export const reconcile = (args: ArgsOf<'reconcile'>) => call('reconcile', args);
export const devicesWaiting = (site: string, date?: string) =>
  call('devices_waiting', { site, date });
export const closeDay = (site: string, without_outstanding: boolean, date?: string) =>
  call('close_day', { site, date, without_outstanding });
export const dayClose = (site: string, date?: string) => call('day_close', { site, date });
export const reviewAnomaly = (id: string, outcome: 'explained' | 'loss', note: string) =>
  call('review_anomaly', { id, outcome, note });
export const invite = () => call('invite', {});
export const stockMovement = (args: ArgsOf<'stock_movement'>) => call('stock_movement', args);
export const dayReport = (
  site: string,
  english: boolean,
  eastern_digits: boolean,
  date?: string,
) => call('day_report', { site, date, english, eastern_digits });
export const exportFile = (args: ArgsOf<'export_file'>) => call('export_file', args);
export const sitePlace = (site: string) => call('site_place', { site });
export const describeSite = (args: ArgsOf<'describe_site'>) => call('describe_site', args);
