//! The store's key, and the passphrase that unlocks it.
//!
//! The database file is encrypted with SQLCipher under a random 256-bit
//! key ([`StoreKey`]) made when the store is created. That key is never
//! written down in clear: `qafila.key`, beside the database, holds it sealed
//! (XChaCha20-Poly1305) under a key derived from the person's passphrase
//! with Argon2id ([`KeyFile`]). So a copied data folder is a salt, a sealed
//! key and ciphertext: reading it means guessing the passphrase at
//! Argon2id's price per guess.
//!
//! - Changing the passphrase re-seals the same store key; the database is
//!   not rewritten.
//! - Wrong guesses are counted in the key file: after [`FREE_ATTEMPTS`] the
//!   next guess waits, doubling each time up to an hour. This slows a person
//!   at the device; a copy of the folder is slowed only by Argon2id.
//! - The file also holds the device's idle-lock time, which is not a secret.
//!
//! The file is JSON (hex for bytes), written atomically (temporary file,
//! fsync, rename).

use std::path::{Path, PathBuf};

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use crate::error::StoreError;
use crate::personal::random;

/// The key file's name inside a data directory.
pub const KEY_FILE: &str = "qafila.key";

/// Wrong passphrases accepted before each further one has to wait.
pub const FREE_ATTEMPTS: u32 = 5;
/// The wait after the first attempt past [`FREE_ATTEMPTS`]; it doubles.
const FIRST_WAIT_MS: u64 = 30_000;
/// The longest wait.
const MAX_WAIT_MS: u64 = 3_600_000;
/// The shortest passphrase accepted, in characters.
pub const MIN_PASSPHRASE_CHARS: usize = 8;
/// Idle minutes before the app locks, until someone sets another.
pub const DEFAULT_LOCK_AFTER_MINUTES: u32 = 10;

/// Argon2id cost for new key files: 19 MiB, 2 passes, one lane (the
/// OWASP baseline), about 0.1 s on a 2-core laptop. Kept in the file, so a
/// later build can raise it for new passphrases and still open old ones.
const MEMORY_KIB: u32 = 19 * 1024;
const ITERATIONS: u32 = 2;
const PARALLELISM: u32 = 1;
/// Never derive with less than this, whatever a (tampered) file says.
const MIN_MEMORY_KIB: u32 = 8 * 1024;
/// Never derive with more than this (a tampered file must not exhaust memory).
const MAX_MEMORY_KIB: u32 = 1024 * 1024;

const AAD: &[u8] = b"qafila-store-key-v1";
/// Key files of the first encrypting build (SHA-512 pages).
const FORMAT_V1: u32 = 1;
/// Key files that name their store's page authentication (`page_hmac`): a
/// build that knows only format 1 says so, rather than calling the store
/// damaged when its pages fail under SHA-512.
const FORMAT: u32 = 2;

/// How SQLCipher authenticates each page of a store.
///
/// Stores made since 2026-12-08 use HMAC-SHA256, which this machine's CPUs
/// compute in hardware (about 2.4 times the speed of SHA-512 here): every
/// page read from disk or written is authenticated, and a hand-out reads and
/// writes dozens. Both give a 256-bit or longer tag; the first encrypted
/// stores keep SHA-512 (a key file without `page_hmac`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageHmac {
    /// SQLCipher 4's default, used by the first encrypting build.
    Sha512,
    /// For every store made since.
    Sha256,
}

impl PageHmac {
    /// The value of `PRAGMA cipher_hmac_algorithm`.
    pub(crate) fn pragma(self) -> &'static str {
        match self {
            PageHmac::Sha512 => "HMAC_SHA512",
            PageHmac::Sha256 => "HMAC_SHA256",
        }
    }

    fn of_file(name: Option<&str>) -> Option<PageHmac> {
        match name {
            None | Some("HMAC_SHA512") => Some(PageHmac::Sha512),
            Some("HMAC_SHA256") => Some(PageHmac::Sha256),
            Some(_) => None,
        }
    }
}

/// The 256-bit key SQLCipher encrypts the database with, and how its pages
/// are authenticated. Wiped from memory when dropped; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct StoreKey {
    key: Zeroizing<[u8; 32]>,
    hmac: PageHmac,
}

