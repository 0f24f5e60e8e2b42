//! Projections: the indexed tables the hot path reads, updated in the same
//! transaction as the event that changes them.
//!
//! Every rule here is order-independent, because received events arrive in
//! any order: sums are commutative, a void that arrives before its target is
//! remembered in `voided` and applied when the target lands, and registry
//! values keep the newest by hybrid timestamp. A property test checks these
//! tables against `qafila_domain::fold::State` for the same events.

use qafila_domain::event::{Event, EventBody};
use qafila_domain::ids::EventId;
use rusqlite::{OptionalExtension, Transaction, params};

use crate::error::StoreError;

/// The short kind name stored beside each event.
pub fn kind(event: &Event) -> &'static str {
    match &event.body {
        EventBody::CheckIn(_) => "check_in",
        EventBody::HandOut(_) => "hand_out",
        EventBody::Void { .. } => "void",
        EventBody::StockLoad { .. } => "stock_load",
        EventBody::StockTransfer { .. } => "stock_transfer",
        EventBody::StockReturn { .. } => "stock_return",
        EventBody::StockLoss { .. } => "stock_loss",
        EventBody::StockCount { .. } => "stock_count",
        EventBody::DayClose { .. } => "day_close",
        EventBody::BeneficiaryRegistered { .. } => "beneficiary_registered",
        EventBody::BeneficiaryCorrected { .. } => "beneficiary_corrected",
        EventBody::BeneficiaryErased { .. } => "beneficiary_erased",
        EventBody::CardIssued { .. } => "card_issued",
        EventBody::CardReissued { .. } => "card_reissued",
        EventBody::CardRevoked { .. } => "card_revoked",
        EventBody::CardIssuerAdded { .. } => "card_issuer_added",
        EventBody::CardIssuerWithdrawn { .. } => "card_issuer_withdrawn",
        EventBody::BeneficiaryMerged { .. } => "beneficiary_merged",
        EventBody::AnomalyReviewed { .. } => "anomaly_reviewed",
        EventBody::SiteDescribed { .. } => "site_described",
        EventBody::ClockNoted { .. } => "clock_noted",
        EventBody::SiteDayOpened { .. } => "site_day_opened",
        EventBody::DeviceEnrolled { .. } => "device_enrolled",
        EventBody::DeviceRevoked { .. } => "device_revoked",
        EventBody::LockPolicy { .. } => "lock_policy",
        EventBody::LeadRestored { .. } => "lead_restored",
    }
}

/// The household an event concerns, for the `events.household` index.
pub fn household(event: &Event) -> Option<[u8; 16]> {
    match &event.body {
        EventBody::CheckIn(c) => Some(c.household.to_bytes()),
        EventBody::HandOut(h) => Some(h.household.to_bytes()),
        EventBody::BeneficiaryRegistered { household, .. }
        | EventBody::BeneficiaryCorrected { household, .. } => Some(household.to_bytes()),
        _ => None,
    }
}

/// Applies `event`'s effect (or, with `sign = -1`, undoes it, for a void).
fn effect(tx: &Transaction<'_>, event: &Event, sign: i64) -> Result<(), StoreError> {
    match &event.body {
        EventBody::HandOut(h) => {
            let qty = i64::try_from(h.qty.milli()).unwrap_or(i64::MAX) * sign;
            tx.prepare_cached(
                "INSERT INTO served (household, round, item, received_milli) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (household, round, item) DO UPDATE SET received_milli = received_milli + ?4",
            )?
            .execute(params![h.household.to_bytes(), h.round.to_bytes(), h.item.code(), qty])?;
        }
        EventBody::CheckIn(c) => {
            tx.prepare_cached(
                "INSERT INTO check_ins (household, day, count) VALUES (?1, ?2, ?3)
                 ON CONFLICT (household, day) DO UPDATE SET count = count + ?3",
            )?
            .execute(params![c.household.to_bytes(), c.day.to_string(), sign])?;
        }
        _ => {}
    }
    Ok(())
}

