//! `qafila demo`: a small, real convoy for a newcomer to look at.
//!
//! It builds what a field day starts with, through the same façade the app
//! and every other command use, against a relay the caller runs (`make run`
//! starts one): a lead device that creates the convoy, the app's device
//! enrolled and approved, three dozen families registered in one village
//! with signed cards and a printable sheet, and stock loaded at the site.
//! Nothing is faked: the app then syncs with that relay like any device.
//!
//! Running it again on a directory that already holds a store changes
//! nothing, so `make run` can call it every time.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use clap::Args;
use qafila_app::convoy::NewConvoy;
use qafila_app::stock::{Movement, StockRequest};
use qafila_app::{App, system_clock};
use serde::Serialize;

use crate::failure::Failure;
use crate::output::{Output, Report};

/// The demo village, which is also the convoy's site.
pub const VILLAGE: &str = "كفر الشيخ سالم";

/// Families of the demo list: full name and household size.
const FAMILIES: &[(&str, u32)] = &[
    ("محمد أحمد عبد الله السيد", 5),
    ("فاطمة الزهراء محمود عبد الرحمن", 3),
    ("عبد الرحمن مصطفى إبراهيم الشرقاوي", 6),
    ("خديجة عبد الباسط علي حسن", 2),
    ("هدى سعيد الجمال", 4),
    ("مصطفى كامل محمود عيسى", 1),
    ("إسماعيل عبد الحليم حسن", 7),
    ("سيدة عبد الفتاح حسن علي", 5),
    ("أم هاشم محمد إبراهيم", 3),
    ("يوسف عادل عبد العزيز", 4),
    ("زينب عبد الله عمر", 2),
    ("كريم سامي عبد المنعم", 6),
    ("نادية فؤاد السيد", 3),
    ("حسن علي حسن البنا", 8),
    ("سعاد عبد الرحمن يوسف", 4),
    ("أحمد محمود إبراهيم", 6),
    ("منى علي عبد السلام", 2),
    ("عبد الله سعيد فرج", 5),
    ("رضا عبد الحميد شعبان", 3),
    ("شيماء محمد عطية", 4),
    ("جمال عبد الناصر سليمان", 7),
    ("عائشة حسين المنشاوي", 1),
    ("سامح فتحي عبد الغني", 5),
    ("وفاء رمضان عبد العال", 3),
    ("طارق عبد الله الدسوقي", 6),
    ("نجلاء السيد أبو زيد", 2),
    ("إبراهيم محمد الفقي", 4),
    ("صفاء عبد الرحيم خليل", 5),
    ("عمرو حمدي النجار", 3),
    ("هناء محمود الشاذلي", 4),
    ("محمود عبد العظيم قنديل", 9),
    ("رانيا أحمد الصاوي", 2),
    ("عادل فهمي عبد القادر", 6),
    ("سمية عبد الله البدوي", 3),
    ("ياسر سعد الدين", 5),
    ("أمل عبد المقصود", 4),
];

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The relay the demo convoy syncs through (start one with `qafila relay serve`).
    #[arg(long)]
    relay: String,
    /// The convoy lead's data directory (the demo's second device).
    #[arg(long, value_name = "DIR")]
    lead_dir: PathBuf,
}

#[derive(Debug, Serialize)]
struct DemoDto {
    created: bool,
    data_dir: String,
    village: String,
    families: usize,
    cards_sheet: Option<String>,
    card_texts: Vec<String>,
}

impl Report for DemoDto {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        if !self.created {
            return writeln!(
                out,
                "The demo convoy is already set up in {}",
                self.data_dir
            );
        }
        writeln!(
            out,
            "Demo convoy ready: {} families in {}, cards issued, stock loaded.",
            self.families, self.village
        )?;
        if let Some(sheet) = &self.cards_sheet {
            writeln!(out, "  printable cards: {sheet}")?;
        }
        writeln!(out, "  type or paste one of these on the Scan screen:")?;
        for text in &self.card_texts {
            writeln!(out, "    {text}")?;
        }
        Ok(())
    }
}

