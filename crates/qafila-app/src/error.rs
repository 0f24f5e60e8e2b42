//! The façade's errors: a stable code the UI and scripts branch on, and a
//! message in Arabic and English that tells a volunteer what to do.

use qafila_domain::item::ItemCode;
use qafila_domain::quantity::{Balance, Quantity};
use qafila_store::StoreError;
use serde::Serialize;
use ts_rs::TS;

/// An error as a shell shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error, TS)]
#[error("{message}")]
pub struct AppError {
    /// Stable, snake_case.
    pub code: &'static str,
    /// English.
    pub message: String,
    /// Egyptian Arabic.
    pub message_ar: String,
    /// Whether trying again later may work.
    pub retryable: bool,
}

impl AppError {
    /// An error from its parts.
    pub fn new(
        code: &'static str,
        message: impl Into<String>,
        message_ar: impl Into<String>,
    ) -> Self {
        Self {
            code,
            message: message.into(),
            message_ar: message_ar.into(),
            retryable: false,
        }
    }

    /// A request argument that is not valid (a bad id, date or quantity).
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::new(
            code,
            message.clone(),
            format!("البيانات غير صحيحة: {message}"),
        )
    }

    /// More than the household may still receive.
    pub fn over_entitlement(item: ItemCode, asked: Quantity, remaining: Quantity) -> Self {
        Self::new(
            "over_entitlement",
            format!(
                "this household may receive only {remaining} more of {} this round (asked {asked}); \
                 hand out less, or record an override with a reason",
                item.name_en()
            ),
            format!(
                "الأسرة دي فاضل لها {remaining} بس من {} في الجولة دي (المطلوب {asked})؛ \
                 اصرف كمية أقل، أو سجّل استثناء مع ذكر السبب",
                item.name_ar()
            ),
        )
    }

    /// A count that differs from the expected stock and gives no reason.
    pub fn variance_needs_reason(item: ItemCode, expected: Balance, counted: Quantity) -> Self {
        Self::new(
            "variance_reason_required",
            format!(
                "counted {counted} of {} but {expected} were expected; give a reason code \
                 (counting_error, damaged, spoiled, theft, unrecorded_hand_out, unrecorded_delivery, other)",
                item.name_en()
            ),
            format!(
                "العدد {counted} من {} لكن المتوقع {expected}؛ اختار سبب الفرق",
                item.name_ar()
            ),
        )
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        let ar = match &e {
            StoreError::NotInitialised(_) => {
                "مفيش بيانات على الجهاز ده لسه: ابدأ بأمر qafila init".to_owned()
            }
            StoreError::AlreadyInitialised(_) => "الجهاز ده متسجّل قبل كده؛ ماتغيّرش حاجة".to_owned(),
            StoreError::Corrupt { .. } => {
                "ملف البيانات تالف: احتفظ بالملف واسترجع آخر نسخة احتياطية أو زامن جهاز جديد"
                    .to_owned()
            }
            StoreError::NewerSchema { .. } => {
                "البيانات دي من إصدار أحدث من قافلة: حدّث البرنامج".to_owned()
            }
            StoreError::Busy => "البيانات مفتوحة في برنامج تاني؛ اقفله وحاول تاني".to_owned(),
            StoreError::DuplicateNationalId { name, .. } => {
                format!("الرقم القومي ده متسجّل قبل كده باسم {name}")
            }
            StoreError::UnknownBeneficiary(_) => "المستفيد ده مش موجود في السجل".to_owned(),
            StoreError::Invalid(invalid) => format!("البيانات غير صحيحة: {invalid}"),
            StoreError::Forbidden(forbidden) => forbidden.message_ar(),
            StoreError::CardSerialsExhausted => {
                "مفتاح الإصدار ده خلّص أرقام الكروت؛ اعمل مفتاح جديد بأمر qafila cards issuer"
                    .to_owned()
            }
            StoreError::WrongPassphrase {
                attempts_left,
                retry_in_s: 0,
            } => format!("كلمة السر غلط؛ فاضل {attempts_left} محاولات قبل الانتظار"),
            StoreError::WrongPassphrase { retry_in_s, .. }
            | StoreError::TooManyAttempts { retry_in_s } => {
                format!("كلمة السر اتكتبت غلط كذا مرة؛ استنى {retry_in_s} ثانية وجرّب تاني")
            }
            StoreError::WeakPassphrase { min_chars } => format!(
                "اختار كلمة سر من {min_chars} حروف على الأقل (كام كلمة ورا بعض أسهل في الحفظ)"
            ),
            StoreError::PassphraseRequired => {
                "بيانات الجهاز محمية بكلمة سر: اكتبها الأول".to_owned()
            }
            StoreError::KeyFileDamaged { .. } => {
                "ملف المفتاح qafila.key ناقص أو تالف: رجّعه من النسخة الاحتياطية للجهاز، من غيره البيانات مش هتتفتح"
                    .to_owned()
            }
            StoreError::BackupDamaged(_) => {
                "الملف ده مش نسخة احتياطية لمفاتيح قافلة، أو تالف".to_owned()
            }
            StoreError::WrongBackupPassphrase => {
                "كلمة سر النسخة الاحتياطية غلط، أو الملف اتعدّل؛ ماترجّعش حاجة".to_owned()
            }
            StoreError::RestorePending => {
                "اللابتوب ده اترجّع من نسخة احتياطية ولسه ماخدش سجل القائد: زامن مع سيرفر القافلة الأول"
                    .to_owned()
            }
            other => format!("حصلت مشكلة في التخزين: {other}"),
        };
        let mut out = AppError::new(e.code(), e.to_string(), ar);
        out.retryable = e.is_retryable();
        out
    }
}

impl From<qafila_domain::event::InvalidEvent> for AppError {
    fn from(e: qafila_domain::event::InvalidEvent) -> Self {
        AppError::from(StoreError::Invalid(e))
    }
}
