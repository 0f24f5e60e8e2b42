//! Convoys on a device: create one (lead), hand out codes, enroll with one
//! (volunteer), approve and revoke devices (lead), and sync.
//!
//! A sync of one convoy:
//! 1. fetch the scope keys wrapped to this device and the lead-certified
//!    roster;
//! 2. seal this device's new changes and registry entries into records in
//!    the outbox (kept until the relay has them: a retry resends the same
//!    bytes);
//! 3. upload the outbox; the relay's outcomes say what to drop;
//! 4. download what this device lacks after its per-device cursors, open
//!    and verify each record, and apply them with their cursors in one
//!    store transaction per batch.
//!
//! Every step is safe to cut at any point and repeat.

use std::time::Duration;

use base64::Engine as _;
use qafila_domain::ids::{ConvoyId, DeviceId};
use qafila_proto::Uid;
use qafila_proto::batch::{Cursors, Fetch, Upload};
use qafila_proto::control::{
    Approve, B64, CreateScope, DeviceKey, DeviceKeys, Enroll, Invite, Member, Revoke, WrappedKey,
};
use qafila_proto::record::{RecordHeader, RecordKind};
use qafila_store::Store;
use qafila_store::sync::{
    Applied, Convoy, ERASED_VERSION, LIVE_VERSION, Plan, RemoteContent, ScopeKey,
};
use sha2::{Digest, Sha256};

use crate::SyncError;
use crate::client::RelayClient;
use crate::crypto::{self, Identity};
use crate::payload;
use crate::session::{self, Keyring};

/// Changes sealed into one record.
const EVENTS_PER_RECORD: usize = 400;
/// Bytes asked for per download request.
const FETCH_BYTES: u32 = 4 << 20;
/// How long an enrollment code stays valid.
const CODE_LIFETIME_MS: u64 = 7 * 24 * 3600 * 1000;
const CODE_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// This device as the relay knows it.
struct Me {
    identity: Identity,
    keys: DeviceKeys,
}

