import { afterEach, expect, test } from 'vitest';
import { render, screen, cleanup } from '@testing-library/svelte';
import { clearMocks, mockIPC } from '@tauri-apps/api/mocks';
import App from './App.svelte';

afterEach(() => {
  cleanup();
  clearMocks();
});

test('names the product in Arabic and English and shows the version', async () => {
  mockIPC((cmd) => (cmd === 'app_version' ? '0.1.0' : undefined));

  render(App);

  const heading = screen.getByRole('heading', { level: 1 });
  expect(heading.textContent).toContain('قافلة');
  expect(heading.textContent).toContain('Qafila');
  expect((await screen.findByText('0.1.0')).id).toBe('version');
});
