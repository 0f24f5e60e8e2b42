//! Convoys and sync, for the shells: create a convoy and its codes, enroll,
//! approve, revoke, list devices, publish to a site relay, forward between
//! relays, and sync now. The network work runs on a small tokio runtime
//! owned by the call, so the façade stays a plain blocking API (the desktop
//! shell calls it off the UI thread).

use qafila_proto::Uid;
use qafila_proto::cert::CertRole;
use qafila_store::sync::Convoy;
use qafila_sync::SyncError;
use qafila_sync::client::RelayClient;
pub use qafila_sync::convoy::NewConvoy;
use qafila_sync::convoy::{self as ops, DeviceView};
use serde::Serialize;
use ts_rs::TS;

use crate::{App, AppError};

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl From<SyncError> for AppError {
    fn from(e: SyncError) -> Self {
        let mut error = AppError::new(e.code(), e.to_string(), e.message_ar());
        error.retryable = e.retryable();
        error
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, AppError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            AppError::new(
                "runtime",
                format!("could not start the network runtime: {e}"),
                "تعذر تشغيل الشبكة",
            )
        })
}

/// A convoy as shells show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct ConvoyDto {
    /// Its id.
    pub id: String,
    /// Its name (empty until a volunteer's first sync brings the plan).
    pub name: String,
    /// Its date.
    pub day: String,
    /// Its relay.
    pub relay: String,
    /// `lead` or `member`.
    pub role: String,
    /// `pending`, `approved` or `revoked`.
    pub status: String,
    /// Sites on its route.
    pub sites: Vec<String>,
    /// What this device may do in it: `lead`, `registrar`, `storekeeper`,
    /// `volunteer`, or `legacy` (certified before roles; the lead should
    /// give it one).
    pub my_role: String,
    /// The lead key's fingerprint (as enrollment codes carry it), to
    /// compare with the lead's own screen.
    pub lead_fingerprint: String,
    /// Other relays the convoy is published on.
    pub relays: Vec<String>,
    /// New enrollment codes, when just made.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[ts(as = "Option<Vec<String>>", optional)]
    pub codes: Vec<String>,
}

impl ConvoyDto {
    fn of(app: &App, convoy: &Convoy, codes: Vec<String>) -> Result<Self, AppError> {
        Ok(ConvoyDto {
            id: Uid(convoy.id).to_string(),
            name: convoy.name.clone(),
            day: convoy.day.clone(),
            relay: convoy.relay.clone(),
            role: convoy.role.clone(),
            status: convoy.status.clone(),
            sites: convoy.sites.clone(),
            my_role: ops::own_role(app.store(), convoy)?
                .map_or("legacy", qafila_domain::role::Role::code)
                .to_owned(),
            lead_fingerprint: qafila_sync::enrollment::lead_fingerprint(&convoy.lead_signing),
            relays: convoy.relays.clone(),
            codes,
        })
    }
}

/// A device of a convoy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct MemberDto {
    /// Its id.
    pub device: String,
    /// Its name (the one the lead certified, once certified).
    pub name: String,
    /// `lead`, `registrar`, `storekeeper`, `volunteer`, `legacy` (certified
    /// before roles) or `member` (pending).
    pub role: String,
    /// `pending`, `approved` or `revoked`.
    pub status: String,
    /// Its fingerprint (`ABCD-EFGH-JKMN-PQRS-TVWX`), to compare with what
    /// its own screen shows before approving it.
    pub fingerprint: String,
    /// For a pending device on the lead's screen: `true` when its keys are
    /// bound to a code this device made (approving needs no typed
    /// fingerprint), `false` when the binding fails (the relay swapped its
    /// keys: do not approve), absent when there is nothing to check.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub bound: Option<bool>,
    /// When the relay last heard from it (ms since the epoch), if it knows.
    pub last_seen_ms: Option<u64>,
}

