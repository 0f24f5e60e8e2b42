// The QR reader the camera uses: ZXing-C++ compiled to WebAssembly (the
// `zxing-wasm` package, reader build), run inside the webview. Its `.wasm` is
// one of the app's own assets (Vite copies it into `dist/assets` and hands us
// its URL): the package would otherwise fetch it from a CDN, and the app runs
// offline under a `default-src 'self'` CSP. So `locateFile` is set before
// anything can load the module, and nothing else here may load it.
//
// The reader's JavaScript is a chunk of its own, loaded (from the app, like
// the .wasm) the first time the camera opens, so the app starts no slower.
//
// This file is the seam the component tests replace (CameraScanner.test.ts):
// keep it to loading the decoder and reading one frame.

import type { ReaderOptions } from 'zxing-wasm/reader';
import wasmUrl from 'zxing-wasm/reader/zxing_reader.wasm?url';

type Reader = typeof import('zxing-wasm/reader');

const OVERRIDES = {
  locateFile: (path: string, prefix: string) => (path.endsWith('.wasm') ? wasmUrl : prefix + path),
};

const OPTIONS: ReaderOptions = { formats: ['QRCode'], tryHarder: true, maxNumberOfSymbols: 1 };

/** Frames are scaled down to this many pixels on their long side: plenty for a card's code. */
const MAX_SIDE = 1280;

let loading: Promise<Reader> | null = null;
let canvas: HTMLCanvasElement | null = null;

async function load(): Promise<Reader> {
  const reader = await import('zxing-wasm/reader');
  try {
    await reader.prepareZXingModule({ overrides: OVERRIDES, fireImmediately: true });
  } catch (e) {
    // Forget the failed instance, so the next try loads it again.
    reader.purgeZXingModule();
    throw e;
  }
  return reader;
}

function reader(): Promise<Reader> {
  loading ??= load().catch((e: unknown) => {
    loading = null;
    throw e;
  });
  return loading;
}

/** Loads and compiles the decoder (once); rejects when it cannot be loaded. */
export async function loadQrDecoder(): Promise<void> {
  await reader();
}

/** The text of the QR code in the video's current frame, or null when it shows none. */
export async function decodeVideoFrame(video: HTMLVideoElement): Promise<string | null> {
  const { videoWidth, videoHeight } = video;
  if (videoWidth === 0 || videoHeight === 0) return null;
  const scale = Math.min(1, MAX_SIDE / Math.max(videoWidth, videoHeight));
  const width = Math.round(videoWidth * scale);
  const height = Math.round(videoHeight * scale);
  canvas ??= document.createElement('canvas');
  if (canvas.width !== width) canvas.width = width;
  if (canvas.height !== height) canvas.height = height;
  const context = canvas.getContext('2d', { willReadFrequently: true });
  if (!context) return null;
  context.drawImage(video, 0, 0, width, height);
  const zxing = await reader();
  const results = await zxing.readBarcodes(context.getImageData(0, 0, width, height), OPTIONS);
  const found = results.find((r) => r.isValid && r.text !== '');
  return found ? found.text : null;
}
