import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import CameraScanner from './CameraScanner.svelte';
import { decodeVideoFrame, loadQrDecoder } from './qr-decoder';
import { switchLanguage, translate } from './i18n';
import { FakeTrack, fakeCamera, streamOf } from '../test/fake-camera';

// The seam: the real decoder is WebAssembly, read in the browser tests.
vi.mock('./qr-decoder', () => ({ loadQrDecoder: vi.fn(), decodeVideoFrame: vi.fn() }));

const CARD = 'QF104FTN0003QE00000040U4A1JQ74R4VDQ7D5UTVF0MXY038K862RZAX';

beforeEach(() => {
  vi.mocked(loadQrDecoder).mockReset().mockResolvedValue(undefined);
  vi.mocked(decodeVideoFrame).mockReset().mockResolvedValue(null);
});

afterEach(() => {
  vi.useRealTimers();
});

function renderScanner() {
  const ondecoded = vi.fn<(text: string) => void>();
  const onopenchange = vi.fn<(open: boolean) => void>();
  const view = render(CameraScanner, { ondecoded, onopenchange });
  return { ondecoded, onopenchange, ...view };
}

async function openCamera() {
  await fireEvent.click(screen.getByTestId('camera-button'));
}

/** The camera shows and frames are being read. */
async function live() {
  await waitFor(() =>
    expect(screen.getByTestId('camera-status').textContent?.trim()).toBe(
      translate('ar-EG', 'camera-hint'),
    ),
  );
}

async function problem(): Promise<HTMLElement> {
  return screen.findByTestId('camera-problem');
}

