// Backend answers as the Rust side shapes them, for component tests.

import type {
  AppStatusDto,
  BeneficiaryDto,
  CheckInDto,
  HandOutDto,
  RemainingDto,
  ScanDto,
  ScanStatus,
  SyncChipDto,
} from '../lib/types';

export const SITE = 'مدرسة الشهيد';

export const sync: SyncChipDto = { state: 'idle', pending: 3 };

export function status(overrides: Partial<AppStatusDto> = {}): AppStatusDto {
  return {
    version: '0.1.0',
    initialised: true,
    locked: false,
    encrypted: true,
    lock_after_minutes: 10,
    min_passphrase_chars: 8,
    device: {
      id: '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b',
      name: 'تابلت منى',
      store: '/tmp/q/store.db',
      fingerprint: 'EJ72-F52R-M6PD-7H5Z-T21H',
    },
    convoys: [
      {
        id: '0190a1b2-0000-7000-8000-000000000001',
        name: 'قافلة الشتاء',
        day: '2026-01-15',
        relay: 'https://relay.example:8443',
        role: 'lead',
        status: 'approved',
        sites: [SITE, 'الوحدة الصحية'],
        my_role: 'lead',
        lead_fingerprint: '3M780VS9PSG05950',
        relays: [],
      },
    ],
    sites: [SITE],
    sync,
    ...overrides,
  };
}

export const person: BeneficiaryDto = {
  id: '0190a1b2-aaaa-7000-8000-00000000beef',
  household: '0190a1b2-bbbb-7000-8000-00000000cafe',
  name: 'فاطمة محمود عبد الله حسن',
  village: 'كفر الشيخ سالم',
  household_size: 5,
  phone: null,
  national_id_last4: '1234',
  erased: false,
};

function line(item: string, en: string, ar: string, unit: string, allowed: string, received: string): RemainingDto {
  const remaining = String(Math.max(Number(allowed) - Number(received), 0));
  return { item, item_en: en, item_ar: ar, unit, allowed, received, remaining };
}

export function items(served = false): RemainingDto[] {
  return [
    line('food_box', 'Food box', 'كرتونة مواد غذائية', 'box', '1', served ? '1' : '0'),
    line('meat_kg', 'Meat', 'لحوم', 'kg', '1', served ? '1' : '0'),
    line('blanket', 'Blanket', 'بطانية', 'piece', '3', served ? '3' : '1'),
  ];
}

export function checkIn(served = false): CheckInDto {
  return {
    event: served ? 'ev-checkin-served' : 'ev-checkin-1',
    site: SITE,
    already_checked_in: served,
    entitlement: { beneficiary: person, round: 'الجولة الأولى', checked_in_today: true, items: items(served) },
  };
}

const CARD = {
  serial: '4294967297',
  number: '00001-000001',
  beneficiary: person.id,
  issuer: 1,
  association: 'جمعية الخير',
};

export function scanResult(status: ScanStatus): ScanDto {
  const valid = ['ok', 'already_served', 'unknown_beneficiary'].includes(status);
  const checkedIn = status === 'ok' || status === 'already_served';
  return {
    status,
    message: `${status}: message in English`,
    message_ar: `${status}: رسالة بالعربي`,
    card: valid
      ? { valid: true, reason: null, message: null, message_ar: null, ...CARD }
      : {
          valid: false,
          reason: status,
          message: 'do not hand out',
          message_ar: 'ما تصرفش',
          ...CARD,
          association: null,
        },
    check_in: checkedIn ? checkIn(status === 'already_served') : null,
  };
}

export const basket: HandOutDto[] = [
  { event: 'ev-hand-1', item: 'food_box', qty: '1', overridden: false, remaining: '0' },
  { event: 'ev-hand-2', item: 'meat_kg', qty: '1', overridden: false, remaining: '0' },
  { event: 'ev-hand-3', item: 'blanket', qty: '2', overridden: false, remaining: '0' },
];