fn me(store: &Store) -> Result<Me, SyncError> {
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

fn client(me: &Me, relay: &str) -> Result<RelayClient, SyncError> {
    RelayClient::new(relay, me.keys.device, me.identity.signing_key().clone())
}

fn base32(bytes: &[u8], chars: usize) -> String {
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = String::new();
    for byte in bytes {
        bits = (bits << 8) | u32::from(*byte);
        count += 8;
        while count >= 5 && out.len() < chars {
            count -= 5;
            out.push(char::from(CODE_ALPHABET[((bits >> count) & 31) as usize]));
        }
    }
    out
}

fn fingerprint(lead_signing: &[u8]) -> String {
    base32(&Sha256::digest(lead_signing), 6)
}

/// An enrollment code: 10 secret characters and 6 of the lead key's
/// fingerprint, so a device can tell it reached the right convoy.
fn new_code(lead_signing: &[u8]) -> Result<(String, String), SyncError> {
    let secret = base32(&crypto::random::<8>()?, 10);
    let fp = fingerprint(lead_signing);
    Ok((format!("{}-{}-{}", &secret[..5], &secret[5..], fp), secret))
}

fn parse_code(code: &str) -> Result<(String, String), SyncError> {
    let clean: String = code
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .map(|c| match c {
            'O' => '0',
            'I' | 'L' => '1',
            c => c,
        })
        .collect();
    if clean.len() != 16 || !clean.bytes().all(|b| CODE_ALPHABET.contains(&b)) {
        return Err(SyncError::BadCode(code.trim().to_owned()));
    }
    Ok((clean[..10].to_owned(), clean[10..].to_owned()))
}

fn scope_of(convoy: &Convoy) -> Uid {
    Uid(convoy.id)
}

fn bundle(key: &ScopeKey) -> Vec<u8> {
    let mut out = key.key.to_vec();
    out.extend_from_slice(&key.index_secret);
    out
}

fn wrap_for(
    scope: Uid,
    encryption: &[u8],
    keys: &[ScopeKey],
) -> Result<Vec<WrappedKey>, SyncError> {
    let recipient = <[u8; 32]>::try_from(encryption)
        .map_err(|_| SyncError::Protocol("a device's key is malformed".into()))?;
    keys.iter()
        .map(|k| {
            Ok(WrappedKey {
                epoch: k.epoch,
                wrapped: B64(crypto::wrap_key(&recipient, &bundle(k), &scope.0)?),
            })
        })
        .collect()
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
    /// The relay to register it with.
    pub relay: &'a str,
    /// That relay's convoy-creation token, if its operator requires one.
    pub create_token: Option<&'a str>,
    /// How many one-time enrollment codes to make.
    pub codes: usize,
}

/// Creates a convoy led by this device, registers it with the relay and
/// makes `codes` enrollment codes.
pub async fn create(store: &Store, new: &NewConvoy<'_>, now_ms: u64) -> Result<Created, SyncError> {
    let NewConvoy {
        name,
        day,
        sites,
        relay,
        create_token,
        codes,
    } = *new;
    let me = me(store)?;
    let relay_client = client(&me, relay)?.with_create_token(create_token);
    let id = ConvoyId::from_parts(now_ms, crypto::random()?);
    let scope = Uid(id.to_bytes());
    let key = ScopeKey {
        epoch: 1,
        key: crypto::random()?,
        index_secret: crypto::random()?,
    };
    relay_client
        .create_scope(&CreateScope {
            scope,
            lead: me.keys.clone(),
            members: Vec::new(),
            keys: Vec::new(),
        })
        .await?;
    let mut plan = Plan {
        name: name.trim().to_owned(),
        day: day.trim().to_owned(),
        ..Plan::default()
    };
    for site in sites {
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
        relay: relay_client.base().to_owned(),
        role: "lead".into(),
        status: "approved".into(),
        lead: store.device().id,
        lead_signing: me.identity.signing_public(),
        sites: plan.sites.iter().map(|(_, n)| n.clone()).collect(),
    };
    store.put_convoy(convoy.clone())?;
    store.put_scope_keys(scope.0, vec![key.clone()])?;
    store.put_roster(
        scope.0,
        vec![qafila_store::sync::RosterEntry {
            device: store.device().id,
            name: me.keys.name.clone(),
            signing: me.identity.signing_public(),
            encryption: me.identity.encryption_public(),
            status: "approved".into(),
        }],
    )?;
    let header = RecordHeader {
        scope,
        device: me.keys.device,
        seq: store.next_record(scope.0)?,
        epoch: 1,
        kind: RecordKind::Log,
    };
    let record = payload::seal(header, &RemoteContent::Plan(plan), &me.identity, &key.key)?;
    store.add_outbox(
        scope.0,
        vec![(header.seq, record.encode(), false)],
        None,
        Vec::new(),
    )?;
    let codes = invite(store, &convoy, codes, now_ms).await?;
    Ok(Created { convoy, codes })
}

/// Makes `count` one-time enrollment codes for a convoy this device leads.
pub async fn invite(
    store: &Store,
    convoy: &Convoy,
    count: usize,
    now_ms: u64,
) -> Result<Vec<String>, SyncError> {
    if convoy.role != "lead" {
        return Err(SyncError::NotLead);
    }
    let me = me(store)?;
    let relay = client(&me, &convoy.relay)?;
    let mut codes = Vec::with_capacity(count);
    for _ in 0..count {
        let (code, secret) = new_code(&me.keys.signing.0)?;
        let code_hash: String = Sha256::digest(secret.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        relay
            .invite(
                scope_of(convoy),
                &Invite {
                    code_hash,
                    expires_ms: now_ms + CODE_LIFETIME_MS,
                    uses: 1,
                },
            )
            .await?;
        codes.push(code);
    }
    Ok(codes)
}

/// Joins a convoy with a code; the device then waits for the lead's
/// approval.
pub async fn enroll(store: &Store, relay: &str, code: &str) -> Result<Convoy, SyncError> {
    let (secret, fp) = parse_code(code)?;
    let me = me(store)?;
    let relay_client = client(&me, relay)?;
    let enrolled = relay_client
        .enroll(&Enroll {
            secret,
            device: me.keys.clone(),
        })
        .await?;
    let lead_signing = enrolled.lead.signing.key().ok_or(SyncError::LeadMismatch)?;
    if fingerprint(&lead_signing) != fp {
        return Err(SyncError::LeadMismatch);
    }
    let convoy = Convoy {
        id: enrolled.scope.0,
        name: String::new(),
        day: String::new(),
        relay: relay_client.base().to_owned(),
        role: "member".into(),
        status: "pending".into(),
        lead: DeviceId::from_bytes(enrolled.lead.device.0),
        lead_signing,
        sites: Vec::new(),
    };
    store.put_convoy(convoy.clone())?;
    Ok(convoy)
}

/// The convoy's devices, as the relay lists them.
pub async fn devices(store: &Store, convoy: &Convoy) -> Result<Vec<Member>, SyncError> {
    let me = me(store)?;
    client(&me, &convoy.relay)?.members(scope_of(convoy)).await
}

fn find<'a>(members: &'a [Member], who: &str) -> Result<&'a Member, SyncError> {
    let wanted = who.trim().to_lowercase();
    let matches: Vec<&Member> = members
        .iter()
        .filter(|m| {
            m.keys.device.to_string().starts_with(&wanted) || m.keys.name.to_lowercase() == wanted
        })
        .collect();
    match matches.as_slice() {
        [one] => Ok(one),
        _ => Err(SyncError::UnknownDevice(who.trim().to_owned())),
    }
}

