//! Reading QR codes from a photo, a scanned page or a camera frame.
//!
//! A volunteer photographs a family's card (or a whole printed sheet of
//! cards) and the shell hands the picture here; every QR code's text comes
//! back. PNG and JPEG files are decoded with `image`, camera frames arrive
//! as grey (luma) pixels, and `rxing` finds the codes with its zxing-cpp
//! detector, which finds every code on a page in one pass. When that finds
//! nothing, zxing's slower "decode one, cut the rest of the picture into
//! pieces, decode again" reader has a go. Large pictures in which nothing is
//! found are retried at half size, since the detectors cope badly with
//! modules tens of pixels wide.
//!
//! Oversized input is refused before it is decoded ([`MAX_BYTES`],
//! [`MAX_PIXELS`]), so a bad file cannot exhaust the device's memory.

use std::collections::HashSet;
use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use image::{DynamicImage, ImageError, ImageFormat, ImageReader, Limits};
use rxing::common::HybridBinarizer;
use rxing::multi::{GenericMultipleBarcodeReader, MultipleBarcodeReader};
use rxing::qrcode::cpp_port::QrReader;
use rxing::{
    BarcodeFormat, BinaryBitmap, DecodeHints, Luma8Source, MultiUseMultiFormatReader, RXingResult,
};

use crate::AppError;

/// The largest picture decoded, in pixels (a 40-megapixel photo).
pub const MAX_PIXELS: u64 = 40_000_000;

/// The largest image file or buffer read, in bytes (50 MiB).
pub const MAX_BYTES: u64 = 50 * 1024 * 1024;

/// The smallest side a QR code fits in: version 1 is 21 modules wide.
const MIN_SIDE: u32 = 21;

/// Pictures whose longer side is above this are retried at half size when
/// nothing is found at full size.
const RETRY_SMALLER_ABOVE: u32 = 1500;

/// Every QR code's text found in an image file (PNG or JPEG), in reading order or any order.
///
/// Codes come top to bottom, and left to right within a row; the same text
/// appearing twice is returned once.
pub fn decode_image_file(path: &Path) -> Result<Vec<String>, AppError> {
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| {
        AppError::new(
            "image_unreadable",
            format!(
                "cannot open the picture `{shown}` ({e}); check the file name and folder, \
                 or take the photo again"
            ),
            format!("مش قادر أفتح الصورة «{shown}»؛ اتأكد من اسم الملف ومكانه، أو صوّر الكارت تاني"),
        )
    })?;
    if !meta.is_file() {
        return Err(AppError::new(
            "image_unreadable",
            format!("`{shown}` is a folder, not a picture; give the path of a PNG or JPEG file"),
            format!("«{shown}» ده فولدر مش صورة؛ اختار ملف صورة PNG أو JPEG"),
        ));
    }
    if meta.len() > MAX_BYTES {
        return Err(too_large_bytes(meta.len()));
    }
    let bytes = std::fs::read(path).map_err(|e| {
        AppError::new(
            "image_unreadable",
            format!(
                "cannot read the picture `{shown}` ({e}); copy it again or take the photo again"
            ),
            format!("مش قادر أقرا الصورة «{shown}»؛ انسخها تاني أو صوّر الكارت تاني"),
        )
    })?;
    decode_encoded(&bytes, &shown)
}

/// Same for an image already in memory (encoded PNG/JPEG bytes).
pub fn decode_image_bytes(bytes: &[u8]) -> Result<Vec<String>, AppError> {
    decode_encoded(bytes, "the picture")
}

/// A camera frame: 8-bit luma (grey) pixels, row-major, width × height.
pub fn decode_luma(width: u32, height: u32, luma: &[u8]) -> Result<Vec<String>, AppError> {
    if width == 0 || height == 0 {
        return Err(bad_frame(format!(
            "the camera frame is {width}×{height} pixels, which is empty"
        )));
    }
    let pixels = u64::from(width) * u64::from(height);
    if pixels > MAX_PIXELS {
        return Err(too_large_pixels(width, height));
    }
    if luma.len() as u64 != pixels {
        return Err(bad_frame(format!(
            "the camera frame has {} bytes but {width}×{height} grey pixels need {pixels}",
            luma.len()
        )));
    }
    scan(luma, width, height)
}

/// Whether a command-line argument looks like an image path rather than a card text (exists as a file, or ends in .png/.jpg/.jpeg).
pub fn looks_like_image(arg: &str) -> bool {
    let arg = arg.trim();
    if arg.is_empty() {
        return false;
    }
    let lower = arg.to_ascii_lowercase();
    [".png", ".jpg", ".jpeg"]
        .iter()
        .any(|ext| lower.ends_with(ext))
        || Path::new(arg).is_file()
}