describe('the camera', () => {
  test('reads frames until a code shows, hands over its text once, and stops every track', async () => {
    vi.useFakeTimers();
    const camera = fakeCamera();
    vi.mocked(decodeVideoFrame)
      .mockResolvedValueOnce(null)
      .mockResolvedValueOnce(null)
      .mockResolvedValueOnce(CARD);
    const { ondecoded, onopenchange } = renderScanner();

    await openCamera();
    await vi.advanceTimersByTimeAsync(0);
    expect(camera.getUserMedia).toHaveBeenCalledWith({ video: { facingMode: 'environment' } });
    expect(loadQrDecoder).toHaveBeenCalledTimes(1);
    const video = screen.getByTestId('camera-video') as HTMLVideoElement;
    expect(video.srcObject).not.toBeNull();
    expect(video.muted).toBe(true);
    expect(onopenchange.mock.calls).toEqual([[true]]);

    // A few reads a second, each of the live video.
    await vi.advanceTimersByTimeAsync(200);
    await vi.advanceTimersByTimeAsync(200);
    expect(ondecoded).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(200);

    expect(ondecoded.mock.calls).toEqual([[CARD]]);
    expect(vi.mocked(decodeVideoFrame).mock.calls.every(([v]) => v === video)).toBe(true);
    expect(camera.tracks).toHaveLength(1);
    expect(camera.tracks[0].stop).toHaveBeenCalled();
    expect(camera.live()).toEqual([]);
    expect(screen.queryByTestId('camera-view')).toBeNull();
    expect(screen.getByTestId('camera-button')).toBeTruthy();
    expect(onopenchange.mock.calls).toEqual([[true], [false]]);

    // Nothing reads on after the code.
    await vi.advanceTimersByTimeAsync(2000);
    expect(decodeVideoFrame).toHaveBeenCalledTimes(3);
    expect(ondecoded).toHaveBeenCalledTimes(1);
  });

  test('permission refused: says how to allow the camera and that the scanner still works', async () => {
    fakeCamera('NotAllowedError');
    const { ondecoded, onopenchange } = renderScanner();

    await openCamera();
    const alert = await problem();
    expect(alert.dataset.problem).toBe('denied');
    expect(alert.getAttribute('role')).toBe('alert');
    expect(alert.textContent?.trim()).toBe(translate('ar-EG', 'camera-problem-denied'));
    expect(alert.textContent).toContain('الأذونات');
    expect(alert.textContent).toContain('جهاز المسح');
    // The button is back, to try again once allowed.
    expect(screen.getByTestId('camera-button')).toBeTruthy();
    expect(screen.queryByTestId('camera-view')).toBeNull();
    expect(onopenchange.mock.calls).toEqual([[true], [false]]);
    expect(ondecoded).not.toHaveBeenCalled();

    switchLanguage('en');
    await waitFor(() => expect(alert.textContent).toContain('Permissions'));
    expect(alert.textContent).toContain('scanner');
  });

  test.each([
    ['NotFoundError', 'not-found'],
    ['OverconstrainedError', 'not-found'],
    ['NotReadableError', 'busy'],
    ['SecurityError', 'denied'],
    ['UnknownError', 'failed'],
  ])('getUserMedia failing with %s says %s, in both languages', async (name, expected) => {
    fakeCamera(name);
    renderScanner();
    await openCamera();
    const alert = await problem();
    expect(alert.dataset.problem).toBe(expected);
    const id = `camera-problem-${expected}`;
    expect(alert.textContent?.trim()).toBe(translate('ar-EG', id));
    expect(translate('en', id)).not.toBe(id);
    expect(translate('en', id)).not.toBe(translate('ar-EG', id));
  });

  test('no mediaDevices (not a secure page): says where the camera works, asks nothing', async () => {
    expect('mediaDevices' in navigator).toBe(false);
    const { onopenchange } = renderScanner();
    await openCamera();
    expect((await problem()).dataset.problem).toBe('insecure');
    expect(onopenchange).not.toHaveBeenCalled();
    expect(loadQrDecoder).not.toHaveBeenCalled();
  });

  test('a decoder that does not load: says so, and the camera it opened is stopped', async () => {
    const camera = fakeCamera();
    vi.mocked(loadQrDecoder).mockRejectedValue(new Error('wasm: 404'));
    const quiet = vi.spyOn(console, 'error').mockImplementation(() => {});
    renderScanner();
    await openCamera();
    expect((await problem()).dataset.problem).toBe('decoder');
    expect(camera.tracks).toHaveLength(1);
    expect(camera.live()).toEqual([]);
    expect(quiet).toHaveBeenCalled();
    quiet.mockRestore();
  });

  test('a decoder that keeps failing on frames gives up with the decoder message', async () => {
    vi.useFakeTimers();
    const camera = fakeCamera();
    vi.mocked(decodeVideoFrame).mockRejectedValue(new Error('RuntimeError: unreachable'));
    const quiet = vi.spyOn(console, 'error').mockImplementation(() => {});
    renderScanner();
    await openCamera();
    await vi.advanceTimersByTimeAsync(200 * 4);
    // One bad frame is not the end...
    expect(screen.getByTestId('camera-view')).toBeTruthy();
    await vi.advanceTimersByTimeAsync(200);
    // ...five in a row are.
    expect(screen.getByTestId('camera-problem').dataset.problem).toBe('decoder');
    expect(camera.live()).toEqual([]);
    quiet.mockRestore();
  });

  test('a camera that stops by itself says so', async () => {
    const camera = fakeCamera();
    renderScanner();
    await openCamera();
    await live();
    camera.tracks[0].end();
    expect((await problem()).dataset.problem).toBe('stopped');
    expect(screen.queryByTestId('camera-view')).toBeNull();
  });

  test('Close stops the camera, and so does leaving the screen', async () => {
    const camera = fakeCamera();
    const { onopenchange, unmount } = renderScanner();

    await openCamera();
    await live();
    await fireEvent.click(screen.getByTestId('camera-cancel'));
    expect(camera.live()).toEqual([]);
    expect(screen.queryByTestId('camera-view')).toBeNull();
    expect(screen.queryByTestId('camera-problem')).toBeNull();
    expect(onopenchange.mock.calls).toEqual([[true], [false]]);

    await openCamera();
    await live();
    expect(camera.live()).toHaveLength(1);
    unmount();
    expect(camera.tracks).toHaveLength(2);
    expect(camera.live()).toEqual([]);
  });

  test('a camera granted after Close is stopped at once, never shown', async () => {
    const camera = fakeCamera();
    const late = new FakeTrack();
    let grant: (stream: MediaStream) => void = () => {};
    camera.getUserMedia.mockImplementationOnce(() => new Promise((r) => (grant = r)));
    const { ondecoded } = renderScanner();

    await openCamera();
    expect(screen.getByTestId('camera-status').textContent?.trim()).toBe(
      translate('ar-EG', 'camera-starting'),
    );
    await fireEvent.click(screen.getByTestId('camera-cancel'));
    grant(streamOf(late));
    await waitFor(() => expect(late.stop).toHaveBeenCalled());
    expect(screen.queryByTestId('camera-view')).toBeNull();
    expect(decodeVideoFrame).not.toHaveBeenCalled();
    expect(ondecoded).not.toHaveBeenCalled();
  });
});
