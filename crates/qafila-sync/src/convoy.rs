//! Convoys on a device: create one (lead), hand out codes, enroll with one
//! (volunteer), approve devices with a role, revoke them, publish the
//! convoy on another relay, forward between relays, and sync. Every
//! function drives a [`Relay`] and trusts nothing it answers that the
//! convoy's lead did not sign (`SECURITY.md`).
//!
//! A sync of one convoy is four steps, each safe to cut and repeat:
//! 1. [`refresh_trust`]: key generations granted to this device (taken only
//!    with the lead's signature) and the roster (only lead-signed
//!    certificates for the members' own keys); certificates the relay lacks
//!    are passed on to it, and a relay that still shows a revoked device as
//!    approved is refused;
//! 2. [`seal`]: this device's new changes and registry entries into
//!    records in the outbox, each log record chained to the previous one
//!    (nothing is sealed with a key a revocation superseded);
//! 3. [`upload`]: what the relay lacks of this device's log;
//! 4. [`download`]: what this device lacks after its per-device cursors,
//!    each record opened and checked ([`session::open_records`]) and
//!    applied with its cursor in one store transaction per batch.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine as _;
use qafila_domain::convoy_time::ConvoyTime;
use qafila_domain::ids::{ConvoyId, DeviceId};
use qafila_domain::role::Role;
use qafila_proto::Uid;
use qafila_proto::batch::{Cursors, Fetch, Outcome, Upload};
use qafila_proto::cert::{CertRole, Certificate, Standing};
use qafila_proto::control::{
    Approve, B64, Certificates, CreateScope, DeviceKey, DeviceKeys, Enroll, Invite, Member, Revoke,
};
use qafila_proto::record::{Record, RecordHeader, RecordKind};
use qafila_store::Store;
use qafila_store::sync::{
    Applied, ChainHead, Convoy, ERASED_VERSION, LIVE_VERSION, Plan, RemoteContent, RosterEntry,
    ScopeKey,
};

use crate::SyncError;
use crate::client::RelayClient;
use crate::crypto::{self, Identity};
use crate::enrollment::{self, Code};
use crate::payload::{self, Content, Link};
use crate::session::{self, Hold, Keyring, LogState};
use crate::transport::Relay;
use crate::trust;

/// Changes sealed into one record.
const EVENTS_PER_RECORD: usize = 400;
/// Bytes asked for per download request.
const FETCH_BYTES: u32 = 4 << 20;
/// How long an enrollment code stays valid unless the lead says otherwise.
pub const CODE_LIFETIME_MS: u64 = 12 * 3600 * 1000;
/// The longest a lead may make a code live.
pub const MAX_CODE_LIFETIME_MS: u64 = 72 * 3600 * 1000;

/// This device as relays know it.
pub struct Me {
    identity: Identity,
    keys: DeviceKeys,
}

impl std::fmt::Debug for Me {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Me({})", self.keys.device)
    }
}

/// This device's keys and public identity.
pub fn me(store: &Store) -> Result<Me, SyncError> {
    let secrets = store.identity()?;
    let identity = Identity::from_secrets(secrets.signing, secrets.encryption);
    let keys = DeviceKeys {
        device: Uid(store.device().id.to_bytes()),
        name: store.device().name.clone(),
        signing: B64(identity.signing_public().to_vec()),
        encryption: B64(identity.encryption_public().to_vec()),
    };
    Ok(Me { identity, keys })
}

/// An HTTP client for the relay at `address`, signing as this device.
/// A key generation wrapped to this (lead) device itself.
fn own_grant(
    me: &Me,
    scope: Uid,
    key: &ScopeKey,
    revocations: &[Vec<u8>],
) -> Result<DeviceKey, SyncError> {
    Ok(DeviceKey {
        device: me.keys.device,
        key: trust::make_grant(
            &me.identity,
            scope,
            me.keys.device,
            &me.identity.encryption_public(),
            key,
            revocations,
        )?,
    })
}

pub fn client(store: &Store, address: &str) -> Result<RelayClient, SyncError> {
    let me = me(store)?;
    RelayClient::new(address, me.keys.device, me.identity.signing_key().clone())
}

/// This device's fingerprint, to show while the lead approves it.
pub fn own_fingerprint(store: &Store) -> Result<String, SyncError> {
    let me = me(store)?;
    Ok(enrollment::device_fingerprint(
        &me.keys.device.0,
        &me.identity.signing_public(),
        &me.identity.encryption_public(),
    ))
}

fn scope_of(convoy: &Convoy) -> Uid {
    Uid(convoy.id)
}

/// The convoy this device works in: the one named by `id` (a prefix of its
/// id, or its name), else the newest.
pub fn current(store: &Store, id: Option<&str>) -> Result<Convoy, SyncError> {
    let convoys = store.convoys()?;
    match id {
        None => convoys
            .into_iter()
            .next()
            .ok_or_else(|| SyncError::NoConvoy(String::new())),
        Some(wanted) => {
            let wanted = wanted.trim().to_lowercase();
            convoys
                .into_iter()
                .find(|c| {
                    Uid(c.id).to_string().starts_with(&wanted) || c.name.to_lowercase() == wanted
                })
                .ok_or_else(|| SyncError::NoConvoy(format!(" named `{wanted}`")))
        }
    }
}

/// This device's role in `convoy`: the lead, or what its newest
/// certificate says (`None`: certified before roles; `volunteer` while
/// pending).
pub fn own_role(store: &Store, convoy: &Convoy) -> Result<Option<Role>, SyncError> {
    if convoy.lead == store.device().id {
        return Ok(Some(Role::Lead));
    }
    let roster = store.roster(convoy.id)?;
    Ok(
        match roster.iter().find(|e| e.device == store.device().id) {
            Some(entry) if entry.role == trust::LEGACY_ROLE => None,
            Some(entry) => Some(Role::parse(&entry.role).unwrap_or(Role::Volunteer)),
            None => Some(Role::Volunteer),
        },
    )
}

/// A new convoy and its first enrollment codes.
#[derive(Debug)]
pub struct Created {
    /// The convoy.
    pub convoy: Convoy,
    /// Codes to give volunteers (each enrolls one device).
    pub codes: Vec<String>,
}

/// What a lead asks for when creating a convoy.
#[derive(Debug, Clone, Copy)]
pub struct NewConvoy<'a> {
    /// Its name.
    pub name: &'a str,
    /// Its date, `YYYY-MM-DD`.
    pub day: &'a str,
    /// Sites (villages) on its route.
    pub sites: &'a [String],
    /// How many one-time enrollment codes to make.
    pub codes: usize,
    /// Its time zone and the hour its day ends.
    pub time: ConvoyTime,
}

