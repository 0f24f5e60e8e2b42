import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { IDLE_CHECK_MS, watchIdle } from './idle';

describe('watchIdle', () => {
  let clock = 0;
  const now = () => clock;
  beforeEach(() => {
    vi.useFakeTimers();
    clock = 1_000_000;
  });
  afterEach(() => vi.useRealTimers());

  /** Lets `ms` pass a second at a time, the clock moving with the timers. */
  function pass(ms: number) {
    for (let step = 0; step < ms; step += 1000) {
      clock += 1000;
      vi.advanceTimersByTime(1000);
    }
  }

  it('locks after the idle minutes, and use keeps it open', () => {
    const target = new EventTarget();
    const onIdle = vi.fn();
    const stop = watchIdle(2, onIdle, target, now);
    pass(90_000);
    target.dispatchEvent(new Event('keydown'));
    pass(90_000);
    expect(onIdle).not.toHaveBeenCalled();
    pass(30_000 + IDLE_CHECK_MS);
    expect(onIdle).toHaveBeenCalledTimes(1);
    stop();
    pass(10 * 60_000);
    expect(onIdle).toHaveBeenCalledTimes(1);
  });

  it('never locks with 0 minutes, and a clock set back is not idleness', () => {
    const target = new EventTarget();
    const never = vi.fn();
    watchIdle(0, never, target, now);
    pass(24 * 60 * 60_000);
    expect(never).not.toHaveBeenCalled();

    const onIdle = vi.fn();
    watchIdle(5, onIdle, target, now);
    clock -= 365 * 24 * 60 * 60_000;
    pass(4 * 60_000);
    expect(onIdle).not.toHaveBeenCalled();
    pass(60_000 + IDLE_CHECK_MS);
    expect(onIdle).toHaveBeenCalledTimes(1);
  });
});
