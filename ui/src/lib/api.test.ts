import { afterEach, describe, expect, test, vi } from 'vitest';
import { mockIPC } from '@tauri-apps/api/mocks';
import { CallError, call, followBackend, inTauri, scan } from './api';
import { adoptBridgeToken } from './bridge-token';

afterEach(() => {
  vi.unstubAllGlobals();
  vi.useRealTimers();
});

function answer(status: number, body: unknown) {
  return new Response(body === undefined ? '' : JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json' },
  });
}

describe('in a browser (qafila ui serve)', () => {
  test('POSTs the arguments as JSON to /rpc/{command}', async () => {
    const fetch = vi.fn(async () => answer(200, { status: 'ok' }));
    vi.stubGlobal('fetch', fetch);
    expect(inTauri()).toBe(false);

    await expect(scan('QF1ABC', 'المدرسة')).resolves.toEqual({ status: 'ok' });

    expect(fetch).toHaveBeenCalledWith('/rpc/scan', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input: 'QF1ABC', site: 'المدرسة' }),
    });
  });

  test("the bridge's token leaves the address and goes with every call", async () => {
    const token = 'ab'.repeat(32);
    history.replaceState(null, '', `/?lang=ar#token=${token}`);
    adoptBridgeToken();
    expect(location.hash).toBe('');
    expect(location.href).not.toContain(token);
    expect(location.search).toBe('?lang=ar');

    const fetch = vi.fn(async () => answer(200, {}));
    vi.stubGlobal('fetch', fetch);
    await call('app_status', {});
    await call('sync_status', {});
    expect(fetch).toHaveBeenCalledTimes(2);
    for (const [, init] of fetch.mock.calls as unknown as [string, RequestInit][]) {
      expect(init.headers).toEqual({
        'content-type': 'application/json',
        authorization: `Bearer ${token}`,
      });
    }
    // A reload of the same tab keeps it; nothing else in the address does.
    expect(sessionStorage.getItem('qafila.bridge-token')).toBe(token);
    adoptBridgeToken();
    await call('app_status', {});
    expect((fetch.mock.calls[2] as unknown as [string, RequestInit])[1].headers).toMatchObject({
      authorization: `Bearer ${token}`,
    });
  });

  test('a fragment that is not a token is left to the router', () => {
    history.replaceState(null, '', '/#/scan');
    adoptBridgeToken();
    expect(location.hash).toBe('#/scan');
    history.replaceState(null, '', '/#token=not-a-token');
    adoptBridgeToken();
    expect(location.hash).toBe('#token=not-a-token');
    expect(sessionStorage.getItem('qafila.bridge-token')).toBeNull();
  });

  test('a non-2xx answer rejects with its AppError', async () => {
    const error = {
      code: 'unknown_beneficiary',
      message: 'no such person',
      message_ar: 'المستفيد ده مش موجود في السجل',
      retryable: false,
    };
    vi.stubGlobal('fetch', vi.fn(async () => answer(404, error)));

    const failure = await call('search', { query: 'x', limit: 5 }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(CallError);
    expect(failure).toMatchObject(error);
  });

  test('no answer at all rejects with a retryable error in both languages', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(async () => {
        throw new TypeError('Failed to fetch');
      }),
    );
    const failure = (await call('app_status', {}).catch((e: unknown) => e)) as CallError;
    expect(failure.code).toBe('unreachable');
    expect(failure.retryable).toBe(true);
    expect(failure.message).toContain('Failed to fetch');
    expect(failure.message_ar).toContain('البرنامج مش بيرد');
  });

  test('the sync state is polled every five seconds', async () => {
    vi.useFakeTimers();
    let n = 0;
    const fetch = vi.fn(async () => answer(200, { state: 'idle', pending: 0, last_synced_ms: n++ < 2 ? 1 : 2 }));
    vi.stubGlobal('fetch', fetch);
    const states: unknown[] = [];
    const changes: unknown[] = [];
    const stop = followBackend({ onSync: (s) => states.push(s), onData: (c) => changes.push(c) });

    await vi.advanceTimersByTimeAsync(10_100);
    stop();
    await vi.advanceTimersByTimeAsync(10_000);

    expect(fetch).toHaveBeenCalledTimes(3);
    expect(states).toHaveLength(3);
    // The third answer synced again: data changed once.
    expect(changes).toEqual([{ reason: 'sync' }]);
  });
});

describe('inside Tauri', () => {
  test('invokes the one "call" command with the command and its arguments', async () => {
    const seen: unknown[] = [];
    mockIPC((cmd, payload) => {
      seen.push([cmd, payload]);
      return { event: 'e1', kind: 'void' };
    });
    expect(inTauri()).toBe(true);

    await expect(call('void', { event: 'e0', reason: 'تراجع / undo' })).resolves.toEqual({
      event: 'e1',
      kind: 'void',
    });
    expect(seen).toEqual([['call', { command: 'void', args: { event: 'e0', reason: 'تراجع / undo' } }]]);
  });

  test("a command's AppError arrives as a CallError", async () => {
    mockIPC(() => {
      throw { code: 'over_entitlement', message: 'only 1 more', message_ar: 'فاضل واحد بس', retryable: false };
    });
    const failure = await call('anomalies', {}).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(CallError);
    expect((failure as CallError).message_ar).toBe('فاضل واحد بس');
  });
});