/// Creates a convoy led by this device, registers it with `relay` and
/// makes `codes` enrollment codes.
pub async fn create<R: Relay>(
    store: &Store,
    relay: &R,
    new: &NewConvoy<'_>,
    now_ms: u64,
) -> Result<Created, SyncError> {
    let me = me(store)?;
    let id = ConvoyId::from_parts(now_ms, crypto::random()?);
    let scope = Uid(id.to_bytes());
    let key = ScopeKey {
        epoch: 1,
        key: crypto::random()?,
        index_secret: crypto::random()?,
        nid_secret: Some(crypto::random()?),
        signed: true,
    };
    relay
        .create_scope(&CreateScope {
            scope,
            lead: me.keys.clone(),
            members: Vec::new(),
            keys: vec![own_grant(&me, scope, &key, &[])?],
        })
        .await?;
    let mut plan = Plan {
        name: new.name.trim().to_owned(),
        day: new.day.trim().to_owned(),
        time: new.time,
        ..Plan::default()
    };
    for site in new.sites {
        let site = store.site(site)?;
        plan.sites.push((site.id, site.name));
    }
    let round = store.create_round(
        &format!("{} {}", plan.name, plan.day),
        qafila_domain::entitlement::Round::with_defaults(
            qafila_domain::ids::RoundId::from_parts(0, [0; 10]),
            "",
        )
        .entitlements,
        true,
        now_ms,
    )?;
    let entitlements = round
        .round
        .entitlements
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(";");
    plan.rounds
        .push((round.round.id, round.round.name.clone(), entitlements));
    let convoy = Convoy {
        id: scope.0,
        name: plan.name.clone(),
        day: plan.day.clone(),
        relay: relay.address().to_owned(),
        role: "lead".into(),
        status: "approved".into(),
        lead: store.device().id,
        lead_signing: me.identity.signing_public(),
        sites: plan.sites.iter().map(|(_, n)| n.clone()).collect(),
        relays: Vec::new(),
        time: plan.time,
    };
    store.put_convoy(convoy.clone())?;
    store.put_scope_keys(scope.0, vec![key.clone()])?;
    store.put_roster(
        scope.0,
        vec![trust::lead_entry(
            me.keys.device,
            &me.keys.name,
            me.identity.signing_public(),
            me.identity.encryption_public(),
        )],
    )?;
    let header = RecordHeader {
        scope,
        device: me.keys.device,
        seq: store.next_record(scope.0)?,
        epoch: 1,
        kind: RecordKind::Log,
    };
    let record = payload::seal(
        header,
        &Content::Store(RemoteContent::Plan(plan)),
        Link::After {
            seq: 0,
            hash: [0; 32],
            listed: Vec::new(),
        },
        &me.identity,
        &key.key,
    )?;
    store.add_outbox(
        scope.0,
        vec![(header.seq, record.encode(), false)],
        None,
        Vec::new(),
        Some((header.seq, payload::chain_hash(&record))),
    )?;
    let codes = invite(store, relay, &convoy, new.codes, CODE_LIFETIME_MS, now_ms).await?;
    Ok(Created { convoy, codes })
}

/// Makes `count` one-time enrollment codes for a convoy this device leads,
/// valid for `lifetime_ms` (at most [`MAX_CODE_LIFETIME_MS`]). The relay
/// learns only a hash it cannot invert; the secrets stay on this device to
/// check the bindings of the devices that enroll.
pub async fn invite<R: Relay>(
    store: &Store,
    relay: &R,
    convoy: &Convoy,
    count: usize,
    lifetime_ms: u64,
    now_ms: u64,
) -> Result<Vec<String>, SyncError> {
    if convoy.lead != store.device().id {
        return Err(SyncError::NotLead);
    }
    let me = me(store)?;
    let lifetime_ms = lifetime_ms.clamp(60_000, MAX_CODE_LIFETIME_MS);
    let mut codes = Vec::with_capacity(count);
    for _ in 0..count {
        let code = Code::new(&me.identity.signing_public())?;
        let lookup = enrollment::lookup(&code.secret);
        // Kept first: a code the relay knows but this device forgot could
        // never be checked at approval.
        store.put_lead_invite(
            convoy.id,
            lookup.clone(),
            code.secret.clone(),
            now_ms + lifetime_ms,
        )?;
        relay
            .invite(
                scope_of(convoy),
                &Invite {
                    code_hash: lookup,
                    expires_ms: now_ms + lifetime_ms,
                    lifetime_ms: Some(lifetime_ms),
                    uses: 1,
                },
            )
            .await?;
        codes.push(code.text);
    }
    Ok(codes)
}

/// Joins a convoy with a code; the device then waits for the lead's
/// approval (and shows its fingerprint, [`own_fingerprint`], to compare).
pub async fn enroll<R: Relay>(store: &Store, relay: &R, code: &str) -> Result<Convoy, SyncError> {
    let (secret, lead_fingerprint) = Code::parse(code)?;
    let me = me(store)?;
    let binding = enrollment::binding(
        &secret,
        &me.keys.device.0,
        &me.keys.name,
        &me.identity.signing_public(),
        &me.identity.encryption_public(),
    );
    let enrolled = relay
        .enroll(&Enroll {
            code_hash: enrollment::lookup(&secret),
            device: me.keys.clone(),
            binding: B64(binding.to_vec()),
        })
        .await?;
    let lead_signing = enrolled.lead.signing.key().ok_or(SyncError::LeadMismatch)?;
    if enrollment::lead_fingerprint(&lead_signing) != lead_fingerprint {
        return Err(SyncError::LeadMismatch);
    }
    let convoy = Convoy {
        id: enrolled.scope.0,
        name: String::new(),
        day: String::new(),
        relay: relay.address().to_owned(),
        role: "member".into(),
        status: "pending".into(),
        lead: DeviceId::from_bytes(enrolled.lead.device.0),
        lead_signing,
        sites: Vec::new(),
        relays: Vec::new(),
        time: ConvoyTime::default(),
    };
    store.put_convoy(convoy.clone())?;
    Ok(convoy)
}

/// A device of a convoy as the lead's screens show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceView {
    /// The device.
    pub device: Uid,
    /// Its name (the certified one, once certified).
    pub name: String,
    /// `lead`, `registrar`, `storekeeper`, `volunteer`, `legacy` (certified
    /// before roles), or `member` (pending).
    pub role: String,
    /// `pending`, `approved` or `revoked`.
    pub status: String,
    /// Its certificate's version.
    pub version: u32,
    /// Its fingerprint, from the keys the relay lists.
    pub fingerprint: String,
    /// For a pending device on the lead: whether its keys are bound to an
    /// invite this lead made (`None`: no binding to check).
    pub bound: Option<bool>,
    /// Whether this device holds a lead-signed certificate for it.
    pub certified: bool,
    /// When the relay last heard from it.
    pub last_seen_ms: Option<u64>,
}

fn fingerprint_of(member: &Member) -> String {
    let (Some(signing), Some(encryption)) =
        (member.keys.signing.key(), member.keys.encryption.key())
    else {
        return String::new();
    };
    enrollment::device_fingerprint(&member.keys.device.0, &signing, &encryption)
}

/// Whether a pending member's keys carry a binding to an invite this lead
/// made: `None` when there is nothing to check (no binding, an invite this
/// device did not make, or one that already bound another device: a relay
/// may let anyone holding a used code enroll).
fn binding_holds(store: &Store, member: &Member) -> Result<Option<bool>, SyncError> {
    let (Some(invite), Some(signing), Some(encryption)) = (
        member.invite.as_deref(),
        member.keys.signing.key(),
        member.keys.encryption.key(),
    ) else {
        return Ok(None);
    };
    if member.binding.0.is_empty() {
        return Ok(None);
    }
    let Some((secret, used_by)) = store.lead_invite(invite)? else {
        return Ok(None);
    };
    if used_by.is_some_and(|d| d.to_bytes() != member.keys.device.0) {
        return Ok(None);
    }
    let expected = enrollment::binding(
        &secret,
        &member.keys.device.0,
        &member.keys.name,
        &signing,
        &encryption,
    );
    Ok(Some(enrollment::same_binding(&expected, &member.binding.0)))
}

