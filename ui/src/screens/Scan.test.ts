import { beforeEach, describe, expect, test, vi } from 'vitest';
import { fireEvent, render, screen, waitFor, within } from '@testing-library/svelte';
import Scan from './Scan.svelte';
import { decodeVideoFrame, loadQrDecoder } from '../lib/qr-decoder';
import { fakeCamera } from '../test/fake-camera';
import { setSite } from '../lib/settings.svelte';
import { switchLanguage } from '../lib/i18n';
import { appError, fakeBackend } from '../test/fake-backend';
import { SITE, basket, checkIn, person, scanResult } from '../test/fixtures';
import type { HandOutDto, ScanDto, ScanStatus } from '../lib/types';

// The camera's decoder (WebAssembly) is replaced at its seam; see CameraScanner.test.ts.
vi.mock('../lib/qr-decoder', () => ({ loadQrDecoder: vi.fn(), decodeVideoFrame: vi.fn() }));

beforeEach(() => {
  vi.mocked(loadQrDecoder).mockReset().mockResolvedValue(undefined);
  vi.mocked(decodeVideoFrame).mockReset().mockResolvedValue(null);
});

async function scanCard(text: string) {
  const input = screen.getByTestId('scan-input');
  await fireEvent.input(input, { target: { value: text } });
  await fireEvent.submit(screen.getByTestId('scan-form'));
  return screen.findByTestId('result-panel');
}

function renderAt(status: ScanStatus) {
  setSite(SITE);
  const backend = fakeBackend({
    scan: () => scanResult(status),
    hand_out_basket: () => basket,
    void: ({ event }) => ({ event: `void-of-${event}`, kind: 'void' }),
  });
  render(Scan);
  return backend;
}

