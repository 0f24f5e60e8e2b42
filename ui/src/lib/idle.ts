// The idle lock on this side: after the minutes the device is set to, with no
// key, tap or scroll, the shell locks the device's data (the backend also
// refuses commands after that long without use, so a screen left open cannot
// outlive it). A wedge scanner's keys are use.

/** The events that count as someone using the app. */
const USE_EVENTS = ['pointerdown', 'keydown', 'wheel', 'touchstart'] as const;
/** How often the idle time is checked. */
export const IDLE_CHECK_MS = 5000;

/**
 * Calls `onIdle` once `minutes` pass without use (0: never). Returns the
 * function that stops watching. `now` is injectable for tests.
 */
export function watchIdle(
  minutes: number,
  onIdle: () => void,
  target: EventTarget = window,
  now: () => number = Date.now,
): () => void {
  if (!(minutes > 0)) return () => {};
  let last = now();
  const used = () => {
    last = now();
  };
  for (const type of USE_EVENTS) target.addEventListener(type, used, { capture: true, passive: true });
  const timer = setInterval(() => {
    // A clock set back counts as use, never as a long idle time.
    if (now() < last) last = now();
    if (now() - last >= minutes * 60_000) {
      last = now();
      onIdle();
    }
  }, IDLE_CHECK_MS);
  return () => {
    clearInterval(timer);
    for (const type of USE_EVENTS) target.removeEventListener(type, used, { capture: true });
  };
}
