// A stand-in for the Rust side in component tests: Tauri's IPC mock, answering
// the one `call` command by command name, and remembering every call. The
// real backend is exercised by the browser tests against `qafila ui serve`.

import { mockIPC } from '@tauri-apps/api/mocks';
import { emit } from '@tauri-apps/api/event';
import type { AppError, CommandName } from '../lib/types';

// Handlers see the arguments as the UI sent them.
type Handler = (args: any) => unknown;

export interface Call {
  command: CommandName;
  args: Record<string, unknown>;
}

export interface FakeBackend {
  calls: Call[];
  /** The calls of one command, in order. */
  of: (command: CommandName) => Call[];
  /** Replaces or adds a handler. */
  on: (command: CommandName, handler: Handler) => void;
}

/** An error as `AppError` serialises. */
export function appError(code: string, message: string, message_ar: string): AppError {
  return { code, message, message_ar, retryable: false };
}

export function fakeBackend(handlers: Partial<Record<CommandName, Handler>>): FakeBackend {
  const table: Partial<Record<CommandName, Handler>> = { ...handlers };
  const calls: Call[] = [];
  mockIPC(
    (cmd, payload) => {
      if (cmd !== 'call') throw new Error(`the UI invoked ${cmd}; it must go through "call"`);
      const { command, args } = payload as unknown as Call;
      calls.push({ command, args });
      const handler = table[command];
      if (!handler) {
        throw appError('not_mocked', `no fake for ${command}`, `مفيش بديل لـ ${command}`);
      }
      return handler(args);
    },
    { shouldMockEvents: true },
  );
  return {
    calls,
    of: (command) => calls.filter((c) => c.command === command),
    on: (command, handler) => {
      table[command] = handler;
    },
  };
}

/** Pushes a backend event, as the Tauri shell's `emit` does. */
export function push(event: 'sync-status' | 'data-changed', payload: unknown): Promise<void> {
  return emit(event, payload);
}
