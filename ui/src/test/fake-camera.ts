// A camera for component tests. jsdom has no `navigator.mediaDevices`: this
// installs one whose `getUserMedia` hands out a stream of fake video tracks
// (their `stop` recorded) or refuses as a browser does, and lets `<video>`
// play. The QR decoder itself is mocked per test file (`vi.mock` of
// lib/qr-decoder.ts, the seam). Everything is undone when the test ends.

import { onTestFinished, vi } from 'vitest';

export class FakeTrack extends EventTarget {
  readonly kind = 'video';
  readyState: 'live' | 'ended' = 'live';
  readonly stop = vi.fn(() => {
    this.readyState = 'ended';
  });

  /** The camera goes away on its own (unplugged, permission taken back). */
  end(): void {
    this.readyState = 'ended';
    this.dispatchEvent(new Event('ended'));
  }
}

export interface FakeCamera {
  getUserMedia: ReturnType<typeof vi.fn<(constraints: MediaStreamConstraints) => Promise<MediaStream>>>;
  /** Every track handed out, in order. */
  tracks: FakeTrack[];
  /** The tracks nobody stopped. */
  live: () => FakeTrack[];
}

export function streamOf(track: FakeTrack): MediaStream {
  return {
    active: true,
    getTracks: () => [track],
    getVideoTracks: () => [track],
    getAudioTracks: () => [],
  } as unknown as MediaStream;
}

/**
 * Installs the camera. With `refusal` (a DOMException name such as
 * `NotAllowedError`), every `getUserMedia` rejects with it.
 */
export function fakeCamera(refusal?: string): FakeCamera {
  const tracks: FakeTrack[] = [];
  const getUserMedia = vi.fn(async (_constraints: MediaStreamConstraints) => {
    if (refusal) throw new DOMException(`camera: ${refusal}`, refusal);
    const track = new FakeTrack();
    tracks.push(track);
    return streamOf(track);
  });
  Object.defineProperty(navigator, 'mediaDevices', {
    value: { getUserMedia },
    configurable: true,
  });
  const play = vi.spyOn(HTMLMediaElement.prototype, 'play').mockResolvedValue(undefined);
  onTestFinished(() => {
    delete (navigator as { mediaDevices?: unknown }).mediaDevices;
    play.mockRestore();
  });
  return { getUserMedia, tracks, live: () => tracks.filter((t) => t.readyState === 'live') };
}