describe('scanning a card', () => {
  test('the empty field follows the page direction (an Arabic placeholder reads right to left); typed text picks its own', async () => {
    renderAt('ok');
    const input = screen.getByTestId('scan-input') as HTMLInputElement;
    expect(input.getAttribute('dir') ?? '').toBe(''); // no direction of its own: inherited
    await fireEvent.input(input, { target: { value: 'QF1ABC' } });
    expect(input.getAttribute('dir')).toBe('auto');
  });

  test('sends the raw text a scanner typed (even under an Arabic layout) with the site', async () => {
    const backend = renderAt('ok');
    // What a wedge scanner types for "QF1" with the Arabic layout active.
    await scanCard('ضب1');
    expect(backend.of('scan')[0].args).toEqual({ input: 'ضب1', site: SITE });
    expect((screen.getByTestId('scan-input') as HTMLInputElement).value).toBe('');
    expect(document.activeElement).toBe(screen.getByTestId('scan-input'));
  });

  test('a card read while the previous answer is on its way is queued, not dropped', async () => {
    setSite(SITE);
    let release: () => void = () => {};
    const first = new Promise<void>((r) => (release = r));
    const backend = fakeBackend({
      scan: async ({ input }) => {
        if (input === 'QF1FIRST') await first;
        return scanResult(input === 'QF1FIRST' ? 'revoked' : 'ok');
      },
    });
    render(Scan);
    const input = screen.getByTestId('scan-input');
    await fireEvent.input(input, { target: { value: 'QF1FIRST' } });
    await fireEvent.submit(screen.getByTestId('scan-form'));
    await fireEvent.input(input, { target: { value: 'QF1SECOND' } });
    await fireEvent.submit(screen.getByTestId('scan-form'));
    release();

    await waitFor(() => expect(screen.getByTestId('result-panel').dataset.status).toBe('ok'));
    expect(backend.of('scan').map((c) => c.args.input)).toEqual(['QF1FIRST', 'QF1SECOND']);
  });

  test('ok: shows who it is and what the household may still receive; the basket hands it out', async () => {
    const backend = renderAt('ok');
    const panel = await scanCard('QF1OK');

    expect(panel.dataset.status).toBe('ok');
    expect(within(panel).getByTestId('result-headline').textContent).toBe('اصرف');
    expect(within(panel).getByTestId('result-name').textContent).toBe(person.name);
    expect(within(panel).getByTestId('result-village').textContent).toBe(person.village);
    expect(within(panel).getByTestId('result-household-size').textContent).toBe('٥');
    const remaining = within(panel).getAllByTestId('remaining-item');
    expect(remaining.map((r) => r.dataset.item)).toEqual(['food_box', 'meat_kg', 'blanket']);
    expect(remaining[0].textContent).toContain('كرتونة مواد غذائية');
    expect(remaining[0].textContent).toContain('١');
    expect(remaining[2].textContent).toContain('٢');
    expect(remaining[2].textContent).toContain('قطعة');

    await fireEvent.click(screen.getByTestId('basket-button'));

    await screen.findByTestId('undo-button');
    expect(backend.of('hand_out_basket')[0].args).toEqual({
      beneficiary: person.id,
      site: SITE,
      card: '4294967297',
    });
    // Back to scanning: the result is gone, the undo bar stays for a moment.
    expect(screen.queryByTestId('result-panel')).toBeNull();
    expect(screen.getByTestId('recorded-panel').textContent).toContain('بطانية');
  });

  test('undo voids every hand-out just recorded, with the undo reason', async () => {
    const backend = renderAt('ok');
    await scanCard('QF1OK');
    await fireEvent.click(screen.getByTestId('basket-button'));
    await fireEvent.click(await screen.findByTestId('undo-button'));

    await screen.findByTestId('undone-message');
    expect(backend.of('void').map((c) => c.args)).toEqual(
      basket.map((b) => ({ event: b.event, reason: 'تراجع / undo' })),
    );
  });

  test('the undo button goes away after 8 seconds', async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    try {
      renderAt('ok');
      await scanCard('QF1OK');
      await fireEvent.click(screen.getByTestId('basket-button'));
      await screen.findByTestId('undo-button');
      await vi.advanceTimersByTimeAsync(8100);
      expect(screen.queryByTestId('undo-button')).toBeNull();
    } finally {
      vi.useRealTimers();
    }
  });

  test('item by item: + and − within what remains, then hand_out per item', async () => {
    const backend = renderAt('ok');
    backend.on('hand_out', (args) => ({
      event: `ev-${args.item}`,
      item: args.item,
      qty: args.qty,
      overridden: false,
      remaining: '0',
    }));
    await scanCard('QF1OK');

    const plusBlanket = screen
      .getAllByTestId('item-plus')
      .find((b) => b.dataset.item === 'blanket')!;
    await fireEvent.click(plusBlanket);
    await fireEvent.click(plusBlanket);
    // Two blankets remain: a third tap changes nothing.
    expect((plusBlanket as HTMLButtonElement).disabled).toBe(true);
    const plusMeat = screen.getAllByTestId('item-plus').find((b) => b.dataset.item === 'meat_kg')!;
    await fireEvent.click(plusMeat);

    await fireEvent.click(screen.getByTestId('handout-button'));
    await screen.findByTestId('undo-button');
    expect(backend.of('hand_out').map((c) => c.args)).toEqual([
      { beneficiary: person.id, site: SITE, item: 'meat_kg', qty: '0.5', card: '4294967297' },
      { beneficiary: person.id, site: SITE, item: 'blanket', qty: '2', card: '4294967297' },
    ]);
  });

  test('already served: amber, its own words, and no hand-out buttons', async () => {
    renderAt('already_served');
    const panel = await scanCard('QF1SERVED');

    expect(panel.dataset.status).toBe('already_served');
    expect(panel.dataset.tone).toBe('warn');
    expect(within(panel).getByTestId('result-headline').textContent).toBe('استلم قبل كده');
    expect(within(panel).getByTestId('result-checked-in-before')).toBeTruthy();
    expect(screen.queryByTestId('basket-button')).toBeNull();
  });

  test('revoked: red, says not to hand out, shows the card number as printed', async () => {
    renderAt('revoked');
    const panel = await scanCard('QF1REVOKED');

    expect(panel.dataset.status).toBe('revoked');
    expect(panel.dataset.tone).toBe('refused');
    expect(within(panel).getByTestId('result-headline').textContent).toBe('كارت ملغي');
    expect(within(panel).getByTestId('result-message').textContent).toBe('revoked: رسالة بالعربي');
    expect(within(panel).getByTestId('result-card-number').textContent).toBe('00001-000001');
    expect(screen.queryByTestId('basket-button')).toBeNull();
  });

  test('each outcome has its own colour family and headline', async () => {
    const seen = new Map<string, string>();
    for (const status of [
      'ok',
      'already_served',
      'revoked',
      'bad_signature',
      'unknown_issuer',
      'malformed',
      'unknown_beneficiary',
    ] as ScanStatus[]) {
      setSite(SITE);
      fakeBackend({ scan: () => scanResult(status) });
      const { unmount } = render(Scan);
      const panel = await scanCard('QF1');
      seen.set(status, `${panel.dataset.tone}|${within(panel).getByTestId('result-headline').textContent}`);
      unmount();
    }
    const tone = (s: string) => seen.get(s)!.split('|')[0];
    expect(tone('ok')).toBe('ok');
    expect(tone('already_served')).toBe('warn');
    expect(['revoked', 'bad_signature', 'unknown_issuer', 'malformed'].map(tone)).toEqual([
      'refused',
      'refused',
      'refused',
      'refused',
    ]);
    expect(tone('unknown_beneficiary')).toBe('unknown');
    // Seven outcomes, seven different headlines.
    expect(new Set([...seen.values()].map((v) => v.split('|')[1])).size).toBe(7);
  });

  test('a failed scan shows the backend message in the current language', async () => {
    setSite(SITE);
    fakeBackend({
      scan: () => {
        throw appError('invalid', 'the site name is empty', 'اسم النقطة فاضي');
      },
    });
    render(Scan);
    await fireEvent.input(screen.getByTestId('scan-input'), { target: { value: 'x' } });
    await fireEvent.submit(screen.getByTestId('scan-form'));
    expect((await screen.findByRole('alert')).textContent).toContain('اسم النقطة فاضي');

    switchLanguage('en');
    await waitFor(() =>
      expect(screen.getByRole('alert').textContent).toContain('the site name is empty'),
    );
  });
});

