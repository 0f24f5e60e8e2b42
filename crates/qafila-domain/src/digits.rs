//! Digits as people type and read them: Western (`0-9`), Eastern Arabic
//! (`٠-٩`, what Egyptian screens show) and Persian (`۰-۹`, what some
//! keyboards type).

/// `text` with Eastern Arabic and Persian digits turned Western.
pub fn to_western(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\u{0660}'..='\u{0669}' => shift(c, 0x0660, '0'),
            '\u{06F0}'..='\u{06F9}' => shift(c, 0x06F0, '0'),
            _ => c,
        })
        .collect()
}

/// `text` with Western digits turned Eastern Arabic.
pub fn to_eastern(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '0'..='9' => shift(c, u32::from('0'), '\u{0660}'),
            _ => c,
        })
        .collect()
}

fn shift(c: char, from: u32, to: char) -> char {
    char::from_u32(u32::from(to) + (u32::from(c) - from)).unwrap_or(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_go_both_ways() {
        assert_eq!(to_western("٢٠٢٦-١٠-٢٩"), "2026-10-29");
        assert_eq!(to_western("۲۰۲۶"), "2026");
        assert_eq!(
            to_eastern("2026-10-29 23:40 +03:00"),
            "٢٠٢٦-١٠-٢٩ ٢٣:٤٠ +٠٣:٠٠"
        );
        assert_eq!(to_western(&to_eastern("0123456789")), "0123456789");
    }
}
