// A camera picture of a real card, for Chromium's fake camera
// (`--use-file-for-fake-video-capture=FILE.y4m`). The QR code is the one the
// app prints: `qafila demo` writes the demo's card sheet (demo-cards.html,
// made by crates/qafila-cards/src/sheet.rs), whose inline SVG draws each dark
// module as a 1×1 square of a `viewBox="0 0 N N"` (quiet zone included). The
// squares are read back into a matrix and drawn, large, on a white frame.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The card's QR code as printed: rows of modules, true for dark, quiet zone included. */
export function printedQr(dataDir: string, cardNumber: string): boolean[][] {
  const sheet = readFileSync(join(dataDir, 'demo-cards.html'), 'utf8');
  const card = sheet
    .split('<article class="card">')
    .slice(1)
    .find((article) => article.includes(`>${cardNumber}<`));
  if (!card) throw new Error(`card ${cardNumber} is not on the demo's card sheet`);
  const size = /<svg[^>]*viewBox="0 0 (\d+) \1"/.exec(card);
  const path = /<path[^>]* d="([^"]+)"/.exec(card);
  if (!size || !path) throw new Error(`card ${cardNumber}: no QR code svg on the sheet`);
  const n = Number(size[1]);
  const modules = Array.from({ length: n }, () => new Array<boolean>(n).fill(false));
  let count = 0;
  for (const square of path[1].matchAll(/M(\d+) (\d+)h1v1H\1V\2/g)) {
    modules[Number(square[2])][Number(square[1])] = true;
    count += 1;
  }
  // The path is nothing but such squares: anything else means the renderer changed.
  if (count === 0 || path[1].replace(/M(\d+) (\d+)h1v1H\1V\2/g, '') !== '') {
    throw new Error(`card ${cardNumber}: the QR path is not one square per module`);
  }
  return modules;
}

export interface Picture {
  width: number;
  height: number;
  /** Frames in the file (Chromium plays them in a loop). */
  frames: number;
}

/**
 * Writes `modules` centred on a white 4:2:0 YUV picture (the Y4M format), as
 * large as fits with a wide white margin around it.
 */
export function writeY4m(
  path: string,
  modules: boolean[][],
  { width, height, frames }: Picture = { width: 640, height: 480, frames: 2 },
): void {
  const n = modules.length;
  const scale = Math.floor((Math.min(width, height) * 0.8) / n);
  if (scale < 2) throw new Error(`a ${n}-module code does not fit in ${width}x${height}`);
  const left = Math.floor((width - n * scale) / 2);
  const top = Math.floor((height - n * scale) / 2);
  const luma = Buffer.alloc(width * height, 235);
  for (let y = 0; y < n * scale; y++) {
    const row = modules[Math.floor(y / scale)];
    for (let x = 0; x < n * scale; x++) {
      if (row[Math.floor(x / scale)]) luma[(top + y) * width + left + x] = 16;
    }
  }
  // No colour: both chroma planes at their middle value.
  const chroma = Buffer.alloc((width / 2) * (height / 2) * 2, 128);
  const header = Buffer.from(`YUV4MPEG2 W${width} H${height} F10:1 Ip A1:1 C420jpeg\n`, 'ascii');
  const frame = Buffer.concat([Buffer.from('FRAME\n', 'ascii'), luma, chroma]);
  writeFileSync(path, Buffer.concat([header, ...new Array<Buffer>(frames).fill(frame)]));
}