describe('without a card', () => {
  test('manual search, then a check-in that needs a reason, then the hand-out panel', async () => {
    setSite(SITE);
    const backend = fakeBackend({
      search: () => [person],
      check_in_manual: () => checkIn(),
    });
    render(Scan);

    await fireEvent.input(screen.getByTestId('manual-search-input'), {
      target: { value: 'فاطمة' },
    });
    await fireEvent.submit(screen.getByTestId('manual-search-button').closest('form')!);
    await fireEvent.click(await screen.findByTestId('search-result'));
    const confirm = screen.getByTestId('manual-checkin-button') as HTMLButtonElement;
    expect(confirm.disabled).toBe(true);

    await fireEvent.input(screen.getByTestId('manual-reason'), {
      target: { value: 'نسي الكارت' },
    });
    await fireEvent.click(confirm);

    const panel = await screen.findByTestId('result-panel');
    expect(panel.dataset.status).toBe('ok');
    expect(screen.getByTestId('basket-button')).toBeTruthy();
    expect(backend.of('search')[0].args).toEqual({ query: 'فاطمة', limit: 20 });
    expect(backend.of('check_in_manual')[0].args).toEqual({
      beneficiary: person.id,
      site: SITE,
      reason: 'نسي الكارت',
    });
  });
});

describe('with the camera', () => {
  test('a code the camera reads goes to scan exactly as a scanner\'s text does', async () => {
    const camera = fakeCamera();
    vi.mocked(decodeVideoFrame).mockResolvedValueOnce(null).mockResolvedValueOnce('QF1FROMCAMERA');
    const backend = renderAt('ok');

    await fireEvent.click(screen.getByTestId('camera-button'));
    const panel = await screen.findByTestId('result-panel');

    expect(backend.of('scan').map((c) => c.args)).toEqual([{ input: 'QF1FROMCAMERA', site: SITE }]);
    expect(panel.dataset.status).toBe('ok');
    expect(panel.dataset.tone).toBe('ok');
    expect(within(panel).getByTestId('result-name').textContent).toBe(person.name);
    expect(screen.getByTestId('basket-button')).toBeTruthy();
    // The camera is off and the scanner's input has the focus again.
    expect(camera.live()).toEqual([]);
    expect(screen.queryByTestId('camera-view')).toBeNull();
    await waitFor(() => expect(document.activeElement).toBe(screen.getByTestId('scan-input')));
  });

  test('while the camera shows, the scan input does not take the focus back', async () => {
    const camera = fakeCamera();
    renderAt('ok');
    const input = screen.getByTestId('scan-input') as HTMLInputElement;
    expect(document.activeElement).toBe(input);

    await fireEvent.pointerDown(screen.getByTestId('camera-button'));
    await fireEvent.click(screen.getByTestId('camera-button'));
    await screen.findByTestId('camera-video');
    // Let any focus the tap scheduled happen.
    await new Promise((r) => setTimeout(r, 0));
    expect(document.activeElement).not.toBe(input);

    // Even a focus that leaves the input for nothing, right after a tap.
    input.focus();
    await fireEvent.pointerDown(document.body);
    input.blur();
    await new Promise((r) => setTimeout(r, 0));
    expect(document.activeElement).not.toBe(input);
    expect(screen.getByTestId('camera-view')).toBeTruthy();
    expect(camera.live()).toHaveLength(1);

    // Closed: the input takes the next card again.
    await fireEvent.click(screen.getByTestId('camera-cancel'));
    expect(camera.live()).toEqual([]);
    await waitFor(() => expect(document.activeElement).toBe(input));
  });
});

