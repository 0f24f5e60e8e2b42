// Before any test: one relay, and one demo device with its `qafila ui serve`
// (for the tests that only look). Tests that record hand-outs get a device of
// their own (the `fresh` fixture) against the same relay.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  SCREENSHOT_DIR,
  checkPrerequisites,
  startBackend,
  startRelay,
  stop,
  tempRoot,
  type GlobalState,
} from './backend';

export default async function globalSetup(): Promise<void> {
  checkPrerequisites();
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const root = tempRoot();
  const statePath = join(root, 'state.json');
  // Written before anything starts, so teardown finds what did start even
  // when a later step fails.
  const state: Partial<GlobalState> = { root };
  const save = () => writeFileSync(statePath, JSON.stringify(state, null, 2));
  process.env.QAFILA_E2E_STATE = statePath;
  save();
  try {
    state.relay = await startRelay(root);
    save();
    state.shared = await startBackend(root, state.relay.url);
    save();
  } catch (e) {
    if (state.relay) await stop(state.relay.pid);
    throw e;
  }
}