impl std::fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreKey(<secret>)")
    }
}

impl StoreKey {
    fn random() -> Result<StoreKey, StoreError> {
        Ok(StoreKey {
            key: Zeroizing::new(random::<32>()?),
            hmac: PageHmac::Sha256,
        })
    }

    /// How this store's pages are authenticated.
    pub(crate) fn hmac(&self) -> PageHmac {
        self.hmac
    }

    /// The value of `PRAGMA key` for this key: a raw key, so SQLCipher
    /// uses it as is (no second key derivation on every open).
    pub(crate) fn pragma(&self) -> Zeroizing<String> {
        let mut text = String::with_capacity(67);
        text.push_str("x'");
        for byte in self.key.iter() {
            text.push_str(&format!("{byte:02x}"));
        }
        text.push('\'');
        Zeroizing::new(text)
    }
}

/// What a person types to unlock the store. Wiped from memory when dropped;
/// never printed.
#[derive(Clone)]
pub struct Passphrase(Zeroizing<String>);

impl std::fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passphrase(<secret>)")
    }
}

impl Passphrase {
    /// A passphrase as typed (nothing is trimmed: a space may be part of it).
    pub fn new(text: impl Into<String>) -> Passphrase {
        Passphrase(Zeroizing::new(text.into()))
    }

    /// Refuses a passphrase too short to protect a copied folder.
    pub fn check_strength(&self) -> Result<(), StoreError> {
        if self.0.chars().count() < MIN_PASSPHRASE_CHARS {
            return Err(StoreError::WeakPassphrase {
                min_chars: MIN_PASSPHRASE_CHARS,
            });
        }
        Ok(())
    }

    /// Whether two typings are the same passphrase (constant time is not
    /// needed: both are the person's own typing).
    pub fn same_as(&self, other: &Passphrase) -> bool {
        *self.0 == *other.0
    }