describe('one family at a time', () => {
  /** Two families with cards of their own: the fake answers each card with its holder. */
  const families = {
    QF1AAA: { ...person, id: 'ben-a', name: 'أمينة عبد الرحمن' },
    QF1BBB: { ...person, id: 'ben-b', name: 'سيد محمود إبراهيم' },
  } as const;

  function holderOf(input: string): ScanDto {
    const holder = families[input as keyof typeof families];
    const answer = scanResult('ok');
    answer.check_in = { ...checkIn(), event: `checkin-${holder.id}` };
    answer.check_in.entitlement = { ...answer.check_in.entitlement, beneficiary: holder };
    return answer;
  }

  /** A backend answer the test releases when it chooses. */
  function later<T>(): { promise: Promise<T>; release: (value: T) => void } {
    let release: (value: T) => void = () => {};
    const promise = new Promise<T>((r) => (release = r));
    return { promise, release };
  }

  test('a basket answered after the next card is read: the new family stays, the undo bar shows what was recorded', async () => {
    setSite(SITE);
    const answer = later<typeof basket>();
    const backend = fakeBackend({ scan: ({ input }) => holderOf(input), hand_out_basket: () => answer.promise });
    render(Scan);
    await scanCard('QF1AAA');
    await fireEvent.click(screen.getByTestId('basket-button'));
    await scanCard('QF1BBB');
    await waitFor(() => expect(screen.getByTestId('result-name').textContent).toBe(families.QF1BBB.name));
    answer.release(basket);

    await waitFor(() => expect(screen.getByTestId('recorded-panel')).toBeTruthy());
    // The undo bar names whose basket it was: not the family on screen.
    expect(screen.getByTestId('recorded-who').textContent).toBe(families.QF1AAA.name);
    // The basket went to the family whose button was tapped, and B is still on screen, still due theirs.
    expect(backend.of('hand_out_basket').map((c) => c.args.beneficiary)).toEqual(['ben-a']);
    expect(screen.getByTestId('result-name').textContent).toBe(families.QF1BBB.name);
    expect(screen.getByTestId('basket-button')).toBeTruthy();
    // A's hand-out is not announced over B's verdict.
    await waitFor(() => expect(screen.getByTestId('scan-announcement').textContent).toContain(families.QF1BBB.name));
    expect(screen.getByTestId('scan-announcement').textContent).not.toContain(families.QF1AAA.name);
  });

  test('a new card takes the family on screen away at once: no tap before its answer can serve them', async () => {
    setSite(SITE);
    const second = later<ScanDto>();
    fakeBackend({
      scan: ({ input }) => (input === 'QF1BBB' ? second.promise : holderOf(input)),
      hand_out_basket: () => basket,
    });
    render(Scan);
    await scanCard('QF1AAA');
    const input = screen.getByTestId('scan-input');
    await fireEvent.input(input, { target: { value: 'QF1BBB' } });
    await fireEvent.submit(screen.getByTestId('scan-form'));

    expect(screen.queryByTestId('result-panel')).toBeNull();
    expect(screen.queryByTestId('basket-button')).toBeNull();
    second.release(holderOf('QF1BBB'));
    await waitFor(() => expect(screen.getByTestId('result-name').textContent).toBe(families.QF1BBB.name));
  });

  test('item by item: a new card stops what was still to be recorded for the family before', async () => {
    setSite(SITE);
    const first = later<HandOutDto>();
    const backend = fakeBackend({
      scan: ({ input }) => holderOf(input),
      hand_out: () => first.promise,
    });
    render(Scan);
    await scanCard('QF1AAA');
    await fireEvent.click(screen.getByTestId('handout-items-toggle'));
    for (const plus of screen.getAllByTestId('item-plus').slice(0, 2)) await fireEvent.click(plus);
    await fireEvent.click(screen.getByTestId('handout-button'));
    await waitFor(() => expect(backend.of('hand_out')).toHaveLength(1));
    await scanCard('QF1BBB');
    await waitFor(() => expect(screen.getByTestId('result-name').textContent).toBe(families.QF1BBB.name));
    first.release(basket[0]);

    await waitFor(() => expect(screen.getByTestId('recorded-panel')).toBeTruthy());
    // The second item was never sent: B is on screen now.
    expect(backend.of('hand_out').map((c) => c.args.beneficiary)).toEqual(['ben-a']);
    expect(screen.getByTestId('result-name').textContent).toBe(families.QF1BBB.name);
  });
});