/// What a lead's membership change starts from: the lead, its relay, the
/// convoy's members and the one `who` names.
struct LeadAction {
    me: Me,
    relay: RelayClient,
    scope: Uid,
    members: Vec<Member>,
    member: Member,
}

async fn lead_action(store: &Store, convoy: &Convoy, who: &str) -> Result<LeadAction, SyncError> {
    if convoy.role != "lead" {
        return Err(SyncError::NotLead);
    }
    let me = me(store)?;
    let relay = client(&me, &convoy.relay)?;
    let scope = scope_of(convoy);
    let members = relay.members(scope).await?;
    let member = find(&members, who)?.clone();
    Ok(LeadAction {
        me,
        relay,
        scope,
        members,
        member,
    })
}

impl LeadAction {
    /// The lead's signed statement that the member is approved (or revoked).
    fn certificate(&self, approved: bool) -> B64 {
        let keys = &self.member.keys;
        let message = crypto::certificate_message(
            &self.scope.0,
            &keys.device.0,
            &keys.signing.0,
            &keys.encryption.0,
            approved,
        );
        B64(self.me.identity.sign(&message).to_vec())
    }
}

/// Approves a pending device: certifies its keys and wraps every scope key
/// generation to it.
pub async fn approve(store: &Store, convoy: &Convoy, who: &str) -> Result<Member, SyncError> {
    let action = lead_action(store, convoy, who).await?;
    let keys = wrap_for(
        action.scope,
        &action.member.keys.encryption.0,
        &store.scope_keys(action.scope.0)?,
    )?;
    action
        .relay
        .approve(
            action.scope,
            action.member.keys.device,
            &Approve {
                certificate: action.certificate(true),
                keys,
            },
        )
        .await?;
    refresh_roster(store, convoy, &action.relay).await?;
    Ok(action.member)
}