impl MemberDto {
    fn of(view: DeviceView) -> Self {
        MemberDto {
            device: view.device.to_string(),
            name: view.name,
            role: view.role,
            status: view.status,
            fingerprint: view.fingerprint,
            bound: view.bound,
            last_seen_ms: view.last_seen_ms,
        }
    }
}

/// A revocation, and the relays it could not reach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct RevokedDto {
    /// The device, now revoked.
    #[serde(flatten)]
    #[ts(flatten)]
    pub member: MemberDto,
    /// The last record of its log that still counts.
    pub valid_through: u64,
    /// Relays the convoy is published on that could not be told: publish
    /// there again.
    pub unreached: Vec<String>,
}

/// What a forward between relays did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct ForwardDto {
    /// Records newly stored on either side.
    pub moved: u64,
    /// Records that did not check out and were not copied.
    pub refused: u64,
}

/// An enrollment code with its link and QR code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct InviteDto {
    /// The convoy's name.
    pub convoy: String,
    /// The relay's address.
    pub relay: String,
    /// The one-time code.
    pub code: String,
    /// `qafila:enroll?relay=<percent-encoded>&code=<code>`.
    pub link: String,
    /// The link as an inline SVG QR code.
    pub qr_svg: String,
}

/// The enrollment link a first-run screen reads from a QR code.
pub fn invite_link(relay: &str, code: &str) -> String {
    let encode = |text: &str| -> String {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    char::from(b).to_string()
                }
                other => format!("%{other:02X}"),
            })
            .collect()
    };
    format!(
        "qafila:enroll?relay={}&code={}",
        encode(relay),
        encode(code)
    )
}

/// What a sync moved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncDto {
    /// The convoy.
    pub convoy: String,
    /// The relay used.
    pub relay: String,
    /// This device's events sealed into new records.
    pub sealed_events: u64,
    /// Registry entries sealed.
    pub sealed_registry: u64,
    /// Records the relay newly stored.
    pub uploaded: u64,
    /// Records downloaded.
    pub downloaded: u64,
    /// Events applied.
    pub applied_events: u64,
    /// Registry entries applied.
    pub applied_registry: u64,
    /// Records set aside: not allowed for their sender, or unreadable.
    pub quarantined: u64,
    /// Events stamped more than the clock's drift limit ahead of this
    /// device's time: kept, but their time is not adopted (a phone whose
    /// clock runs fast; its own `clock_wrong` note says by how much).
    #[serde(skip_serializing_if = "is_zero")]
    pub future_stamps: u64,
    /// Records held back until a key or a certificate arrives.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub waiting: Vec<String>,
    /// Nothing new was sealed: a revocation names a key generation this
    /// device has not received yet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting_for_key: Option<u32>,
}

/// Where this device's sync stands, as the app's header chip shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum SyncState {
    /// The device is in no convoy: everything stays on it, nothing is
    /// waiting to leave.
    LocalOnly,
    /// In a convoy, but no sync has finished since the app started.
    Never,
    /// A sync is running.
    Syncing,
    /// The last sync finished.
    Idle,
    /// The last sync could not reach the relay; nothing is lost, it retries.
    Offline,
    /// The last sync failed for another reason (see the error).
    Error,
}

/// The sync chip: its state, what is waiting to leave this device, when it
/// last synced, and the last failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct SyncChipDto {
    /// Where sync stands.
    pub state: SyncState,
    /// This device's events (hand-outs, check-ins, registrations ...) that
    /// no relay holds yet. Zero outside a convoy: events recorded before
    /// joining one stay on the device.
    pub pending: u64,
    /// When the last sync finished (milliseconds since the Unix epoch),
    /// since the app started.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub last_synced_ms: Option<u64>,
    /// Why the last sync failed (`offline`: `relay_unreachable`; `error`:
    /// anything else).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub error: Option<AppError>,
}

