import { beforeEach, describe, expect, test, vi } from 'vitest';
import { fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import EnrollForm from './EnrollForm.svelte';
import { decodeVideoFrame, loadQrDecoder } from './qr-decoder';
import { translate } from './i18n';
import { fakeBackend } from '../test/fake-backend';
import { fakeCamera } from '../test/fake-camera';
import { status } from '../test/fixtures';

// The camera's decoder (WebAssembly) is replaced at its seam; see CameraScanner.test.ts.
vi.mock('./qr-decoder', () => ({ loadQrDecoder: vi.fn(), decodeVideoFrame: vi.fn() }));

const RELAY = 'http://192.0.2.7:8443';
const CODE = 'K7QF2-M2XD9-TNV6H8';
const LINK = `qafila:enroll?relay=${encodeURIComponent(RELAY)}&code=${CODE}`;

beforeEach(() => {
  vi.mocked(loadQrDecoder).mockReset().mockResolvedValue(undefined);
  vi.mocked(decodeVideoFrame).mockReset().mockResolvedValue(null);
});

function renderForm() {
  const backend = fakeBackend({ enroll: ({ relay }) => ({ ...status().convoys[0], relay }) });
  const onenrolled = vi.fn();
  render(EnrollForm, { onenrolled });
  return { backend, onenrolled };
}

const relayInput = () => screen.getByTestId('enroll-relay-input') as HTMLInputElement;
const codeInput = () => screen.getByTestId('enroll-code-input') as HTMLInputElement;

describe('joining with the lead\'s invite', () => {
  test('the camera reads the invite: relay and code are filled, and enroll sends them', async () => {
    const camera = fakeCamera();
    vi.mocked(decodeVideoFrame).mockResolvedValueOnce(LINK);
    const { backend, onenrolled } = renderForm();

    const button = screen.getByTestId('camera-button');
    expect(button.textContent?.trim()).toBe(translate('ar-EG', 'enroll-scan'));
    await fireEvent.click(button);

    await waitFor(() => expect(relayInput().value).toBe(RELAY));
    expect(codeInput().value).toBe(CODE);
    expect(screen.getByTestId('enroll-scanned').textContent).toBe(translate('ar-EG', 'enroll-scanned'));
    expect(camera.live()).toEqual([]);

    await fireEvent.click(screen.getByTestId('enroll-button'));
    await waitFor(() => expect(onenrolled).toHaveBeenCalled());
    expect(backend.of('enroll')[0].args).toEqual({ relay: RELAY, code: CODE });
  });

  test('a code that is no invite (a card) says so and fills nothing', async () => {
    fakeCamera();
    vi.mocked(decodeVideoFrame).mockResolvedValueOnce('QF104FTN0003QE00000040U4A1JQ74R4VDQ7D5');
    renderForm();

    await fireEvent.click(screen.getByTestId('camera-button'));
    const note = await screen.findByTestId('enroll-not-invite');
    expect(note.textContent).toBe(translate('ar-EG', 'enroll-scan-not-invite'));
    expect(relayInput().value).toBe('');
    expect(codeInput().value).toBe('');
    expect((screen.getByTestId('enroll-button') as HTMLButtonElement).disabled).toBe(true);
  });

  test('the invite link pasted into the code field fills both fields', async () => {
    renderForm();
    await fireEvent.input(codeInput(), { target: { value: `  ${LINK} ` } });
    expect(codeInput().value).toBe(CODE);
    expect(relayInput().value).toBe(RELAY);

    // Typed by hand, a code stays as typed.
    await fireEvent.input(codeInput(), { target: { value: 'K7QF2-M2X' } });
    expect(codeInput().value).toBe('K7QF2-M2X');
    expect(relayInput().value).toBe(RELAY);

    // The same link again, over a code already equal to its own: the field shows the code, not the link.
    await fireEvent.input(codeInput(), { target: { value: LINK } });
    await fireEvent.input(codeInput(), { target: { value: LINK } });
    expect(codeInput().value).toBe(CODE);
  });

  test('pasted into the relay field, the link fills both fields too', async () => {
    renderForm();
    await fireEvent.input(relayInput(), { target: { value: LINK } });
    expect(relayInput().value).toBe(RELAY);
    expect(codeInput().value).toBe(CODE);
  });
});