fn view(store: &Store, member: &Member, roster: &[RosterEntry]) -> Result<DeviceView, SyncError> {
    let certified = roster
        .iter()
        .find(|e| e.device.to_bytes() == member.keys.device.0);
    let bound = if member.status == "pending" {
        binding_holds(store, member)?
    } else {
        None
    };
    Ok(DeviceView {
        device: member.keys.device,
        name: certified.map_or_else(|| member.keys.name.clone(), |e| e.name.clone()),
        role: certified.map_or_else(|| member.role.clone(), |e| e.role.clone()),
        status: certified.map_or_else(|| member.status.clone(), |e| e.status.clone()),
        version: certified.map_or(member.version, |e| e.version),
        fingerprint: fingerprint_of(member),
        bound,
        certified: certified.is_some(),
        last_seen_ms: member.last_seen_ms,
    })
}

/// The convoy's devices: the relay's list, with what this device knows of
/// each from the lead's certificates.
pub async fn devices<R: Relay>(
    store: &Store,
    relay: &R,
    convoy: &Convoy,
) -> Result<Vec<DeviceView>, SyncError> {
    let members = relay.members(scope_of(convoy)).await?;
    let roster = known_roster(store, convoy, &members)?;
    members.iter().map(|m| view(store, m, &roster)).collect()
}

/// What this device knew of the roster, plus what the relay's list shows
/// under the lead's signature (not stored: a listing changes nothing).
fn known_roster(
    store: &Store,
    convoy: &Convoy,
    members: &[Member],
) -> Result<Vec<RosterEntry>, SyncError> {
    let known = store.roster(convoy.id)?;
    Ok(trust::merge(
        &known,
        trust::roster_from_members(
            members,
            scope_of(convoy),
            Uid(convoy.lead.to_bytes()),
            &convoy.lead_signing,
        ),
    ))
}

/// Whether `who` (as the lead typed it) names this device: the start of its
/// id, or its whole name.
fn names(who: &str, device: &str, name: &str) -> bool {
    let wanted = who.trim().to_lowercase();
    device.starts_with(&wanted) || name.to_lowercase() == wanted
}

fn find_by(entry: &RosterEntry, who: &str) -> bool {
    names(who, &entry.device.to_string(), &entry.name)
}

/// The member `who` names: a device this lead certified, by the name its
/// certificate gives (the relay could rename another device to it), or a
/// device waiting for approval, by the name the relay lists; more than one
/// is refused (name it by its id).
fn target(members: &[Member], roster: &[RosterEntry], who: &str) -> Result<Member, SyncError> {
    let certified: Vec<&RosterEntry> = roster
        .iter()
        .filter(|e| e.role != "lead" && find_by(e, who))
        .collect();
    let waiting: Vec<&Member> = members
        .iter()
        .filter(|m| {
            !roster
                .iter()
                .any(|e| e.device.to_bytes() == m.keys.device.0)
                && names(who, &m.keys.device.to_string(), &m.keys.name)
        })
        .collect();
    match (certified.as_slice(), waiting.as_slice()) {
        ([entry], []) => members
            .iter()
            .find(|m| m.keys.device.0 == entry.device.to_bytes())
            .cloned()
            .ok_or_else(|| {
                SyncError::UnknownDevice(format!(
                    "{} (the relay does not list it: try another relay)",
                    entry.name
                ))
            }),
        ([], [member]) => Ok((*member).clone()),
        _ => Err(SyncError::UnknownDevice(who.trim().to_owned())),
    }
}

/// What a lead's membership change starts from.
struct LeadAction {
    me: Me,
    scope: Uid,
    member: Member,
    roster: Vec<RosterEntry>,
    /// The keys the next certificate is about: the ones this lead already
    /// certified, else the relay's (checked at approval).
    signing: [u8; 32],
    encryption: [u8; 32],
    /// The relay lists other keys than this lead certified.
    keys_differ: bool,
}

async fn lead_action<R: Relay>(
    store: &Store,
    relay: &R,
    convoy: &Convoy,
    who: &str,
) -> Result<LeadAction, SyncError> {
    if convoy.lead != store.device().id {
        return Err(SyncError::NotLead);
    }
    let me = me(store)?;
    let scope = scope_of(convoy);
    let members = relay.members(scope).await?;
    let roster = store.roster(convoy.id)?;
    let member = target(&members, &roster, who)?;
    if member.keys.device == me.keys.device {
        return Err(SyncError::UnknownDevice(format!(
            "{who} (the lead's own device has no certificate to change)"
        )));
    }
    let (Some(signing), Some(encryption)) =
        (member.keys.signing.key(), member.keys.encryption.key())
    else {
        return Err(SyncError::Protocol(
            "the device's keys are malformed".into(),
        ));
    };
    let known = roster
        .iter()
        .find(|e| e.device.to_bytes() == member.keys.device.0)
        .map(|e| (e.signing, e.encryption));
    let keys_differ = known.is_some_and(|k| k != (signing, encryption));
    let (signing, encryption) = known.unwrap_or((signing, encryption));
    Ok(LeadAction {
        me,
        scope,
        member,
        roster,
        signing,
        encryption,
        keys_differ,
    })
}

impl LeadAction {
    /// What this lead already certified for the device, if anything.
    fn known(&self) -> Option<&RosterEntry> {
        self.roster
            .iter()
            .find(|e| e.device.to_bytes() == self.member.keys.device.0)
    }

    /// The next version: after the newest this lead signed, else 1 (never
    /// from the relay's listing, which could make it wrap to 0, the version
    /// of a certificate from before roles, or leave no room for a
    /// revocation).
    fn next_version(&self) -> Result<u32, SyncError> {
        self.known()
            .map_or(Some(1), |e| e.version.checked_add(1))
            .ok_or_else(|| {
                SyncError::Protocol(format!(
                    "{} has had every certificate version: enrol it again",
                    self.member.keys.name
                ))
            })
    }

    /// The roles the device held before `since`, for its next certificate:
    /// a role change leaves room for the revocation's period.
    fn earlier(
        &self,
        since: u64,
        revocation: bool,
    ) -> Result<Vec<qafila_proto::cert::Period>, SyncError> {
        let limit = qafila_proto::cert::MAX_PERIODS - usize::from(!revocation);
        trust::earlier_for(self.known(), since, limit)
            .map_err(|e| SyncError::Protocol(e.to_string()))
    }

    /// The device's next certificate: about the keys and name this lead
    /// certified (else the relay's, checked at approval), at the next
    /// version, governing from `point` (since, prior hash), with the roles
    /// held before.
    fn next(
        &self,
        role: CertRole,
        standing: Standing,
        point: (u64, [u8; 32]),
        rotated_to: u32,
    ) -> Result<Certificate, SyncError> {
        let (since, prior_hash) = point;
        Ok(Certificate {
            scope: self.scope,
            device: self.member.keys.device,
            name: self
                .known()
                .map_or_else(|| self.member.keys.name.clone(), |e| e.name.clone()),
            signing: self.signing,
            encryption: self.encryption,
            role,
            standing,
            version: self.next_version()?,
            since,
            prior_hash,
            rotated_to,
            earlier: self.earlier(since, standing == Standing::Revoked)?,
        })
    }