    fn bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// `qafila.key` as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct KeyFile {
    format: u32,
    kdf: String,
    memory_kib: u32,
    iterations: u32,
    parallelism: u32,
    salt: String,
    nonce: String,
    sealed_key: String,
    failed_attempts: u32,
    retry_after_ms: u64,
    lock_after_minutes: u32,
    /// `None`: a file from the first encrypting build, whose store
    /// authenticates pages with HMAC-SHA512.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    page_hmac: Option<String>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != 2 * N || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; N];
    for (i, slot) in out.iter_mut().enumerate() {
        *slot = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

fn damaged(path: &Path, detail: impl Into<String>) -> StoreError {
    StoreError::KeyFileDamaged {
        path: path.to_owned(),
        detail: detail.into(),
    }
}

/// The key file's path in `dir`.
pub fn key_path(dir: &Path) -> PathBuf {
    dir.join(KEY_FILE)
}

/// Whether `dir` has a key file.
pub fn has_key_file(dir: &Path) -> bool {
    key_path(dir).is_file()
}

impl KeyFile {
    fn read(path: &Path) -> Result<KeyFile, StoreError> {
        let text = match std::fs::read(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(damaged(path, "it is missing"));
            }
            other => other?,
        };
        let file: KeyFile = serde_json::from_slice(&text)
            .map_err(|e| damaged(path, format!("not a Qafila key file: {e}")))?;
        if !matches!(file.format, FORMAT_V1 | FORMAT) || file.kdf != "argon2id-v19" {
            return Err(damaged(
                path,
                format!(
                    "key file format {} ({}) is not one this build knows",
                    file.format, file.kdf
                ),
            ));
        }
        Ok(file)
    }

    fn write(&self, path: &Path) -> Result<(), StoreError> {
        let text = serde_json::to_vec_pretty(self)
            .map_err(|e| damaged(path, format!("could not encode the key file: {e}")))?;
        write_atomically(path, &text)
    }

    fn kek(&self, path: &Path, passphrase: &Passphrase) -> Result<Zeroizing<[u8; 32]>, StoreError> {
        if !(MIN_MEMORY_KIB..=MAX_MEMORY_KIB).contains(&self.memory_kib)
            || !(1..=16).contains(&self.iterations)
            || !(1..=8).contains(&self.parallelism)
        {
            return Err(damaged(
                path,
                "the key file's Argon2id cost is out of range",
            ));
        }
        let salt = unhex::<16>(&self.salt).ok_or_else(|| damaged(path, "bad salt"))?;
        derive(
            passphrase,
            &salt,
            self.memory_kib,
            self.iterations,
            self.parallelism,
        )
    }

    fn aad(&self) -> Vec<u8> {
        let mut aad = AAD.to_vec();
        for n in [self.memory_kib, self.iterations, self.parallelism] {
            aad.extend_from_slice(&n.to_le_bytes());
        }
        aad
    }

    fn seal(
        passphrase: &Passphrase,
        key: &StoreKey,
        lock_after: u32,
    ) -> Result<KeyFile, StoreError> {
        let salt = random::<16>()?;
        let nonce = random::<24>()?;
        let mut file = KeyFile {
            format: match key.hmac {
                PageHmac::Sha512 => FORMAT_V1,
                PageHmac::Sha256 => FORMAT,
            },
            kdf: "argon2id-v19".into(),
            memory_kib: MEMORY_KIB,
            iterations: ITERATIONS,
            parallelism: PARALLELISM,
            salt: hex(&salt),
            nonce: hex(&nonce),
            sealed_key: String::new(),
            failed_attempts: 0,
            retry_after_ms: 0,
            lock_after_minutes: lock_after,
            page_hmac: match key.hmac {
                PageHmac::Sha512 => None,
                PageHmac::Sha256 => Some(PageHmac::Sha256.pragma().into()),
            },
        };
        let kek = derive(passphrase, &salt, MEMORY_KIB, ITERATIONS, PARALLELISM)?;
        let sealed = XChaCha20Poly1305::new(kek.as_ref().into())
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: key.key.as_ref(),
                    aad: &file.aad(),
                },
            )
            .map_err(|_| StoreError::Seal)?;
        file.sealed_key = hex(&sealed);
        Ok(file)
    }

    fn open(&self, path: &Path, passphrase: &Passphrase) -> Result<Option<StoreKey>, StoreError> {
        let hmac = PageHmac::of_file(self.page_hmac.as_deref()).ok_or_else(|| {
            damaged(
                path,
                "it names a page authentication this build does not know",
            )
        })?;
        let kek = self.kek(path, passphrase)?;
        let nonce = unhex::<24>(&self.nonce).ok_or_else(|| damaged(path, "bad nonce"))?;
        let sealed =
            unhex::<48>(&self.sealed_key).ok_or_else(|| damaged(path, "bad sealed key"))?;
        let Ok(mut plain) = XChaCha20Poly1305::new(kek.as_ref().into()).decrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: &sealed,
                aad: &self.aad(),
            },
        ) else {
            return Ok(None);
        };
        let mut key = [0u8; 32];
        if plain.len() != 32 {
            plain.zeroize();
            return Err(damaged(path, "the sealed key has the wrong length"));
        }
        key.copy_from_slice(&plain);
        plain.zeroize();
        let key = StoreKey {
            key: Zeroizing::new(key),
            hmac,
        };
        key_zero_check(path, &key)?;
        Ok(Some(key))
    }
}

fn key_zero_check(path: &Path, key: &StoreKey) -> Result<(), StoreError> {
    if key.key.iter().all(|b| *b == 0) {
        return Err(damaged(path, "the store key is all zeros"));
    }
    Ok(())
}

pub(crate) fn derive(
    passphrase: &Passphrase,
    salt: &[u8; 16],
    memory_kib: u32,
    iterations: u32,
    parallelism: u32,
) -> Result<Zeroizing<[u8; 32]>, StoreError> {
    let params = Params::new(memory_kib, iterations, parallelism, Some(32))
        .map_err(|e| StoreError::Random(format!("Argon2id parameters: {e}")))?;
    let mut out = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(passphrase.bytes(), salt, out.as_mut())
        .map_err(|e| StoreError::Random(format!("Argon2id: {e}")))?;
    Ok(out)
}