impl App {
    /// This device's events that no relay holds yet, for the sync chip:
    /// the most waiting for any one of its convoys (a device is usually in
    /// one), zero outside a convoy.
    pub fn pending_upload(&self) -> Result<u64, AppError> {
        let mut most = 0;
        for convoy in self.store().convoys()? {
            if convoy.status != "revoked" {
                most = most.max(self.store().pending_upload(convoy.id)?);
            }
        }
        Ok(most)
    }

    /// Whether this device syncs with any convoy (one it was not revoked
    /// from).
    pub fn in_convoy(&self) -> Result<bool, AppError> {
        Ok(self
            .store()
            .convoys()?
            .iter()
            .any(|c| c.status != "revoked"))
    }

    /// The sites a volunteer can pick: those on the routes of this device's
    /// convoys, then those used on this device, each name once (compared as
    /// normalised Arabic).
    pub fn sites(&self) -> Result<Vec<String>, AppError> {
        let mut seen = std::collections::HashSet::new();
        let mut names = Vec::new();
        let convoy_sites: Vec<String> = self
            .store()
            .convoys()?
            .into_iter()
            .filter(|c| c.status != "revoked")
            .flat_map(|c| c.sites)
            .collect();
        let local = self.store().sites()?.into_iter().map(|s| s.name);
        for name in convoy_sites.into_iter().chain(local) {
            let key = qafila_domain::names::NameKey::new(&name)
                .as_str()
                .to_owned();
            if !key.is_empty() && seen.insert(key) {
                names.push(name);
            }
        }
        Ok(names)
    }
}

/// An HTTP client for `relay`, signing as this device.
fn relay_client(app: &App, relay: &str) -> Result<RelayClient, AppError> {
    Ok(ops::client(app.store(), relay)?)
}

/// A role as the lead picks it (`volunteer`, `registrar`, `storekeeper`).
pub fn parse_role(text: &str) -> Result<CertRole, AppError> {
    CertRole::parse(text).ok_or_else(|| {
        AppError::invalid(
            "unknown_role",
            format!("`{text}` is not a role: use volunteer, registrar or storekeeper"),
        )
    })
}

impl App {
    fn convoy(&self, id: Option<&str>) -> Result<Convoy, AppError> {
        Ok(ops::current(self.store(), id)?)
    }

    /// This device's fingerprint, shown while it waits for the lead.
    pub fn fingerprint(&self) -> Result<String, AppError> {
        Ok(ops::own_fingerprint(self.store())?)
    }

    /// Creates a convoy led by this device on `relay` (with the relay
    /// operator's creation token, if it needs one).
    pub fn convoy_create(
        &self,
        new: &NewConvoy<'_>,
        relay: &str,
        create_token: Option<&str>,
    ) -> Result<ConvoyDto, AppError> {
        let (name, day) = (new.name, new.day);
        if name.trim().is_empty() {
            return Err(AppError::new(
                "convoy_name_required",
                "give the convoy a name",
                "اكتب اسم القافلة",
            ));
        }
        let day = crate::distribution::parse_date(day)?.to_string();
        let new = NewConvoy {
            codes: new.codes.max(1),
            day: &day,
            ..*new
        };
        let client = relay_client(self, relay)?.with_create_token(create_token);
        let runtime = runtime()?;
        // The convoy's id carries its creation time, which phones later
        // judge their clocks against: taken from the relay's clock.
        let offset = runtime.block_on(client.relay_clock())?;
        self.learn_relay_clock(relay, Some(offset));
        let (now, _) = self.now();
        let created = runtime.block_on(ops::create(self.store(), &client, &new, now))?;
        ConvoyDto::of(self, &created.convoy, created.codes)
    }