/// Revokes a device: the relay refuses it from now on, and a new scope key
/// generation goes to every remaining device (the revoked one cannot read
/// what is written after this).
pub async fn revoke(store: &Store, convoy: &Convoy, who: &str) -> Result<Member, SyncError> {
    let action = lead_action(store, convoy, who).await?;
    let (scope, member) = (action.scope, &action.member);
    if member.keys.device == action.me.keys.device {
        return Err(SyncError::UnknownDevice(format!(
            "{who} (the lead cannot revoke itself)"
        )));
    }
    let keys = store.scope_keys(scope.0)?;
    let last = keys
        .last()
        .ok_or(SyncError::NoConvoy(" with keys".into()))?;
    let next = ScopeKey {
        epoch: last.epoch + 1,
        key: crypto::random()?,
        index_secret: last.index_secret,
    };
    let mut rotation = Vec::new();
    for other in &action.members {
        if other.keys.device == member.keys.device || other.status != "approved" {
            continue;
        }
        for key in wrap_for(scope, &other.keys.encryption.0, std::slice::from_ref(&next))? {
            rotation.push(DeviceKey {
                device: other.keys.device,
                key,
            });
        }
    }
    action
        .relay
        .revoke(
            scope,
            member.keys.device,
            &Revoke {
                certificate: action.certificate(false),
                rotation,
            },
        )
        .await?;
    store.put_scope_keys(scope.0, vec![next])?;
    refresh_roster(store, convoy, &action.relay).await?;
    Ok(action.member)
}

/// Registers this convoy, its members and their keys on another relay (a
/// site relay on the lead's laptop, or the central one), so devices can
/// sync with either and [`forward`] can chain them.
pub async fn publish(
    store: &Store,
    convoy: &Convoy,
    other: &str,
    create_token: Option<&str>,
) -> Result<(), SyncError> {
    if convoy.role != "lead" {
        return Err(SyncError::NotLead);
    }
    let me = me(store)?;
    let primary = client(&me, &convoy.relay)?;
    let target = client(&me, other)?.with_create_token(create_token);
    let scope = scope_of(convoy);
    let members = primary.members(scope).await?;
    let keys = store.scope_keys(scope.0)?;
    let mut wrapped = Vec::new();
    for member in members
        .iter()
        .filter(|m| m.status == "approved" && m.keys.device != me.keys.device)
    {
        for key in wrap_for(scope, &member.keys.encryption.0, &keys)? {
            wrapped.push(DeviceKey {
                device: member.keys.device,
                key,
            });
        }
    }
    target
        .create_scope(&CreateScope {
            scope,
            lead: me.keys.clone(),
            members,
            keys: wrapped,
        })
        .await?;
    // Give the new relay everything the convoy's relay holds.
    forward(store, convoy, &convoy.relay, other).await.map(drop)
}

/// Copies records between two relays in both directions until each holds
/// what the other does (the lead's device, chaining a site relay to the
/// central one). Returns how many records moved.
pub async fn forward(store: &Store, convoy: &Convoy, a: &str, b: &str) -> Result<u64, SyncError> {
    let me = me(store)?;
    let (a, b) = (client(&me, a)?, client(&me, b)?);
    let scope = scope_of(convoy);
    let mut moved = 0;
    for (from, to) in [(&a, &b), (&b, &a)] {
        loop {
            let heads = to.heads(scope).await?;
            let mut records = Vec::new();
            let more = from
                .fetch(
                    scope,
                    &Fetch {
                        max_bytes: FETCH_BYTES,
                        cursors: heads,
                    },
                    |batch| {
                        records.extend(batch);
                        Ok(())
                    },
                )
                .await?;
            records.sort_by_key(|r| (r.header.device, r.header.seq));
            for chunk in records.chunks(qafila_proto::MAX_RECORDS_PER_UPLOAD) {
                let outcomes = to
                    .upload(
                        scope,
                        &Upload {
                            records: chunk.to_vec(),
                        },
                    )
                    .await?;
                moved += outcomes
                    .0
                    .iter()
                    .filter(|o| **o == qafila_proto::batch::Outcome::Stored)
                    .count() as u64;
            }
            if !more || records.is_empty() {
                break;
            }
        }
    }
    Ok(moved)
}

async fn refresh_roster(
    store: &Store,
    convoy: &Convoy,
    relay: &RelayClient,
) -> Result<(), SyncError> {
    let scope = scope_of(convoy);
    let members = relay.members(scope).await?;
    let roster = session::verified_roster(
        &members,
        scope,
        Uid(convoy.lead.to_bytes()),
        &convoy.lead_signing,
    );
    store.put_roster(scope.0, roster)?;
    Ok(())
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
}

