//! Printable card sheets: one self-contained HTML document, ten cards to an
//! A4 page.
//!
//! The association prints the document from any browser (or headless
//! Chromium to PDF) and cuts the cards out along the crop marks. Each card
//! carries its QR code (the text from [`crate::SignedCard`]'s encoding, which
//! is all a scanner needs) and, for people, the beneficiary's name, village,
//! household size and short card number.
//!
//! Page geometry, all in millimetres: A4 (210 × 297) less an 8 mm margin
//! leaves 194 × 281. Cards are 90 × 50 (close to a wallet card), two columns
//! with a 6 mm gutter and five rows with a 5 mm gutter: 186 × 270, centred,
//! which leaves at least 4 mm around the grid for the crop marks. The marks
//! are 3 mm lines starting 1 mm off each corner, so they stay inside the
//! gutters and the page area and never touch a card.
//!
//! The QR code is 32 mm wide including its 4-module quiet zone: a 175-character
//! card text is a version-7 code (45 modules + 8 of quiet zone), so a module
//! is about 0.6 mm, seven dots at 300 dpi.
//!
//! Everything that comes from the register (names, villages, numbers, the
//! association's name) is escaped, and wrapped in `<bdi>` so an odd bidi
//! control character in a spreadsheet cell cannot reorder the rest of the
//! card. The stylesheet uses logical properties only, so the same layout
//! mirrors between the Arabic (right-to-left) and English sheets. No fonts
//! are embedded: the stack names the Noto fonts the machines have.
//!
//! The document also carries a Content-Security-Policy ([`SHEET_CSP`]) that
//! allows its own inline stylesheet and nothing else: no script, and no
//! request of any kind (the codes are inline SVG), so should a name ever
//! slip through the escaping it could neither run nor send anything out.

use qrcode::render::svg;
use qrcode::types::QrError;
use qrcode::{EcLevel, QrCode};

/// Cards on one A4 page: two columns of five.
pub const CARDS_PER_PAGE: usize = 10;

/// Longest text any QR code can hold (numeric mode, version 40, level L);
/// longer input is refused before the encoder looks at it.
const MAX_QR_TEXT_BYTES: usize = 7089;

/// One card on a sheet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SheetCard {
    /// What the QR code holds: the card text, `QF1` and 172 Base32
    /// characters (see [`crate::card`]).
    pub text: String,
    /// The beneficiary's full name, usually Arabic and often long.
    pub name: String,
    /// The beneficiary's village.
    pub village: String,
    /// The short card number people read aloud, e.g. `41203-000017`.
    pub number: String,
    /// Members of the household.
    pub household_size: u32,
}

/// The language of a sheet's labels and page direction.
///
/// Names are laid out right-to-left in both: only the labels and the
/// mirroring of the card change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SheetLang {
    /// Arabic labels, right-to-left page (`lang="ar-EG"`).
    #[default]
    Ar,
    /// English labels, left-to-right page (`lang="en"`).
    En,
}

/// What is the same on every card of a sheet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SheetOptions {
    /// The issuing association's name, printed small on each card.
    pub association: String,
    /// The document's title, e.g. `كروت جولة رمضان`.
    pub title: String,
    /// Language of the labels.
    pub lang: SheetLang,
}

/// Why a QR code could not be drawn.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SheetError {
    /// The text does not fit in the largest QR code at error-correction
    /// level M.
    #[error("card text of {len} bytes is too long for a QR code")]
    TextTooLong {
        /// Length of the refused text, in bytes.
        len: usize,
    },
    /// The QR encoder refused the text for another reason.
    #[error("QR encoding failed: {0}")]
    Qr(String),
}

impl SheetError {
    /// Stable code for the UI, logs and scripts.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TextTooLong { .. } => "card_text_too_long",
            Self::Qr(_) => "qr_failed",
        }
    }

    /// A short Egyptian-Arabic message for the person printing.
    pub fn message_ar(&self) -> &'static str {
        match self {
            Self::TextTooLong { .. } => "نص الكارت أطول من إنه يتطبع في كود QR؛ كلّم المسؤول",
            Self::Qr(_) => "ماقدرناش نرسم كود الكارت؛ كلّم المسؤول",
        }
    }
}