    fn certificate(&self, certificate: &Certificate) -> (Vec<u8>, RosterEntry) {
        let bytes = trust::sign_certificate(&self.me.identity, certificate);
        let mut entry = trust::entry_of(certificate, bytes.clone());
        if let Some(known) = self.known() {
            entry = trust::merge(std::slice::from_ref(known), vec![entry])
                .pop()
                .unwrap_or_else(|| known.clone());
        }
        (bytes, entry)
    }
}

/// Approves a pending device with a role, or changes an approved device's
/// role. Approval checks that the device's keys are the ones it enrolled
/// with: by the binding to this lead's invite, or by `fingerprint` as the
/// device's own screen shows it (required when there is no binding to
/// check). Every key generation is granted to it, signed.
pub async fn approve<R: Relay>(
    store: &Store,
    relay: &R,
    convoy: &Convoy,
    who: &str,
    role: CertRole,
    fingerprint: Option<&str>,
    now_ms: u64,
) -> Result<DeviceView, SyncError> {
    if convoy.lead != store.device().id {
        return Err(SyncError::NotLead);
    }
    // A role change takes effect from the first record the lead has not
    // received: sync first, so that is as late as it can be.
    if store
        .roster(convoy.id)?
        .iter()
        .any(|e| find_by(e, who) && e.role != "lead")
        && let Err(error) = sync(store, relay, convoy, now_ms).await
    {
        tracing::warn!(%error, "the sync before a role change failed; changing it anyway");
    }
    let action = lead_action(store, relay, convoy, who).await?;
    let member = &action.member;
    let expected = fingerprint_of(member);
    if action.known().is_some_and(|e| e.status == "revoked") || member.status == "revoked" {
        return Err(SyncError::RevokedFinal(member.keys.name.clone()));
    }
    if action.keys_differ {
        return Err(SyncError::KeyBindingMismatch(member.keys.name.clone()));
    }
    let first_approval = action.known().is_none();
    if first_approval {
        let bound = binding_holds(store, member)?;
        if bound == Some(false) {
            return Err(SyncError::KeyBindingMismatch(member.keys.name.clone()));
        }
        match fingerprint {
            Some(typed) if !enrollment::same_fingerprint(typed, &expected) => {
                return Err(SyncError::FingerprintMismatch(member.keys.name.clone()));
            }
            None if bound != Some(true) => {
                return Err(SyncError::FingerprintRequired {
                    device: member.keys.name.clone(),
                });
            }
            _ => {}
        }
    }
    // A role change governs the device's records from the first one this
    // lead has not taken yet; an approval, from its first.
    let (since, prior_hash) = if first_approval {
        (1, [0; 32])
    } else {
        resume_point(store, convoy, member.keys.device)?
    };
    let certificate = action.next(role, Standing::Approved, (since, prior_hash), 0)?;
    let (bytes, entry) = action.certificate(&certificate);
    let revocations = trust::revocations(&action.roster);
    let mut keys = Vec::new();
    if first_approval {
        for key in store.scope_keys(convoy.id)? {
            keys.push(trust::make_grant(
                &action.me.identity,
                action.scope,
                member.keys.device,
                &action.encryption,
                &key,
                &revocations,
            )?);
        }
    }
    relay
        .approve(
            action.scope,
            member.keys.device,
            &Approve {
                certificate: B64(bytes),
                keys,
            },
        )
        .await?;
    store.put_roster(convoy.id, vec![entry.clone()])?;
    if first_approval && let Some(invite) = member.invite.clone() {
        store.use_lead_invite(invite, DeviceId::from_bytes(member.keys.device.0))?;
    }
    let roster = store.roster(convoy.id)?;
    let mut shown = member.clone();
    shown.status = "approved".into();
    view(store, &shown, &roster)
}

/// The first record of `device`'s log this lead has not taken, and the
/// chain hash of the last log record it has (zeros when that is not the
/// record just before).
fn resume_point(store: &Store, convoy: &Convoy, device: Uid) -> Result<(u64, [u8; 32]), SyncError> {
    let cursor = store
        .cursors(convoy.id)?
        .into_iter()
        .find(|c| c.device.to_bytes() == device.0);
    Ok(match cursor {
        None => (1, [0; 32]),
        Some(c) => match c.chain {
            Some((seq, hash)) if seq == c.seq => (c.seq + 1, hash),
            _ => (c.seq + 1, [0; 32]),
        },
    })
}

/// What a revocation reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revoked {
    /// The device, now revoked.
    pub device: DeviceView,
    /// The last record of its log that still counts.
    pub valid_through: u64,
    /// Relays the convoy is published on that could not be told (publish
    /// again to reach them).
    pub unreached: Vec<String>,
}

/// Revokes a device: the lead first syncs (so it holds what the relay has
/// from the device), signs a final revocation naming the last record that
/// counts, makes a new key generation granted to every other device it
/// certified itself, and tells `relay` and every relay in `others`.
pub async fn revoke<R: Relay>(
    store: &Store,
    relay: &R,
    others: &[R],
    convoy: &Convoy,
    who: &str,
    now_ms: u64,
) -> Result<Revoked, SyncError> {
    if convoy.lead != store.device().id {
        return Err(SyncError::NotLead);
    }
    // Whatever the relay answers, revoking must not wait on it.
    if let Err(error) = sync(store, relay, convoy, now_ms).await {
        tracing::warn!(%error, "the sync before a revocation failed; revoking anyway");
    }
    let action = lead_action(store, relay, convoy, who).await?;
    let member = &action.member;
    let keys = store.scope_keys(convoy.id)?;
    let last = keys
        .last()
        .ok_or(SyncError::NoConvoy(" with keys".into()))?;
    let next = ScopeKey {
        epoch: last.epoch + 1,
        key: crypto::random()?,
        index_secret: last.index_secret,
        nid_secret: last.nid_secret,
        signed: true,
    };
    let (since, prior_hash) = resume_point(store, convoy, member.keys.device)?;
    let role = action
        .known()
        .and_then(|e| trust::cert_role(&e.role))
        .unwrap_or(CertRole::Volunteer);
    let certificate = action.next(role, Standing::Revoked, (since, prior_hash), next.epoch)?;
    let (bytes, entry) = action.certificate(&certificate);
    let mut revocations = trust::revocations(&action.roster);
    revocations.push(bytes.clone());
    // The lead's own copy: a laptop restored from a key backup made before
    // this revocation gets the new generation back from the relay.
    let mut rotation = vec![own_grant(&action.me, action.scope, &next, &revocations)?];
    for other in &action.roster {
        if other.device.to_bytes() == member.keys.device.0
            || other.device == store.device().id
            || other.status != "approved"
        {
            continue;
        }
        let device = Uid(other.device.to_bytes());
        rotation.push(DeviceKey {
            device,
            key: trust::make_grant(
                &action.me.identity,
                action.scope,
                device,
                &other.encryption,
                &next,
                &revocations,
            )?,
        });
    }
    let request = Revoke {
        certificate: B64(bytes),
        rotation,
    };
    relay
        .revoke(action.scope, member.keys.device, &request)
        .await?;
    store.put_scope_keys(convoy.id, vec![next])?;
    store.put_roster(convoy.id, vec![entry])?;
    let mut unreached = Vec::new();
    for other in others {
        if let Err(error) = other
            .revoke(action.scope, member.keys.device, &request)
            .await
        {
            tracing::warn!(relay = other.address(), %error, "a relay did not take the revocation");
            unreached.push(other.address().to_owned());
        }
    }
    let roster = store.roster(convoy.id)?;
    let mut shown = member.clone();
    shown.status = "revoked".into();
    Ok(Revoked {
        device: view(store, &shown, &roster)?,
        valid_through: since - 1,
        unreached,
    })
}