/// Updates the projections for a newly inserted event.
pub fn apply(tx: &Transaction<'_>, event: &Event) -> Result<(), StoreError> {
    let at = i64::try_from(event.at.to_u64()).unwrap_or(i64::MAX);
    match &event.body {
        EventBody::HandOut(_) | EventBody::CheckIn(_) if !is_voided(tx, event)? => {
            effect(tx, event, 1)?;
        }
        EventBody::Void {
            target,
            target_device,
            ..
        } => {
            // The first void that cancels its target undoes it; one naming
            // another device than the target's cancels nothing. Every void
            // is kept until its target arrives, so one that names the wrong
            // device cannot take the place of the right one.
            let target_event = load(tx, *target)?;
            let cancels = target_event
                .as_ref()
                .is_none_or(|t| t.is_cancelled_by(event));
            if cancels {
                let already = match &target_event {
                    Some(t) => is_voided(tx, t)?,
                    None => false,
                };
                tx.execute(
                    "INSERT OR IGNORE INTO voided (target, void, target_device) VALUES (?1, ?2, ?3)",
                    params![
                        target.to_bytes(),
                        event.id.to_bytes(),
                        target_device.map(|d| d.to_bytes())
                    ],
                )?;
                if !already
                    && let Some(target_event) = target_event
                    && target_event.is_voidable()
                {
                    effect(tx, &target_event, -1)?;
                }
            }
        }
        EventBody::BeneficiaryRegistered {
            beneficiary,
            household,
            household_size,
            village,
            nid_hash,
            ..
        } => {
            upsert_household(
                tx,
                household.to_bytes(),
                Some(*household_size),
                Some(village),
                at,
            )?;
            tx.execute(
                "INSERT OR IGNORE INTO beneficiaries (id, household, village, nid_hash, registered)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    beneficiary.to_bytes(),
                    household.to_bytes(),
                    village,
                    nid_hash.map(|h| h.as_bytes().to_vec()),
                    at
                ],
            )?;
            replay_corrections(tx, household.to_bytes())?;
        }
        EventBody::BeneficiaryCorrected {
            beneficiary,
            household,
            household_size,
            village,
            ..
        } => {
            upsert_household(
                tx,
                household.to_bytes(),
                *household_size,
                village.as_deref(),
                at,
            )?;
            if let Some(village) = village {
                tx.execute(
                    "UPDATE beneficiaries SET village = ?2 WHERE id = ?1",
                    params![beneficiary.to_bytes(), village],
                )?;
            }
        }
        EventBody::BeneficiaryErased { beneficiary, .. } => {
            erase_personal(tx, beneficiary.to_bytes())?
        }
        _ => crate::cards::apply(tx, event)?,
    }
    Ok(())
}

/// Clears every trace of a person's personal data from the projections and
/// destroys their sealing key. Their pseudonymous history stays.
pub fn erase_personal(tx: &Transaction<'_>, beneficiary: [u8; 16]) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE beneficiaries SET name = NULL, name_key = NULL, phone = NULL, nid_hash = NULL,
                nid_last4 = NULL, erased = 1 WHERE id = ?1",
        [beneficiary],
    )?;
    tx.execute(
        "DELETE FROM name_tokens WHERE beneficiary = ?1",
        [beneficiary],
    )?;
    tx.execute(
        "DELETE FROM beneficiary_keys WHERE beneficiary = ?1",
        [beneficiary],
    )?;
    Ok(())
}

fn upsert_household(
    tx: &Transaction<'_>,
    id: [u8; 16],
    size: Option<u32>,
    village: Option<&str>,
    at: i64,
) -> Result<(), StoreError> {
    // The newest value by hybrid timestamp wins, whatever the arrival order.
    let current: Option<i64> = tx
        .query_row(
            "SELECT updated_at FROM households WHERE id = ?1",
            [id],
            |r| r.get(0),
        )
        .optional()?;
    match current {
        None => {
            if let (Some(size), Some(village)) = (size, village) {
                tx.execute(
                    "INSERT INTO households (id, size, village, updated_at) VALUES (?1, ?2, ?3, ?4)",
                    params![id, size, village, at],
                )?;
            }
        }
        Some(updated) if updated <= at => {
            tx.execute(
                "UPDATE households SET size = COALESCE(?2, size), village = COALESCE(?3, village),
                        updated_at = ?4 WHERE id = ?1",
                params![id, size, village, at],
            )?;
        }
        Some(_) => {}
    }
    Ok(())
}

/// Corrections can arrive before the registration they correct; once the
/// registration lands, the ones already stored are applied again.
fn replay_corrections(tx: &Transaction<'_>, household: [u8; 16]) -> Result<(), StoreError> {
    let bodies: Vec<Vec<u8>> = tx
        .prepare(
            "SELECT body FROM events WHERE household = ?1 AND kind = 'beneficiary_corrected' ORDER BY at",
        )?
        .query_map([household], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for body in bodies {
        let event = qafila_doc::codec::decode(&body)?;
        if let EventBody::BeneficiaryCorrected {
            household_size,
            village,
            ..
        } = &event.body
        {
            let at = i64::try_from(event.at.to_u64()).unwrap_or(i64::MAX);
            upsert_household(tx, household, *household_size, village.as_deref(), at)?;
        }
    }
    Ok(())
}

/// Whether a void already taken cancels `event`.
fn is_voided(tx: &Transaction<'_>, event: &Event) -> Result<bool, StoreError> {
    Ok(tx
        .prepare_cached(
            "SELECT 1 FROM voided WHERE target = ?1 AND (target_device IS NULL OR target_device = ?2)",
        )?
        .query_row(params![event.id.to_bytes(), event.device.to_bytes()], |_| {
            Ok(())
        })
        .optional()?
        .is_some())
}

fn load(tx: &Transaction<'_>, id: EventId) -> Result<Option<Event>, StoreError> {
    let body: Option<Vec<u8>> = tx
        .query_row(
            "SELECT body FROM events WHERE id = ?1",
            [id.to_bytes()],
            |r| r.get(0),
        )
        .optional()?;
    Ok(body.map(|b| qafila_doc::codec::decode(&b)).transpose()?)
}