/// The QR code for `text` as an inline `<svg>` element, ready to drop into
/// HTML.
///
/// Error-correction level M; the image includes the 4-module quiet zone and
/// has a `viewBox` of one unit per module but no `width` or `height`, so
/// CSS decides its printed size; `shape-rendering="crispEdges"` keeps module
/// edges sharp. A card text is all QR-alphanumeric characters, which the
/// encoder packs in alphanumeric mode. Text too long for any QR code is
/// [`SheetError::TextTooLong`].
pub fn qr_svg(text: &str) -> Result<String, SheetError> {
    let too_long = SheetError::TextTooLong { len: text.len() };
    if text.len() > MAX_QR_TEXT_BYTES {
        return Err(too_long);
    }
    let code =
        QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).map_err(|error| {
            match error {
                QrError::DataTooLong => too_long,
                other => SheetError::Qr(other.to_string()),
            }
        })?;
    let image = code
        .render::<svg::Color<'_>>()
        .quiet_zone(true)
        .module_dimensions(1, 1)
        .dark_color(svg::Color("#000"))
        .light_color(svg::Color("#fff"))
        .build();
    // Drop the XML declaration, which is not allowed inside HTML, and the
    // fixed pixel size, so the viewBox scales to whatever CSS gives it.
    let image = match image.find("<svg") {
        Some(start) => &image[start..],
        None => image.as_str(),
    };
    let side = code.width() + 8;
    let size = format!(r#" width="{side}" height="{side}""#);
    Ok(image.replacen(&size, "", 1))
}

/// The labels of one language.
struct Labels {
    lang: &'static str,
    dir: &'static str,
    village: &'static str,
    household: &'static str,
    number: &'static str,
    empty: &'static str,
    no_qr: &'static str,
}

impl SheetLang {
    fn labels(self) -> Labels {
        match self {
            Self::Ar => Labels {
                lang: "ar-EG",
                dir: "rtl",
                village: "القرية",
                household: "عدد أفراد الأسرة",
                number: "رقم الكارت",
                empty: "مفيش كروت للطباعة.",
                no_qr: "الكود ما اتطبعش: ما توزعش الكارت ده",
            },
            Self::En => Labels {
                lang: "en",
                dir: "ltr",
                village: "Village",
                household: "Household size",
                number: "Card no.",
                empty: "No cards to print.",
                no_qr: "QR code missing: do not hand out this card",
            },
        }
    }
}

