import { afterEach, describe, expect, test } from 'vitest';
import { render, screen, cleanup } from '@testing-library/svelte';
import { clearMocks, mockIPC } from '@tauri-apps/api/mocks';
import Version from './Version.svelte';

afterEach(() => {
  cleanup();
  clearMocks();
});

describe('Version', () => {
  test('shows the version the Rust shell reports, isolated for RTL', async () => {
    const asked: string[] = [];
    mockIPC((cmd) => {
      asked.push(cmd);
      if (cmd === 'app_version') return '9.8.7-test';
      throw new Error(`unexpected command ${cmd}`);
    });

    const { container } = render(Version);

    const version = await screen.findByText('9.8.7-test');
    expect(version.id).toBe('version');
    expect(version.tagName).toBe('BDI');
    expect(container.querySelector('#version')?.textContent).toBe('9.8.7-test');
    expect(container.querySelector('[role="alert"]')).toBeNull();
    expect(asked).toEqual(['app_version']);
  });

  test('says in Arabic and English when the call fails', async () => {
    mockIPC(() => {
      throw new Error('no shell');
    });

    const { container } = render(Version);

    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('تعذّرت قراءة رقم الإصدار');
    expect(alert.textContent).toContain('Could not read the version');
    expect(container.querySelector('#version')).toBeNull();
  });
});
