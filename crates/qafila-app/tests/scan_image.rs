//! Reading QR codes from pictures, against codes drawn by an independent
//! encoder (the `qrcode` crate).

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::{GrayImage, ImageFormat, Luma};
use qafila_app::scan_image::{
    decode_image_bytes, decode_image_file, decode_luma, looks_like_image,
};
use qrcode::QrCode;

/// The characters of a Qafila card payload.
const ALPHABET: &[u8] = b"0123456789ACDEFHJKLMNPQRSTUVWXYZ";

/// A 175-character card payload, `QF1` then characters picked by `seed`.
fn payload(seed: u64) -> String {
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    let mut text = String::from("QF1");
    while text.len() < 175 {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        text.push(char::from(ALPHABET[(state >> 59) as usize]));
    }
    text
}

/// The code for `text`, 4 pixels per module, with its quiet zone.
fn code_image(text: &str) -> GrayImage {
    QrCode::new(text.as_bytes())
        .expect("text fits in a QR code")
        .render::<Luma<u8>>()
        .module_dimensions(4, 4)
        .build()
}

/// Codes side by side in one row, on white.
fn row_of(codes: &[GrayImage]) -> GrayImage {
    let width = codes.iter().map(GrayImage::width).sum();
    let height = codes.iter().map(GrayImage::height).max().unwrap_or(0);
    let mut page = GrayImage::from_pixel(width, height, Luma([255]));
    let mut x = 0;
    for code in codes {
        image::imageops::replace(&mut page, code, i64::from(x), 0);
        x += code.width();
    }
    page
}

fn png_bytes(picture: &GrayImage) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    picture
        .write_to(&mut out, ImageFormat::Png)
        .expect("PNG encodes");
    out.into_inner()
}

#[test]
fn a_card_payload_round_trips_through_a_png_file() {
    let text = payload(1);
    assert_eq!(text.len(), 175);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("card.png");
    std::fs::write(&path, png_bytes(&code_image(&text))).expect("write PNG");

    assert_eq!(
        decode_image_file(&path).expect("decodes"),
        vec![text.clone()]
    );
    assert!(looks_like_image(path.to_str().expect("UTF-8 path")));
}

#[test]
fn a_jpeg_at_quality_70_decodes() {
    let text = payload(2);
    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpeg, 70)
        .encode_image(&code_image(&text))
        .expect("JPEG encodes");
    assert_eq!(decode_image_bytes(&jpeg).expect("decodes"), vec![text]);
}

#[test]
fn three_codes_side_by_side_are_all_found_left_to_right() {
    let texts: Vec<String> = (10..13).map(payload).collect();
    let codes: Vec<GrayImage> = texts.iter().map(|t| code_image(t)).collect();
    let found = decode_image_bytes(&png_bytes(&row_of(&codes))).expect("decodes");
    assert_eq!(found, texts);
}

#[test]
fn the_same_code_twice_is_returned_once() {
    let text = payload(3);
    let code = code_image(&text);
    let found = decode_image_bytes(&png_bytes(&row_of(&[code.clone(), code]))).expect("decodes");
    assert_eq!(found, vec![text]);
}

#[test]
fn a_code_turned_a_quarter_is_read() {
    let text = payload(4);
    let turned = image::imageops::rotate90(&code_image(&text));
    assert_eq!(
        decode_image_bytes(&png_bytes(&turned)).expect("decodes"),
        vec![text]
    );
}

#[test]
fn a_camera_frame_of_grey_pixels_is_read() {
    let text = payload(5);
    let frame = code_image(&text);
    let (width, height) = frame.dimensions();
    assert_eq!(
        decode_luma(width, height, frame.as_raw()).expect("decodes"),
        vec![text]
    );
}

#[test]
fn a_code_on_a_transparent_background_is_read() {
    let text = payload(6);
    let code = code_image(&text);
    // Black modules on fully transparent (black) pixels.
    let clear = image::RgbaImage::from_fn(code.width(), code.height(), |x, y| {
        let dark = code.get_pixel(x, y).0[0] < 128;
        image::Rgba([0, 0, 0, if dark { 255 } else { 0 }])
    });
    let mut png = Cursor::new(Vec::new());
    clear
        .write_to(&mut png, ImageFormat::Png)
        .expect("PNG encodes");
    assert_eq!(
        decode_image_bytes(png.get_ref()).expect("decodes"),
        vec![text]
    );
}