/// Syncs one convoy with its relay (or `relay`, e.g. a site relay).
pub async fn sync(
    store: &Store,
    convoy: &Convoy,
    relay: Option<&str>,
    now_ms: u64,
) -> Result<Report, SyncError> {
    let me = me(store)?;
    let relay = client(&me, relay.unwrap_or(&convoy.relay))?;
    let scope = scope_of(convoy);
    let mut report = Report {
        relay: relay.base().to_owned(),
        ..Report::default()
    };

    // 1. Keys and roster.
    let wrapped = relay.keys(scope).await?;
    let held: Vec<u32> = store.scope_keys(scope.0)?.iter().map(|k| k.epoch).collect();
    let mut fresh = Vec::new();
    for w in wrapped.iter().filter(|w| !held.contains(&w.epoch)) {
        let bundle = me.identity.unwrap_key(&w.wrapped.0, &scope.0)?;
        if bundle.len() == 64 {
            let mut key = [0u8; 32];
            let mut index_secret = [0u8; 32];
            key.copy_from_slice(&bundle[..32]);
            index_secret.copy_from_slice(&bundle[32..]);
            fresh.push(ScopeKey {
                epoch: w.epoch,
                key,
                index_secret,
            });
        }
    }
    store.put_scope_keys(scope.0, fresh)?;
    if convoy.status != "approved" {
        store.put_convoy(Convoy {
            status: "approved".into(),
            ..convoy.clone()
        })?;
    }
    refresh_roster(store, convoy, &relay).await?;
    let keys = store.scope_keys(scope.0)?;
    let Some(latest) = keys.last().cloned() else {
        return Err(SyncError::Protocol(
            "the relay holds no key for this device yet: ask the lead to approve it again".into(),
        ));
    };

    // 2. Seal new changes and registry entries into the outbox.
    loop {
        let log = store.unsealed_log(scope.0, EVENTS_PER_RECORD)?;
        let Some(last) = log.last().map(|e| e.seq) else {
            break;
        };
        let header = RecordHeader {
            scope,
            device: me.keys.device,
            seq: store.next_record(scope.0)?,
            epoch: latest.epoch,
            kind: RecordKind::Log,
        };
        report.sealed_events += log.len() as u64;
        let record = payload::seal(
            header,
            &RemoteContent::Changes(log),
            &me.identity,
            &latest.key,
        )?;
        store.add_outbox(
            scope.0,
            vec![(header.seq, record.encode(), false)],
            Some(last),
            Vec::new(),
        )?;
    }
    loop {
        let entries = store.unpublished_registry(scope.0, &convoy.sites, 200)?;
        if entries.is_empty() {
            break;
        }
        let first = store.next_record(scope.0)?;
        let mut records = Vec::with_capacity(entries.len());
        let mut published = Vec::with_capacity(entries.len());
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
            let content = RemoteContent::Registry {
                beneficiary: entry.beneficiary,
                live: entry.live,
            };
            records.push((
                seq,
                payload::seal(header, &content, &me.identity, &latest.key)?.encode(),
                true,
            ));
            published.push((entry.beneficiary, version));
        }
        report.sealed_registry += records.len() as u64;
        store.add_outbox(scope.0, records, None, published)?;
    }

    // 3. Upload what this relay lacks of this device's log (it may be a
    //    different relay from last time: a site relay, or a new one).
    let held = relay
        .heads(scope)
        .await?
        .0
        .into_iter()
        .find(|(device, _)| *device == me.keys.device)
        .map_or(0, |(_, seq)| seq);
    store.outbox_held(scope.0, held)?;
    let next = store.next_record(scope.0)?;
    let mut after = held;
    while after + 1 < next {
        let mut outbox =
            store.outbox_after(scope.0, after, qafila_proto::MAX_RECORDS_PER_UPLOAD)?;
        // Registry records are dropped once a relay has them; a relay that
        // never saw one gets an empty filler at its seq (the entry itself
        // reaches that relay by forwarding).
        let mut expected = after + 1;
        let mut filled = Vec::with_capacity(outbox.len());
        for (seq, bytes) in outbox.drain(..) {
            while expected < seq {
                filled.push((
                    expected,
                    filler(scope, me.keys.device, expected, &latest, &me.identity)?,
                ));
                expected += 1;
            }
            filled.push((seq, bytes));
            expected = seq + 1;
        }
        if filled.is_empty() {
            filled.push((
                expected,
                filler(scope, me.keys.device, expected, &latest, &me.identity)?,
            ));
        }
        after = filled.last().map_or(after, |(seq, _)| *seq);
        for batch in session::upload_batches(filled).map_err(SyncError::Protocol)? {
            let (seqs, records): (Vec<u64>, Vec<_>) = batch.into_iter().unzip();
            let outcomes = relay.upload(scope, &Upload { records }).await?;
            let settlement = session::settle(&seqs, &outcomes.0);
            report.uploaded += settlement.stored as u64;
            store.outbox_done(scope.0, settlement.done)?;
            if let Some(problem) = settlement.problem {
                return Err(SyncError::Protocol(problem));
            }
        }
    }

    // 4. Download and apply.
    let keyring = Keyring {
        keys: keys.iter().map(|k| (k.epoch, k.key)).collect(),
        signers: store
            .roster(scope.0)?
            .into_iter()
            .map(|r| (Uid(r.device.to_bytes()), r.signing))
            .collect(),
    };
    loop {
        let mut cursors: Vec<(Uid, u64)> = store
            .cursors(scope.0)?
            .into_iter()
            .map(|(d, s)| (Uid(d.to_bytes()), s))
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
                |records| {
                    downloaded += records.len() as u64;
                    let remotes = session::open_records(&records, scope, me.keys.device, &keyring);
                    let done = store.apply_remote(scope.0, remotes, now_ms)?;
                    applied.events += done.events;
                    applied.registry += done.registry;
                    applied.quarantined += done.quarantined;
                    Ok(())
                },
            )
            .await;
        report.downloaded += downloaded;
        report.applied.events += applied.events;
        report.applied.registry += applied.registry;
        report.applied.quarantined += applied.quarantined;
        if !more? || downloaded == 0 {
            break;
        }
    }
    Ok(report)
}