/// Writes `bytes` to `path` so that a crash leaves the old file or the new
/// one, never half of either.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let temp = path.with_extension("key.new");
    {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(&temp, path)?;
    sync_dir(dir);
    Ok(())
}

/// Flushes a directory's entries (a rename is durable once its directory
/// is). Best effort: not every filesystem allows opening a directory.
pub(crate) fn sync_dir(dir: &Path) {
    if let Ok(handle) = std::fs::File::open(dir) {
        let _ = handle.sync_all();
    }
}

/// The wait before the next guess after `failed` wrong ones.
fn wait_after(failed: u32) -> u64 {
    if failed < FREE_ATTEMPTS {
        return 0;
    }
    let doublings = (failed - FREE_ATTEMPTS).min(10);
    (FIRST_WAIT_MS << doublings).min(MAX_WAIT_MS)
}

/// Makes a new store key and seals it under `passphrase` in `dir`.
pub(crate) fn create(dir: &Path, passphrase: &Passphrase) -> Result<StoreKey, StoreError> {
    passphrase.check_strength()?;
    let key = StoreKey::random()?;
    KeyFile::seal(passphrase, &key, DEFAULT_LOCK_AFTER_MINUTES)?.write(&key_path(dir))?;
    Ok(key)
}

/// Opens the store key in `dir` with `passphrase` at `now_ms`, counting a
/// wrong guess and refusing guesses made during a wait.
pub fn unlock(dir: &Path, passphrase: &Passphrase, now_ms: u64) -> Result<StoreKey, StoreError> {
    let path = key_path(dir);
    let mut file = KeyFile::read(&path)?;
    // A clock set back must not stretch a wait beyond its length: the wait
    // starts again from the clock's new now.
    let longest = now_ms.saturating_add(wait_after(file.failed_attempts));
    if file.retry_after_ms > longest {
        file.retry_after_ms = longest;
        file.write(&path)?;
    }
    if now_ms < file.retry_after_ms {
        return Err(StoreError::TooManyAttempts {
            retry_in_s: (file.retry_after_ms - now_ms).div_ceil(1000),
        });
    }
    match file.open(&path, passphrase)? {
        Some(key) => {
            if file.failed_attempts > 0 {
                file.failed_attempts = 0;
                file.retry_after_ms = 0;
                file.write(&path)?;
            }
            Ok(key)
        }
        None => {
            file.failed_attempts = file.failed_attempts.saturating_add(1);
            let wait = wait_after(file.failed_attempts);
            file.retry_after_ms = now_ms.saturating_add(wait);
            file.write(&path)?;
            Err(StoreError::WrongPassphrase {
                attempts_left: FREE_ATTEMPTS.saturating_sub(file.failed_attempts),
                retry_in_s: wait.div_ceil(1000),
            })
        }
    }
}

/// Re-seals the store key in `dir` under `new`, after checking `old`.
pub fn change_passphrase(
    dir: &Path,
    old: &Passphrase,
    new: &Passphrase,
    now_ms: u64,
) -> Result<(), StoreError> {
    new.check_strength()?;
    let key = unlock(dir, old, now_ms)?;
    let path = key_path(dir);
    let lock_after = KeyFile::read(&path)?.lock_after_minutes;
    KeyFile::seal(new, &key, lock_after)?.write(&path)
}

/// The idle minutes after which the app locks (0: never).
pub fn lock_after_minutes(dir: &Path) -> Result<u32, StoreError> {
    Ok(KeyFile::read(&key_path(dir))?.lock_after_minutes)
}