/// Registers this convoy on `target` (a site relay on the lead's laptop,
/// or the central one) with the devices this lead certified and their key
/// grants, then copies what `primary` holds to it, so devices can sync
/// with either and [`forward`] can chain them. Devices certified before
/// roles existed are left out until the lead gives them a role.
pub async fn publish<R: Relay>(
    store: &Store,
    primary: &R,
    target: &R,
    convoy: &Convoy,
) -> Result<Forwarded, SyncError> {
    if convoy.lead != store.device().id {
        return Err(SyncError::NotLead);
    }
    let me = me(store)?;
    let scope = scope_of(convoy);
    let roster = store.roster(convoy.id)?;
    let keys = store.scope_keys(convoy.id)?;
    let revocations = trust::revocations(&roster);
    let mut members = Vec::new();
    let mut grants = Vec::new();
    for entry in &roster {
        let Some(newest) = entry.certificates.last().filter(|c| c.version > 0) else {
            continue;
        };
        let device = Uid(entry.device.to_bytes());
        members.push(Member {
            keys: DeviceKeys {
                device,
                name: entry.name.clone(),
                signing: B64(entry.signing.to_vec()),
                encryption: B64(entry.encryption.to_vec()),
            },
            role: entry.role.clone(),
            status: entry.status.clone(),
            certificate: B64(newest.bytes.clone()),
            version: newest.version,
            invite: None,
            binding: B64::default(),
            last_seen_ms: None,
            made_after_ms: None,
            uploaded_ms: None,
        });
        if entry.status == "approved" {
            for key in &keys {
                grants.push(DeviceKey {
                    device,
                    key: trust::make_grant(
                        &me.identity,
                        scope,
                        device,
                        &entry.encryption,
                        key,
                        &revocations,
                    )?,
                });
            }
        }
    }
    target
        .create_scope(&CreateScope {
            scope,
            lead: me.keys.clone(),
            members,
            keys: grants,
        })
        .await?;
    let address = target.address().to_owned();
    if address != convoy.relay && !convoy.relays.contains(&address) {
        let mut updated = convoy.clone();
        updated.relays.push(address);
        store.put_convoy(updated)?;
    }
    forward(store, convoy, primary, target).await
}

/// What a forward moved and refused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Forwarded {
    /// Records newly stored on either side.
    pub moved: u64,
    /// Records not forwarded because they did not check out (not made by
    /// their device, after its revocation, or out of its chain).
    pub refused: u64,
}

/// Copies records between two relays in both directions until each holds
/// what the other does (the lead's device, chaining a site relay to the
/// central one). Every record is checked before it is copied: a bad relay
/// cannot poison the other through the lead.
pub async fn forward<R: Relay>(
    store: &Store,
    convoy: &Convoy,
    a: &R,
    b: &R,
) -> Result<Forwarded, SyncError> {
    let scope = scope_of(convoy);
    let keyring = keyring(store, convoy)?;
    let mut forwarded = Forwarded::default();
    for (from, to) in [(a, b), (b, a)] {
        let mut skip: HashMap<Uid, u64> = HashMap::new();
        loop {
            let mut heads = to.heads(scope).await?;
            for (device, seq) in &mut heads.0 {
                if let Some(stop) = skip.get(device) {
                    *seq = (*seq).max(*stop);
                }
            }
            for (device, stop) in &skip {
                if !heads.0.iter().any(|(d, _)| d == device) {
                    heads.0.push((*device, *stop));
                }
            }
            let mut records = Vec::new();
            let more = from
                .fetch(
                    scope,
                    &Fetch {
                        max_bytes: FETCH_BYTES,
                        cursors: heads.clone(),
                    },
                    &mut |batch| {
                        records.extend(batch);
                        Ok(())
                    },
                )
                .await?;
            if records.is_empty() {
                break;
            }
            records.sort_by_key(|r| (r.header.device, r.header.seq));
            let (good, refused) = checked_for_forwarding(&records, scope, &keyring, &heads);
            forwarded.refused += refused.len() as u64;
            // A log that stops at a record that does not check out is not
            // copied further in this direction.
            for (device, _) in refused {
                skip.insert(device, u64::MAX);
            }
            for chunk in good.chunks(qafila_proto::MAX_RECORDS_PER_UPLOAD) {
                let outcomes = to
                    .upload(
                        scope,
                        &Upload {
                            records: chunk.to_vec(),
                        },
                    )
                    .await?;
                forwarded.moved +=
                    outcomes.0.iter().filter(|o| **o == Outcome::Stored).count() as u64;
            }
            if !more {
                break;
            }
        }
    }
    Ok(forwarded)
}

/// The records fit to forward (in order), and the devices whose logs stop
/// at a record that is not.
fn checked_for_forwarding(
    records: &[Record],
    scope: Uid,
    keyring: &Keyring,
    heads: &Cursors,
) -> (Vec<Record>, Vec<(Uid, u64)>) {
    // The lead opens each record as a device would (it holds every key),
    // starting each log where the target relay's head is; the chain is
    // checked from the first record it copies.
    let mut logs: HashMap<Uid, LogState> = heads
        .0
        .iter()
        .map(|(device, seq)| {
            (
                *device,
                LogState {
                    cursor: *seq,
                    chain: None,
                    stopped: false,
                },
            )
        })
        .collect();
    let opened = session::open_records(records, scope, Uid::default(), keyring, &mut logs);
    let mut refused: Vec<(Uid, u64)> = Vec::new();
    for hold in &opened.held {
        let (device, seq) = match hold {
            Hold::MissingKey { device, .. } | Hold::UnknownSigner { device } => (*device, 0),
            Hold::NotAuthentic { device, seq }
            | Hold::Withheld { device, seq, .. }
            | Hold::RegistryDropped { device, seq } => (*device, *seq),
        };
        refused.push((device, seq));
    }
    let quarantined: Vec<(Uid, u64)> = opened
        .remotes
        .iter()
        .filter(|r| matches!(r.content, RemoteContent::Quarantine(_)))
        .map(|r| (Uid(r.device.to_bytes()), r.seq))
        .collect();
    let taken: std::collections::HashSet<(Uid, u64)> = opened
        .remotes
        .iter()
        .map(|r| (Uid(r.device.to_bytes()), r.seq))
        .collect();
    let mut good = Vec::new();
    let mut stopped: std::collections::HashSet<Uid> = refused.iter().map(|(d, _)| *d).collect();
    for record in records {
        let at = (record.header.device, record.header.seq);
        if stopped.contains(&at.0) {
            continue;
        }
        // A record quarantined for what it says (a volunteer's stock count)
        // is genuine and keeps its place in the log; one after its device's
        // revocation, or not taken at all, stops the copy of that log.
        let after_revocation = quarantined.contains(&at)
            && keyring
                .roster
                .get(&at.0)
                .and_then(|e| e.governing(at.1))
                .is_some_and(|g| g.revoked);
        if !taken.contains(&at) || after_revocation {
            stopped.insert(at.0);
            refused.push(at);
            continue;
        }
        good.push(record.clone());
    }
    (good, refused)
}

