// The benchmark's device: the demo's app device (a registrar), with families
// registered and carded for the queue through the real CLI (the demo itself
// registers 36 families and writes only 5 card texts; the queue needs 100),
// stock for them, and its bridge.
//
// The CLI writes to the device only while no bridge runs on it: a store has
// one writer per process, which keeps the next sequence number in memory, so
// a bridge started before those writes would reuse their numbers and every
// scan would fail on a storage error.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { VILLAGE, qafila, qafilaJson, type Backend } from '../e2e/backend';

/** Families served, one after the other. */
export const QUEUE_LENGTH = 100;

/**
 * Families registered and carded with the queue but never scanned: after the
 * run their records must be empty, or a scan was attributed to someone else.
 */
export const BYSTANDERS = 20;

/** A family with its card, as the registrar's device issued it. */
export interface Family {
  beneficiary: string;
  name: string;
  householdSize: number;
  /** The printed number, `KKKKK-NNNNNN`. */
  number: string;
  /** What a scanner types. */
  text: string;
}

// Name parts: the first name and the father's name together are unique for
// each of the 120 families, so the name on the result panel tells exactly
// whose card was read.
const FIRST = [
  'أحمد', 'محمود', 'مصطفى', 'خالد', 'عمر', 'علي',
  'مريم', 'نورا', 'سلمى', 'هالة', 'بسمة', 'رحاب',
];
const FATHER = ['عبد الرحيم', 'فتحي', 'صابر', 'رجب', 'منصور', 'شوقي', 'عوض', 'نبيل', 'حمدي', 'مجدي'];
const FAMILY = ['الشناوي', 'العطار', 'المصري', 'البحيري', 'الزيات', 'القاضي', 'الدمرداش'];

function names(count: number): { name: string; size: number }[] {
  if (count > FIRST.length * FATHER.length) throw new Error(`only ${FIRST.length * FATHER.length} names`);
  return Array.from({ length: count }, (_, i) => ({
    name: `${FIRST[i % FIRST.length]} ${FATHER[Math.floor(i / FIRST.length)]} ${FAMILY[i % FAMILY.length]}`,
    // Households of 1 to 9, so baskets differ (a blanket per two members).
    size: 1 + ((i * 7) % 9),
  }));
}

interface ImportJson {
  registered: number;
  refused: unknown[];
}

interface IssuedJson {
  issued: {
    number: string;
    beneficiary: { id: string; name: string | null; household_size: number };
  }[];
}

/**
 * Registers `count` new families in the demo's village on `backend`'s device
 * (`beneficiary import`), issues their cards (`cards issue --texts`) and
 * returns them in the order the cards were issued.
 */
export async function registerFamilies(backend: Backend, count: number): Promise<Family[]> {
  const dir = join(backend.dataDir, '..');
  const wanted = names(count);
  // As an association's list comes: a byte-order mark and Arabic headers.
  const csv =
    '\ufeffالاسم,عدد أفراد الأسرة,القرية\n' +
    wanted.map(({ name, size }) => `${name},${size},${VILLAGE}\n`).join('');
  const list = join(dir, 'bench-families.csv');
  writeFileSync(list, csv);
  const imported = await qafilaJson<ImportJson>(['--data-dir', backend.dataDir, 'beneficiary', 'import', list]);
  if (imported.registered !== count || imported.refused.length > 0) {
    throw new Error(`registered ${imported.registered} of ${count} families: ${JSON.stringify(imported)}`);
  }
  // Everyone in the village without a card: only the new families (the
  // demo's have theirs). The texts come one a line, in the issued order.
  const textsPath = join(dir, 'bench-cards.txt');
  const issued = await qafilaJson<IssuedJson>([
    '--data-dir',
    backend.dataDir,
    'cards',
    'issue',
    '--village',
    VILLAGE,
    '--texts',
    textsPath,
  ]);
  const texts = readFileSync(textsPath, 'utf8').split('\n').filter((line) => line !== '');
  if (issued.issued.length !== count || texts.length !== count) {
    throw new Error(`issued ${issued.issued.length} cards and ${texts.length} texts for ${count} families`);
  }
  const expected = new Set(wanted.map((w) => w.name));
  return issued.issued.map((card, i) => {
    const name = card.beneficiary.name ?? '';
    if (!expected.delete(name)) throw new Error(`card ${card.number} went to ${name}, not a new family`);
    return {
      beneficiary: card.beneficiary.id,
      name,
      householdSize: card.beneficiary.household_size,
      number: card.number,
      text: texts[i],
    };
  });
}

/**
 * Loads the truck for the queue on the lead's device and brings it to the
 * benchmark's device through the relay, as the demo does. The demo's 200
 * food boxes and 150 kg of meat cover 100 households (one box, 1 kg each);
 * its 120 blankets do not (one per two members: about 280 for this queue).
 */
export async function loadStock(backend: Backend): Promise<void> {
  await qafila([
    '--data-dir',
    backend.leadDir,
    'stock',
    'load',
    '--site',
    VILLAGE,
    '--item',
    'blanket',
    '--qty',
    '400',
    '--waybill',
    'WB-BENCH-1',
  ]);
  await qafila(['--data-dir', backend.leadDir, 'sync']);
  await qafila(['--data-dir', backend.dataDir, 'sync']);
}

