//! An in-memory relay for tests: the relay's rules (membership, lead-signed
//! certificates with final revocations, one-time codes, per-device logs
//! without gaps, registry compaction) over plain maps, with no network and
//! no database, so a test can run a hundred seeded convoys in seconds —
//! and a relay that turns hostile on command ([`Hostility`]): it serves
//! key generations and member lists of its choosing, drops, reorders,
//! duplicates and alters records, and refuses to learn revocations.
//!
//! Each device talks to it through its own [`MemoryClient`] (the
//! `qafila_sync::transport::Relay` trait), which knows who is calling; no
//! request signatures are involved (those are the HTTP relay's, tested on
//! the real relay).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard};

use qafila_proto::ApiError;
use qafila_proto::Uid;
use qafila_proto::batch::{Cursors, Fetch, Outcome, Outcomes, Upload};
use qafila_proto::cert::{CertRole, Certificate, Standing};
use qafila_proto::control::{
    Approve, B64, CertificateOutcomes, Certificates, CreateScope, DeviceKey, DeviceKeys, Enroll,
    Enrolled, Invite, Member, Revoke, WrappedKey,
};
use qafila_proto::record::{Record, RecordKind};
use qafila_relay::storage::{CertOutcome, CertificateRow, MemberRow, Role, Status, supersede};
use qafila_sync::SyncError;
use qafila_sync::transport::{Relay, Sink};

/// What a hostile relay does to the devices that use it. Everything is off
/// by default: an honest relay.
#[derive(Debug, Default, Clone)]
pub struct Hostility {
    /// Key grants served to a device in addition to what the lead granted
    /// (the relay's own key generation, say).
    pub extra_grants: Vec<(Uid, WrappedKey)>,
    /// Members shown with other keys than they enrolled with.
    pub swapped_keys: BTreeMap<Uid, DeviceKeys>,
    /// Members shown with another certificate and status (an old approval
    /// served after a revocation).
    pub served_certificates: BTreeMap<Uid, (Vec<u8>, String)>,
    /// Records never served: (device, seq).
    pub dropped: BTreeSet<(Uid, u64)>,
    /// Each device's records served in reverse order.
    pub reorder: bool,
    /// Every record served twice.
    pub duplicate: bool,
    /// Records served with one byte of their ciphertext changed.
    pub altered: BTreeSet<(Uid, u64)>,
    /// Records made up by the relay, served as if a device had uploaded
    /// them.
    pub injected: Vec<Record>,
    /// Certificates passed on by devices are ignored, and revoked devices
    /// are shown approved (a relay that will not learn a revocation).
    pub stale: bool,
    /// Members listed with another certificate version.
    pub listed_versions: BTreeMap<Uid, u32>,
    /// Members listed under another name.
    pub renamed: BTreeMap<Uid, String>,
    /// Members left out of the list.
    pub hidden: BTreeSet<Uid>,
    /// Invite codes stay usable however often they are used, and after
    /// they expire (a relay letting whoever holds an old code enroll).
    pub codes_never_spent: bool,
}

#[derive(Debug, Clone)]
struct Stored {
    record: Record,
    live: bool,
}

#[derive(Debug, Default)]
struct Scope {
    lead: Uid,
    members: BTreeMap<Uid, MemberRow>,
    grants: BTreeMap<(Uid, u32), WrappedKey>,
    logs: BTreeMap<Uid, BTreeMap<u64, Stored>>,
}

#[derive(Debug, Default)]
struct State {
    scopes: BTreeMap<Uid, Scope>,
    invites: HashMap<String, (Uid, u64, u32)>,
    hostility: Hostility,
    now_ms: u64,
}

/// The relay: cheap to clone, shared by every device of a test.
#[derive(Debug, Clone)]
pub struct MemoryRelay {
    address: String,
    state: Arc<Mutex<State>>,
}