/// The keys and roster this device opens a convoy's records with.
fn keyring(store: &Store, convoy: &Convoy) -> Result<Keyring, SyncError> {
    let keys = store.scope_keys(convoy.id)?;
    Ok(Keyring {
        index_secret: keys.last().map_or([0; 32], |k| k.index_secret),
        keys: keys.iter().map(|k| (k.epoch, k.key)).collect(),
        roster: store
            .roster(convoy.id)?
            .into_iter()
            .map(|r| (Uid(r.device.to_bytes()), r))
            .collect(),
        lead: Uid(convoy.lead.to_bytes()),
    })
}

/// What a sync moved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// The relay used.
    pub relay: String,
    /// Records uploaded that the relay did not have.
    pub uploaded: u64,
    /// Events of this device sealed into new records.
    pub sealed_events: u64,
    /// Registry entries sealed.
    pub sealed_registry: u64,
    /// Records downloaded.
    pub downloaded: u64,
    /// What applying them did.
    pub applied: Applied,
    /// Records held back for now (a key or a certificate not yet here),
    /// said in words.
    pub waiting: Vec<String>,
    /// Nothing new was sealed: a revocation names a key generation this
    /// device has not received yet.
    pub waiting_for_key: Option<u32>,
    /// How far the relay's clock is ahead of this device's (ms), as its
    /// hello said.
    pub relay_clock: Option<i64>,
}

/// Step 1 of a sync: what the relay says about keys and members, taken only
/// under the lead's signature, merged with what this device knew. Returns
/// the roster. Refuses a relay that will not learn a revocation this device
/// knows of (`relay_stale`).
pub async fn refresh_trust<R: Relay>(
    store: &Store,
    relay: &R,
    convoy: &Convoy,
) -> Result<Vec<RosterEntry>, SyncError> {
    let me = me(store)?;
    let scope = scope_of(convoy);
    let held = store.scope_keys(convoy.id)?;
    let mut fresh = Vec::new();
    let mut learnt = Vec::new();
    for grant in relay.keys(scope).await? {
        if held.iter().any(|k| k.epoch == grant.epoch && k.signed) {
            continue;
        }
        match trust::open_grant(
            &grant,
            scope,
            &me.identity,
            me.keys.device,
            &convoy.lead_signing,
        ) {
            Ok((key, revoked)) => {
                fresh.push(key);
                learnt.extend(revoked);
            }
            Err(error) => tracing::warn!(%error, "a key generation was refused"),
        }
    }
    let members = relay.members(scope).await?;
    learnt.extend(trust::roster_from_members(
        &members,
        scope,
        Uid(convoy.lead.to_bytes()),
        &convoy.lead_signing,
    ));
    let known = store.roster(convoy.id)?;
    let roster = trust::merge(&known, learnt);
    store.put_scope_keys(convoy.id, fresh)?;
    store.put_roster(convoy.id, roster.clone())?;
    if let Some(mine) = roster.iter().find(|e| e.device == store.device().id)
        && convoy.status != mine.status
    {
        store.put_convoy(Convoy {
            status: mine.status.clone(),
            ..convoy.clone()
        })?;
    }
    // Certificates the relay lacks are passed on (any member may: they are
    // the lead's); a relay that still shows a revoked device as approved
    // after that is not used.
    let behind = trust::newer_than_relay(&roster, &members);
    if !behind.is_empty() {
        let outcomes = relay
            .certificates(
                scope,
                &Certificates {
                    certificates: behind.iter().cloned().map(B64).collect(),
                },
            )
            .await?;
        for (bytes, outcome) in behind.iter().zip(&outcomes.outcomes) {
            if outcome == "refused"
                && let Ok(certificate) = Certificate::decode(bytes)
                && certificate.standing == Standing::Revoked
            {
                return Err(SyncError::RelayStale(certificate.name));
            }
        }
    }
    Ok(roster)
}

/// Step 2 of a sync: seals this device's changes (and, for a lead or a
/// registrar, registry entries) into outbox records, log records chained.
///
/// Sealed with [`trust::sealing_key`].
pub fn seal(
    store: &Store,
    convoy: &Convoy,
    roster: &[RosterEntry],
    report: &mut Report,
) -> Result<(), SyncError> {
    let me = me(store)?;
    let scope = scope_of(convoy);
    let keys = store.scope_keys(convoy.id)?;
    let Some(latest) = trust::sealing_key(&keys).cloned() else {
        return Err(SyncError::Protocol(
            "the relay holds no key for this device yet: ask the lead to approve it again".into(),
        ));
    };
    let required = trust::required_epoch(roster);
    if latest.epoch < required {
        // A revoked device still holds the older keys: nothing new is
        // sealed with them. What is already sealed still goes up.
        report.waiting_for_key = Some(required);
        return Ok(());
    }
    let mut chain = match store.chain_head(convoy.id)? {
        ChainHead::Known(seq, hash) => (seq, hash),
        ChainHead::Last(seq, bytes) => (seq, payload::chain_hash_of(&bytes)),
        ChainHead::Empty => (0, [0; 32]),
    };
    loop {
        let log = store.unsealed_log(convoy.id, EVENTS_PER_RECORD)?;
        let Some(last) = log.last().map(|e| e.seq) else {
            break;
        };
        let header = RecordHeader {
            scope,
            device: me.keys.device,
            seq: store.next_record(convoy.id)?,
            epoch: latest.epoch,
            kind: RecordKind::Log,
        };
        report.sealed_events += log.len() as u64;
        let record = payload::seal(
            header,
            &Content::Store(RemoteContent::Changes(log)),
            Link::After {
                seq: chain.0,
                hash: chain.1,
                listed: Vec::new(),
            },
            &me.identity,
            &latest.key,
        )?;
        chain = (header.seq, payload::chain_hash(&record));
        store.add_outbox(
            convoy.id,
            vec![(header.seq, record.encode(), false)],
            Some(last),
            Vec::new(),
            Some(chain),
        )?;
    }
    let keeps_registry =
        own_role(store, convoy)?.is_none_or(|r| matches!(r, Role::Lead | Role::Registrar));
    if !keeps_registry {
        return Ok(());
    }
    loop {
        let entries = store.unpublished_registry(convoy.id, &convoy.sites, 200)?;
        if entries.is_empty() {
            break;
        }
        let first = store.next_record(convoy.id)?;
        let mut records = Vec::with_capacity(entries.len() + 1);
        let mut published = Vec::with_capacity(entries.len());
        let mut listed = Vec::with_capacity(entries.len());
        for (seq, entry) in (first..).zip(entries) {
            let version = if entry.live.is_some() {
                LIVE_VERSION
            } else {
                ERASED_VERSION
            };
            let key = crypto::registry_key(&latest.index_secret, &entry.beneficiary.to_bytes());
            let header = RecordHeader {
                scope,
                device: me.keys.device,
                seq,
                epoch: latest.epoch,
                kind: RecordKind::Keyed { key, version },
            };
            let content = Content::Store(RemoteContent::Registry {
                beneficiary: entry.beneficiary,
                live: entry.live,
            });
            records.push((
                seq,
                payload::seal(header, &content, Link::Outside, &me.identity, &latest.key)?.encode(),
                true,
            ));
            published.push((entry.beneficiary, version, key));
            listed.push(payload::Listed { seq, key, version });
        }
        report.sealed_registry += records.len() as u64;
        // A log record after them vouches for them, in the same
        // transaction: a relay that drops one a newer version did not
        // replace is found out.
        let header = RecordHeader {
            scope,
            device: me.keys.device,
            seq: first + records.len() as u64,
            epoch: latest.epoch,
            kind: RecordKind::Log,
        };
        let record = payload::seal(
            header,
            &Content::Store(RemoteContent::Changes(Vec::new())),
            Link::After {
                seq: chain.0,
                hash: chain.1,
                listed,
            },
            &me.identity,
            &latest.key,
        )?;
        chain = (header.seq, payload::chain_hash(&record));
        records.push((header.seq, record.encode(), false));
        store.add_outbox(convoy.id, records, None, published, Some(chain))?;
    }
    Ok(())
}