/// The stylesheet. Logical properties only (the tests check), so the grid,
/// the cards and their crop marks mirror with the page direction.
const STYLE: &str = r#"
@page { size: A4; margin: 8mm; }
html {
  print-color-adjust: exact;
  -webkit-print-color-adjust: exact;
  font-family: "Noto Naskh Arabic", "Noto Sans Arabic", "Noto Sans", sans-serif;
  color: #000;
  background: #fff;
}
body { margin: 0; }
p { margin: 0; }
.page {
  inline-size: 194mm;
  margin-inline: auto;
  break-after: page;
  break-inside: avoid;
}
.page:last-of-type { break-after: auto; }
.grid {
  display: grid;
  grid-template-columns: repeat(2, 90mm);
  grid-template-rows: repeat(5, 50mm);
  gap: 5mm 6mm;
  justify-content: center;
  padding-block-start: 4.5mm;
}
.card {
  position: relative;
  box-sizing: border-box;
  display: flex;
  gap: 3mm;
  padding: 3mm;
  break-inside: avoid;
}
.qr { flex: none; align-self: center; inline-size: 32mm; block-size: 32mm; }
.qr svg { display: block; inline-size: 100%; block-size: 100%; }
.no-qr {
  box-sizing: border-box;
  display: flex;
  align-items: center;
  padding: 2mm;
  border: 0.6mm dashed #000;
  font-size: 3.2mm;
  font-weight: 700;
  line-height: 1.4;
  text-align: center;
}
.info {
  flex: 1;
  min-inline-size: 0;
  display: flex;
  flex-direction: column;
  gap: 0.8mm;
  overflow-wrap: anywhere;
}
.name { font-size: 4.4mm; font-weight: 700; line-height: 1.45; margin-block-end: 0.6mm; }
.name.long { font-size: 3.6mm; }
.name.longer { font-size: 2.9mm; }
.field { font-size: 3.1mm; line-height: 1.45; }
.label { color: #333; }
.number { font-family: "Noto Sans", sans-serif; font-weight: 700; letter-spacing: 0.1mm; }
.association { margin-block-start: auto; font-size: 2.6mm; line-height: 1.35; color: #333; }
.crop { position: absolute; inline-size: 4mm; block-size: 4mm; }
.crop::before, .crop::after { content: ""; position: absolute; background: #000; }
.crop::before { inline-size: 3mm; block-size: 0.2mm; }
.crop::after { inline-size: 0.2mm; block-size: 3mm; }
.crop.bs { inset-block-start: -4mm; }
.crop.bs::before { inset-block-end: -0.1mm; }
.crop.bs::after { inset-block-start: 0; }
.crop.be { inset-block-end: -4mm; }
.crop.be::before { inset-block-start: -0.1mm; }
.crop.be::after { inset-block-end: 0; }
.crop.is { inset-inline-start: -4mm; }
.crop.is::before { inset-inline-start: 0; }
.crop.is::after { inset-inline-end: -0.1mm; }
.crop.ie { inset-inline-end: -4mm; }
.crop.ie::before { inset-inline-end: 0; }
.crop.ie::after { inset-inline-start: -0.1mm; }
.empty { padding-block: 20mm; padding-inline: 10mm; text-align: center; }
.empty h1 { font-size: 7mm; margin-block: 0 5mm; }
.empty p { font-size: 5mm; }
@media screen {
  html { background: #ccc; }
  .page { background: #fff; margin-block: 8mm; padding-block-end: 4.5mm; }
}
"#;

/// The four corners' crop marks; each class pair places one corner.
const CROP_MARKS: &str = concat!(
    r#"<span class="crop bs is" aria-hidden="true"></span>"#,
    r#"<span class="crop bs ie" aria-hidden="true"></span>"#,
    r#"<span class="crop be is" aria-hidden="true"></span>"#,
    r#"<span class="crop be ie" aria-hidden="true"></span>"#,
);

/// The sheet's Content-Security-Policy, in a `<meta http-equiv>` before
/// anything else: the inline `<style>` is all the page needs (the QR codes
/// are inline `<svg>`, the fonts the system's). Everything else — scripts,
/// images, fonts, frames, connections, forms, a `<base>` — is refused.
pub const SHEET_CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'";

/// The whole sheet for `cards`, in order, [`CARDS_PER_PAGE`] to a page.
///
/// Each page is a `<section class="page">` followed by a page break, except
/// the last. With no cards the document holds a short message instead of
/// pages. A card whose text does not fit in a QR code (see [`qr_svg`]) is
/// still printed, with a dashed box telling people not to hand it out in
/// place of the code, so one bad row cannot hide the rest of the sheet.
pub fn render_sheet(cards: &[SheetCard], options: &SheetOptions) -> String {
    let labels = options.lang.labels();
    let mut out = String::with_capacity(4096 + cards.len() * 8192);
    out.push_str("<!doctype html>\n<html lang=\"");
    out.push_str(labels.lang);
    out.push_str("\" dir=\"");
    out.push_str(labels.dir);
    out.push_str("\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"");
    out.push_str(SHEET_CSP);
    out.push_str("\">\n<title>");
    push_escaped(&mut out, &options.title);
    if !options.association.is_empty() {
        out.push_str(" — ");
        push_escaped(&mut out, &options.association);
    }
    out.push_str("</title>\n<style>");
    out.push_str(STYLE);
    out.push_str("</style>\n</head>\n<body>\n");
    if cards.is_empty() {
        out.push_str("<main class=\"empty\">\n<h1><bdi>");
        push_escaped(&mut out, &options.title);
        out.push_str("</bdi></h1>\n<p>");
        out.push_str(labels.empty);
        out.push_str("</p>\n</main>\n");
    }
    for page in cards.chunks(CARDS_PER_PAGE) {
        out.push_str("<section class=\"page\">\n<div class=\"grid\">\n");
        for card in page {
            push_card(&mut out, card, options, &labels);
        }
        out.push_str("</div>\n</section>\n");
    }
    out.push_str("</body>\n</html>\n");
    out
}

/// One `<article class="card">`.
fn push_card(out: &mut String, card: &SheetCard, options: &SheetOptions, labels: &Labels) {
    out.push_str("<article class=\"card\">");
    out.push_str(CROP_MARKS);
    match qr_svg(&card.text) {
        Ok(image) => {
            out.push_str("<div class=\"qr\">");
            out.push_str(&image);
            out.push_str("</div>");
        }
        Err(_) => {
            out.push_str("<div class=\"qr no-qr\"><p>");
            out.push_str(labels.no_qr);
            out.push_str("</p></div>");
        }
    }
    out.push_str("\n<div class=\"info\">\n<p class=\"");
    out.push_str(name_class(&card.name));
    out.push_str("\"><bdi dir=\"rtl\" lang=\"ar\">");
    push_escaped(out, &card.name);
    out.push_str("</bdi></p>\n");
    push_field(out, labels.village, "<bdi>", &card.village);
    push_field(
        out,
        labels.household,
        "<bdi dir=\"ltr\">",
        &card.household_size.to_string(),
    );
    push_field(
        out,
        labels.number,
        "<bdi dir=\"ltr\" class=\"number\">",
        &card.number,
    );
    out.push_str("<p class=\"association\"><bdi>");
    push_escaped(out, &options.association);
    out.push_str("</bdi></p>\n</div>\n</article>\n");
}

/// One `label: value` line; `open` is the value's `<bdi …>` tag.
fn push_field(out: &mut String, label: &str, open: &str, value: &str) {
    out.push_str("<p class=\"field\"><span class=\"label\">");
    out.push_str(label);
    out.push_str(":</span> ");
    out.push_str(open);
    push_escaped(out, value);
    out.push_str("</bdi></p>\n");
}

/// The name's classes: smaller type for longer names, so two lines of the
/// 49 mm text column hold nearly every name. A longer one wraps onto more
/// lines rather than being cut.
fn name_class(name: &str) -> &'static str {
    match name.chars().count() {
        0..=28 => "name",
        29..=44 => "name long",
        _ => "name longer",
    }
}

/// Appends `text` with the five HTML-significant characters escaped, which
/// makes it safe both as element content and inside a quoted attribute.
fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Card, IssuerKey};
    use proptest::prelude::*;
    use qafila_domain::ids::{BeneficiaryId, CardSerial, RoundId};

    /// A real signed card text: 175 characters.
    fn text(serial: u64) -> String {
        let key = IssuerKey::from_secret_bytes(&[3; 32]);
        Card::new(
            &key,
            CardSerial::new(serial),
            BeneficiaryId::from_parts(1_800_000_000_000, [7; 10]),
            RoundId::from_parts(1_800_000_000_001, [9; 10]),
        )
        .encode(&key)
    }

    fn card(serial: u64) -> SheetCard {
        SheetCard {
            text: text(serial),
            name: "محمد أحمد عبد الله السيد".into(),
            village: "كفر الشيخ سالم".into(),
            number: format!("41203-{serial:06}"),
            household_size: 5,
        }
    }

    fn options(lang: SheetLang) -> SheetOptions {
        SheetOptions {
            association: "جمعية الخير بكفر الشيخ".into(),
            title: "كروت جولة رمضان".into(),
            lang,
        }
    }

    fn cards(count: u64) -> Vec<SheetCard> {
        (1..=count).map(card).collect()
    }

    fn style_of(html: &str) -> &str {
        let start = html.find("<style>").map_or(0, |i| i + "<style>".len());
        let end = html.find("</style>").unwrap_or(html.len());
        &html[start..end]
    }

    #[test]
    fn pages_and_codes_are_counted() {
        for (count, pages) in [(0, 0), (1, 1), (10, 1), (11, 2), (25, 3)] {
            let html = render_sheet(&cards(count), &options(SheetLang::Ar));
            assert_eq!(html.matches("<svg").count(), count as usize, "{count}");
            assert_eq!(html.matches(r#"class="page""#).count(), pages, "{count}");
            assert_eq!(html.matches(r#"class="card""#).count(), count as usize);
            assert_eq!(html.matches(r#"class="crop "#).count(), 4 * count as usize);
        }
    }

    #[test]
    fn document_shell() {
        let html = render_sheet(&cards(3), &options(SheetLang::Ar));
        assert!(html.starts_with("<!doctype html>\n<html lang=\"ar-EG\" dir=\"rtl\">"));
        assert!(html.contains(r#"<meta charset="utf-8">"#));
        assert!(html.contains("<title>كروت جولة رمضان — جمعية الخير بكفر الشيخ</title>"));
        assert!(html.contains("القرية"));
        assert!(html.contains("عدد أفراد الأسرة"));
        assert!(html.contains("رقم الكارت"));
        assert!(!html.contains("<?xml"));
        assert!(html.trim_end().ends_with("</html>"));

        let css = style_of(&html);
        assert!(css.contains("@page { size: A4; margin: 8mm; }"));
        assert!(css.contains("print-color-adjust: exact"));
        assert!(css.contains("break-after: page"));
        assert!(
            css.contains(r#""Noto Naskh Arabic", "Noto Sans Arabic", "Noto Sans", sans-serif"#)
        );
    }

    #[test]
    fn english_sheet_is_ltr_but_names_stay_rtl() {
        let html = render_sheet(&cards(2), &options(SheetLang::En));
        assert!(html.starts_with("<!doctype html>\n<html lang=\"en\" dir=\"ltr\">"));
        assert!(html.contains("Village"));
        assert!(html.contains("Household size"));
        assert!(html.contains("Card no."));
        assert!(!html.contains("القرية"));
        assert_eq!(
            html.matches(r#"<bdi dir="rtl" lang="ar">محمد أحمد عبد الله السيد</bdi>"#)
                .count(),
            2
        );
    }

    #[test]
    fn empty_sheet_has_a_message_and_no_pages() {
        let html = render_sheet(&[], &options(SheetLang::Ar));
        assert!(html.contains("مفيش كروت للطباعة."));
        assert!(!html.contains(r#"class="page""#));
        assert!(html.trim_end().ends_with("</html>"));
        let html = render_sheet(&[], &options(SheetLang::En));
        assert!(html.contains("No cards to print."));
    }

    #[test]
    fn the_number_is_an_ltr_isolate() {
        let html = render_sheet(&cards(1), &options(SheetLang::Ar));
        assert!(html.contains(r#"<bdi dir="ltr" class="number">41203-000001</bdi>"#));
        assert!(html.contains(r#"<bdi dir="ltr">5</bdi>"#));
        assert!(html.contains("<bdi>كفر الشيخ سالم</bdi>"));
    }

    #[test]
    fn text_is_escaped() {
        let mut hostile = card(1);
        hostile.name = "<script>alert('x')</script> & \"co\"".into();
        hostile.village = "<img src=x onerror=alert(1)>".into();
        hostile.number = "1<2>3".into();
        let mut options = options(SheetLang::Ar);
        options.association = "A&B <b>".into();
        options.title = "</title><script>".into();
        let html = render_sheet(&[hostile], &options);
        assert!(!html.contains("<script"));
        assert!(!html.contains("<img"));
        assert!(!html.contains("<b>"));
        assert!(
            html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;co&quot;")
        );
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
        assert!(html.contains("1&lt;2&gt;3"));
        assert!(html.contains("A&amp;B &lt;b&gt;"));
        assert!(html.contains("<title>&lt;/title&gt;&lt;script&gt;"));
        // And the policy that would stop it anyway comes first.
        assert_policy_first(&html);
    }

    /// The sheet's policy is in the head, before the title and the first
    /// thing that comes from the register, and allows no script.
    fn assert_policy_first(html: &str) {
        let meta = format!(r#"<meta http-equiv="Content-Security-Policy" content="{SHEET_CSP}">"#);
        let at = html.find(&meta).expect("the CSP meta tag");
        assert!(at < html.find("<title>").unwrap());
        assert_eq!(html.matches("Content-Security-Policy").count(), 1);
        assert!(SHEET_CSP.starts_with("default-src 'none';"));
        assert!(!SHEET_CSP.contains("script-src"));
        assert!(!SHEET_CSP.contains("img-src"));
    }

    #[test]
    fn every_sheet_forbids_scripts_and_requests() {
        for lang in [SheetLang::Ar, SheetLang::En] {
            assert_policy_first(&render_sheet(&cards(11), &options(lang)));
            assert_policy_first(&render_sheet(&[], &options(lang)));
        }
    }

    #[test]
    fn stylesheet_uses_logical_properties_only() {
        let html = render_sheet(&cards(1), &options(SheetLang::Ar));
        let css = style_of(&html);
        assert!(css.len() > 1000);
        // No physical side anywhere, in a property name or a value
        // (`text-align: left`, `float: right`, `background-position: top`).
        for side in ["left", "right", "top", "bottom"] {
            assert!(!css.contains(side), "stylesheet names {side}");
        }
        // And no physical sizes: `inline-size`/`block-size` instead.
        for block in css.split('}') {
            let declarations = block.rsplit('{').next().unwrap_or(block);
            for declaration in declarations.split(';') {
                if let Some((property, _)) = declaration.split_once(':') {
                    let property = property.trim();
                    assert!(
                        !matches!(
                            property,
                            "width"
                                | "height"
                                | "min-width"
                                | "max-width"
                                | "min-height"
                                | "max-height"
                                | "float"
                                | "clear"
                        ),
                        "stylesheet uses {property}"
                    );
                }
            }
        }
        // The markup carries no inline styles to sneak them back in.
        assert!(!html.contains("style=\""));
    }

    #[test]
    fn long_names_get_smaller_type_and_are_never_clipped() {
        assert_eq!(name_class("محمد أحمد عبد الله السيد"), "name");
        assert_eq!(name_class(&"م".repeat(40)), "name long");
        assert_eq!(name_class(&"م".repeat(90)), "name longer");
        let html = render_sheet(&cards(1), &options(SheetLang::Ar));
        let css = style_of(&html);
        assert!(!css.contains("overflow: hidden"));
        assert!(!css.contains("text-overflow"));
        assert!(!css.contains("nowrap"));
        assert!(css.contains("overflow-wrap: anywhere"));
    }

    #[test]
    fn qr_svg_is_inline_and_scalable() {
        let text = text(17);
        assert_eq!(text.len(), 175);
        let svg = qr_svg(&text).unwrap();
        let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).unwrap();
        // Version 7 in alphanumeric mode; four modules of quiet zone each side.
        assert_eq!(code.width(), 45);
        assert!(svg.starts_with("<svg "), "{}", &svg[..40]);
        assert!(svg.contains(r#"viewBox="0 0 53 53""#));
        assert!(svg.contains(r#"shape-rendering="crispEdges""#));
        assert!(!svg.contains("<?xml"));
        // The `<svg>` element itself has no fixed size (its background
        // `<rect>` does, in viewBox units).
        let open = &svg[..svg.find('>').unwrap_or(svg.len())];
        assert!(!open.contains(" width="), "{open}");
        assert!(!open.contains(" height="), "{open}");
        assert!(svg.ends_with("</svg>"));
    }

    #[test]
    fn too_long_text_is_an_error() {
        let error = qr_svg(&"A".repeat(10_000)).unwrap_err();
        assert_eq!(error, SheetError::TextTooLong { len: 10_000 });
        assert_eq!(error.code(), "card_text_too_long");
        assert!(error.message_ar().contains("الكارت"));
        // Under the cheap bound but over level M's capacity: the encoder's
        // refusal maps to the same error.
        let error = qr_svg(&"\u{e9}".repeat(2_000)).unwrap_err();
        assert_eq!(error.code(), "card_text_too_long");
    }

    #[test]
    fn a_card_without_a_code_is_flagged_not_dropped() {
        let mut bad = card(1);
        bad.text = "A".repeat(10_000);
        let html = render_sheet(&[bad, card(2)], &options(SheetLang::Ar));
        assert_eq!(html.matches("<svg").count(), 1);
        assert_eq!(html.matches(r#"class="card""#).count(), 2);
        assert!(html.contains("ما توزعش الكارت ده"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn render_never_panics_and_escapes(
            name in ".{0,80}",
            village in ".{0,40}",
            number in ".{0,20}",
            text in "[0-9A-Z]{0,200}|.{0,60}",
            household_size in any::<u32>(),
        ) {
            let card = SheetCard {
                text,
                name: format!("{name}<x"),
                village: format!("<x{village}"),
                number: format!("{number}<x>"),
                household_size,
            };
            let html = render_sheet(
                &[card.clone(), card],
                &options(SheetLang::Ar),
            );
            prop_assert!(!html.contains("<x"));
            prop_assert_eq!(html.matches(r#"class="card""#).count(), 2);
            prop_assert_eq!(html.matches(r#"<bdi dir="ltr" class="number">"#).count(), 2);
        }

        #[test]
        fn escaped_text_has_no_markup(text in ".{0,200}") {
            let mut out = String::new();
            push_escaped(&mut out, &text);
            prop_assert!(!out.contains(['<', '>', '"', '\'']));
            // Every `&` left starts one of the entities, each closed by a `;`.
            let entities = out.matches(';').count() - text.matches(';').count();
            prop_assert_eq!(out.matches('&').count(), entities);
        }
    }
}
