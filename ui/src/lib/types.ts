// The backend contract as TypeScript: the shapes `qafila_app::rpc::Session::call`
// takes and returns (ARCHITECTURE.md, "The app: one command surface, two
// transports"). They are generated from the Rust types by ts-rs into
// `./bindings/` (never edited by hand); screens import them from here, so this
// file is the one place that says which generated types the UI relies on, plus
// the few narrower types the UI adds on top.
//
// Conventions of the JSON: quantities are strings ("1.5") so no float rounding
// touches them; an `Option` is `T | null`, or a missing field (`?`) where Rust
// skips it; counts and sizes are numbers.

export type { AnomalyDto } from './bindings/AnomalyDto';
export type { AppError } from './bindings/AppError';
export type { AppStatusDto } from './bindings/AppStatusDto';
export type { BeneficiaryDto } from './bindings/BeneficiaryDto';
export type { CardDto } from './bindings/CardDto';
export type { CardSheetDto } from './bindings/CardSheetDto';
export type { CheckInDto } from './bindings/CheckInDto';
export type { ConvoyDto } from './bindings/ConvoyDto';
export type { DataChangedDto } from './bindings/DataChangedDto';
export type { DayStatusDto } from './bindings/DayStatusDto';
export type { DeviceDto } from './bindings/DeviceDto';
export type { DuplicateDto } from './bindings/DuplicateDto';
export type { EntitlementDto } from './bindings/EntitlementDto';
export type { HandOutDto } from './bindings/HandOutDto';
export type { ImportReportDto } from './bindings/ImportReportDto';
export type { IssuedDto } from './bindings/IssuedDto';
export type { MemberDto } from './bindings/MemberDto';
export type { MergedDto } from './bindings/MergedDto';
export type { RecordedDto } from './bindings/RecordedDto';
export type { RefusedRowDto } from './bindings/RefusedRowDto';
export type { RemainingDto } from './bindings/RemainingDto';
export type { RevokedDto } from './bindings/RevokedDto';
export type { RowProblemDto } from './bindings/RowProblemDto';
export type { ScanDto } from './bindings/ScanDto';
export type { SheetDto } from './bindings/SheetDto';
export type { SkippedDto } from './bindings/SkippedDto';
export type { StockLineDto } from './bindings/StockLineDto';
export type { SyncChipDto } from './bindings/SyncChipDto';
export type { SyncState } from './bindings/SyncState';
export type { VerifyDto } from './bindings/VerifyDto';
export type { CountItemDto } from './bindings/CountItemDto';
export type { CountSheetDto } from './bindings/CountSheetDto';
export type { DayCloseDto } from './bindings/DayCloseDto';
export type { DeviceSyncDto } from './bindings/DeviceSyncDto';
export type { DeviceWaitDto } from './bindings/DeviceWaitDto';
export type { InviteDto } from './bindings/InviteDto';
export type { KeyBackupDto } from './bindings/KeyBackupDto';
export type { ReasonDto } from './bindings/ReasonDto';
export type { ReconciliationDto } from './bindings/ReconciliationDto';
export type { ReviewDto } from './bindings/ReviewDto';
export type { SitePlaceDto } from './bindings/SitePlaceDto';
export type { VillageDto } from './bindings/VillageDto';
export type { CommandName, Commands } from './bindings/commands';

import type { CommandName, Commands } from './bindings/commands';

export type ArgsOf<K extends CommandName> = Commands[K]['args'];
export type ResultOf<K extends CommandName> = Commands[K]['result'];

/**
 * The statuses `ScanDto.status` takes (a plain string on the wire): `ok`,
 * `already_served`, `unknown_beneficiary`, or the card's refusal.
 */
export type ScanStatus =
  | 'ok'
  | 'already_served'
  | 'unknown_beneficiary'
  | 'malformed'
  | 'unknown_issuer'
  | 'bad_signature'
  | 'revoked'
  | 'issuer_withdrawn'
  | 'issuer_device_revoked';

/** The colour family a scan status shows: green, amber, red or blue. */
export type ScanTone = 'ok' | 'warn' | 'refused' | 'unknown';