impl MemoryRelay {
    /// An empty, honest relay known as `address` (`memory://name`).
    pub fn new(name: &str) -> Self {
        MemoryRelay {
            address: format!("memory://{name}"),
            state: Arc::new(Mutex::new(State {
                now_ms: 1_796_000_000_000,
                ..State::default()
            })),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The relay as `device` talks to it.
    pub fn client(&self, device: Uid) -> MemoryClient {
        MemoryClient {
            relay: self.clone(),
            device,
            clock_offset: None,
        }
    }

    /// Turns the relay hostile (or honest again).
    pub fn set_hostility(&self, change: impl FnOnce(&mut Hostility)) {
        change(&mut self.state().hostility);
    }

    /// Every live record the relay holds, for tests that look.
    pub fn records(&self, scope: Uid) -> Vec<Record> {
        let state = self.state();
        state
            .scopes
            .get(&scope)
            .map(|s| {
                s.logs
                    .values()
                    .flat_map(|log| log.values().filter(|r| r.live).map(|r| r.record.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A member as the relay holds it.
    pub fn member(&self, scope: Uid, device: Uid) -> Option<(String, u32)> {
        let state = self.state();
        let member = state.scopes.get(&scope)?.members.get(&device)?;
        Some((member.status.as_str().to_owned(), member.version))
    }
}

/// One device's connection to a [`MemoryRelay`].
#[derive(Debug, Clone)]
pub struct MemoryClient {
    relay: MemoryRelay,
    device: Uid,
    clock_offset: Option<i64>,
}

fn refused(status: u16, code: &str, message: &str) -> SyncError {
    SyncError::Relay {
        status,
        error: ApiError::new(code, message, message),
    }
}

fn role_of(row: &MemberRow) -> Option<CertRole> {
    CertRole::parse(&row.role_name)
}

impl MemoryClient {
    fn with_scope<R>(
        &self,
        scope: Uid,
        approved: bool,
        f: impl FnOnce(&mut Scope, &MemberRow, &Hostility) -> Result<R, SyncError>,
    ) -> Result<R, SyncError> {
        let mut state = self.relay.state();
        let State {
            scopes, hostility, ..
        } = &mut *state;
        let scope = scopes
            .get_mut(&scope)
            .ok_or_else(|| refused(403, "unknown_device", "not in this convoy"))?;
        let me = scope
            .members
            .get(&self.device)
            .cloned()
            .ok_or_else(|| refused(403, "unknown_device", "not in this convoy"))?;
        match me.status {
            Status::Revoked => return Err(refused(403, "device_revoked", "revoked")),
            Status::Pending if approved => {
                return Err(refused(403, "pending_approval", "pending"));
            }
            _ => {}
        }
        f(scope, &me, hostility)
    }

    fn lead_key(scope: &Scope) -> Option<[u8; 32]> {
        scope.members.get(&scope.lead)?.keys.signing.key()
    }

    /// Checks a certificate against the lead's key and stores it under the
    /// relay's rules.
    fn certify(scope: &mut Scope, bytes: &[u8], keys: Vec<DeviceKey>) -> CertOutcome {
        let Some(lead) = Self::lead_key(scope) else {
            return CertOutcome::WrongKeys;
        };
        let Ok(certificate) = Certificate::open(bytes, &lead) else {
            return CertOutcome::WrongKeys;
        };
        let row = CertificateRow {
            keys: DeviceKeys {
                device: certificate.device,
                name: certificate.name.clone(),
                signing: B64(certificate.signing.to_vec()),
                encryption: B64(certificate.encryption.to_vec()),
            },
            role: certificate.role.as_str().into(),
            status: match certificate.standing {
                Standing::Approved => Status::Approved,
                Standing::Revoked => Status::Revoked,
            },
            version: certificate.version,
            bytes: bytes.to_vec(),
        };
        let outcome = CertOutcome::decide(scope.members.get(&certificate.device), &row);
        if outcome == CertOutcome::Applied {
            let existing = scope.members.get(&certificate.device).cloned();
            scope.members.insert(
                certificate.device,
                MemberRow {
                    keys: row.keys,
                    role: Role::Member,
                    role_name: row.role,
                    status: row.status,
                    certificate: row.bytes,
                    version: row.version,
                    invite: existing.as_ref().and_then(|e| e.invite.clone()),
                    binding: existing.map(|e| e.binding).unwrap_or_default(),
                },
            );
        }
        if matches!(outcome, CertOutcome::Applied | CertOutcome::Unchanged) {
            for key in keys {
                scope.grants.insert((key.device, key.key.epoch), key.key);
            }
        }
        outcome
    }

    fn put(scope: &mut Scope, authority: &[Uid], record: Record) -> Outcome {
        let header = record.header;
        let log = scope.logs.entry(header.device).or_default();
        if let Some(existing) = log.get(&header.seq) {
            return if existing.record == record {
                Outcome::Duplicate
            } else {
                Outcome::Conflict
            };
        }
        let last = log.keys().next_back().copied().unwrap_or(0);
        if header.seq != last + 1 {
            return Outcome::Gap { expected: last + 1 };
        }
        let mut live = true;
        if let RecordKind::Keyed { key, version } = header.kind {
            let current: Vec<(Vec<u8>, i64, i64)> = scope
                .logs
                .iter()
                .flat_map(|(device, log)| {
                    log.iter()
                        .filter_map(move |(seq, stored)| match stored.record.header.kind {
                            RecordKind::Keyed { key: k, version: v } if k == key && stored.live => {
                                Some((
                                    device.0.to_vec(),
                                    i64::try_from(*seq).unwrap_or(i64::MAX),
                                    i64::try_from(v).unwrap_or(i64::MAX),
                                ))
                            }
                            _ => None,
                        })
                })
                .collect();
            let (is_live, cleared) = supersede(&header.device.0, version, authority, &current);
            live = is_live;
            for (device, seq) in cleared {
                let device = Uid(device.try_into().unwrap_or_default());
                if let Some(stored) = scope
                    .logs
                    .get_mut(&device)
                    .and_then(|log| log.get_mut(&u64::try_from(seq).unwrap_or(0)))
                {
                    stored.live = false;
                }
            }
        }
        scope
            .logs
            .entry(header.device)
            .or_default()
            .insert(header.seq, Stored { record, live });
        if live {
            Outcome::Stored
        } else {
            Outcome::Superseded
        }
    }
}

fn member_of(row: &MemberRow, hostility: &Hostility) -> Member {
    let mut member = row.to_member();
    if let Some(keys) = hostility.swapped_keys.get(&row.keys.device) {
        member.keys = keys.clone();
    }
    if let Some((certificate, status)) = hostility.served_certificates.get(&row.keys.device) {
        member.certificate = B64(certificate.clone());
        member.status.clone_from(status);
    }
    if hostility.stale && member.status == "revoked" {
        member.status = "approved".into();
    }
    if let Some(version) = hostility.listed_versions.get(&row.keys.device) {
        member.version = *version;
    }
    if let Some(name) = hostility.renamed.get(&row.keys.device) {
        member.keys.name.clone_from(name);
    }
    member
}

impl MemoryClient {
    /// This client, telling its device the relay's clock is `offset_ms`
    /// ahead of the device's (as a real relay's hello would).
    pub fn with_clock_offset(mut self, offset_ms: i64) -> Self {
        self.clock_offset = Some(offset_ms);
        self
    }
}

impl Relay for MemoryClient {
    fn address(&self) -> &str {
        &self.relay.address
    }

    fn clock_offset(&self) -> Option<i64> {
        self.clock_offset
    }

    async fn create_scope(&self, request: &CreateScope) -> Result<(), SyncError> {
        if request.lead.device != self.device {
            return Err(refused(401, "unauthenticated", "not the lead"));
        }
        let mut state = self.relay.state();
        let scope = state.scopes.entry(request.scope).or_insert_with(|| Scope {
            lead: request.lead.device,
            ..Scope::default()
        });
        if scope.lead != request.lead.device {
            return Err(refused(409, "conflict", "another lead"));
        }
        scope
            .members
            .entry(request.lead.device)
            .or_insert(MemberRow {
                keys: request.lead.clone(),
                role: Role::Lead,
                role_name: "lead".into(),
                status: Status::Approved,
                certificate: Vec::new(),
                version: 0,
                invite: None,
                binding: Vec::new(),
            });
        for (member, keys) in request.certified_members() {
            if Self::certify(scope, &member.certificate.0, keys) == CertOutcome::RevokedFinal {
                return Err(refused(409, "revoked_final", "revoked"));
            }
        }
        Ok(())
    }

    async fn invite(&self, scope: Uid, invite: &Invite) -> Result<(), SyncError> {
        let expires = {
            let state = self.relay.state();
            invite
                .lifetime_ms
                .map_or(invite.expires_ms, |l| state.now_ms + l)
        };
        self.with_scope(scope, true, |s, me, _| {
            if me.role != Role::Lead {
                return Err(refused(403, "not_lead", "not the lead"));
            }
            let _ = s;
            Ok(())
        })?;
        let mut state = self.relay.state();
        if state.invites.contains_key(&invite.code_hash) {
            return Err(refused(409, "conflict", "code exists"));
        }
        state
            .invites
            .insert(invite.code_hash.clone(), (scope, expires, invite.uses));
        Ok(())
    }

    async fn enroll(&self, request: &Enroll) -> Result<Enrolled, SyncError> {
        let mut state = self.relay.state();
        let now = state.now_ms;
        let never_spent = state.hostility.codes_never_spent;
        let (scope_id, expires, uses) = *state
            .invites
            .get(&request.code_hash)
            .ok_or_else(|| refused(404, "unknown_code", "unknown code"))?;
        let scope = state
            .scopes
            .get_mut(&scope_id)
            .ok_or_else(|| refused(404, "not_found", "no convoy"))?;
        let lead = scope
            .members
            .get(&scope.lead)
            .map(|m| m.keys.clone())
            .ok_or_else(|| refused(404, "not_found", "no lead"))?;
        match scope.members.get(&request.device.device) {
            Some(existing) if existing.keys == request.device => {}
            Some(_) => return Err(refused(409, "conflict", "other keys")),
            None => {
                if !never_spent && (expires < now || uses == 0) {
                    return Err(refused(410, "code_spent", "spent"));
                }
                scope.members.insert(
                    request.device.device,
                    MemberRow {
                        keys: request.device.clone(),
                        role: Role::Member,
                        role_name: "member".into(),
                        status: Status::Pending,
                        certificate: Vec::new(),
                        version: 0,
                        invite: Some(request.code_hash.clone()),
                        binding: request.binding.0.clone(),
                    },
                );
                if let Some(invite) = state.invites.get_mut(&request.code_hash) {
                    invite.2 = invite.2.saturating_sub(1);
                }
            }
        }
        Ok(Enrolled {
            scope: scope_id,
            lead,
        })
    }

    async fn members(&self, scope: Uid) -> Result<Vec<Member>, SyncError> {
        self.with_scope(scope, true, |s, _, hostility| {
            Ok(s.members
                .values()
                .filter(|m| !hostility.hidden.contains(&m.keys.device))
                .map(|m| member_of(m, hostility))
                .collect())
        })
    }

    async fn approve(&self, scope: Uid, device: Uid, request: &Approve) -> Result<(), SyncError> {
        self.with_scope(scope, true, |s, me, _| {
            if me.role != Role::Lead {
                return Err(refused(403, "not_lead", "not the lead"));
            }
            let keys = request
                .keys
                .iter()
                .map(|key| DeviceKey {
                    device,
                    key: key.clone(),
                })
                .collect();
            match Self::certify(s, &request.certificate.0, keys) {
                CertOutcome::Applied | CertOutcome::Unchanged => Ok(()),
                CertOutcome::RevokedFinal => Err(refused(409, "revoked_final", "revoked")),
                _ => Err(refused(409, "certificate_older", "refused")),
            }
        })
    }

    async fn revoke(&self, scope: Uid, _device: Uid, request: &Revoke) -> Result<(), SyncError> {
        self.with_scope(scope, true, |s, me, _| {
            if me.role != Role::Lead {
                return Err(refused(403, "not_lead", "not the lead"));
            }
            match Self::certify(s, &request.certificate.0, request.rotation.clone()) {
                CertOutcome::Applied | CertOutcome::Unchanged => Ok(()),
                _ => Err(refused(409, "certificate_older", "refused")),
            }
        })
    }

    async fn certificates(
        &self,
        scope: Uid,
        request: &Certificates,
    ) -> Result<CertificateOutcomes, SyncError> {
        self.with_scope(scope, true, |s, _, hostility| {
            let outcomes = request
                .certificates
                .iter()
                .map(|bytes| {
                    if hostility.stale {
                        return "refused".to_owned();
                    }
                    match Self::certify(s, &bytes.0, Vec::new()) {
                        CertOutcome::Applied => "applied",
                        CertOutcome::Unchanged | CertOutcome::Older => "unchanged",
                        _ => "refused",
                    }
                    .to_owned()
                })
                .collect();
            Ok(CertificateOutcomes { outcomes })
        })
    }

    async fn keys(&self, scope: Uid) -> Result<Vec<WrappedKey>, SyncError> {
        let device = self.device;
        self.with_scope(scope, true, |s, _, hostility| {
            let mut keys: Vec<WrappedKey> = s
                .grants
                .iter()
                .filter(|((d, _), _)| *d == device)
                .map(|(_, k)| k.clone())
                .collect();
            keys.extend(
                hostility
                    .extra_grants
                    .iter()
                    .filter(|(d, _)| *d == device)
                    .map(|(_, k)| k.clone()),
            );
            Ok(keys)
        })
    }

    async fn heads(&self, scope: Uid) -> Result<Cursors, SyncError> {
        self.with_scope(scope, true, |s, _, _| {
            Ok(Cursors(
                s.logs
                    .iter()
                    .filter_map(|(d, log)| Some((*d, *log.keys().next_back()?)))
                    .collect(),
            ))
        })
    }

    async fn upload(&self, scope: Uid, upload: &Upload) -> Result<Outcomes, SyncError> {
        let scope_id = scope;
        self.with_scope(scope, true, |s, me, _| {
            let authority: Vec<Uid> = s
                .members
                .values()
                .filter(|m| m.role == Role::Lead || role_of(m) == Some(CertRole::Registrar))
                .map(|m| m.keys.device)
                .collect();
            let mut records: Vec<(usize, Record)> =
                upload.records.iter().cloned().enumerate().collect();
            records.sort_by_key(|(_, r)| (r.header.device, r.header.seq));
            let mut outcomes = vec![Outcome::Forbidden; records.len()];
            for (i, record) in records {
                let writer = s.members.get(&record.header.device).cloned();
                let ok = record.header.scope == scope_id
                    && (record.header.device == me.keys.device || me.role == Role::Lead)
                    && writer.as_ref().is_some_and(|w| {
                        matches!(record.header.kind, RecordKind::Log)
                            || w.role == Role::Lead
                            || role_of(w).is_none_or(|r| r == CertRole::Registrar)
                    });
                if ok {
                    outcomes[i] = Self::put(s, &authority, record);
                }
            }
            Ok(Outcomes(outcomes))
        })
    }

    async fn fetch(&self, scope: Uid, fetch: &Fetch, sink: Sink<'_>) -> Result<bool, SyncError> {
        let page = self.with_scope(scope, true, |s, _, hostility| {
            let held: HashMap<Uid, u64> = fetch.cursors.0.iter().copied().collect();
            let mut page = Vec::new();
            let mut size = 0usize;
            let mut more = false;
            'devices: for (device, log) in &s.logs {
                let after = held.get(device).copied().unwrap_or(0);
                let mut mine: Vec<Record> = Vec::new();
                for (seq, stored) in log.range((Bound::Excluded(after), Bound::Unbounded)) {
                    if size >= fetch.max_bytes as usize {
                        more = true;
                        page.extend(std::mem::take(&mut mine));
                        break 'devices;
                    }
                    if !stored.live || hostility.dropped.contains(&(*device, *seq)) {
                        continue;
                    }
                    let mut record = stored.record.clone();
                    if hostility.altered.contains(&(*device, *seq))
                        && let Some(byte) = record.ciphertext.get_mut(30)
                    {
                        *byte ^= 1;
                    }
                    size += record.wire_len();
                    if hostility.duplicate {
                        mine.push(record.clone());
                    }
                    mine.push(record);
                }
                if hostility.reorder {
                    mine.reverse();
                }
                page.extend(mine);
            }
            for record in &hostility.injected {
                let after = held.get(&record.header.device).copied().unwrap_or(0);
                if record.header.scope == scope && record.header.seq > after {
                    page.push(record.clone());
                }
            }
            Ok((page, more))
        })?;
        let (records, more) = page;
        if !records.is_empty() {
            sink(records)?;
        }
        Ok(more)
    }
}
