//! Arabic name matching for registrars: normalised keys and duplicate scores.
//!
//! Registrars import beneficiary lists typed by many hands: with and without
//! hamzas, `ة` or `ه`, `ى` or `ي`, diacritics, tatweel, text pasted from PDFs in
//! presentation forms, Eastern Arabic digits, stray bidi marks, and compound
//! names written as one word or two. The original spelling is always kept for
//! display; this module only produces *matching keys*.
//!
//! Key types and functions:
//! - [`NameKey`]: the normalised key of a name, built by [`NameKey::new`]. Two
//!   spellings of the same name that differ only in writing conventions get
//!   the same key. The key is idempotent: `NameKey::new(key.as_str()) == key`.
//! - [`similarity`]: a score in `0.0..=1.0` for duplicate detection among the
//!   usual Egyptian four-part names (given name, father, grandfather, family),
//!   tolerant of a missing middle name, a dropped `ال` and small spelling
//!   differences, but strict on the given name so that brothers do not look
//!   like one person.
//! - [`LIKELY_DUPLICATE`] and [`is_likely_duplicate`]: the threshold the
//!   registrar's duplicate list uses.

use std::cmp::Ordering;
use std::fmt;

/// The normalised matching key of a person's name.
///
/// Tokens are separated by single ASCII spaces, with no leading or trailing
/// space; an input with no letters or digits gives the empty key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NameKey(String);

impl NameKey {
    /// Normalises `name` into its matching key. Never fails: anything that is
    /// not a letter or a digit becomes a word break or disappears.
    pub fn new(name: &str) -> Self {
        let mut folded = String::with_capacity(name.len());
        for c in name.chars() {
            // Lower-casing first means every later rule sees one case, and the
            // (rare) characters whose lower case is several characters are
            // folded one by one like any other input.
            for lower in c.to_lowercase() {
                push_char(lower, &mut folded);
            }
        }
        let tokens = join_compounds(folded.split(' ').filter(|t| !t.is_empty()));
        NameKey(tokens.join(" "))
    }

    /// The key as text, e.g. for a normalised-name column with an index.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key's tokens (words) in order.
    pub fn tokens(&self) -> std::str::SplitAsciiWhitespace<'_> {
        self.0.split_ascii_whitespace()
    }

    /// Whether the name had no letters or digits at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for NameKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for NameKey {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

// ---------------------------------------------------------------------------
// Character folding
// ---------------------------------------------------------------------------

