//! Sealing personal data with a key per beneficiary.
//!
//! A person's name, national ID and phone travel in events only in sealed
//! form: XChaCha20-Poly1305 under a random key that belongs to that person
//! alone, with their id as associated data (so a sealed blob cannot be moved
//! onto someone else). Destroying the key erases the person everywhere the
//! events went, including Automerge history, which cannot be purged.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use qafila_domain::event::SealedPersonalData;
use qafila_domain::ids::BeneficiaryId;

use crate::error::StoreError;

/// Bytes of a key.
pub const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;

/// The personal fields of a beneficiary.
#[derive(Clone, PartialEq, Eq)]
pub struct Personal {
    /// Full name as written.
    pub name: String,
    /// National ID, canonical 14 digits.
    pub national_id: Option<String>,
    /// Phone number.
    pub phone: Option<String>,
}

impl std::fmt::Debug for Personal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Personal(<redacted>)")
    }
}

/// Fills a buffer from the OS random source.
pub fn random<const N: usize>() -> Result<[u8; N], StoreError> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).map_err(|e| StoreError::Random(e.to_string()))?;
    Ok(out)
}

fn put(out: &mut Vec<u8>, field: Option<&str>) {
    match field {
        None => out.push(0),
        Some(s) => {
            out.push(1);
            out.extend_from_slice(&u32::try_from(s.len()).unwrap_or(u32::MAX).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }
    }
}

fn take(input: &mut &[u8]) -> Option<Option<String>> {
    let (&flag, rest) = input.split_first()?;
    *input = rest;
    if flag == 0 {
        return Some(None);
    }
    let len = usize::try_from(u32::from_le_bytes(input.get(..4)?.try_into().ok()?)).ok()?;
    let text = input.get(4..4 + len)?;
    let s = String::from_utf8(text.to_vec()).ok()?;
    *input = &input[4 + len..];
    Some(Some(s))
}

/// Seals `personal` for `beneficiary` under `key`.
pub fn seal(
    key: &[u8; KEY_LEN],
    beneficiary: BeneficiaryId,
    personal: &Personal,
) -> Result<SealedPersonalData, StoreError> {
    let mut plain = Vec::with_capacity(64);
    put(&mut plain, Some(&personal.name));
    put(&mut plain, personal.national_id.as_deref());
    put(&mut plain, personal.phone.as_deref());
    let nonce: [u8; NONCE_LEN] = random()?;
    let cipher = XChaCha20Poly1305::new(key.into());
    let aad = beneficiary.to_bytes();
    let sealed = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: &plain,
                aad: &aad,
            },
        )
        .map_err(|_| StoreError::Seal)?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    Ok(SealedPersonalData(out))
}

/// Opens sealed personal data; fails on a wrong key, another person's blob
/// or tampering.
pub fn open(
    key: &[u8; KEY_LEN],
    beneficiary: BeneficiaryId,
    sealed: &SealedPersonalData,
) -> Result<Personal, StoreError> {
    let (nonce, body) = sealed
        .0
        .split_at_checked(NONCE_LEN)
        .ok_or(StoreError::Seal)?;
    let cipher = XChaCha20Poly1305::new(key.into());
    let aad = beneficiary.to_bytes();
    let plain = cipher
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: body,
                aad: &aad,
            },
        )
        .map_err(|_| StoreError::Seal)?;
    let mut input = plain.as_slice();
    let name = take(&mut input).flatten().ok_or(StoreError::Seal)?;
    let national_id = take(&mut input).ok_or(StoreError::Seal)?;
    let phone = take(&mut input).ok_or(StoreError::Seal)?;
    Ok(Personal {
        name,
        national_id,
        phone,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_data_opens_only_with_its_key_and_its_owner() {
        let key = [7u8; KEY_LEN];
        let who = BeneficiaryId::from_parts(1, [1; 10]);
        let personal = Personal {
            name: "فاطمة السيد عبد الله".into(),
            national_id: Some("29001150101235".into()),
            phone: None,
        };
        let sealed = seal(&key, who, &personal).unwrap();
        assert!(
            !sealed
                .0
                .windows(5)
                .any(|w| w == "فاطمة".as_bytes().get(..5).unwrap())
        );
        assert_eq!(open(&key, who, &sealed).unwrap(), personal);
        assert!(open(&[8u8; KEY_LEN], who, &sealed).is_err());
        assert!(open(&key, BeneficiaryId::from_parts(1, [2; 10]), &sealed).is_err());
        let mut tampered = sealed.clone();
        let last = tampered.0.len() - 1;
        tampered.0[last] ^= 1;
        assert!(open(&key, who, &tampered).is_err());
        assert!(open(&key, who, &SealedPersonalData(vec![1, 2, 3])).is_err());
    }
}
