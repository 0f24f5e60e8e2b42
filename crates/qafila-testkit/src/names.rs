//! Realistic Egyptian registries for benchmarks and tests: four-part Arabic
//! names (given name, father, grandfather, family) drawn from common names
//! with their usual spelling variants, villages, household sizes and valid
//! national IDs. Deterministic for a seed.

/// Common male given names, with spellings registrars actually type.
pub const MALE: &[&str] = &[
    "محمد",
    "أحمد",
    "احمد",
    "محمود",
    "مصطفى",
    "مصطفي",
    "علي",
    "على",
    "حسن",
    "حسين",
    "إبراهيم",
    "ابراهيم",
    "عبد الله",
    "عبدالله",
    "عبد الرحمن",
    "عبد العزيز",
    "عبد الحميد",
    "عبد المنعم",
    "السيد",
    "سيد",
    "خالد",
    "عمرو",
    "عمر",
    "يوسف",
    "ياسر",
    "طارق",
    "هشام",
    "أسامة",
    "اسامه",
    "كريم",
    "رمضان",
    "شعبان",
    "سعيد",
    "جمال",
    "صلاح",
    "عادل",
    "فتحي",
    "سمير",
    "مجدي",
    "رضا",
    "حمدي",
    "ناصر",
    "وليد",
    "أشرف",
    "اشرف",
    "عصام",
    "محسن",
    "رجب",
    "عاطف",
    "نبيل",
    "ممدوح",
    "صابر",
    "فوزي",
    "شريف",
    "هاني",
    "أيمن",
    "ايمن",
    "إسماعيل",
    "اسماعيل",
    "زكريا",
    "يحيى",
    "موسى",
    "عيسى",
    "نور الدين",
    "علاء الدين",
    "أبو بكر",
    "جابر",
];

/// Common female given names.
pub const FEMALE: &[&str] = &[
    "فاطمة",
    "فاطمه",
    "مريم",
    "زينب",
    "عائشة",
    "عايشة",
    "خديجة",
    "سعاد",
    "هدى",
    "منى",
    "نادية",
    "ناديه",
    "أمل",
    "امل",
    "سامية",
    "سميرة",
    "نجلاء",
    "رشا",
    "هبة",
    "هبه",
    "إيمان",
    "ايمان",
    "أسماء",
    "اسماء",
    "نورا",
    "سارة",
    "ساره",
    "دعاء",
    "آمنة",
    "امنه",
    "صفاء",
    "وفاء",
    "رحمة",
    "شيماء",
    "هند",
    "ليلى",
    "سلمى",
    "نعمة",
    "حنان",
    "عزة",
    "جميلة",
    "كريمة",
    "صباح",
    "أم هاشم",
    "بسمة",
    "رضوى",
    "ياسمين",
];

/// Family names.
pub const FAMILY: &[&str] = &[
    "الشربيني",
    "شربيني",
    "عبد الرحمن",
    "السيد",
    "حسن",
    "إبراهيم",
    "المصري",
    "النجار",
    "الحداد",
    "عطية",
    "عبد العال",
    "عبد الغني",
    "سليمان",
    "الشافعي",
    "البنا",
    "الجمال",
    "منصور",
    "فرج",
    "عوض",
    "شحاتة",
    "شحاته",
    "بدوي",
    "الصعيدي",
    "القاضي",
    "خليل",
    "درويش",
    "رزق",
    "سالم",
    "زكي",
    "غنيم",
    "حجازي",
    "الفقي",
    "عامر",
    "مرسي",
    "قنديل",
    "هلال",
    "الديب",
    "الخولي",
    "أبو زيد",
    "ابو زيد",
    "عبد الله",
    "الطحان",
    "مبروك",
    "يونس",
    "عثمان",
    "متولي",
    "الشناوي",
    "البدري",
    "الزيات",
    "العربي",
    "شلبي",
];

/// Villages on convoy routes.
pub const VILLAGES: &[&str] = &[
    "كفر الشيخ سالم",
    "ميت غمر",
    "شبرا ملس",
    "نوسا البحر",
    "كفر الدوار",
    "أبو حمص",
    "منية النصر",
    "دكرنس",
    "بني عبيد",
    "الجمالية",
    "تلا",
    "الباجور",
    "أشمون",
    "قويسنا",
    "بركة السبع",
    "منوف",
    "سمالوط",
    "ملوي",
    "دير مواس",
    "أبو قرقاص",
    "ساحل سليم",
    "البداري",
    "طما",
    "جرجا",
    "البلينا",
];

/// A small deterministic generator (xorshift), so fixtures are the same on
/// every machine for a seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed` (zero is replaced: xorshift needs a set bit).
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number below `n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// One element.
    pub fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len() as u64) as usize]
    }
}

/// A generated person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// Four-part (sometimes three-part) name.
    pub name: String,
    /// A valid 14-digit national ID (unique per index).
    pub national_id: String,
    /// Household size, 1..=12, mostly 3–7.
    pub household_size: u32,
    /// Village.
    pub village: String,
}

/// Person number `index` of the registry for `seed`.
pub fn person(seed: u64, index: u64) -> Person {
    let mut rng = Rng::new(seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    // Sex follows the index so that the national ID (whose 13th digit is
    // odd for men) stays unique per index.
    let female = index.is_multiple_of(2);
    let given = if female {
        rng.pick(FEMALE)
    } else {
        rng.pick(MALE)
    };
    let father = rng.pick(MALE);
    let grandfather = rng.pick(MALE);
    let family = rng.pick(FAMILY);
    let name = if rng.below(5) == 0 {
        format!("{given} {father} {family}")
    } else {
        format!("{given} {father} {grandfather} {family}")
    };
    // Century 2 or 3 at random; the birth day and the serial come from the
    // index, which makes the number unique for up to 3.3 million people.
    let year = 40 + rng.below(60);
    let (century, yy) = if year >= 100 {
        (3, year - 100)
    } else {
        (2, year)
    };
    let day_of_year = index / 10_000 % 336;
    let (month, day) = (day_of_year / 28 + 1, day_of_year % 28 + 1);
    let governorates = [
        1u64, 2, 12, 13, 14, 15, 16, 17, 18, 21, 22, 23, 24, 25, 26, 27, 28,
    ];
    let governorate = governorates[rng.below(governorates.len() as u64) as usize];
    let serial = index % 10_000;
    let check = rng.below(10);
    let national_id =
        format!("{century}{yy:02}{month:02}{day:02}{governorate:02}{serial:04}{check}");
    let household_size = match rng.below(10) {
        0 => 1 + rng.below(2) as u32,
        1..=7 => 3 + rng.below(5) as u32,
        _ => 8 + rng.below(5) as u32,
    };
    Person {
        name,
        national_id,
        household_size,
        village: rng.pick(VILLAGES).to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_people_are_valid_unique_and_stable() {
        let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        let mut ids = std::collections::BTreeSet::new();
        for index in 0..20_000 {
            let p = person(7, index);
            let nid = qafila_domain::nid::NationalId::parse(&p.national_id, today).unwrap();
            let male = nid.sex() == qafila_domain::nid::Sex::Male;
            assert_eq!(male, index % 2 == 1);
            assert!(
                ids.insert(p.national_id.clone()),
                "duplicate national ID at {index}"
            );
            assert!(p.name.split(' ').count() >= 3);
        }
        assert_eq!(person(7, 42), person(7, 42));
    }
}
