// What the benchmark measures, measured inside the page with the page's own
// clock (performance.now()), so Playwright's round trips to the browser are
// not counted: the driver only starts the scanner and the tap, and then asks
// the page when it saw what.
//
// `installQueueProbe` is sent to the page as source text (page.addInitScript)
// and runs before the app's own scripts: it must not use anything from this
// module but types.

/** One measured interval: from a trigger to the screen that answers it. */
export interface Timing {
  /**
   * From the trigger to the end of the first frame that shows the answer:
   * the DOM held it, a requestAnimationFrame callback ran, and the task after
   * that frame's style, layout and paint ran. The compositor and the screen
   * add a few milliseconds more that no page script can see; they are not in
   * here. `null`: no trigger was seen, or the answer never came.
   */
  ms: number | null;
  /** From the trigger to the DOM holding the answer (before style, layout and paint). */
  domMs: number | null;
  /**
   * Of `ms`, the request to the bridge (`/rpc/scan` or `/rpc/hand_out_basket`)
   * as the browser's resource timing saw it, from its start to the end of its
   * response: the backend's share and the loopback, not the page's.
   */
  rpcMs: number | null;
  /** The answer did not come within the probe's time limit. */
  timedOut: boolean;
}

/** Scan to verdict: from the scanner's Enter to the result panel with a name (or a refusal). */
export interface Verdict extends Timing {
  /** `data-status` of the result panel, `error:CODE` for an error alert, `null` on time-out. */
  status: string | null;
  /** The holder's name the result panel shows, if any. */
  name: string | null;
}

/** What the page received for one family, from the probe's `startFamily` on. */
export interface FamilyCounts {
  /** Every keydown (the scanner's characters and its Enter: the volunteer types nothing). */
  keys: number;
  /** Enters, each one scan. */
  scans: number;
  /** Pointer downs: taps of the volunteer's finger. */
  taps: number;
  /** Mean and largest time between two keys of the scan, to show the scanner's speed. */
  keyGapMeanMs: number | null;
  keyGapMaxMs: number | null;
  /** What had the focus when the scanner's first key arrived (its test id, tag or `nothing`). */
  focusAtFirstKey: string | null;
}

export interface QueueProbe {
  /**
   * A new family: resets the counts and starts waiting for a verdict. Call
   * before the scanner types: the verdict's clock starts at the Enter.
   */
  startFamily(): void;
  /** The verdict once it shows (or the time-out). */
  verdict(): Promise<Verdict>;
  /**
   * Starts waiting for "ready for the next card" after the next tap: the scan
   * input has the focus, the recorded panel is open and the result panel is
   * gone. The clock starts at the tap's pointerdown, the finger touching.
   */
  armReady(): void;
  /** "Ready for the next card" once it shows (or the time-out). */
  ready(): Promise<Timing>;
  counts(): FamilyCounts;
}

declare global {
  interface Window {
    __qafilaQueueProbe?: QueueProbe;
  }
}

/** How long the probe waits for an answer before reporting a time-out. */
export const PROBE_TIMEOUT_MS = 10_000;

