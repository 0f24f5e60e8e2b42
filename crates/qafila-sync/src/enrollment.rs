//! Enrollment a relay cannot subvert (`SECURITY.md`): codes that carry an
//! 80-bit invite secret and 80 bits of the lead key's fingerprint, the
//! lookup hash the relay stores instead of the secret, the binding an
//! enrolling device makes of its keys with the secret, and the
//! fingerprints people compare on two screens.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::SyncError;
use crate::crypto::{self, CryptoError};

/// Crockford-like base32: no I, L, O or U, so a code typed from paper
/// survives common misreadings.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Characters of the invite secret (80 bits).
const SECRET_CHARS: usize = 16;
/// Characters of the lead key's fingerprint in a code (80 bits).
const LEAD_CHARS: usize = 16;
/// Characters of a device fingerprint (100 bits).
const DEVICE_CHARS: usize = 20;

fn base32(bytes: &[u8], chars: usize) -> String {
    let mut bits = 0u64;
    let mut count = 0;
    let mut out = String::with_capacity(chars);
    for byte in bytes {
        if out.len() == chars {
            break;
        }
        bits = (bits << 8) | u64::from(*byte);
        count += 8;
        while count >= 5 && out.len() < chars {
            count -= 5;
            out.push(char::from(ALPHABET[((bits >> count) & 31) as usize]));
        }
        bits &= (1 << count) - 1;
    }
    out
}

fn grouped(text: &str) -> String {
    text.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}

/// Reads what a person typed or a QR code held: case, dashes and spaces do
/// not matter, and O/I/L read as 0/1.
fn normalise(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            c => c,
        })
        .collect()
}

/// The lead key's fingerprint as a code carries it.
pub fn lead_fingerprint(lead_signing: &[u8; 32]) -> String {
    base32(&Sha256::digest(lead_signing), LEAD_CHARS)
}

/// A device's fingerprint, shown on its own screen after enrolling and
/// beside it on the lead's list: `ABCD-EFGH-JKMN-PQRS-TVWX`.
pub fn device_fingerprint(device: &[u8; 16], signing: &[u8; 32], encryption: &[u8; 32]) -> String {
    let mut hash = Sha256::new();
    hash.update(b"qafila-device-v1");
    hash.update(device);
    hash.update(signing);
    hash.update(encryption);
    grouped(&base32(&hash.finalize(), DEVICE_CHARS))
}

/// Whether `typed` is the fingerprint `expected` (however it was typed).
pub fn same_fingerprint(typed: &str, expected: &str) -> bool {
    let typed = normalise(typed);
    !typed.is_empty() && typed == normalise(expected)
}

/// A new enrollment code and its secret part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Code {
    /// What the lead hands out: `XXXX-XXXX-…` (8 groups).
    pub text: String,
    /// The invite secret (16 characters).
    pub secret: String,
}

impl Code {
    /// A fresh code for a convoy led by `lead_signing`.
    pub fn new(lead_signing: &[u8; 32]) -> Result<Code, CryptoError> {
        let secret = base32(&crypto::random::<10>()?, SECRET_CHARS);
        let text = grouped(&format!("{secret}{}", lead_fingerprint(lead_signing)));
        Ok(Code { text, secret })
    }

    /// Reads a typed or scanned code: its secret and lead fingerprint.
    pub fn parse(text: &str) -> Result<(String, String), SyncError> {
        let clean = normalise(text);
        if clean.len() == 16 && clean.bytes().all(|b| ALPHABET.contains(&b)) {
            return Err(SyncError::BadCode(format!(
                "{} (a code from an earlier version: ask the convoy lead for a new one)",
                text.trim()
            )));
        }
        if clean.len() != SECRET_CHARS + LEAD_CHARS || !clean.bytes().all(|b| ALPHABET.contains(&b))
        {
            return Err(SyncError::BadCode(text.trim().to_owned()));
        }
        let (secret, lead) = clean.split_at(SECRET_CHARS);
        Ok((secret.to_owned(), lead.to_owned()))
    }
}