/// Decodes PNG or JPEG bytes; `shown` names the picture in messages.
fn decode_encoded(bytes: &[u8], shown: &str) -> Result<Vec<String>, AppError> {
    if bytes.len() as u64 > MAX_BYTES {
        return Err(too_large_bytes(bytes.len() as u64));
    }
    let reader = guessed_reader(bytes, shown)?;
    // Only the header is read here: the size is checked before any pixel
    // memory is allocated.
    let (width, height) = reader
        .into_dimensions()
        .map_err(|e| decode_error(&e, shown))?;
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(too_large_pixels(width, height));
    }
    let mut reader = guessed_reader(bytes, shown)?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(width);
    limits.max_image_height = Some(height);
    reader.limits(limits);
    let picture = reader.decode().map_err(|e| decode_error(&e, shown))?;
    let (width, height, luma) = to_luma(picture);
    scan(&luma, width, height)
}

/// A reader for `bytes` whose format is sniffed from the content (never
/// from a file name), accepting only PNG and JPEG.
fn guessed_reader<'a>(
    bytes: &'a [u8],
    shown: &str,
) -> Result<ImageReader<Cursor<&'a [u8]>>, AppError> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| decode_error(&ImageError::IoError(e), shown))?;
    match reader.format() {
        Some(ImageFormat::Png | ImageFormat::Jpeg) => Ok(reader),
        _ => Err(AppError::new(
            "image_unreadable",
            format!(
                "{shown} is not a PNG or JPEG picture; take the photo again, \
                 or save it as PNG or JPEG"
            ),
            "الملف ده مش صورة PNG أو JPEG؛ صوّر الكارت تاني، أو احفظ الصورة PNG أو JPEG",
        )),
    }
}

/// Grey pixels of a decoded picture. Transparent pixels count as white
/// paper: a code saved with a transparent background would otherwise turn
/// into black on black.
fn to_luma(picture: DynamicImage) -> (u32, u32, Vec<u8>) {
    if !picture.color().has_alpha() {
        let grey = picture.into_luma8();
        let (width, height) = grey.dimensions();
        return (width, height, grey.into_raw());
    }
    let rgba = picture.into_rgba8();
    let (width, height) = rgba.dimensions();
    let luma = rgba
        .pixels()
        .map(|pixel| {
            let [r, g, b, a] = pixel.0.map(u32::from);
            // Rec. 709 weights, as `image` uses for its own grey conversion.
            let grey = (2126 * r + 7152 * g + 722 * b) / 10_000;
            let over_white = (grey * a + 255 * (255 - a)) / 255;
            u8::try_from(over_white).unwrap_or(u8::MAX)
        })
        .collect();
    (width, height, luma)
}

/// One code found, with its bounding box in the scanned picture.
struct Found {
    text: String,
    left: f32,
    right: f32,
    top: f32,
    bottom: f32,
}

impl Found {
    fn new(result: &RXingResult, scale: f32) -> Found {
        let points = result.getPoints();
        let xs = points.iter().map(|p| p.x * scale);
        let ys = points.iter().map(|p| p.y * scale);
        Found {
            text: result.getText().to_owned(),
            left: xs.clone().fold(f32::INFINITY, f32::min),
            right: xs.fold(f32::NEG_INFINITY, f32::max),
            top: ys.clone().fold(f32::INFINITY, f32::min),
            bottom: ys.fold(f32::NEG_INFINITY, f32::max),
        }
    }

    fn centre_x(&self) -> f32 {
        if self.left.is_finite() {
            (self.left + self.right) / 2.0
        } else {
            0.0
        }
    }

    fn centre_y(&self) -> f32 {
        if self.top.is_finite() {
            (self.top + self.bottom) / 2.0
        } else {
            0.0
        }
    }
}

/// Finds the codes in grey pixels whose length has been checked.
fn scan(luma: &[u8], width: u32, height: u32) -> Result<Vec<String>, AppError> {
    let mut found = find_codes(luma, width, height, 1.0);
    let mut smaller: Vec<u8>;
    let (mut pixels, mut w, mut h, mut scale) = (luma, width, height, 1.0_f32);
    while found.is_empty() && w.max(h) > RETRY_SMALLER_ABOVE && w.min(h) >= 2 * MIN_SIDE {
        (smaller, w, h) = halve(pixels, w, h);
        pixels = &smaller;
        scale *= 2.0;
        found = find_codes(pixels, w, h, scale);
    }
    if found.is_empty() {
        return Err(AppError::new(
            "no_code_found",
            "no QR code found in the picture; hold the card flat, bring the camera close \
             enough that the code fills most of the frame, use good light without glare, \
             and scan again",
            "مفيش كود QR باين في الصورة؛ خلّي الكارت مفرود، وقرّب الكاميرا لحد ما الكود يملا \
             أغلب الصورة، في نور كويس من غير لمعة، وامسح تاني",
        ));
    }
    Ok(reading_order(found))
}

