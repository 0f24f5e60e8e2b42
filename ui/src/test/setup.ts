// Every test starts from a clean page: no stored settings, no route, no
// bridge token, Arabic.

import { afterEach, beforeEach } from 'vitest';
import { cleanup } from '@testing-library/svelte';
import { clearMocks } from '@tauri-apps/api/mocks';
import { forgetBridgeToken } from '../lib/bridge-token';
import { applyDocumentLanguage } from '../lib/i18n';
import { live } from '../lib/live.svelte';
import { reloadRoute } from '../lib/router.svelte';
import { reloadSettings } from '../lib/settings.svelte';

beforeEach(() => {
  localStorage.clear();
  forgetBridgeToken();
  reloadSettings();
  history.replaceState(null, '', '/');
  reloadRoute();
  live.chip = null;
  live.dataVersion = 0;
  applyDocumentLanguage();
});

afterEach(() => {
  cleanup();
  clearMocks();
});