export function installQueueProbe(timeoutMs: number): void {
  interface Seen<T> {
    value: T | null;
    timing: Timing;
  }

  let keyTimes: number[] = [];
  let keys = 0;
  let scans = 0;
  let taps = 0;
  let focusAtFirstKey: string | null = null;
  let enterAt: number | null = null;
  let tapAt: number | null = null;
  let verdictWait: Promise<Seen<{ status: string; name: string | null }>> | null = null;
  let readyWait: Promise<Seen<true>> | null = null;
  const cancels = new Set<() => void>();

  const describe = (element: Element | null): string =>
    element === null || element === document.body
      ? 'nothing'
      : (element.getAttribute('data-testid') ?? element.tagName.toLowerCase());

  // Registered before the app's own listeners (this runs first), in the
  // capture phase on the window: the first of all to see each key and tap.
  addEventListener(
    'keydown',
    (event) => {
      const now = performance.now();
      if (keys === 0) focusAtFirstKey = describe(document.activeElement);
      keys += 1;
      keyTimes.push(now);
      if (event.key === 'Enter') {
        scans += 1;
        enterAt ??= now;
      }
    },
    true,
  );
  addEventListener(
    'pointerdown',
    () => {
      taps += 1;
      tapAt ??= performance.now();
    },
    true,
  );

  /**
   * Resolves at the end of the first frame after `check` holds: checked on
   * every DOM change and focus change (a focus change is no mutation).
   */
  function watch<T>(check: () => T | null, since: () => number | null, command: string): Promise<Seen<T>> {
    return new Promise((resolve) => {
      let done = false;
      const observer = new MutationObserver(test);
      const stop = () => {
        done = true;
        observer.disconnect();
        removeEventListener('focusin', test, true);
        clearTimeout(timer);
        cancels.delete(stop);
      };
      const timer = setTimeout(() => {
        stop();
        resolve({ value: null, timing: { ms: null, domMs: null, rpcMs: null, timedOut: true } });
      }, timeoutMs);
      function test(): void {
        if (done) return;
        const value = check();
        if (value === null) return;
        const domAt = performance.now();
        stop();
        // A rAF callback runs just before the frame's style, layout and
        // paint; a message posted from it is delivered after them.
        requestAnimationFrame(() => {
          const channel = new MessageChannel();
          channel.port1.onmessage = () => {
            const paintedAt = performance.now();
            const start = since();
            const rpc = start === null ? undefined : request(command, start);
            resolve({
              value,
              timing: {
                ms: start === null ? null : paintedAt - start,
                domMs: start === null ? null : domAt - start,
                rpcMs: rpc?.duration ?? null,
                timedOut: false,
              },
            });
          };
          channel.port2.postMessage(null);
        });
      }
      cancels.add(stop);
      observer.observe(document.documentElement, {
        subtree: true,
        childList: true,
        attributes: true,
        characterData: true,
      });
      addEventListener('focusin', test, true);
      test();
    });
  }

  /** The first request for `command` to the bridge that started after `start`. */
  function request(command: string, start: number): PerformanceResourceTiming | undefined {
    return performance
      .getEntriesByType('resource')
      .filter((e): e is PerformanceResourceTiming => e instanceof PerformanceResourceTiming)
      .find((e) => e.startTime >= start && new URL(e.name).pathname === `/rpc/${command}`);
  }

  /** The result panel's status and name, or an error alert on the scan screen. */
  function shown(): { status: string; name: string | null } | null {
    const panel = document.querySelector('[data-testid=result-panel][data-status]');
    if (panel) {
      const name = panel.querySelector('[data-testid=result-name]')?.textContent?.trim() ?? null;
      return { status: panel.getAttribute('data-status') ?? '', name };
    }
    const error = document.querySelector('[data-testid=scan] [data-testid=error-alert]');
    if (error) return { status: `error:${error.getAttribute('data-code') ?? ''}`, name: null };
    return null;
  }

  window.__qafilaQueueProbe = {
    startFamily() {
      for (const stop of Array.from(cancels)) stop();
      // The timeline keeps 250 requests by default, then drops new ones.
      performance.clearResourceTimings();
      keyTimes = [];
      keys = 0;
      scans = 0;
      taps = 0;
      focusAtFirstKey = null;
      enterAt = null;
      tapAt = null;
      readyWait = null;
      // Whatever shows before this scan (a refusal left on screen) is not
      // its verdict: only a different status or name is.
      const before = shown();
      const stale = before === null ? null : `${before.status}|${before.name ?? ''}`;
      verdictWait = watch(() => {
        const now = shown();
        if (now === null || `${now.status}|${now.name ?? ''}` === stale) return null;
        // A good card's panel is not done until it names the holder.
        if (now.status === 'ok' && now.name === null) return null;
        return now;
      }, () => enterAt, 'scan');
    },
    async verdict() {
      if (!verdictWait) throw new Error('startFamily() first');
      const seen = await verdictWait;
      return { ...seen.timing, status: seen.value?.status ?? null, name: seen.value?.name ?? null };
    },
    armReady() {
      tapAt = null;
      readyWait = watch(() => {
        const input = document.activeElement;
        const ready =
          input?.getAttribute('data-testid') === 'scan-input' &&
          document.querySelector('[data-testid=recorded-panel][data-phase=open]') !== null &&
          document.querySelector('[data-testid=result-panel]') === null;
        return ready ? true : null;
      }, () => tapAt, 'hand_out_basket');
    },
    async ready() {
      if (!readyWait) throw new Error('armReady() first');
      return (await readyWait).timing;
    },
    counts() {
      const gaps = keyTimes.slice(1).map((t, i) => t - keyTimes[i]);
      return {
        keys,
        scans,
        taps,
        keyGapMeanMs: gaps.length === 0 ? null : gaps.reduce((a, b) => a + b, 0) / gaps.length,
        keyGapMaxMs: gaps.length === 0 ? null : Math.max(...gaps),
        focusAtFirstKey,
      };
    },
  };
}