/// Step 3 of a sync: uploads what this relay lacks of this device's log (it
/// may be a different relay from last time: a site relay, or a new one).
pub async fn upload<R: Relay>(
    store: &Store,
    relay: &R,
    convoy: &Convoy,
    report: &mut Report,
) -> Result<(), SyncError> {
    let me = me(store)?;
    let scope = scope_of(convoy);
    let next = store.next_record(convoy.id)?;
    let heads = relay.heads(scope).await?.0;
    let held = heads
        .iter()
        .find(|(device, _)| *device == me.keys.device)
        .map_or(0, |(_, seq)| *seq);
    if held >= next {
        return Err(SyncError::RelayAhead {
            relay: relay.address().to_owned(),
            held,
            made: next - 1,
        });
    }
    // The relay holds a record of this log that no relay confirmed to this
    // device: it must be the one this device made (an answer lost on the
    // way), not another laptop's under the same keys (a restore).
    if let Some(ours) = store.unconfirmed_record(convoy.id, held)? {
        let mut theirs = None;
        relay
            .fetch(
                scope,
                &Fetch {
                    max_bytes: FETCH_BYTES,
                    // Every other log at its head: only that record comes.
                    cursors: Cursors(
                        heads
                            .iter()
                            .map(|(device, seq)| {
                                if *device == me.keys.device {
                                    (*device, held - 1)
                                } else {
                                    (*device, *seq)
                                }
                            })
                            .collect(),
                    ),
                },
                &mut |records| {
                    if let Some(record) = records
                        .iter()
                        .find(|r| r.header.device == me.keys.device && r.header.seq == held)
                    {
                        theirs.get_or_insert_with(|| record.encode());
                    }
                    Ok(())
                },
            )
            .await?;
        if theirs.as_deref() != Some(ours.as_slice()) {
            return Err(SyncError::Forked {
                relay: relay.address().to_owned(),
                seq: held,
            });
        }
    }
    store.outbox_held(convoy.id, held)?;
    let Some(latest) = trust::sealing_key(&store.scope_keys(convoy.id)?).cloned() else {
        return Ok(());
    };
    let mut after = held;
    while after + 1 < next {
        let mut outbox =
            store.outbox_after(convoy.id, after, qafila_proto::MAX_RECORDS_PER_UPLOAD)?;
        // Registry records are dropped once a relay has them; a relay that
        // never saw one gets a filler at its seq, outside the chain (the
        // entry itself reaches that relay by forwarding).
        let mut expected = after + 1;
        let mut filled = Vec::with_capacity(outbox.len());
        for (seq, bytes) in outbox.drain(..) {
            while expected < seq {
                filled.push((expected, filler(scope, &me, expected, &latest)?));
                expected += 1;
            }
            filled.push((seq, bytes));
            expected = seq + 1;
        }
        if filled.is_empty() {
            filled.push((expected, filler(scope, &me, expected, &latest)?));
        }
        after = filled.last().map_or(after, |(seq, _)| *seq);
        for batch in session::upload_batches(filled).map_err(SyncError::Protocol)? {
            let (seqs, records): (Vec<u64>, Vec<_>) = batch.into_iter().unzip();
            let outcomes = relay.upload(scope, &Upload { records }).await?;
            let settlement = session::settle(&seqs, &outcomes.0);
            report.uploaded += settlement.stored as u64;
            store.outbox_done(convoy.id, settlement.done)?;
            if let Some(problem) = settlement.problem {
                return Err(SyncError::Protocol(problem));
            }
        }
    }
    Ok(())
}

fn filler(scope: Uid, me: &Me, seq: u64, key: &ScopeKey) -> Result<Vec<u8>, SyncError> {
    let header = RecordHeader {
        scope,
        device: me.keys.device,
        seq,
        epoch: key.epoch,
        kind: RecordKind::Log,
    };
    Ok(payload::seal(
        header,
        &Content::Filler,
        Link::Outside,
        &me.identity,
        &key.key,
    )?
    .encode())
}

/// Step 4 of a sync: downloads and applies what this device lacks; records
/// that are held back for good reason wait, records that show tampering
/// make the sync fail (after everything genuine was applied).
pub async fn download<R: Relay>(
    store: &Store,
    relay: &R,
    convoy: &Convoy,
    report: &mut Report,
    now_ms: u64,
) -> Result<(), SyncError> {
    let me = me(store)?;
    let scope = scope_of(convoy);
    let keyring = keyring(store, convoy)?;
    let mut logs: HashMap<Uid, LogState> = store
        .cursors(convoy.id)?
        .iter()
        .map(|c| (Uid(c.device.to_bytes()), LogState::of(c)))
        .collect();
    let mut held: Vec<Hold> = Vec::new();
    let address = relay.address().to_owned();
    loop {
        let mut cursors: Vec<(Uid, u64)> = logs
            .iter()
            .map(|(device, state)| {
                (
                    *device,
                    if state.stopped {
                        u64::MAX
                    } else {
                        state.cursor
                    },
                )
            })
            .collect();
        cursors.push((me.keys.device, u64::MAX));
        let mut applied = Applied::default();
        let mut downloaded = 0u64;
        let more = relay
            .fetch(
                scope,
                &Fetch {
                    max_bytes: FETCH_BYTES,
                    cursors: Cursors(cursors),
                },
                &mut |records| {
                    downloaded += records.len() as u64;
                    let opened =
                        session::open_records(&records, scope, me.keys.device, &keyring, &mut logs);
                    held.extend(opened.held);
                    let mut notes = opened.notes;
                    notes.relay.clone_from(&address);
                    let done =
                        store.apply_remote_noting(convoy.id, opened.remotes, notes, now_ms)?;
                    applied.events += done.events;
                    applied.registry += done.registry;
                    applied.quarantined += done.quarantined;
                    applied.future_stamps += done.future_stamps;
                    Ok(())
                },
            )
            .await;
        report.downloaded += downloaded;
        report.applied.events += applied.events;
        report.applied.registry += applied.registry;
        report.applied.quarantined += applied.quarantined;
        report.applied.future_stamps += applied.future_stamps;
        if !more? || downloaded == 0 {
            break;
        }
    }
    // Registry records listed but neither delivered nor replaced: once
    // nothing is held back (a replacement may sit behind a hold), a relay
    // dropped them.
    let open = store.account_claims(convoy.id, &address, false, now_ms)?;
    if held.is_empty() && !open.is_empty() {
        // A store from before registry keys were noted knows some only by
        // the person: note those first.
        let index_secret = store
            .scope_keys(convoy.id)?
            .last()
            .map_or([0; 32], |k| k.index_secret);
        let keys = store
            .registry_versions(convoy.id)?
            .into_iter()
            .map(|(person, version)| {
                (
                    crypto::registry_key(&index_secret, &person.to_bytes()),
                    version,
                )
            })
            .collect();
        store.note_registry_keys(convoy.id, keys)?;
        let dropped = store.account_claims(convoy.id, &address, true, now_ms)?;
        held.extend(dropped.into_iter().map(|c| Hold::RegistryDropped {
            device: Uid(c.device.to_bytes()),
            seq: c.seq,
        }));
    }
    let (tampering, waiting): (Vec<Hold>, Vec<Hold>) =
        held.into_iter().partition(Hold::is_tampering);
    report.waiting = waiting.iter().map(Hold::describe).collect();
    if !tampering.is_empty() {
        return Err(SyncError::Tampered {
            relay: relay.address().to_owned(),
            detail: tampering
                .iter()
                .map(Hold::describe)
                .collect::<Vec<_>>()
                .join("; "),
        });
    }
    Ok(())
}

