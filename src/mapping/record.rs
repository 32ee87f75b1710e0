//! The whole record's attached kinds (issue 20) as a mapping sees them: the fields a
//! requisite, a bank detail and an address may set, each from its method's fields page
//! (`api-reference/crm/requisites/universal/crm-requisite-fields.md`,
//! `.../bank-detail/crm-requisite-bank-detail-fields.md`, `.../addresses/crm-address-fields.md`;
//! the sandbox's `sandbox/src/methods/record/*.fields.json` hold the same tables), and the
//! fields an import never lets a mapping write (the owner, the preset, the key).
//!
//! Must not: build payloads (that is `payload::record`'s) or read anything.

use super::spec::ValueType;

use ValueType::{Int, String as Str};

/// The writable fields of `crm.requisite.fields` (read-only ones left out). `ENTITY_TYPE_ID`,
/// `ENTITY_ID` come from the parent, `PRESET_ID` from `preset`, `XML_ID` from the row key.
pub(super) const REQUISITE_FIELDS: &[(&str, ValueType)] = &[
    ("NAME", Str),
    ("CODE", Str),
    ("ACTIVE", Str),
    ("ADDRESS_ONLY", Str),
    ("SORT", Int),
    ("RQ_NAME", Str),
    ("RQ_FIRST_NAME", Str),
    ("RQ_LAST_NAME", Str),
    ("RQ_SECOND_NAME", Str),
    ("RQ_COMPANY_ID", Str),
    ("RQ_COMPANY_NAME", Str),
    ("RQ_COMPANY_FULL_NAME", Str),
    ("RQ_COMPANY_REG_DATE", Str),
    ("RQ_DIRECTOR", Str),
    ("RQ_ACCOUNTANT", Str),
    ("RQ_CEO_NAME", Str),
    ("RQ_CEO_WORK_POS", Str),
    ("RQ_CONTACT", Str),
    ("RQ_EMAIL", Str),
    ("RQ_PHONE", Str),
    ("RQ_FAX", Str),
    ("RQ_IDENT_TYPE", Str),
    ("RQ_IDENT_DOC", Str),
    ("RQ_IDENT_DOC_SER", Str),
    ("RQ_IDENT_DOC_NUM", Str),
    ("RQ_IDENT_DOC_PERS_NUM", Str),
    ("RQ_IDENT_DOC_DATE", Str),
    ("RQ_IDENT_DOC_ISSUED_BY", Str),
    ("RQ_IDENT_DOC_DEP_CODE", Str),
    ("RQ_INN", Str),
    ("RQ_KPP", Str),
    ("RQ_USRLE", Str),
    ("RQ_IFNS", Str),
    ("RQ_OGRN", Str),
    ("RQ_OGRNIP", Str),
    ("RQ_OKPO", Str),
    ("RQ_OKTMO", Str),
    ("RQ_OKVED", Str),
    ("RQ_EDRPOU", Str),
    ("RQ_DRFO", Str),
    ("RQ_KBE", Str),
    ("RQ_IIN", Str),
    ("RQ_BIN", Str),
    ("RQ_ST_CERT_SER", Str),
    ("RQ_ST_CERT_NUM", Str),
    ("RQ_ST_CERT_DATE", Str),
    ("RQ_VAT_PAYER", Str),
    ("RQ_VAT_ID", Str),
    ("RQ_VAT_CERT_SER", Str),
    ("RQ_VAT_CERT_NUM", Str),
    ("RQ_VAT_CERT_DATE", Str),
    ("RQ_RESIDENCE_COUNTRY", Str),
    ("RQ_BASE_DOC", Str),
    ("RQ_REGON", Str),
    ("RQ_KRS", Str),
    ("RQ_PESEL", Str),
    ("RQ_LEGAL_FORM", Str),
    ("RQ_SIRET", Str),
    ("RQ_SIREN", Str),
    ("RQ_CAPITAL", Str),
    ("RQ_RCS", Str),
    ("RQ_CNPJ", Str),
    ("RQ_STATE_REG", Str),
    ("RQ_MNPL_REG", Str),
    ("RQ_CPF", Str),
];

/// The writable fields of `crm.requisite.bankdetail.fields`; `ENTITY_ID` comes from the
/// parent requisite, `XML_ID` from the row key.
pub(super) const BANK_DETAIL_FIELDS: &[(&str, ValueType)] = &[
    ("COUNTRY_ID", Int),
    ("NAME", Str),
    ("CODE", Str),
    ("ACTIVE", Str),
    ("SORT", Int),
    ("RQ_BANK_NAME", Str),
    ("RQ_BANK_ADDR", Str),
    ("RQ_BANK_CODE", Str),
    ("RQ_AGENCY_NAME", Str),
    ("RQ_BANK_ROUTE_NUM", Str),
    ("RQ_BIK", Str),
    ("RQ_MFO", Str),
    ("RQ_ACC_NAME", Str),
    ("RQ_ACC_NUM", Str),
    ("RQ_ACC_TYPE", Str),
    ("RQ_IIK", Str),
    ("RQ_ACC_CURRENCY", Str),
    ("RQ_COR_ACC_NUM", Str),
    ("RQ_IBAN", Str),
    ("RQ_SWIFT", Str),
    ("RQ_BIC", Str),
    ("RQ_CODEB", Str),
    ("RQ_CODEG", Str),
    ("RQ_RIB", Str),
    ("COMMENTS", Str),
];

/// The writable fields of `crm.address.fields`; `ENTITY_TYPE_ID` (8, a requisite) and
/// `ENTITY_ID` come from the parent requisite.
pub(super) const ADDRESS_FIELDS: &[(&str, ValueType)] = &[
    ("TYPE_ID", Int),
    ("ADDRESS_1", Str),
    ("ADDRESS_2", Str),
    ("CITY", Str),
    ("POSTAL_CODE", Str),
    ("REGION", Str),
    ("PROVINCE", Str),
    ("COUNTRY", Str),
    ("COUNTRY_CODE", Str),
];

/// Fields a requisite, bank detail or address step must not map: the importer writes them
/// itself (the owner from `parent`, the preset from `preset`, the key from the row key).
pub const SET_BY_THE_IMPORT: &[&str] = &["ENTITY_TYPE_ID", "ENTITY_ID", "PRESET_ID", "XML_ID"];