/// Arabic presentation forms (U+FB50–U+FDFF, U+FE70–U+FEFF) and the base
/// letters they stand for, as inclusive ranges sorted by code point.
///
/// Why: text copied out of PDFs and old systems often arrives as contextual
/// glyph forms (initial, medial, final, isolated) instead of letters, so
/// `ﻣﺤﻤﺪ` must read as `محمد`. An empty replacement drops the character (marks
/// and vowel signs in their presentation forms). The results go through the
/// ordinary letter folding afterwards, so `ﺃ` becomes `ا` like `أ` does.
/// Multi-letter ligatures of U+FC00–U+FDFF other than `ﷲ` are left alone: they
/// do not occur in typed names.
const PRESENTATION_FORMS: &[(char, char, &str)] = &[
    ('\u{FB50}', '\u{FB51}', "ٱ"),
    ('\u{FB52}', '\u{FB55}', "ٻ"),
    ('\u{FB56}', '\u{FB59}', "پ"),
    ('\u{FB5A}', '\u{FB5D}', "ڀ"),
    ('\u{FB5E}', '\u{FB61}', "ٺ"),
    ('\u{FB62}', '\u{FB65}', "ٿ"),
    ('\u{FB66}', '\u{FB69}', "ٹ"),
    ('\u{FB6A}', '\u{FB6D}', "ڤ"),
    ('\u{FB6E}', '\u{FB71}', "ڦ"),
    ('\u{FB72}', '\u{FB75}', "ڄ"),
    ('\u{FB76}', '\u{FB79}', "ڃ"),
    ('\u{FB7A}', '\u{FB7D}', "چ"),
    ('\u{FB7E}', '\u{FB81}', "ڇ"),
    ('\u{FB82}', '\u{FB83}', "ڍ"),
    ('\u{FB84}', '\u{FB85}', "ڌ"),
    ('\u{FB86}', '\u{FB87}', "ڎ"),
    ('\u{FB88}', '\u{FB89}', "ڈ"),
    ('\u{FB8A}', '\u{FB8B}', "ژ"),
    ('\u{FB8C}', '\u{FB8D}', "ڑ"),
    ('\u{FB8E}', '\u{FB91}', "ک"),
    ('\u{FB92}', '\u{FB95}', "گ"),
    ('\u{FB96}', '\u{FB99}', "ڳ"),
    ('\u{FB9A}', '\u{FB9D}', "ڱ"),
    ('\u{FB9E}', '\u{FB9F}', "ں"),
    ('\u{FBA0}', '\u{FBA3}', "ڻ"),
    ('\u{FBA4}', '\u{FBA5}', "ۀ"),
    ('\u{FBA6}', '\u{FBA9}', "ہ"),
    ('\u{FBAA}', '\u{FBAD}', "ھ"),
    ('\u{FBAE}', '\u{FBAF}', "ے"),
    ('\u{FBB0}', '\u{FBB1}', "ۓ"),
    // Decorative dots and small letters written above or below: marks.
    ('\u{FBB2}', '\u{FBC2}', ""),
    ('\u{FBD3}', '\u{FBD6}', "ڭ"),
    ('\u{FBD7}', '\u{FBD8}', "ۇ"),
    ('\u{FBD9}', '\u{FBDA}', "ۆ"),
    ('\u{FBDB}', '\u{FBDC}', "ۈ"),
    ('\u{FBDD}', '\u{FBDD}', "ۇ"),
    ('\u{FBDE}', '\u{FBDF}', "ۋ"),
    ('\u{FBE0}', '\u{FBE1}', "ۅ"),
    ('\u{FBE2}', '\u{FBE3}', "ۉ"),
    ('\u{FBE4}', '\u{FBE7}', "ې"),
    ('\u{FBE8}', '\u{FBE9}', "ى"),
    // Uighur ligatures of yeh-with-hamza and a vowel letter.
    ('\u{FBEA}', '\u{FBEB}', "ئا"),
    ('\u{FBEC}', '\u{FBED}', "ئە"),
    ('\u{FBEE}', '\u{FBEF}', "ئو"),
    ('\u{FBF0}', '\u{FBF1}', "ئۇ"),
    ('\u{FBF2}', '\u{FBF3}', "ئۆ"),
    ('\u{FBF4}', '\u{FBF5}', "ئۈ"),
    ('\u{FBF6}', '\u{FBF8}', "ئې"),
    ('\u{FBF9}', '\u{FBFB}', "ئى"),
    ('\u{FBFC}', '\u{FBFF}', "ی"),
    // Shadda with a short vowel, isolated and medial: diacritics only.
    ('\u{FC5E}', '\u{FC63}', ""),
    ('\u{FCF2}', '\u{FCF4}', ""),
    // The word "Allah" as one glyph, common in names such as عبد ﷲ.
    ('\u{FDF2}', '\u{FDF2}', "الله"),
    // Vowel signs and tatweel combinations in presentation form.
    ('\u{FE70}', '\u{FE7F}', ""),
    ('\u{FE80}', '\u{FE80}', "ء"),
    ('\u{FE81}', '\u{FE82}', "آ"),
    ('\u{FE83}', '\u{FE84}', "أ"),
    ('\u{FE85}', '\u{FE86}', "ؤ"),
    ('\u{FE87}', '\u{FE88}', "إ"),
    ('\u{FE89}', '\u{FE8C}', "ئ"),
    ('\u{FE8D}', '\u{FE8E}', "ا"),
    ('\u{FE8F}', '\u{FE92}', "ب"),
    ('\u{FE93}', '\u{FE94}', "ة"),
    ('\u{FE95}', '\u{FE98}', "ت"),
    ('\u{FE99}', '\u{FE9C}', "ث"),
    ('\u{FE9D}', '\u{FEA0}', "ج"),
    ('\u{FEA1}', '\u{FEA4}', "ح"),
    ('\u{FEA5}', '\u{FEA8}', "خ"),
    ('\u{FEA9}', '\u{FEAA}', "د"),
    ('\u{FEAB}', '\u{FEAC}', "ذ"),
    ('\u{FEAD}', '\u{FEAE}', "ر"),
    ('\u{FEAF}', '\u{FEB0}', "ز"),
    ('\u{FEB1}', '\u{FEB4}', "س"),
    ('\u{FEB5}', '\u{FEB8}', "ش"),
    ('\u{FEB9}', '\u{FEBC}', "ص"),
    ('\u{FEBD}', '\u{FEC0}', "ض"),
    ('\u{FEC1}', '\u{FEC4}', "ط"),
    ('\u{FEC5}', '\u{FEC8}', "ظ"),
    ('\u{FEC9}', '\u{FECC}', "ع"),
    ('\u{FECD}', '\u{FED0}', "غ"),
    ('\u{FED1}', '\u{FED4}', "ف"),
    ('\u{FED5}', '\u{FED8}', "ق"),
    ('\u{FED9}', '\u{FEDC}', "ك"),
    ('\u{FEDD}', '\u{FEE0}', "ل"),
    ('\u{FEE1}', '\u{FEE4}', "م"),
    ('\u{FEE5}', '\u{FEE8}', "ن"),
    ('\u{FEE9}', '\u{FEEC}', "ه"),
    ('\u{FEED}', '\u{FEEE}', "و"),
    ('\u{FEEF}', '\u{FEF0}', "ى"),
    ('\u{FEF1}', '\u{FEF4}', "ي"),
    // Lam-alef ligatures are two letters, lam then (hamza'd) alef.
    ('\u{FEF5}', '\u{FEF6}', "لآ"),
    ('\u{FEF7}', '\u{FEF8}', "لأ"),
    ('\u{FEF9}', '\u{FEFA}', "لإ"),
    ('\u{FEFB}', '\u{FEFC}', "لا"),
];

/// The base letters a presentation form stands for, if `c` is one.
fn presentation_base(c: char) -> Option<&'static str> {
    let found = PRESENTATION_FORMS.binary_search_by(|&(lo, hi, _)| {
        if hi < c {
            Ordering::Less
        } else if lo > c {
            Ordering::Greater
        } else {
            Ordering::Equal
        }
    });
    found.ok().map(|i| PRESENTATION_FORMS[i].2)
}

/// Folds one lower-cased character into `out`.
fn push_char(c: char, out: &mut String) {
    match presentation_base(c) {
        Some(base) => base.chars().for_each(|b| push_folded(b, out)),
        None => push_folded(c, out),
    }
}

/// What a single (non-presentation-form) character becomes in a key.
enum Folded {
    /// Invisible for matching: removed without breaking the word.
    Drop,
    /// A word break.
    Break,
    /// A letter or digit of the key.
    Keep(char),
}