/// Every QR code rxing finds in `luma` (duplicates included). `scale` maps
/// positions back to the original picture.
fn find_codes(luma: &[u8], width: u32, height: u32, scale: f32) -> Vec<Found> {
    let hints = DecodeHints {
        TryHarder: Some(true),
        PossibleFormats: Some(HashSet::from([BarcodeFormat::QR_CODE])),
        ..DecodeHints::default()
    };
    let Ok(source) = Luma8Source::new_with_slice(luma, width, height) else {
        return Vec::new();
    };
    let mut bitmap = BinaryBitmap::new(HybridBinarizer::new(source));
    // rxing is a port of Java and C++ code with a lot of index arithmetic; a
    // panic on an odd picture must cost this scan, not the whole app.
    let mut results = catch_unwind(AssertUnwindSafe(|| {
        QrReader.decode_multiple_with_hints(&mut bitmap, &hints)
    }))
    .ok()
    .and_then(Result::ok)
    .unwrap_or_default();
    if results.is_empty() {
        // About five times slower on a page of codes, so only a fallback.
        results = catch_unwind(AssertUnwindSafe(|| {
            GenericMultipleBarcodeReader::new(MultiUseMultiFormatReader::default())
                .decode_multiple_with_hints(&mut bitmap, &hints)
        }))
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    }
    results
        .iter()
        .filter(|r| *r.getBarcodeFormat() == BarcodeFormat::QR_CODE)
        .map(|r| Found::new(r, scale))
        .collect()
}

/// Texts top to bottom, then left to right within a row, each text once.
fn reading_order(mut found: Vec<Found>) -> Vec<String> {
    found.sort_by(|a, b| a.centre_y().total_cmp(&b.centre_y()));
    let mut rows: Vec<Vec<Found>> = Vec::new();
    for code in found {
        match rows.last_mut() {
            // Same row: its centre lies within the row's first code.
            Some(row) if code.centre_y() <= row[0].bottom => row.push(code),
            _ => rows.push(vec![code]),
        }
    }
    let mut seen = HashSet::new();
    let mut texts = Vec::new();
    for mut row in rows {
        row.sort_by(|a, b| a.centre_x().total_cmp(&b.centre_x()));
        for code in row {
            if seen.insert(code.text.clone()) {
                texts.push(code.text);
            }
        }
    }
    texts
}

/// Half-size grey pixels, each the mean of a 2×2 block.
fn halve(luma: &[u8], width: u32, height: u32) -> (Vec<u8>, u32, u32) {
    let (w, h) = (width as usize, height as usize);
    let (half_w, half_h) = (w / 2, h / 2);
    let mut out = Vec::with_capacity(half_w * half_h);
    for y in 0..half_h {
        let top = &luma[2 * y * w..][..w];
        let below = &luma[(2 * y + 1) * w..][..w];
        for x in 0..half_w {
            let sum = u16::from(top[2 * x])
                + u16::from(top[2 * x + 1])
                + u16::from(below[2 * x])
                + u16::from(below[2 * x + 1]);
            out.push(u8::try_from(sum / 4).unwrap_or(u8::MAX));
        }
    }
    // Both halves are at most u32::MAX / 2.
    let half = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    (out, half(half_w), half(half_h))
}

fn decode_error(e: &ImageError, shown: &str) -> AppError {
    match e {
        ImageError::Limits(_) => AppError::new(
            "image_too_large",
            format!(
                "{shown} needs too much memory to open ({e}); take the photo at a lower \
                 camera resolution, or crop it to the card"
            ),
            "الصورة كبيرة قوي ومش هتتفتح؛ صوّر بدقة أقل، أو قصّ الصورة على الكارت بس",
        ),
        _ => AppError::new(
            "image_unreadable",
            format!(
                "{shown} is damaged or incomplete and cannot be read ({e}); \
                 take the photo again"
            ),
            "الصورة بايظة أو ناقصة ومش بتتقري؛ صوّر الكارت تاني",
        ),
    }
}

fn bad_frame(detail: String) -> AppError {
    AppError::new(
        "image_unreadable",
        format!("{detail}; scan again, and if this keeps happening report it as a bug"),
        "صورة الكاميرا مش سليمة؛ امسح تاني، ولو المشكلة اتكررت بلّغ المسؤول عن البرنامج",
    )
}

fn too_large_bytes(bytes: u64) -> AppError {
    let mib = bytes / (1024 * 1024);
    let limit = MAX_BYTES / (1024 * 1024);
    AppError::new(
        "image_too_large",
        format!(
            "the picture is {mib} MB and the limit is {limit} MB; take the photo at a lower \
             camera resolution, or crop it to the card"
        ),
        format!(
            "الصورة حجمها {mib} ميجا والحد الأقصى {limit} ميجا؛ صوّر بدقة أقل، أو قصّ الصورة على الكارت بس"
        ),
    )
}

fn too_large_pixels(width: u32, height: u32) -> AppError {
    let megapixels = u64::from(width) * u64::from(height) / 1_000_000;
    let limit = MAX_PIXELS / 1_000_000;
    AppError::new(
        "image_too_large",
        format!(
            "the picture is {width}×{height} ({megapixels} megapixels) and the limit is \
             {limit} megapixels; take the photo at a lower camera resolution, or crop it \
             to the card"
        ),
        format!(
            "الصورة كبيرة قوي ({megapixels} ميجابكسل والحد الأقصى {limit})؛ صوّر بدقة أقل، أو قصّ الصورة على الكارت بس"
        ),
    )
}
