//! Undoing an Arabic keyboard layout on keyboard-wedge scanner input.
//!
//! A barcode scanner in keyboard mode does not send characters: it sends the
//! key presses a US keyboard would need to type them. With the Arabic (101)
//! layout active (Windows "Arabic (101)", Linux/XKB `ara`), each key then
//! types its Arabic character: `QF1…` arrives as `ضب1…`, or, since the
//! scanner holds Shift for uppercase letters, as `َ[1…`. Some scanners also
//! send digits that the layout turns into Eastern Arabic (`٠`–`٩`) or
//! Persian (`۰`–`۹`) digits.
//!
//! [`normalize_scanned`] maps every character of both Arabic layers back to
//! the Latin key, maps both digit sets to ASCII, drops whitespace and bidi or
//! zero-width formatting marks, and uppercases ASCII.
//!
//! **The lam ambiguity.** The `B` key types the lam-alef ligature, as the
//! single character U+FEFB or as the two characters `ل` (U+0644) `ا`
//! (U+0627), and the latter is exactly what `G` then `H` types. Shift+`T`,
//! Shift+`G` and Shift+`B` likewise type `ل` followed by `إ`, `أ` or `آ`,
//! which `G` followed by Shift+`Y`, Shift+`H` or Shift+`N` also types. Rather
//! than guessing, the card alphabet ([`crate::base32`]) contains neither `G`
//! nor `B`: a lone `ل` never belongs to a card, so `ل` followed by an alef
//! is always read as one ligature key (`ل` `ا` and `ل` `آ` as `B`, `ل` `إ` as
//! `T`, `ل` `أ` as `G`), and a card needing `GH` cannot exist. The prefix
//! `QF1` is unaffected (`ض`/`َ`, `ب`/`[`, `1`).
//!
//! The shifted layer follows XKB `ara`, which matches Windows Arabic (101)
//! except for quotes (Windows types `‘` and `’` where XKB types `` ` `` and
//! `'`; both are mapped). The ASCII punctuation the shifted layer produces
//! (`[ ] { } / ~ ' "`…) never occurs in a card text, so mapping it back to
//! letters cannot turn a valid Latin-layout scan into something else.

/// Maps scanner input typed under an Arabic layout back to the Latin text
/// the scanner meant; see the [module documentation](self).
///
/// Idempotent, and the identity on uppercase card texts.
pub fn normalize_scanned(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    let mut chars = input.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_whitespace() || is_format_mark(c) {
            continue;
        }
        if c == '\u{0644}' {
            // Lam: the first half of a decomposed lam-alef ligature key, or
            // the `G` key on its own.
            let key = match chars.peek() {
                Some('\u{0627}' | '\u{0622}') => 'B',
                Some('\u{0625}') => 'T',
                Some('\u{0623}') => 'G',
                _ => {
                    out.push('G');
                    continue;
                }
            };
            chars.next();
            out.push(key);
            continue;
        }
        out.push(latin_key(c));
    }
    out
}

/// Bidi controls and zero-width characters some apps wrap scanned text in.
fn is_format_mark(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'..='\u{200F}'
            | '\u{061C}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}'
    )
}

/// The Latin key (uppercased) that types `c` on the Arabic (101) layout, or
/// `c` itself (ASCII uppercased) when no key does.
fn latin_key(c: char) -> char {
    match c {
        // Eastern Arabic and Persian digits.
        '\u{0660}'..='\u{0669}' => digit(u32::from(c) - 0x0660),
        '\u{06F0}'..='\u{06F9}' => digit(u32::from(c) - 0x06F0),
        // Unshifted layer.
        'ض' => 'Q',
        'ص' => 'W',
        'ث' => 'E',
        'ق' => 'R',
        'ف' => 'T',
        'غ' => 'Y',
        'ع' => 'U',
        'ه' => 'I',
        'خ' => 'O',
        'ح' => 'P',
        'ش' => 'A',
        'س' => 'S',
        'ي' => 'D',
        'ب' => 'F',
        // 'ل' (G) is handled by the caller.
        'ا' => 'H',
        'ت' => 'J',
        'ن' => 'K',
        'م' => 'L',
        'ئ' => 'Z',
        'ء' => 'X',
        'ؤ' => 'C',
        'ر' => 'V',
        // Lam-alef ligature, isolated and final forms.
        '\u{FEFB}' | '\u{FEFC}' => 'B',
        'ى' => 'N',
        'ة' => 'M',
        // Shifted layer.
        '\u{064E}' => 'Q',              // fatha
        '\u{064B}' => 'W',              // fathatan
        '\u{064F}' => 'E',              // damma
        '\u{064C}' => 'R',              // dammatan
        '\u{FEF9}' | '\u{FEFA}' => 'T', // lam-alef with hamza below
        'إ' => 'Y',
        '`' | '\u{2018}' => 'U',
        '÷' => 'I',
        '×' => 'O',
        '؛' => 'P',
        '\u{0650}' => 'A', // kasra
        '\u{064D}' => 'S', // kasratan
        ']' => 'D',
        '[' => 'F',
        '\u{FEF7}' | '\u{FEF8}' => 'G', // lam-alef with hamza above
        'أ' => 'H',
        'ـ' => 'J', // tatweel
        '،' => 'K',
        '/' => 'L',
        '~' => 'Z',
        '\u{0652}' => 'X', // sukun
        '}' => 'C',
        '{' => 'V',
        '\u{FEF5}' | '\u{FEF6}' => 'B', // lam-alef with madda
        'آ' => 'N',
        '\'' | '\u{2019}' => 'M',
        other => other.to_ascii_uppercase(),
    }
}

fn digit(value: u32) -> char {
    char::from_digit(value, 10).unwrap_or('?')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unshifted_and_shifted_prefix() {
        assert_eq!(normalize_scanned("ضب1"), "QF1");
        assert_eq!(normalize_scanned("\u{064E}[١"), "QF1");
        assert_eq!(normalize_scanned("qf۱"), "QF1");
    }

    #[test]
    fn lam_alef_in_both_forms() {
        assert_eq!(normalize_scanned("\u{FEFB}"), "B");
        assert_eq!(normalize_scanned("لا"), "B");
        assert_eq!(normalize_scanned("لإ"), "T");
        assert_eq!(normalize_scanned("\u{FEF9}"), "T");
        assert_eq!(normalize_scanned("لآ"), "B");
        assert_eq!(normalize_scanned("لأ"), "G");
        assert_eq!(normalize_scanned("لم"), "GL");
        assert_eq!(normalize_scanned("ل"), "G");
    }

    #[test]
    fn strips_whitespace_and_marks_and_is_idempotent() {
        let input = "\u{200F} ضب\r\n1\u{202B}ش\u{2066}\u{061C}٩\t";
        let once = normalize_scanned(input);
        assert_eq!(once, "QF1A9");
        assert_eq!(normalize_scanned(&once), once);
    }

    #[test]
    fn every_arabic_digit() {
        assert_eq!(normalize_scanned("٠١٢٣٤٥٦٧٨٩"), "0123456789");
        assert_eq!(normalize_scanned("۰۱۲۳۴۵۶۷۸۹"), "0123456789");
    }
}