fn fold_char(c: char) -> Folded {
    match c {
        // Harakat, shadda, sukun, hamza and madda marks (U+064B–U+065F), the
        // superscript (dagger) alef U+0670 and Quranic annotation marks: they
        // are optional in everyday writing, so one writer's `مُحَمَّد` is
        // another's `محمد`.
        '\u{064B}'..='\u{065F}'
        | '\u{0670}'
        | '\u{0610}'..='\u{061A}'
        | '\u{06D6}'..='\u{06ED}' => Folded::Drop,
        // Tatweel only stretches a word for layout (`محـــمد`).
        '\u{0640}' => Folded::Drop,
        // Zero-width and bidi controls come from copy-paste between RTL and
        // LTR fields; they are invisible and must not split or change a name.
        '\u{200B}'..='\u{200F}'
        | '\u{061C}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{2069}'
        | '\u{FEFF}'
        | '\u{00AD}'
        | '\u{180E}' => Folded::Drop,
        // Latin combining accents: `é` typed as `e` + U+0301 matches `e`.
        '\u{0300}'..='\u{036F}' => Folded::Drop,
        // A standalone hamza (also the high hamza U+0674) is the most often
        // omitted letter: `علاء` / `علا`, `شيماء` / `شيما`, `رءوف` / `روف`.
        'ء' | '\u{0674}' => Folded::Drop,
        // Alef with hamza above or below, with madda, wasla and the rarer
        // wavy/high-hamza forms: Egyptians rarely write the hamza, so
        // `أحمد`, `إسراء`, `آمال` are usually typed `احمد`, `اسراء`, `امال`.
        'أ' | 'إ' | 'آ' | 'ٱ' | 'ٲ' | 'ٳ' | 'ٵ' => Folded::Keep('ا'),
        // Final alef maqsura and yeh are written interchangeably in Egypt
        // (`مصطفى` / `مصطفي`, `على` / `علي`); yeh with hamza seat is typed
        // without it (`هانئ` / `هاني`, `عائشة` / `عايشة`); the Persian yeh
        // U+06CC comes from Persian/Urdu keyboards and looks the same.
        'ى' | 'ئ' | 'ی' | 'ٸ' => Folded::Keep('ي'),
        // Teh marbuta is written as heh in everyday Egyptian spelling
        // (`فاطمة` / `فاطمه`).
        'ة' => Folded::Keep('ه'),
        // Waw with hamza seat is typed without it (`فؤاد` / `فواد`).
        'ؤ' | 'ٶ' => Folded::Keep('و'),
        // Persian/Urdu keyboard letters that look like Arabic ones: keheh
        // and gaf for kaf, veh (used for foreign "v") for feh.
        'ک' | 'گ' => Folded::Keep('ك'),
        'ڤ' => Folded::Keep('ف'),
        // National IDs and house numbers are often typed with Eastern Arabic
        // or Persian digits; a digit is a digit.
        '٠'..='٩' => Folded::Keep(ascii_digit(c as u32 - 0x0660)),
        '۰'..='۹' => Folded::Keep(ascii_digit(c as u32 - 0x06F0)),
        // Full-width Latin digits and letters from East Asian input methods.
        '０'..='９' => Folded::Keep(ascii_digit(c as u32 - 0xFF10)),
        'ａ'..='ｚ' => Folded::Keep(char::from_u32(c as u32 - 0xFF41 + 0x61).unwrap_or(' ')),
        // Letters and digits of any script stay (Latin is lower-cased by the
        // caller); everything else -- spaces, punctuation such as `،` `؛` `؟`,
        // dots, hyphens, quotes, brackets, symbols -- separates words.
        c if c.is_alphanumeric() => Folded::Keep(c),
        _ => Folded::Break,
    }
}

fn ascii_digit(value: u32) -> char {
    char::from_digit(value, 10).unwrap_or('0')
}

/// Folds one base character into `out`.
///
/// Doubled `و` and `ي` collapse to one. Why: the same name is written with
/// one or two (`داود` / `داوود`, `يحيى` / `يحي`, `محيي` / `محي`, and `رؤوف`
/// folds to `رووف` while `رءوف` folds to `روف`), and standard spelling never
/// distinguishes two names by that doubling alone.
fn push_folded(c: char, out: &mut String) {
    match fold_char(c) {
        Folded::Drop => {}
        Folded::Break => out.push(' '),
        Folded::Keep(k) => {
            if (k == 'و' || k == 'ي') && out.ends_with(k) {
                return;
            }
            out.push(k);
        }
    }
}

// ---------------------------------------------------------------------------
// Compound names
// ---------------------------------------------------------------------------

/// Words that follow `عبد` without an article yet form one name: `عبد ربه`
/// (often spelled `عبد ربو` in Egypt).
const ABD_WITHOUT_ARTICLE: &[&str] = &["رب", "ربه", "ربو"];