pub fn run(dir: &Path, args: DemoArgs, output: &Output) -> anyhow::Result<()> {
    if dir.join("qafila.db").exists() {
        return output.emit(&DemoDto {
            created: false,
            data_dir: dir.display().to_string(),
            village: VILLAGE.into(),
            families: 0,
            cards_sheet: None,
            card_texts: Vec::new(),
        });
    }
    let passphrase = crate::device::new_passphrase()?;
    let report = build(dir, &args, &passphrase).map_err(Failure::from)?;
    output.emit(&report)
}

fn build(
    dir: &Path,
    args: &DemoArgs,
    passphrase: &qafila_app::Passphrase,
) -> Result<DemoDto, qafila_app::AppError> {
    let lead = if args.lead_dir.join("qafila.db").exists() {
        App::open(&args.lead_dir, passphrase, system_clock())?
    } else {
        App::init(&args.lead_dir, "قائد القافلة", passphrase, system_clock())?
    };
    let today = lead.today().to_string();
    let sites = vec![VILLAGE.to_owned()];
    let convoy = lead.convoy_create(
        &NewConvoy {
            name: "قافلة الخير (عرض)",
            day: &today,
            sites: &sites,
            codes: 1,
            time: qafila_app::time::ConvoyTime::default(),
        },
        &args.relay,
        None,
    )?;
    // Where the site is and who runs it, for the day report and exports.
    lead.describe_site(VILLAGE, "15", "سيدي سالم", "جمعية الخير (عرض)")?;
    let app = App::init(dir, "جهاز المتطوع", passphrase, system_clock())?;
    app.enroll(&args.relay, &convoy.codes[0])?;
    // The app's device enrolled with the lead's own code: its keys are
    // bound to it, so no fingerprint needs typing. It is the registrar.
    lead.convoy_approve(
        Some(&convoy.id),
        &app.device().id,
        qafila_app::convoy::parse_role("registrar")?,
        None,
    )?;
    lead.sync(Some(&convoy.id), None, 3)?;
    app.sync(Some(&convoy.id), None, 3)?;

    // The registrar's afternoon, on the app's device.
    let mut csv = String::from("\u{feff}الاسم,عدد أفراد الأسرة,القرية\n");
    for (name, size) in FAMILIES {
        csv.push_str(&format!("{name},{size},{VILLAGE}\n"));
    }
    let list = dir.join("demo-families.csv");
    std::fs::write(&list, csv).map_err(io_error)?;
    app.import_beneficiaries(&list, false, |_, _| {})?;
    let _ = std::fs::remove_file(&list);
    app.create_issuer("جمعية الخير (عرض)")?;
    let sheet = dir.join("demo-cards.html");
    let issued = app.issue_cards(Some(VILLAGE), None, Some(&sheet))?;
    // The lead loads the truck (stock is the lead's and storekeepers' work).
    for (item, qty) in [("food_box", "200"), ("blanket", "120"), ("meat_kg", "150")] {
        lead.stock(
            Movement::Load,
            StockRequest {
                site: VILLAGE.into(),
                item: item.into(),
                qty: qty.into(),
                waybill: Some("WB-DEMO-1".into()),
                ..StockRequest::default()
            },
        )?;
    }
    app.sync(Some(&convoy.id), None, 3)?;
    lead.sync(Some(&convoy.id), None, 3)?;
    app.sync(Some(&convoy.id), None, 3)?;

    let card_texts = app.card_texts(
        &issued
            .issued
            .iter()
            .take(5)
            .map(|c| c.number.clone())
            .collect::<Vec<_>>(),
    )?;
    let path = dir.join("demo-cards.txt");
    std::fs::write(&path, card_texts.join("\n") + "\n").map_err(io_error)?;
    Ok(DemoDto {
        created: true,
        data_dir: dir.display().to_string(),
        village: VILLAGE.into(),
        families: FAMILIES.len(),
        cards_sheet: Some(sheet.display().to_string()),
        card_texts,
    })
}

fn io_error(e: std::io::Error) -> qafila_app::AppError {
    qafila_app::AppError::new(
        "demo_write",
        format!("cannot write the demo files: {e}"),
        "مش قادر أكتب ملفات العرض",
    )
}
