//! Registering, finding and erasing beneficiaries.

use qafila_domain::ids::{BeneficiaryId, HouseholdId};
use qafila_domain::nid::NationalId;
use qafila_store::registry::{Beneficiary, Registration};

use crate::dto::{BeneficiaryDto, RegisteredDto, VillageDto};
use crate::{App, AppError, parse_id};

/// A person to register, as typed by a registrar.
#[derive(Debug, Clone, Default)]
pub struct NewBeneficiary {
    /// Full name.
    pub name: String,
    /// People in the household.
    pub household_size: u32,
    /// Village.
    pub village: String,
    /// National ID in any digits, if known.
    pub national_id: Option<String>,
    /// Phone, if any.
    pub phone: Option<String>,
    /// An existing household id to join.
    pub household: Option<String>,
}

pub(crate) fn to_dto(b: Beneficiary, score: Option<f32>) -> BeneficiaryDto {
    BeneficiaryDto {
        id: b.id.to_string(),
        household: b.household.to_string(),
        name: b.name,
        village: b.village,
        household_size: b.household_size,
        phone: b.phone,
        national_id_last4: b.nid_last4,
        erased: b.erased,
        score,
    }
}

impl App {
    /// Registers a person; a national ID already registered is refused with
    /// the existing person named.
    pub fn add_beneficiary(&self, new: NewBeneficiary) -> Result<RegisteredDto, AppError> {
        let (now, today) = self.now();
        if new.name.trim().is_empty() {
            return Err(AppError::new(
                "name_required",
                "the beneficiary's name is required",
                "لازم تكتب اسم المستفيد",
            ));
        }
        let national_id = match new.national_id.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => Some(
                NationalId::parse(text, today)
                    .map_err(|e| AppError::new(e.code(), e.to_string(), e.message_ar()))?,
            ),
        };
        let household = match &new.household {
            Some(text) => Some(parse_id::<HouseholdId>(text, "household")?),
            None => None,
        };
        let (beneficiary, household) = self.store.register(
            Registration {
                name: new.name,
                national_id,
                phone: new.phone.filter(|p| !p.trim().is_empty()),
                household,
                household_size: new.household_size,
                village: new.village,
            },
            self.volunteer,
            now,
        )?;
        Ok(RegisteredDto {
            beneficiary: beneficiary.to_string(),
            household: household.to_string(),
            likely_duplicates: self.duplicates_of(beneficiary)?,
        })
    }

    /// Finds people by name (any spelling of hamza, ta marbuta, alef
    /// maqsura; diacritics; partial names) or by national ID, best first.
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<BeneficiaryDto>, AppError> {
        let (_, today) = self.now();
        Ok(self
            .store
            .search(query, today, limit)?
            .into_iter()
            .map(|hit| to_dto(hit.beneficiary, Some(hit.score)))
            .collect())
    }

    /// Resolves a beneficiary given by id or by national ID.
    pub fn find_beneficiary(&self, text: &str) -> Result<Beneficiary, AppError> {
        let (_, today) = self.now();
        let found = match NationalId::parse(text, today) {
            Ok(nid) => self.store.find_by_national_id(&nid)?,
            Err(_) => self
                .store
                .beneficiary(parse_id::<BeneficiaryId>(text, "beneficiary")?)?,
        };
        // An entry merged into another stands for the one it was merged into.
        let found = match found {
            Some(entry) => match self.store.merged_into(entry.id)? {
                Some(kept) => self.store.beneficiary(kept)?.or(Some(entry)),
                None => Some(entry),
            },
            None => None,
        };
        found.ok_or_else(|| {
            AppError::new(
                "unknown_beneficiary",
                format!(
                    "no beneficiary `{text}` in this device's registry; search by name to find them"
                ),
                format!("المستفيد «{text}» مش موجود في سجل الجهاز ده؛ دوّر بالاسم"),
            )
        })
    }

    /// The villages of the registry, with how many people each has.
    pub fn villages(&self) -> Result<Vec<VillageDto>, AppError> {
        Ok(self
            .store
            .villages()?
            .into_iter()
            .map(|(name, count)| VillageDto { name, count })
            .collect())
    }

    /// One beneficiary.
    pub fn beneficiary(&self, text: &str) -> Result<BeneficiaryDto, AppError> {
        Ok(to_dto(self.find_beneficiary(text)?, None))
    }

    /// Erases a person's personal data for good; their pseudonymous history
    /// keeps counting in stock and reports.
    pub fn erase_beneficiary(&self, text: &str, reason: &str) -> Result<BeneficiaryDto, AppError> {
        let who = self.find_beneficiary(text)?;
        if reason.trim().is_empty() {
            return Err(AppError::new(
                "reason_required",
                "give a reason for erasing this person's data (e.g. their request)",
                "اكتب سبب مسح البيانات (مثلاً طلب المستفيد)",
            ));
        }
        let (now, _) = self.now();
        self.store.erase(who.id, reason, self.volunteer, now)?;
        self.beneficiary(&who.id.to_string())
    }
}