    /// More one-time enrollment codes for a convoy this device leads, each
    /// valid for `hours` (default 12, at most 72).
    pub fn convoy_invite(
        &self,
        convoy: Option<&str>,
        count: usize,
        hours: Option<u64>,
    ) -> Result<ConvoyDto, AppError> {
        let convoy = self.convoy(convoy)?;
        let (now, _) = self.now();
        let lifetime = hours.map_or(ops::CODE_LIFETIME_MS, |h| h.saturating_mul(3_600_000));
        let client = relay_client(self, &convoy.relay)?;
        let codes = runtime()?.block_on(ops::invite(
            self.store(),
            &client,
            &convoy,
            count.max(1),
            lifetime,
            now,
        ))?;
        ConvoyDto::of(self, &convoy, codes)
    }

    /// A one-time enrollment code as the lead's screen shows it: the code,
    /// a `qafila:enroll?relay=…&code=…` link, and the link as a QR code a
    /// new device scans on its first-run screen.
    pub fn invite(&self, uses: u32) -> Result<InviteDto, AppError> {
        let convoy = self.convoy(None)?;
        if convoy.lead != self.store().device().id {
            return Err(AppError::new(
                "not_lead",
                "only the convoy lead's device can invite devices",
                "جهاز قائد القافلة بس هو اللي يقدر يضيف أجهزة",
            ));
        }
        let dto = self.convoy_invite(None, usize::try_from(uses.max(1)).unwrap_or(1), None)?;
        let code = dto.codes.first().cloned().ok_or_else(|| {
            AppError::new(
                "invite_failed",
                "the relay gave no code",
                "الخادم مارجعش كود",
            )
        })?;
        let link = invite_link(&dto.relay, &code);
        let qr_svg = qafila_cards::sheet::qr_svg(&link)
            .map_err(|e| AppError::new("invite_failed", e.to_string(), e.message_ar()))?;
        Ok(InviteDto {
            convoy: dto.name,
            relay: dto.relay,
            code,
            link,
            qr_svg,
        })
    }

    /// Joins a convoy with a code from its lead.
    pub fn enroll(&self, relay: &str, code: &str) -> Result<ConvoyDto, AppError> {
        let client = relay_client(self, relay)?;
        let convoy = runtime()?.block_on(ops::enroll(self.store(), &client, code))?;
        self.learn_relay_clock(relay, qafila_sync::transport::Relay::clock_offset(&client));
        ConvoyDto::of(self, &convoy, Vec::new())
    }

    /// The convoys this device belongs to.
    pub fn convoys(&self) -> Result<Vec<ConvoyDto>, AppError> {
        self.store()
            .convoys()?
            .iter()
            .map(|c| ConvoyDto::of(self, c, Vec::new()))
            .collect()
    }

    /// The convoy's devices, from the relay, as the lead's certificates
    /// show them.
    pub fn convoy_devices(&self, convoy: Option<&str>) -> Result<Vec<MemberDto>, AppError> {
        let convoy = self.convoy(convoy)?;
        let client = relay_client(self, &convoy.relay)?;
        Ok(runtime()?
            .block_on(ops::devices(self.store(), &client, &convoy))?
            .into_iter()
            .map(MemberDto::of)
            .collect())
    }

    /// A convoy's members as the relay lists them.
    pub(crate) fn convoy_members(
        &self,
        convoy: &Convoy,
    ) -> Result<Vec<qafila_proto::control::Member>, AppError> {
        use qafila_sync::transport::Relay as _;
        let client = relay_client(self, &convoy.relay)?;
        Ok(runtime()?.block_on(client.members(Uid(convoy.id)))?)
    }

    /// Approves a pending device (by id prefix or name) with a role, after
    /// checking its keys are the ones it enrolled with: by its binding to
    /// this lead's code, or by the `fingerprint` its screen shows. On an
    /// approved device, changes its role.
    pub fn convoy_approve(
        &self,
        convoy: Option<&str>,
        device: &str,
        role: CertRole,
        fingerprint: Option<&str>,
    ) -> Result<MemberDto, AppError> {
        let convoy = self.convoy(convoy)?;
        let client = relay_client(self, &convoy.relay)?;
        let (now, _) = self.now();
        let view = runtime()?.block_on(ops::approve(
            self.store(),
            &client,
            &convoy,
            device,
            role,
            fingerprint.filter(|f| !f.trim().is_empty()),
            now,
        ))?;
        Ok(MemberDto::of(view))
    }

