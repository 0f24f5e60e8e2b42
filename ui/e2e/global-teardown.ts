// After the run: SIGTERM the shared bridge and the relay, and remove every
// temporary data directory (they hold the demo's beneficiary data).

import { existsSync, readFileSync, rmSync } from 'node:fs';
import { stop, type GlobalState } from './backend';

export default async function globalTeardown(): Promise<void> {
  const path = process.env.QAFILA_E2E_STATE;
  if (!path || !existsSync(path)) return;
  const state = JSON.parse(readFileSync(path, 'utf8')) as Partial<GlobalState>;
  if (state.shared) await stop(state.shared.pid);
  if (state.relay) await stop(state.relay.pid);
  if (state.root && process.env.QAFILA_E2E_KEEP !== '1') {
    rmSync(state.root, { recursive: true, force: true });
  }
}
