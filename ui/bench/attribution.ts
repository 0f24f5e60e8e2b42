// After the queue: who got what, as the device's own store has it, read with
// the real CLI on the device's data directory once its bridge is stopped (one
// writer at a time: bench/device.ts). A family is misattributed when its
// records are not exactly one standard basket (for a family of the queue:
// none, part of one or more than one) or not empty (for anyone else).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { VILLAGE, qafila, qafilaJson, type Backend } from '../e2e/backend';
import type { Family } from './device';
import type { Attribution } from './report';

interface DayStatusJson {
  date: string;
}

interface AnomaliesJson {
  anomalies: { code: string }[];
}

interface CheckInJson {
  entitlement: { items: { item: string; allowed: string; received: string }[] };
}

/**
 * The standard basket: every item of the round but medicine and check-ups,
 * which have tables of their own (`in_basket` in
 * crates/qafila-app/src/distribution.rs).
 */
const OUTSIDE_BASKET = new Set(['medicine', 'checkup']);

/** The convoy's day now at the site (the convoy's zone and day-end hour, not this machine's). */
export async function siteDay(backend: Backend): Promise<string> {
  const args = ['--data-dir', backend.dataDir, 'day', 'status', '--site', VILLAGE];
  return (await qafilaJson<DayStatusJson>(args)).date;
}

/** Per item, the households reached on the days `from`..`to`, from the distribution export. */
async function householdsReached(backend: Backend, from: string, to: string): Promise<Map<string, number>> {
  const out = join(backend.dataDir, '..', 'bench-distribution.csv');
  await qafila([
    '--data-dir',
    backend.dataDir,
    'export',
    '--kind',
    'distribution',
    '--format',
    'csv',
    '--from',
    from,
    '--to',
    to,
    '--out',
    out,
  ]);
  const [header, ...lines] = readFileSync(out, 'utf8')
    .replace(/^\ufeff/, '')
    .split('\n')
    .filter((l) => l !== '');
  // Columns found by their English half ("الأسر (Households)"), not their place.
  const columns = header.split(',');
  const col = (english: string) => {
    const i = columns.findIndex((c) => c.endsWith(`(${english})`));
    if (i < 0) throw new Error(`no ${english} column in the export: ${header}`);
    return i;
  };
  const [item, households] = [col('Item code'), col('Households')];
  const byItem = new Map<string, number>();
  for (const line of lines) {
    // No cell of this export holds a comma (the demo's place names have
    // none), so a plain split reads it. One line per item and day.
    const cells = line.split(',');
    byItem.set(cells[item], (byItem.get(cells[item]) ?? 0) + Number(cells[households]));
  }
  return byItem;
}

/** Per item: what the round allows the household, and what it received. */
type Records = Map<string, { allowed: number; received: number }>;

/** What a family has received this round (`checkin` reports it). */
async function received(backend: Backend, family: Family): Promise<Records> {
  const checkIn = await qafilaJson<CheckInJson>([
    '--data-dir',
    backend.dataDir,
    'checkin',
    family.beneficiary,
    '--site',
    VILLAGE,
  ]);
  return new Map(
    checkIn.entitlement.items.map((i) => [i.item, { allowed: Number(i.allowed), received: Number(i.received) }]),
  );
}

/**
 * Checks the device's records after the queue: each family of `queue` got
 * exactly its standard basket, each of `bystanders` got nothing, and no other
 * household was served on `days` (the export's households per item against
 * theirs). A family whose verdict named someone else
 * (`namedOther`, card numbers) counts as misattributed whatever its records.
 */
export async function checkAttribution(
  backend: Backend,
  queue: Family[],
  bystanders: Family[],
  days: { from: string; to: string },
  namedOther: Set<string>,
): Promise<Attribution> {
  // The read-only figures first: the check-ins below record events of their own.
  const reached = await householdsReached(backend, days.from, days.to);
  const open = await qafilaJson<AnomaliesJson>(['--data-dir', backend.dataDir, 'anomalies', '--open']);
  const anomalies: Record<string, number> = {};
  for (const a of open.anomalies) anomalies[a.code] = (anomalies[a.code] ?? 0) + 1;

  // `checkin` is the CLI's one report of what a household received this
  // round. It records a check-in, after the run: nothing measured sees it.
  // One at a time: each is a writer of the device's store.
  const queueRecords: Records[] = [];
  for (const family of queue) queueRecords.push(await received(backend, family));
  const bystanderRecords: Records[] = [];
  for (const family of bystanders) bystanderRecords.push(await received(backend, family));

  const queueWrong = queue
    .filter(
      (f, i) =>
        namedOther.has(f.number) ||
        Array.from(queueRecords[i]).some(([item, r]) =>
          OUTSIDE_BASKET.has(item) ? r.received !== 0 : r.received !== r.allowed,
        ),
    )
    .map((f) => f.number);
  const bystandersServed = bystanders
    .filter((_, i) => Array.from(bystanderRecords[i].values()).some((r) => r.received !== 0))
    .map((f) => f.number);

  // Households reached per item beyond those of the queue and the
  // bystanders: someone outside both (a demo family) was served.
  const everyone = [...queueRecords, ...bystanderRecords];
  let extraHouseholds = 0;
  for (const [item, households] of reached) {
    const known = everyone.filter((r) => (r.get(item)?.received ?? 0) > 0).length;
    extraHouseholds = Math.max(extraHouseholds, households - known);
  }

  return {
    queueWrong,
    bystandersServed,
    extraHouseholds,
    anomalies,
    misattributed: queueWrong.length + bystandersServed.length + extraHouseholds,
  };
}