/// Joins the parts of compound names into one token each.
///
/// Why: a compound is one given name, but registrars write it as one word or
/// two (`عبد الرحمن` / `عبدالرحمن`, `أبو بكر` / `ابوبكر`, `نور الدين` /
/// `نورالدين`). Counting it as two tokens would also make `عبد الله محمد` look
/// like a four-part name whose given name is just `عبد`, shared by every
/// `عبد ...` in the registry.
///
/// The rules look only at the token just produced and the incoming one, so a
/// key run through them again does not change (see the idempotence tests).
fn join_compounds<'a>(tokens: impl Iterator<Item = &'a str>) -> Vec<String> {
    // A detached article belongs to the next word: `ال شربيني` is a typo of
    // `الشربيني`. Done first so the rules below see whole words; a trailing
    // `ال` with nothing after it stays as it is.
    let mut words: Vec<String> = Vec::new();
    for t in tokens {
        match words.last_mut() {
            Some(last) if last == "ال" => last.push_str(t),
            _ => words.push(t.to_owned()),
        }
    }

    let mut out: Vec<String> = Vec::with_capacity(words.len());
    for t in words {
        let Some(last) = out.last_mut() else {
            out.push(t);
            continue;
        };
        if last == "عبد" && (t.starts_with("ال") || ABD_WITHOUT_ARTICLE.contains(&t.as_str()))
        {
            // `عبد` + one of God's names (`الله`, `الرحمن`, `العزيز`,
            // `الحميد`, `المنعم`, ...), or a saint's in Coptic names
            // (`عبد المسيح`): always one given name.
            last.push_str(&t);
        } else if last == "عبدال" {
            // `عبدال رحمن`: the article was glued to the wrong side.
            let rest = t.strip_prefix("ال").filter(|r| !r.is_empty());
            last.push_str(rest.unwrap_or(&t));
        } else if (t == "الدين" || t == "الله") && last != "محمد" {
            // `نور الدين`, `سيف الدين`, `علاء الدين`, `عز الدين`, `محيي الدين`,
            // and family names such as `فتح الله`, `عطا الله`, `جاد الله`.
            // `محمد` is never the first half of a compound: it is always a
            // given name of its own.
            last.push_str(&t);
        } else if last == "ابو" {
            // Kunya names and family names (`أبو بكر`, `أبو العلا`,
            // `أبو زيد`) are written joined as often as not. A `و` starting
            // the second word would double at the seam; collapse it as above.
            last.push_str(t.strip_prefix('و').unwrap_or(&t));
        } else {
            out.push(t);
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Similarity
// ---------------------------------------------------------------------------

/// Scores at or above this are listed to the registrar as likely the same
/// person. Calibrated on the pair table in this module's tests: it accepts a
/// missing middle name, a dropped `ال` or a one-letter slip in a long name,
/// and rejects brothers, father and son, and a different father or family.
pub const LIKELY_DUPLICATE: f32 = 0.85;

/// How much more the given name weighs than each other part of the name.
const GIVEN_NAME_WEIGHT: f32 = 2.0;

/// The share of a missing token's weight that is forgiven. A name recorded
/// with three parts instead of four (grandfather or family name left out) is
/// common; a part that is present in both names but different is evidence of
/// two people, so it is not forgiven at all.
const MISSING_TOKEN_FORGIVENESS: f32 = 0.5;

/// Missing tokens are forgiven only when the shorter name has at least this
/// many parts: `محمد حسن` says too little about a person to be taken as a
/// short form of `محمد احمد علي حسن`.
const FORGIVING_MIN_TOKENS: usize = 3;

/// Given names with a similarity at or below the first bound are different
/// names (`محمد` / `محمود`, `حسن` / `حسين`); at or above the second they are
/// one name with a slip (`عبدالرحمن` / `عبدالرحمان`). In between, the whole
/// score is scaled down in proportion.
const GIVEN_NAME_GATE: (f32, f32) = (0.6, 0.85);

/// How hard an edit counts against a token, relative to its length: a token
/// with `d` edits among `len` letters keeps `1 - EDIT_PENALTY * d / len`.
const EDIT_PENALTY: f32 = 1.5;

/// Bounds on the work one comparison may do, whatever a spreadsheet cell
/// contains. Real names have at most about seven parts of at most about
/// fifteen letters.
const MAX_TOKENS: usize = 12;
const MAX_TOKEN_CHARS: usize = 32;

/// How similar two names are, from 0.0 (nothing in common, or either name
/// empty) to 1.0 (same key).
///
/// The tokens of both names are aligned in order, like a longest common
/// subsequence where each aligned pair earns its weight times the tokens'
/// similarity (a weighted edit distance, after dropping a leading `ال` and any
/// compound part both share such as `عبدال`), and the score is the earned
/// weight over the total weight of both names. Tokens left over earn nothing;
/// when both names have at least three parts, half the weight of as many
/// tokens as the length difference is forgiven, because a missing grandfather
/// is common and a different one is not. The given name weighs double and also
/// gates the whole score: if the two given names are different names the
/// score drops towards zero, since brothers share everything but the given
/// name and must not look like one person.
///
/// The result is exactly symmetric and exactly 1.0 for a non-empty name
/// compared with itself.
pub fn similarity(a: &NameKey, b: &NameKey) -> f32 {
    // Compute in one canonical order so that rounding cannot make
    // similarity(a, b) and similarity(b, a) differ in the last bit.
    let (a, b) = if a <= b { (a, b) } else { (b, a) };
    let ta = token_chars(a);
    let tb = token_chars(b);
    if ta.is_empty() || tb.is_empty() {
        return 0.0;
    }
    let weight = |i: usize| if i == 0 { GIVEN_NAME_WEIGHT } else { 1.0 };

    // best[i][j]: the highest matched weight aligning ta[..i] with tb[..j].
    let (n, m) = (ta.len(), tb.len());
    let mut best = vec![vec![0.0f32; m + 1]; n + 1];
    let mut given_names = 0.0;
    for i in 1..=n {
        for j in 1..=m {
            let credit = token_similarity(&ta[i - 1], &tb[j - 1]);
            if i == 1 && j == 1 {
                given_names = credit;
            }
            let matched = best[i - 1][j - 1] + credit * (weight(i - 1) + weight(j - 1));
            best[i][j] = matched.max(best[i - 1][j]).max(best[i][j - 1]);
        }
    }

    let total: f32 = (0..n).map(weight).sum::<f32>() + (0..m).map(weight).sum::<f32>();
    // At least |n - m| tokens of the longer name are unmatched, each weighing
    // at least 1.0, so the forgiven weight never exceeds the unmatched weight
    // and the ratio stays within 0..=1.
    let forgiven = if n.min(m) >= FORGIVING_MIN_TOKENS {
        MISSING_TOKEN_FORGIVENESS * n.abs_diff(m) as f32
    } else {
        0.0
    };
    let aligned = best[n][m] / (total - forgiven);
    let (low, high) = GIVEN_NAME_GATE;
    let gate = ((given_names - low) / (high - low)).clamp(0.0, 1.0);
    (aligned * gate).clamp(0.0, 1.0)
}

/// Whether two names are similar enough to list as a likely duplicate.
pub fn is_likely_duplicate(a: &NameKey, b: &NameKey) -> bool {
    similarity(a, b) >= LIKELY_DUPLICATE
}

fn token_chars(key: &NameKey) -> Vec<Vec<char>> {
    key.tokens()
        .take(MAX_TOKENS)
        .map(|t| t.chars().take(MAX_TOKEN_CHARS).collect())
        .collect()
}

const ARTICLE: &[char] = &['ا', 'ل'];
const ABD_AL: &[char] = &['ع', 'ب', 'د', 'ا', 'ل'];
const ABU: &[char] = &['ا', 'ب', 'و'];
const AL_DIN: &[char] = &['ا', 'ل', 'د', 'ي', 'ن'];
const ALLAH: &[char] = &['ا', 'ل', 'ل', 'ه'];

/// Similarity of two tokens in `0.0..=1.0`.
fn token_similarity(x: &[char], y: &[char]) -> f32 {
    if x == y {
        return 1.0;
    }
    // A dropped article is the commonest variation of family names
    // (`الشربيني` / `شربيني`, `السيد` / `سيد`).
    let (x, y) = (strip_article(x), strip_article(y));
    // Parts both compounds share say nothing about identity: `عبدالعزيز` and
    // `عبدالعظيم` are different names, and comparing whole words would let
    // the shared `عبدال` hide that.
    let (x, y) = strip_shared_parts(x, y);
    let longest = x.len().max(y.len());
    if longest == 0 {
        return 1.0;
    }
    let edits = edit_distance(x, y);
    (1.0 - EDIT_PENALTY * edits / longest as f32).max(0.0)
}

fn strip_article(t: &[char]) -> &[char] {
    match t.strip_prefix(ARTICLE) {
        Some(rest) if rest.len() >= 2 => rest,
        _ => t,
    }
}

fn strip_shared_parts<'a>(x: &'a [char], y: &'a [char]) -> (&'a [char], &'a [char]) {
    for prefix in [ABD_AL, ABU] {
        if let (Some(rx), Some(ry)) = (x.strip_prefix(prefix), y.strip_prefix(prefix))
            && !rx.is_empty()
            && !ry.is_empty()
        {
            return (rx, ry);
        }
    }
    for suffix in [AL_DIN, ALLAH] {
        if let (Some(rx), Some(ry)) = (x.strip_suffix(suffix), y.strip_suffix(suffix))
            && !rx.is_empty()
            && !ry.is_empty()
        {
            return (rx, ry);
        }
    }
    (x, y)
}

/// Letters Egyptians confuse in writing because they sound alike in the
/// dialect: `ذ` said as `د` or `ز` (`ذكي` / `زكي`), `ث` as `ت` or `س`
/// (`عثمان` / `عتمان`), `ظ` as `ض` or `ز`, and emphatic/plain pairs.
const SOUND_ALIKE: &[(char, char)] = &[
    ('د', 'ذ'),
    ('ذ', 'ز'),
    ('ت', 'ث'),
    ('ث', 'س'),
    ('ض', 'ظ'),
    ('ظ', 'ز'),
    ('س', 'ص'),
    ('ت', 'ط'),
];

/// Cost of substituting `p` by `q`, in half edits.
fn substitution_cost(p: char, q: char, at_end: bool) -> u32 {
    if p == q {
        0
    } else if SOUND_ALIKE.contains(&(p, q)) || SOUND_ALIKE.contains(&(q, p)) {
        1
    } else if at_end && matches!((p, q), ('ا', 'ي') | ('ي', 'ا')) {
        // A final alef maqsura is sometimes typed as alef (`مصطفا`), and it
        // has already been folded to yeh.
        1
    } else {
        2
    }
}

/// Cost of inserting or deleting `p`, in half edits.
fn indel_cost(p: char) -> u32 {
    // Long `ا` in the middle of a name is often left out or added, following
    // the Quranic spelling or plain habit: `عبدالرحمن` / `عبدالرحمان`,
    // `ابراهيم` / `ابرهيم`, `اسماعيل` / `اسمعيل`. Missing `و` or `ي`, by
    // contrast, usually makes another name (`محمد` / `محمود`, `حسن` / `حسين`).
    if p == 'ا' { 1 } else { 2 }
}

/// Weighted Levenshtein distance between two tokens, in edits (a half edit
/// for sound-alike letters and a dropped alef).
fn edit_distance(x: &[char], y: &[char]) -> f32 {
    let mut previous: Vec<u32> = Vec::with_capacity(y.len() + 1);
    let mut cost = 0;
    previous.push(0);
    for &q in y {
        cost += indel_cost(q);
        previous.push(cost);
    }
    let mut current = vec![0u32; y.len() + 1];
    for (i, &p) in x.iter().enumerate() {
        current[0] = previous[0] + indel_cost(p);
        for (j, &q) in y.iter().enumerate() {
            let at_end = i + 1 == x.len() && j + 1 == y.len();
            let substitute = previous[j] + substitution_cost(p, q, at_end);
            let delete = previous[j + 1] + indel_cost(p);
            let insert = current[j] + indel_cost(q);
            current[j + 1] = substitute.min(delete).min(insert);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[y.len()] as f32 / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Inputs and the keys they must normalise to, grouped by rule.
    const KEYS: &[(&str, &str)] = &[
        // Hamza forms of alef.
        ("أحمد", "احمد"),
        ("إسراء", "اسرا"),
        ("آمال", "امال"),
        ("ٱلسيد", "السيد"),
        ("أسامة", "اسامه"),
        ("إيمان", "ايمان"),
        ("مأمون", "مامون"),
        // Alef maqsura.
        ("مصطفى", "مصطفي"),
        ("على", "علي"),
        ("منى", "مني"),
        ("هدى عيسى", "هدي عيسي"),
        ("يحيى", "يحي"),
        // Teh marbuta.
        ("فاطمة", "فاطمه"),
        ("أسامة حمزة", "اسامه حمزه"),
        ("عزة", "عزه"),
        // Hamza on waw and yeh seats, standalone hamza.
        ("فؤاد", "فواد"),
        ("رؤوف", "روف"),
        ("رءوف", "روف"),
        ("هانئ", "هاني"),
        ("عائشة", "عايشه"),
        ("علاء", "علا"),
        ("شيماء", "شيما"),
        ("وائل", "وايل"),
        ("مؤمن", "مومن"),
        // Doubled waw and yeh.
        ("داوود", "داود"),
        ("طاووس", "طاوس"),
        ("محيي", "محي"),
        // Persian and Urdu keyboard letters.
        ("کريم", "كريم"),
        ("زکی", "زكي"),
        ("ڤيكتور", "فيكتور"),
        ("گمال", "كمال"),
        // Diacritics, dagger alef and Quranic marks.
        ("مُحَمَّد", "محمد"),
        ("عَلِيّ", "علي"),
        ("إِبْرَاهِيم", "ابراهيم"),
        ("عبدُ اللهِ", "عبدالله"),
        ("رحمٰن", "رحمن"),
        ("محمد\u{0610}", "محمد"),
        ("حسن\u{06E1}", "حسن"),
        // Tatweel.
        ("محـــمد", "محمد"),
        ("عـلـي حـسـن", "علي حسن"),
        // Digits.
        ("٢٩٠٠١٠١٠١٢٣٤٥٦", "29001010123456"),
        ("۱۲۳", "123"),
        ("محمد ٣", "محمد 3"),
        ("１２", "12"),
        // Latin letters.
        ("Ahmed MOHAMED", "ahmed mohamed"),
        ("  Sara   Ali ", "sara ali"),
        ("Mohamed محمد", "mohamed محمد"),
        ("ＡＨＭＥＤ", "ahmed"),
        // Punctuation.
        ("محمد، احمد؛ علي؟", "محمد احمد علي"),
        ("محمد-احمد.علي", "محمد احمد علي"),
        ("(محمد) \"احمد\" 'علي'", "محمد احمد علي"),
        ("محمد/احمد_علي", "محمد احمد علي"),
        ("«محمد»", "محمد"),
        // Whitespace.
        ("محمد\tاحمد\nعلي", "محمد احمد علي"),
        ("محمد\u{00A0}احمد\u{3000}علي", "محمد احمد علي"),
        ("", ""),
        ("  ،؛. ", ""),
        // Zero-width and bidi controls.
        ("\u{200F}محمد\u{200E} \u{202B}علي\u{202C}", "محمد علي"),
        ("مح\u{200C}مد", "محمد"),
        ("\u{FEFF}احمد", "احمد"),
        ("\u{2067}محمد\u{2069}", "محمد"),
        ("علي\u{061C}", "علي"),
        // Presentation forms, as pasted from PDFs.
        ("ﻣﺤﻤﺪ", "محمد"),
        ("ﻋﻠﻲ ﺣﺴﻦ", "علي حسن"),
        ("ﺃﺣﻤﺪ", "احمد"),
        ("ﻓﺎﻃﻤﺔ", "فاطمه"),
        ("ﻋﺒﺪ ﷲ", "عبدالله"),
        ("ﻋﻼﺀ", "علا"),
        ("ﺳﻼﻣﺔ", "سلامه"),
        ("ﺍﻷﻣﻴﺮ", "الامير"),
        ("ﻣﹸﺤﹶﻤﱠﺪ", "محمد"),
        ("ﮐﺮﯾﻢ", "كريم"),
        // Compounds with عبد.
        ("عبد الله", "عبدالله"),
        ("عبد الرحمن", "عبدالرحمن"),
        ("عبدال رحمن", "عبدالرحمن"),
        ("عبد ال رحمن", "عبدالرحمن"),
        ("عبد العزيز محمد", "عبدالعزيز محمد"),
        ("عبد ربه", "عبدربه"),
        ("عبد المسيح جرجس", "عبدالمسيح جرجس"),
        ("عبد اللاه", "عبداللاه"),
        ("محمد عبد", "محمد عبد"),
        // Compounds with أبو.
        ("أبو بكر", "ابوبكر"),
        ("أبو العلا", "ابوالعلا"),
        ("ابو العلاء", "ابوالعلا"),
        ("ابو وردة", "ابورده"),
        ("ابو", "ابو"),
        // Compounds with الدين and الله.
        ("نور الدين", "نورالدين"),
        ("علاء الدين", "علاالدين"),
        ("محيي الدين", "محيالدين"),
        ("محي الدين", "محيالدين"),
        ("عز الدين", "عزالدين"),
        ("محمد صلاح الدين", "محمد صلاحالدين"),
        ("محمد الدين", "محمد الدين"),
        ("فتح الله", "فتحالله"),
        ("عطا الله", "عطاالله"),
        // A detached article.
        ("ال شربيني", "الشربيني"),
        // Everything at once.
        ("مُحَمَّد  أَبُو الْعَلَاء، عَبْدُ الرَّحْمَٰن", "محمد ابوالعلا عبدالرحمن"),
        ("\u{200F}أحمد ـ عبد الله\u{200F} ٣", "احمد عبدالله 3"),
    ];

    const PAIRS: &[(&str, &str, bool)] = &[
        // Same person.
        ("محمد أحمد علي حسن", "محمد احمد على حسن", true),
        ("فاطمة محمود السيد", "فاطمه محمود السيد", true),
        ("مصطفى كمال عبد الرحمن", "مصطفي كمال عبدالرحمن", true),
        ("محمد احمد علي حسن", "محمد احمد حسن", true),
        ("محمد احمد علي", "محمد احمد علي حسن", true),
        ("احمد السيد الشربيني", "احمد السيد شربيني", true),
        ("عبد الرحمن محمد سالم", "عبدالرحمان محمد سالم", true),
        ("إسراء عبد الله محمد", "اسراء عبدالله محمد", true),
        ("أسماء إبراهيم عبد العزيز", "اسماء ابراهيم عبدالعزيز", true),
        ("هالة مصطفى أبو زيد", "هاله مصطفي ابوزيد", true),
        ("نور الدين محمد علي", "نورالدين محمد علي", true),
        ("محمود عثمان حسن", "محمود عتمان حسن", true),
        ("يوسف زكي إبراهيم", "يوسف ذكي ابراهيم", true),
        ("سيد عبد الحميد سليمان", "السيد عبد الحميد سليمان", true),
        ("رؤوف سمير نجيب", "رءوف سمير نجيب", true),
        ("يحيى زكريا محمد", "يحي زكريا محمد", true),
        ("داود سليمان داود", "داوود سليمان داوود", true),
        ("مُحَمَّد عَلِي حَسَن", "محمد علي حسن", true),
        ("عائشة عبد الفتاح السيد", "عايشه عبدالفتاح السيد", true),
        (
            "مصطفى محمد ابراهيم الشناوي",
            "مصطفا محمد ابراهيم الشناوى",
            true,
        ),
        ("خالد عبد الناصر محمد حسين", "خالد عبد الناصر حسين", true),
        ("إبراهيم محمد عبد اللطيف", "ابرهيم محمد عبد اللطيف", true),
        ("منى سعيد عبد الحليم", "منى سعيد عبدالحليم سالم", true),
        ("ياسمين أشرف فؤاد", "ياسمين اشرف فواد", true),
        ("شيماء عادل محمود", "شيما عادل محمود", true),
        ("علاء الدين أحمد فهمي", "علاءالدين احمد فهمى", true),
        ("محيي الدين عبد القادر", "محي الدين عبدالقادر", true),
        ("ابو بكر السيد محمد", "أبوبكر السيد محمد", true),
        (
            "احمد محمد عبد الحميد الشرقاوي",
            "احمد محمد عبدالحميد شرقاوي",
            true,
        ),
        ("أمل عبد الستار حسانين", "امل عبد الستار حسنين", true),
        ("Ahmed Mohamed Ali", "ahmed  mohamed ali", true),
        ("سعاد عبد المنعم إسماعيل", "سعاد عبدالمنعم اسمعيل", true),
        ("نادية فتح الله جرجس", "ناديه فتحالله جرجس", true),
        ("ماجد عطا الله عبد المسيح", "ماجد عطالله عبد المسيح", true),
        ("كريم حسام الدين محمد", "كريم حسام الدين محمد الشافعي", true),
        ("ﻣﺤﻤﺪ ﻋﻠﻲ ﺣﺴﻦ", "محمد علي حسن", true),
        ("زينب محمد عبد الله", "زينب محمد عبدالله علي", true),
        ("هشام طارق محمود", "هشام تارق محمود", true),
        ("احمد محمد", "احمد محمد علي", true),
        ("محمد احمد علي حسن سالم", "محمد احمد علي", true),
        ("محمد احمد علي حسن", "محمد احمد علي حسين", true),
        ("سلمى عبد الغفار", "سلمي عبدالغفار", true),
        // Different people.
        ("احمد محمد علي", "محمود محمد علي", false),
        ("احمد محمد علي حسن", "محمد محمد علي حسن", false),
        ("احمد محمد علي", "محمد علي حسن", false),
        ("محمد علي حسن", "علي حسن محمود", false),
        ("محمد احمد علي", "محمد حسن علي", false),
        ("محمد احمد علي", "محمد السيد ابراهيم", false),
        ("فاطمة محمود السيد", "فاطمة احمد عبد الله", false),
        ("حسن محمد علي", "حسين محمد علي", false),
        ("سعد محمود حسن", "سعيد محمود حسن", false),
        ("محمد احمد علي", "احمد محمد علي", false),
        ("منى سعيد عبد الحليم", "منة سعيد عبد الحليم", false),
        ("علي محمد حسن", "علا محمد حسن", false),
        ("محمد احمد علي حسن", "محمد حسن", false),
        ("محمد احمد علي حسن", "محمد احمد علي سالم", false),
        ("عبد الله محمد سالم", "عبد الرحمن محمد سالم", false),
        ("عبد العزيز محمد سالم", "عبد العظيم محمد سالم", false),
        ("نور الدين محمد علي", "علاء الدين محمد علي", false),
        ("محمد احمد ابو زيد", "محمد احمد ابو العلا", false),
        ("مريم ابراهيم يوسف", "مريم ابراهيم يونس", false),
        ("محمد", "محمد احمد علي", false),
        ("سلمان خالد عمر", "سليمان خالد عمر", false),
        ("حامد محمد علي", "احمد محمد علي", false),
        ("عبد الله محمد سالم", "عبد الاله محمد سالم", false),
        ("محمد السيد علي", "محمود السيد علي", false),
        ("ابو بكر محمد علي", "ابو زيد محمد علي", false),
        ("مروة خالد حسن", "مروان خالد حسن", false),
    ];

    #[test]
    fn keys() {
        let failures: Vec<String> = KEYS
            .iter()
            .filter_map(|&(input, expected)| check(input, expected).err())
            .collect();
        assert!(
            failures.is_empty(),
            "{} key(s) wrong:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }

    /// Checks one normalisation, and that the key is a fixed point.
    fn check(input: &str, expected: &str) -> Result<(), String> {
        let key = NameKey::new(input);
        if key.as_str() != expected {
            return Err(format!(
                "{input:?}: got {:?}, expected {expected:?}",
                key.as_str()
            ));
        }
        if NameKey::new(key.as_str()) != key {
            return Err(format!("{input:?}: key {:?} is not stable", key.as_str()));
        }
        Ok(())
    }

    #[test]
    fn pairs() {
        let failures: Vec<String> = PAIRS
            .iter()
            .filter_map(|&(a, b, duplicate)| check_pair(a, b, duplicate).err())
            .collect();
        assert!(
            failures.is_empty(),
            "{} pair(s) wrong:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }

    /// Checks one pair in both orders against [`LIKELY_DUPLICATE`].
    fn check_pair(a: &str, b: &str, expect_duplicate: bool) -> Result<(), String> {
        let (ka, kb) = (NameKey::new(a), NameKey::new(b));
        let score = similarity(&ka, &kb);
        if score != similarity(&kb, &ka) {
            return Err(format!("{a} | {b}: not symmetric"));
        }
        if is_likely_duplicate(&ka, &kb) != expect_duplicate {
            let verdict = if expect_duplicate {
                "a duplicate"
            } else {
                "distinct"
            };
            return Err(format!("{a} | {b}: scored {score:.3}, expected {verdict}"));
        }
        Ok(())
    }

    #[test]
    fn tables_are_large_enough_to_mean_something() {
        assert!(KEYS.len() >= 60);
        assert!(PAIRS.len() >= 40);
        assert!(PAIRS.iter().filter(|p| p.2).count() >= 15);
        assert!(PAIRS.iter().filter(|p| !p.2).count() >= 15);
    }

    #[test]
    fn accessors() {
        let key = NameKey::new("عبد الله  محمد");
        assert_eq!(key.as_str(), "عبدالله محمد");
        assert_eq!(key.to_string(), "عبدالله محمد");
        assert_eq!(key.as_ref(), "عبدالله محمد");
        assert_eq!(key.tokens().collect::<Vec<_>>(), ["عبدالله", "محمد"]);
        assert!(!key.is_empty());
        assert!(NameKey::new(" - ").is_empty());
        assert_eq!(NameKey::new(" - ").tokens().count(), 0);
    }

    #[test]
    fn empty_names_score_zero() {
        let empty = NameKey::new("");
        let name = NameKey::new("محمد احمد");
        assert_eq!(similarity(&empty, &empty), 0.0);
        assert_eq!(similarity(&empty, &name), 0.0);
        assert_eq!(similarity(&name, &empty), 0.0);
        assert!(!is_likely_duplicate(&empty, &empty));
    }

    #[test]
    fn same_key_scores_one() {
        for &(a, _, _) in PAIRS {
            let key = NameKey::new(a);
            assert_eq!(similarity(&key, &key), 1.0, "{a}");
        }
    }

    #[test]
    fn given_name_outweighs_the_rest() {
        // Brothers share father, grandfather and family; a typo in the
        // family name of one person must still score higher.
        let brothers = similarity(
            &NameKey::new("احمد محمد علي"),
            &NameKey::new("محمود محمد علي"),
        );
        let typo = similarity(
            &NameKey::new("احمد محمد علي"),
            &NameKey::new("احمد محمد عالي"),
        );
        assert!(typo > brothers, "{typo} <= {brothers}");
    }

    #[test]
    fn huge_input_is_bounded() {
        let long = "محمد ".repeat(20_000) + &"ا".repeat(50_000);
        let key = NameKey::new(&long);
        let score = similarity(&key, &NameKey::new("محمد محمد"));
        assert!((0.0..=1.0).contains(&score));
    }

    #[test]
    fn presentation_table_is_sorted_and_disjoint() {
        for (lo, hi, _) in PRESENTATION_FORMS {
            assert!(lo <= hi, "{lo:?}..{hi:?}");
        }
        for pair in PRESENTATION_FORMS.windows(2) {
            assert!(
                pair[0].1 < pair[1].0,
                "{:?} overlaps {:?}",
                pair[0],
                pair[1]
            );
        }
    }

    #[test]
    fn every_single_character_key_is_stable() {
        // Exhaustive over all of Unicode: the per-character folding must map
        // into characters it leaves alone, or keys would change when
        // re-normalised (e.g. by a store re-deriving its name column).
        for c in (0..=u32::from(char::MAX)).filter_map(char::from_u32) {
            let key = NameKey::new(c.encode_utf8(&mut [0; 4]));
            assert_eq!(NameKey::new(key.as_str()), key, "U+{:04X}", u32::from(c));
        }
    }

    /// Name-like text: Arabic letters, marks and the words the compound rules
    /// look at, glued with and without spaces.
    fn arabic_name() -> impl Strategy<Value = String> {
        let word = prop_oneof![
            Just("عبد".to_owned()),
            Just("عبدال".to_owned()),
            Just("ال".to_owned()),
            Just("ابو".to_owned()),
            Just("أبو".to_owned()),
            Just("الدين".to_owned()),
            Just("الله".to_owned()),
            Just("محمد".to_owned()),
            Just("و".to_owned()),
            Just("ي".to_owned()),
            Just("رب".to_owned()),
            Just("ﻻ".to_owned()),
            "[\\u{0600}-\\u{06FF}\\u{FE70}-\\u{FEFF} ]{0,6}",
        ];
        let glue = prop_oneof![Just(" "), Just(""), Just("  "), Just("\u{200F}"), Just("ـ")];
        prop::collection::vec((word, glue), 0..8)
            .prop_map(|parts| parts.into_iter().map(|(w, g)| w + g).collect())
    }

    fn any_name() -> impl Strategy<Value = String> {
        prop_oneof![any::<String>(), arabic_name()]
    }

    proptest! {
        #[test]
        fn normalising_is_idempotent(name in any_name()) {
            let key = NameKey::new(&name);
            prop_assert_eq!(NameKey::new(key.as_str()), key);
        }

        #[test]
        fn keys_are_tidy(name in any_name()) {
            let key = NameKey::new(&name);
            let text = key.as_str();
            prop_assert!(!text.starts_with(' ') && !text.ends_with(' ') && !text.contains("  "));
            prop_assert_eq!(key.tokens().collect::<Vec<_>>().join(" "), text);
        }

        #[test]
        fn similarity_is_symmetric_and_bounded(a in any_name(), b in any_name()) {
            let (ka, kb) = (NameKey::new(&a), NameKey::new(&b));
            let score = similarity(&ka, &kb);
            prop_assert!((0.0..=1.0).contains(&score), "{}", score);
            prop_assert_eq!(score.to_bits(), similarity(&kb, &ka).to_bits());
            prop_assert_eq!(is_likely_duplicate(&ka, &kb), is_likely_duplicate(&kb, &ka));
        }

        #[test]
        fn identity_scores_one(name in any_name()) {
            let key = NameKey::new(&name);
            let expected = if key.is_empty() { 0.0 } else { 1.0 };
            prop_assert_eq!(similarity(&key, &key), expected);
            prop_assert_eq!(similarity(&key, &key.clone()), expected);
        }
    }
}
