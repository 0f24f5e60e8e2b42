import { invoke } from '@tauri-apps/api/core';

/** The app's version, as the Rust shell reports it (`commands::app_version`). */
export function appVersion(): Promise<string> {
  return invoke<string>('app_version');
}
