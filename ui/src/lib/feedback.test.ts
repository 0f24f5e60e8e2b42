import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { signal, toneOf } from './feedback';

// Records what would be played: frequencies of each oscillator started.
const played: number[][] = [];
let current: number[] = [];

class FakeAudioContext {
  state = 'running';
  currentTime = 0;
  destination = {};
  createOscillator() {
    return {
      type: 'sine',
      frequency: {
        set value(hz: number) {
          current.push(hz);
        },
      },
      connect: (node: unknown) => node,
      start() {},
      stop() {},
    };
  }
  createGain() {
    const param = { setValueAtTime() {}, exponentialRampToValueAtTime() {} };
    return { gain: param, connect: (node: unknown) => node };
  }
  resume() {
    return Promise.resolve();
  }
}

beforeAll(() => {
  vi.stubGlobal('AudioContext', FakeAudioContext);
  Object.defineProperty(navigator, 'vibrate', { configurable: true, value: vi.fn() });
});

afterAll(() => {
  vi.unstubAllGlobals();
});

describe('scan feedback', () => {
  test('statuses map to four colour families', () => {
    expect(toneOf('ok')).toBe('ok');
    expect(toneOf('already_served')).toBe('warn');
    expect(toneOf('unknown_beneficiary')).toBe('unknown');
    for (const s of ['revoked', 'bad_signature', 'unknown_issuer', 'malformed'] as const) {
      expect(toneOf(s)).toBe('refused');
    }
  });

  test('each family sounds and vibrates differently', () => {
    const vibrate = navigator.vibrate as unknown as ReturnType<typeof vi.fn>;
    for (const tone of ['ok', 'warn', 'refused', 'unknown'] as const) {
      current = [];
      signal(tone);
      played.push(current);
    }
    const sounds = played.map((p) => p.join(','));
    expect(new Set(sounds).size).toBe(4);
    expect(played.every((p) => p.length > 0)).toBe(true);
    const patterns = vibrate.mock.calls.map((c) => JSON.stringify(c[0]));
    expect(new Set(patterns).size).toBe(4);
  });
});
