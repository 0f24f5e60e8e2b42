// How a convoy is named on screen: its name, or — before the first sync
// brings the plan — its date, or that it is new.

import { t } from './i18n';
import type { ConvoyDto } from './types';

export function convoyLabel(convoy: ConvoyDto): string {
  if (convoy.name) return convoy.name;
  if (convoy.day) return t('today-convoy-unnamed', { day: convoy.day });
  return t('today-convoy-new');
}