/// Syncs one convoy with `relay` (its own, or a site relay).
pub async fn sync<R: Relay>(
    store: &Store,
    relay: &R,
    convoy: &Convoy,
    now_ms: u64,
) -> Result<Report, SyncError> {
    // One sync of a store at a time in this process: the background sync
    // and a lead's revocation or role change (which sync first) would seal
    // the same record numbers.
    let lock = one_sync_at_a_time(store);
    let _syncing = lock.lock().await;
    let mut report = Report {
        relay: relay.address().to_owned(),
        ..Report::default()
    };
    let roster = refresh_trust(store, relay, convoy).await?;
    let convoy = &store
        .convoys()?
        .into_iter()
        .find(|c| c.id == convoy.id)
        .unwrap_or_else(|| convoy.clone());
    if store.pending_restores()?.contains(&convoy.id) {
        if relay.address().trim_end_matches('/') != convoy.relay.trim_end_matches('/') {
            return Err(SyncError::Protocol(format!(
                "this laptop was restored from a key backup: sync with the convoy's own relay ({}) first, which holds the lead's whole log",
                convoy.relay
            )));
        }
        recover_own_log(store, relay, convoy, &mut report, now_ms).await?;
    }
    seal(store, convoy, &roster, &mut report)?;
    upload(store, relay, convoy, &mut report).await?;
    download(store, relay, convoy, &mut report, now_ms).await?;
    report.relay_clock = relay.clock_offset();
    Ok(report)
}

/// A store restored from a lead's key backup takes back the lead's own log
/// from the relay before it seals anything: every record of its own device,
/// opened and checked as any receiver opens them (its signature, the chain
/// from the first record), so the restored laptop continues that log
/// instead of starting another under the same key.
async fn recover_own_log<R: Relay>(
    store: &Store,
    relay: &R,
    convoy: &Convoy,
    report: &mut Report,
    now_ms: u64,
) -> Result<(), SyncError> {
    let me = me(store)?;
    let scope = scope_of(convoy);
    let keyring = keyring(store, convoy)?;
    // Every other log at its head, so only this device's records come; and
    // how far the relay says it holds this one.
    let heads = relay.heads(scope).await?.0;
    let head = heads
        .iter()
        .find(|(device, _)| *device == me.keys.device)
        .map_or(0, |(_, seq)| *seq);
    let others: Vec<(Uid, u64)> = heads
        .into_iter()
        .filter(|(d, _)| *d != me.keys.device)
        .collect();
    let mut logs: HashMap<Uid, LogState> = HashMap::new();
    let mut mine = Vec::new();
    let mut kept = Vec::new();
    let mut last = 0u64;
    let mut held: Vec<Hold> = Vec::new();
    // Opened as a receiver would: under an id that is not this device's.
    let receiver = Uid([0xff; 16]);
    loop {
        let state = logs.get(&me.keys.device).copied();
        if state.is_some_and(|s| s.stopped) {
            break;
        }
        let mut cursors = others.clone();
        cursors.push((me.keys.device, state.map_or(0, |s| s.cursor)));
        let mut taken = 0u64;
        let more = relay
            .fetch(
                scope,
                &Fetch {
                    max_bytes: FETCH_BYTES,
                    cursors: Cursors(cursors),
                },
                &mut |records| {
                    let own: Vec<_> = records
                        .into_iter()
                        .filter(|r| r.header.device == me.keys.device)
                        .collect();
                    taken += own.len() as u64;
                    last = own.iter().map(|r| r.header.seq).fold(last, u64::max);
                    let opened = session::open_records(&own, scope, receiver, &keyring, &mut logs);
                    held.extend(opened.held);
                    // Log records (and fillers) are kept as a lead keeps
                    // its own, for the relays that lack them.
                    kept.extend(own.iter().map(|r| {
                        (
                            r.header.seq,
                            r.encode(),
                            matches!(r.header.kind, RecordKind::Keyed { .. }),
                        )
                    }));
                    mine.extend(opened.remotes);
                    Ok(())
                },
            )
            .await;
        if !more? || taken == 0 || last >= head {
            break;
        }
    }
    if !held.is_empty() {
        let detail = held
            .iter()
            .map(Hold::describe)
            .collect::<Vec<_>>()
            .join("; ");
        return Err(if held.iter().any(Hold::is_tampering) {
            SyncError::Tampered {
                relay: relay.address().to_owned(),
                detail,
            }
        } else {
            SyncError::BackupOutdated(detail)
        });
    }
    // Everything the relay says it holds of this log, or it withheld some.
    if last != head {
        return Err(SyncError::Tampered {
            relay: relay.address().to_owned(),
            detail: format!(
                "it says it holds the lead's log up to #{head} but gave back up to #{last}"
            ),
        });
    }
    report.downloaded += mine.len() as u64;
    report.applied.events += store.recover_own_log(convoy.id, mine, kept, now_ms)?;
    Ok(())
}

/// The lock [`sync`] holds for `store`.
fn one_sync_at_a_time(store: &Store) -> std::sync::Arc<tokio::sync::Mutex<()>> {
    static LOCKS: std::sync::LazyLock<
        std::sync::Mutex<HashMap<std::path::PathBuf, std::sync::Arc<tokio::sync::Mutex<()>>>>,
    > = std::sync::LazyLock::new(Default::default);
    LOCKS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .entry(store.path().to_owned())
        .or_default()
        .clone()
}

/// [`sync`], retried with exponential backoff (0.5 s, 1 s, 2 s... up to
/// 30 s) while the relay is unreachable or busy, `attempts` times at most.
pub async fn sync_with_retry<R: Relay>(
    store: &Store,
    relay: &R,
    convoy: &Convoy,
    attempts: u32,
    now: impl Fn() -> u64,
) -> Result<Report, SyncError> {
    let mut delay = Duration::from_millis(500);
    let mut attempt = 1;
    loop {
        match sync(store, relay, convoy, now()).await {
            Err(e) if e.retryable() && attempt < attempts => {
                tracing::warn!(attempt, error = %e, "sync failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(30));
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Decodes a standard-base64 text (used by callers that show keys).
pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
