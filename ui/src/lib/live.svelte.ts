// What the backend pushes while the app runs: the sync chip's state, and a
// counter that moves whenever data on this device changed (a sync brought
// records, or another window recorded something). Screens that show stored data
// read `live.dataVersion` in an effect, so they load again when it moves.

import { followBackend, syncNow } from './api';
import type { SyncChipDto } from './types';

export const live: { chip: SyncChipDto | null; dataVersion: number } = $state({
  chip: null,
  dataVersion: 0,
});

/** Starts following the backend; returns the function that stops. */
export function startLive(): () => void {
  return followBackend({
    onSync: (status) => {
      live.chip = status;
    },
    onData: () => {
      live.dataVersion += 1;
    },
  });
}

/** Marks local data as changed (after this window recorded something). */
export function dataChanged(): void {
  live.dataVersion += 1;
}

/** Syncs now; the chip shows `syncing` until the answer. Rejects like any call. */
export async function syncNowAndShow(): Promise<void> {
  const before = live.chip;
  if (before) live.chip = { ...before, state: 'syncing' };
  try {
    live.chip = await syncNow();
  } catch (e) {
    if (before) live.chip = { ...before, state: 'error' };
    throw e;
  } finally {
    dataChanged();
  }
}