fn filler(
    scope: Uid,
    device: Uid,
    seq: u64,
    key: &ScopeKey,
    identity: &Identity,
) -> Result<Vec<u8>, SyncError> {
    let header = RecordHeader {
        scope,
        device,
        seq,
        epoch: key.epoch,
        kind: RecordKind::Log,
    };
    Ok(payload::seal(
        header,
        &RemoteContent::Changes(Vec::new()),
        identity,
        &key.key,
    )?
    .encode())
}

/// [`sync`], retried with exponential backoff (0.5 s, 1 s, 2 s... up to
/// 30 s) while the relay is unreachable or busy, `attempts` times at most.
pub async fn sync_with_retry(
    store: &Store,
    convoy: &Convoy,
    relay: Option<&str>,
    attempts: u32,
    now: impl Fn() -> u64,
) -> Result<Report, SyncError> {
    let mut delay = Duration::from_millis(500);
    let mut attempt = 1;
    loop {
        match sync(store, convoy, relay, now()).await {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_parse_forgivingly_and_carry_the_lead_fingerprint() {
        let (code, secret) = new_code(&[7; 32]).unwrap();
        assert_eq!(code.len(), 18);
        let (parsed_secret, fp) = parse_code(&code.to_lowercase().replace('-', " ")).unwrap();
        assert_eq!(parsed_secret, secret);
        assert_eq!(fp, fingerprint(&[7; 32]));
        assert!(parse_code("ABCDE").is_err());
        assert!(parse_code("ABCDE-FGHIJ-KLMNOU").is_err());
    }
}