#[test]
fn a_blank_page_has_no_code() {
    let blank = GrayImage::from_pixel(200, 200, Luma([255]));
    let e = decode_image_bytes(&png_bytes(&blank)).expect_err("nothing to find");
    assert_eq!(e.code, "no_code_found");
    assert!(e.message_ar.contains("امسح تاني"), "{}", e.message_ar);

    let e = decode_luma(1, 1, &[255]).expect_err("nothing to find");
    assert_eq!(e.code, "no_code_found");

    // Large and lopsided frames are retried at smaller sizes.
    for (width, height) in [(1_700, 1_700), (3_001, 43)] {
        let grey = vec![200; width * height];
        let e = decode_luma(width as u32, height as u32, &grey).expect_err("nothing");
        assert_eq!(e.code, "no_code_found");
    }
}

#[test]
fn bytes_that_are_not_a_picture_are_unreadable() {
    let mut state = 7_u32;
    let noise: Vec<u8> = (0..4096)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state.to_le_bytes()[0]
        })
        .collect();
    assert_eq!(
        decode_image_bytes(&noise).expect_err("not a picture").code,
        "image_unreadable"
    );

    // A PNG cut short.
    let png = png_bytes(&code_image(&payload(8)));
    assert_eq!(
        decode_image_bytes(&png[..png.len() / 2])
            .expect_err("truncated")
            .code,
        "image_unreadable"
    );
}

#[test]
fn a_missing_file_is_unreadable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let e = decode_image_file(&dir.path().join("nope.jpg")).expect_err("missing");
    assert_eq!(e.code, "image_unreadable");
    assert!(e.message.contains("nope.jpg"), "{}", e.message);
    assert_eq!(
        decode_image_file(dir.path()).expect_err("a folder").code,
        "image_unreadable"
    );
}

#[test]
fn a_frame_of_the_wrong_length_is_an_error() {
    assert_eq!(
        decode_luma(100, 100, &[255; 9_999])
            .expect_err("short")
            .code,
        "image_unreadable"
    );
    assert_eq!(
        decode_luma(0, 100, &[]).expect_err("empty").code,
        "image_unreadable"
    );
}

#[test]
fn huge_pictures_are_refused_before_decoding() {
    assert_eq!(
        decode_luma(10_000, 5_000, &[]).expect_err("too big").code,
        "image_too_large"
    );

    // A real PNG whose header claims 20 000 × 20 000 pixels.
    let mut png = png_bytes(&GrayImage::from_pixel(1, 1, Luma([255])));
    let ihdr = 8 + 4; // signature, then the chunk length
    png[ihdr + 4..ihdr + 8].copy_from_slice(&20_000_u32.to_be_bytes());
    png[ihdr + 8..ihdr + 12].copy_from_slice(&20_000_u32.to_be_bytes());
    let crc = crc32(&png[ihdr..ihdr + 4 + 13]);
    png[ihdr + 17..ihdr + 21].copy_from_slice(&crc.to_be_bytes());
    assert_eq!(
        decode_image_bytes(&png).expect_err("too big").code,
        "image_too_large"
    );
}

#[test]
fn image_arguments_are_told_from_card_texts() {
    assert!(looks_like_image("card.PNG"));
    assert!(looks_like_image("scans/family 12.jpeg"));
    assert!(looks_like_image("photo.jpg"));
    assert!(!looks_like_image(&payload(9)));
    assert!(!looks_like_image(""));
    assert!(!looks_like_image("QF1ABC"));
}

/// CRC-32 as PNG chunks use it.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = u32::MAX;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn a_printed_sheet_of_ten_cards_gives_all_ten_in_reading_order() {
    let texts: Vec<String> = (20..30).map(payload).collect();
    let codes: Vec<GrayImage> = texts.iter().map(|t| code_image(t)).collect();
    let top = row_of(&codes[..5]);
    let bottom = row_of(&codes[5..]);
    let mut sheet = GrayImage::from_pixel(top.width(), top.height() * 2, Luma([255]));
    image::imageops::replace(&mut sheet, &top, 0, 0);
    image::imageops::replace(&mut sheet, &bottom, 0, i64::from(top.height()));
    let found = decode_image_bytes(&png_bytes(&sheet)).expect("decodes");
    assert_eq!(found, texts);
}