/// Sets the idle minutes after which the app locks (0: never; at most a day).
pub fn set_lock_after_minutes(dir: &Path, minutes: u32) -> Result<(), StoreError> {
    let path = key_path(dir);
    let mut file = KeyFile::read(&path)?;
    file.lock_after_minutes = minutes.min(24 * 60);
    file.write(&path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pass(text: &str) -> Passphrase {
        Passphrase::new(text)
    }

    #[test]
    fn a_sealed_key_opens_only_with_its_passphrase() {
        let dir = tempfile::tempdir().unwrap();
        let key = create(dir.path(), &pass("قافلة الخير ٢٠٢٦")).unwrap();
        assert_eq!(
            unlock(dir.path(), &pass("قافلة الخير ٢٠٢٦"), 0).unwrap(),
            key
        );
        let err = unlock(dir.path(), &pass("قافلة الخير 2026"), 0).unwrap_err();
        assert_eq!(err.code(), "wrong_passphrase");
        let text = std::fs::read_to_string(key_path(dir.path())).unwrap();
        assert!(
            !text.contains(&hex(key.key.as_ref())),
            "the key is not in clear"
        );
    }

    #[test]
    fn guesses_past_the_free_ones_wait_and_the_wait_doubles() {
        let dir = tempfile::tempdir().unwrap();
        create(dir.path(), &pass("correct horse")).unwrap();
        let mut now = 1_000_000;
        for left in (0..FREE_ATTEMPTS).rev() {
            match unlock(dir.path(), &pass("wrong guess"), now).unwrap_err() {
                StoreError::WrongPassphrase { attempts_left, .. } => {
                    assert_eq!(attempts_left, left)
                }
                other => panic!("{other:?}"),
            }
        }
        // The right passphrase too must wait now.
        let err = unlock(dir.path(), &pass("correct horse"), now + 1_000).unwrap_err();
        assert!(
            matches!(err, StoreError::TooManyAttempts { retry_in_s: 29 }),
            "{err:?}"
        );
        now += 30_000;
        match unlock(dir.path(), &pass("wrong again"), now).unwrap_err() {
            StoreError::WrongPassphrase { retry_in_s, .. } => assert_eq!(retry_in_s, 60),
            other => panic!("{other:?}"),
        }
        now += 60_000;
        unlock(dir.path(), &pass("correct horse"), now).unwrap();
        // Success resets the count.
        let err = unlock(dir.path(), &pass("wrong"), now).unwrap_err();
        assert!(matches!(
            err,
            StoreError::WrongPassphrase {
                attempts_left: 4,
                retry_in_s: 0
            }
        ));
    }

    #[test]
    fn a_clock_set_back_does_not_stretch_a_wait() {
        let dir = tempfile::tempdir().unwrap();
        create(dir.path(), &pass("correct horse")).unwrap();
        for _ in 0..FREE_ATTEMPTS {
            let _ = unlock(dir.path(), &pass("wrong"), 10_000_000_000);
        }
        // The clock goes back ten years: the wait is still 30 s from now.
        let err = unlock(dir.path(), &pass("correct horse"), 1_000).unwrap_err();
        assert!(
            matches!(err, StoreError::TooManyAttempts { retry_in_s: 30 }),
            "{err:?}"
        );
        unlock(dir.path(), &pass("correct horse"), 31_000).unwrap();
    }

    #[test]
    fn a_short_passphrase_is_refused_and_a_new_one_keeps_the_key() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            create(dir.path(), &pass("1234567")).unwrap_err().code(),
            "weak_passphrase"
        );
        let key = create(dir.path(), &pass("12345678")).unwrap();
        change_passphrase(dir.path(), &pass("12345678"), &pass("a longer one"), 0).unwrap();
        assert_eq!(unlock(dir.path(), &pass("a longer one"), 0).unwrap(), key);
        assert_eq!(
            unlock(dir.path(), &pass("12345678"), 0).unwrap_err().code(),
            "wrong_passphrase"
        );
    }

    #[test]
    fn a_damaged_or_tampered_key_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        create(dir.path(), &pass("correct horse")).unwrap();
        let path = key_path(dir.path());
        let good = std::fs::read_to_string(&path).unwrap();
        // A cost raised to exhaust memory is refused before deriving.
        let greedy = good.replace("\"memory_kib\": 19456", "\"memory_kib\": 4000000000");
        assert_ne!(greedy, good);
        std::fs::write(&path, greedy).unwrap();
        assert_eq!(
            unlock(dir.path(), &pass("correct horse"), 0)
                .unwrap_err()
                .code(),
            "key_file_damaged"
        );
        std::fs::write(&path, b"\x00garbage").unwrap();
        assert_eq!(
            unlock(dir.path(), &pass("correct horse"), 0)
                .unwrap_err()
                .code(),
            "key_file_damaged"
        );
    }
}
