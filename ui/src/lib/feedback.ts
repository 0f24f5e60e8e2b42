// What a volunteer hears and feels after a scan, so the result registers
// without looking: a short tone pattern per outcome, made with WebAudio (no
// audio files to ship), and a vibration pattern where the device has one.

import type { ScanStatus, ScanTone } from './types';

/** The colour family of a scan status: green, amber, red or blue. */
export function toneOf(status: ScanStatus | (string & {})): ScanTone {
  switch (status) {
    case 'ok':
      return 'ok';
    case 'already_served':
      return 'warn';
    case 'unknown_beneficiary':
      return 'unknown';
    default:
      return 'refused';
  }
}

interface Beep {
  hz: number;
  ms: number;
  wave: OscillatorType;
}

// Rising and bright for "go", two flat mid beeps for "careful", a low buzz for
// "stop", a falling pair for "not known here yet".
const PATTERNS: Record<ScanTone, Beep[]> = {
  ok: [
    { hz: 880, ms: 90, wave: 'sine' },
    { hz: 1320, ms: 140, wave: 'sine' },
  ],
  warn: [
    { hz: 520, ms: 160, wave: 'triangle' },
    { hz: 520, ms: 160, wave: 'triangle' },
  ],
  refused: [{ hz: 196, ms: 450, wave: 'square' }],
  unknown: [
    { hz: 740, ms: 140, wave: 'sine' },
    { hz: 494, ms: 200, wave: 'sine' },
  ],
};

const VIBRATIONS: Record<ScanTone, number[]> = {
  ok: [60],
  warn: [120, 80, 120],
  refused: [400],
  unknown: [80, 60, 80, 60, 80],
};

const GAP_S = 0.05;

let context: AudioContext | null = null;

function audio(): AudioContext | null {
  if (context) return context;
  const Ctor =
    window.AudioContext ??
    (window as unknown as { webkitAudioContext?: typeof AudioContext }).webkitAudioContext;
  if (!Ctor) return null;
  try {
    context = new Ctor();
  } catch {
    return null;
  }
  return context;
}

function play(pattern: Beep[]): void {
  const ctx = audio();
  if (!ctx) return;
  if (ctx.state === 'suspended') void ctx.resume().catch(() => {});
  let at = ctx.currentTime + 0.01;
  for (const beep of pattern) {
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.type = beep.wave;
    osc.frequency.value = beep.hz;
    const end = at + beep.ms / 1000;
    // Short ramps at both ends: no click.
    gain.gain.setValueAtTime(0.0001, at);
    gain.gain.exponentialRampToValueAtTime(0.3, at + 0.01);
    gain.gain.setValueAtTime(0.3, end - 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, end);
    osc.connect(gain).connect(ctx.destination);
    osc.start(at);
    osc.stop(end);
    at = end + GAP_S;
  }
}

/** Sounds and vibrates for a scan outcome; silent where the device cannot. */
export function signal(tone: ScanTone): void {
  try {
    play(PATTERNS[tone]);
  } catch {
    // Sound is a help, never a reason for a scan to fail.
  }
  if (typeof navigator.vibrate === 'function') {
    try {
      navigator.vibrate(VIBRATIONS[tone]);
    } catch {
      // Same as sound.
    }
  }
}