    /// Revokes a device for good: rotates the convoy's key and tells every
    /// relay the convoy is published on.
    pub fn convoy_revoke(
        &self,
        convoy: Option<&str>,
        device: &str,
    ) -> Result<RevokedDto, AppError> {
        let convoy = self.convoy(convoy)?;
        let client = relay_client(self, &convoy.relay)?;
        let others = convoy
            .relays
            .iter()
            .map(|r| relay_client(self, r))
            .collect::<Result<Vec<_>, _>>()?;
        let (now, _) = self.now();
        let revoked = runtime()?.block_on(ops::revoke(
            self.store(),
            &client,
            &others,
            &convoy,
            device,
            now,
        ))?;
        Ok(RevokedDto {
            member: MemberDto::of(revoked.device),
            valid_through: revoked.valid_through,
            unreached: revoked.unreached,
        })
    }

    /// Registers the convoy on another relay (a site relay) and copies what
    /// its relay holds there.
    pub fn convoy_publish(
        &self,
        convoy: Option<&str>,
        relay: &str,
        create_token: Option<&str>,
    ) -> Result<ConvoyDto, AppError> {
        let convoy = self.convoy(convoy)?;
        let primary = relay_client(self, &convoy.relay)?;
        let target = relay_client(self, relay)?.with_create_token(create_token);
        runtime()?.block_on(ops::publish(self.store(), &primary, &target, &convoy))?;
        let convoy = self.convoy(Some(&Uid(convoy.id).to_string()))?;
        ConvoyDto::of(self, &convoy, Vec::new())
    }

    /// Copies checked records both ways between two relays.
    pub fn relay_forward(
        &self,
        convoy: Option<&str>,
        from: &str,
        to: &str,
    ) -> Result<ForwardDto, AppError> {
        let convoy = self.convoy(convoy)?;
        let (a, b) = (relay_client(self, from)?, relay_client(self, to)?);
        let forwarded = runtime()?.block_on(ops::forward(self.store(), &convoy, &a, &b))?;
        Ok(ForwardDto {
            moved: forwarded.moved,
            refused: forwarded.refused,
        })
    }

    /// Syncs now, retrying a few times with backoff while the relay is
    /// unreachable (`attempts` = 1: no retry).
    pub fn sync(
        &self,
        convoy: Option<&str>,
        relay: Option<&str>,
        attempts: u32,
    ) -> Result<SyncDto, AppError> {
        let convoy = self.convoy(convoy)?;
        let clock = self.clock.clone();
        // Received records are judged against this phone's best time.
        let correction =
            i64::try_from(self.now().0).unwrap_or(0) - i64::try_from(clock()).unwrap_or(0);
        let address = relay.unwrap_or(&convoy.relay);
        let client = relay_client(self, address)?;
        let report = runtime()?.block_on(ops::sync_with_retry(
            self.store(),
            &client,
            &convoy,
            attempts.max(1),
            move || clock().saturating_add_signed(correction),
        ))?;
        // The convoy's own relay is the time this phone trusts; a site
        // relay's clock only stamps requests to it.
        if address.trim_end_matches('/') == convoy.relay.trim_end_matches('/') {
            self.learn_relay_clock(address, report.relay_clock);
        }
        Ok(SyncDto {
            convoy: Uid(convoy.id).to_string(),
            relay: report.relay,
            sealed_events: report.sealed_events,
            sealed_registry: report.sealed_registry,
            uploaded: report.uploaded,
            downloaded: report.downloaded,
            applied_events: report.applied.events,
            applied_registry: report.applied.registry,
            quarantined: report.applied.quarantined,
            future_stamps: report.applied.future_stamps,
            waiting: report.waiting,
            waiting_for_key: report.waiting_for_key,
        })
    }
}