/// What the relay stores to find an invite: it cannot recover the secret.
pub fn lookup(secret: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(b"qafila-invite-lookup-v1");
    hash.update(secret.as_bytes());
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The enrolling device's binding of its id, name and keys to the invite
/// secret: only the lead, who kept the secret, can check it.
pub fn binding(
    secret: &str,
    device: &[u8; 16],
    name: &str,
    signing: &[u8; 32],
    encryption: &[u8; 32],
) -> [u8; 32] {
    let mut key = Sha256::new();
    key.update(b"qafila-invite-bind-v1");
    key.update(secret.as_bytes());
    let key = key.finalize();
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap_or_else(|_| {
        // HMAC takes any key length: this branch cannot run.
        <Hmac<Sha256> as Mac>::new_from_slice(&[0; 32]).unwrap_or_else(|_| unreachable!())
    });
    mac.update(b"qafila-enroll-v1");
    mac.update(device);
    mac.update(signing);
    mac.update(encryption);
    mac.update(name.as_bytes());
    mac.finalize().into_bytes().into()
}

/// Compares two bindings in constant time.
pub fn same_binding(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Reads an invite link, `qafila:enroll?relay=<percent-encoded>&code=<code>`
/// (what the lead's QR code holds): the relay's address, with its
/// certificate pin when it has one, and the code.
pub fn parse_invite(link: &str) -> Result<(String, String), SyncError> {
    let bad = || SyncError::BadCode(format!("{} (not an invite link)", link.trim()));
    let query = link.trim().strip_prefix("qafila:enroll?").ok_or_else(bad)?;
    let decode = |text: &str| -> Option<String> {
        let bytes = text.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'%' => {
                    let pair = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                    out.push(u8::from_str_radix(pair, 16).ok()?);
                    i += 3;
                }
                b'+' => {
                    out.push(b' ');
                    i += 1;
                }
                other => {
                    out.push(other);
                    i += 1;
                }
            }
        }
        String::from_utf8(out).ok()
    };
    let (mut relay, mut code) = (None, None);
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("relay", value)) => relay = decode(value),
            Some(("code", value)) => code = decode(value),
            _ => {}
        }
    }
    match (relay, code) {
        (Some(relay), Some(code)) if !relay.is_empty() && !code.is_empty() => Ok((relay, code)),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invite_link_carries_the_relay_with_its_pin_and_the_code() {
        let pin = "0f".repeat(32);
        let link = format!(
            "qafila:enroll?relay=https%3A%2F%2F192.168.43.1%3A8443%23sha256%3D{pin}&code=ABCD-EFGH"
        );
        assert_eq!(
            parse_invite(&link).unwrap(),
            (
                format!("https://192.168.43.1:8443#sha256={pin}"),
                "ABCD-EFGH".to_owned()
            )
        );
        assert!(parse_invite("qafila:enroll?code=X").is_err());
        assert!(parse_invite("https://example.org").is_err());
        assert!(parse_invite("qafila:enroll?relay=%ZZ&code=X").is_err());
    }

    #[test]
    fn codes_carry_an_80_bit_secret_and_80_bits_of_the_lead_key() {
        let code = Code::new(&[7; 32]).unwrap();
        assert_eq!(code.text.len(), 32 + 7, "8 groups of 4: {}", code.text);
        let messy = code.text.to_lowercase().replace('-', " ").replace('0', "o");
        let (secret, lead) = Code::parse(&messy).unwrap();
        assert_eq!(secret, code.secret);
        assert_eq!(lead, lead_fingerprint(&[7; 32]));
        assert_ne!(lead, lead_fingerprint(&[8; 32]));
        assert!(
            Code::parse("ABCDE-FGHJK-MNPQRS")
                .unwrap_err()
                .to_string()
                .contains("earlier version")
        );
        assert!(Code::parse("nonsense").is_err());
        let other = Code::new(&[7; 32]).unwrap();
        assert_ne!(other.secret, code.secret, "a fresh secret each time");
    }

    #[test]
    fn the_relay_learns_a_lookup_it_cannot_turn_into_a_binding() {
        let secret = "0123456789ABCDEF";
        let bound = binding(secret, &[1; 16], "تابلت", &[2; 32], &[3; 32]);
        assert!(same_binding(
            &bound,
            &binding(secret, &[1; 16], "تابلت", &[2; 32], &[3; 32])
        ));
        // Any swapped key, id or name, or another secret, gives another binding.
        for other in [
            binding(secret, &[9; 16], "تابلت", &[2; 32], &[3; 32]),
            binding(secret, &[1; 16], "تابلت ٢", &[2; 32], &[3; 32]),
            binding(secret, &[1; 16], "تابلت", &[9; 32], &[3; 32]),
            binding(secret, &[1; 16], "تابلت", &[2; 32], &[9; 32]),
            binding("0123456789ABCDEG", &[1; 16], "تابلت", &[2; 32], &[3; 32]),
        ] {
            assert!(!same_binding(&bound, &other));
        }
        assert_eq!(lookup(secret).len(), 64);
        assert_ne!(lookup(secret), lookup("0123456789ABCDEG"));
    }

    #[test]
    fn device_fingerprints_are_100_bits_in_five_groups_and_read_forgivingly() {
        let fp = device_fingerprint(&[1; 16], &[2; 32], &[3; 32]);
        assert_eq!(fp.len(), 24);
        assert_eq!(fp.split('-').count(), 5);
        assert!(same_fingerprint(&fp.to_lowercase().replace('-', " "), &fp));
        assert!(!same_fingerprint("", &fp));
        assert_ne!(fp, device_fingerprint(&[1; 16], &[2; 32], &[4; 32]));
    }
}
