//! Names as the portal spells and limits them: a CRM custom field is one field whether a
//! mapping writes it `UF_CRM_X` or in the camelCase of `crm.item.*`, and names the portal can
//! never accept are mapping errors before any request.
//!
//! Owns: the conversion between a custom field's `FIELD_NAME` and its camelCase name ([`upper`],
//! [`camel`]), the spelling a step's requests need ([`spelling`]: `useOriginalUfNames` = `Y`
//! wants `UF_CRM_…`, `N` the camelCase), and the offline name checks ([`check`]). Pure: no I/O.
//!
//! The rule, from `api-reference/crm/universal/index.md` ("Field Naming Conventions", the public
//! docs repository bitrix24/b24restdocs):
//! - *regular* conversion when only digits or only letters follow `UF_CRM_` and the object
//!   number: underscores between numeric blocks are kept, the others dropped, each letter word
//!   capitalised: `UF_CRM_10_5186744711` <-> `ufCrm10_5186744711`, `UF_CRM_10_DIGIT` <->
//!   `ufCrm10Digit`, `UF_CRM_MY_FIELD` <-> `ufCrmMyField`;
//! - *simplified* conversion otherwise (letters and digits mixed, or digits alone): only the
//!   prefix changes, `UF_CRM_` <-> `ufCrm_`: `UF_CRM_3_DIGIT10` <-> `ufCrm_3_DIGIT10`,
//!   `UF_CRM_1747309879` <-> `ufCrm_1747309879`.
//!
//! (The page adds that a converted name already taken by another field of the object is
//! returned in its `UPPER_CASE` form; that collision is the portal's to report and is not
//! guessed here.)
//!
//! Limits: a custom field's `FIELD_NAME` is at most 50 characters, `UF_CRM_` included, of
//! `A-Z0-9_` (`../shared/bitrix24.md` §6, the `userfieldconfig.add` and
//! `crm.contact.userfield.add` pages).

use std::ops::Range;

use super::spec::{FieldSpec, MappingSpec};

/// The longest `FIELD_NAME` the portal accepts, prefix included.
pub const MAX_FIELD_NAME: usize = 50;

/// The `FIELD_NAME` of a CRM custom field named either way (`ufCrm10Digit` ->
/// `UF_CRM_10_DIGIT`, `uf_crm_x` -> `UF_CRM_X`); `None` for a name that is not a CRM custom
/// field's.
pub fn upper(name: &str) -> Option<String> {
    if name.get(..7).is_some_and(|p| p.eq_ignore_ascii_case("UF_CRM_")) {
        return Some(name.to_ascii_uppercase());
    }
    let rest = name.strip_prefix("ufCrm")?;
    if let Some(tail) = rest.strip_prefix('_') {
        return Some(format!("UF_CRM_{}", tail.to_ascii_uppercase()));
    }
    // Regular: an optional object number, then digits blocks (`_`-separated) or words.
    let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
    let (number, words) = rest.split_at(digits);
    let mut out = String::from("UF_CRM_");
    out.push_str(number);
    if words.is_empty() {
        return Some(out);
    }
    if let Some(blocks) = words.strip_prefix('_') {
        out.push('_');
        out.push_str(&blocks.to_ascii_uppercase());
        return Some(out);
    }
    if !number.is_empty() {
        out.push('_');
    }
    for (i, c) in words.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    Some(out)
}

/// The camelCase name `crm.item.*` gives the custom field `FIELD_NAME` `upper` (see the module
/// docs for the rule); a name without the `UF_CRM_` prefix is returned as it is.
pub fn camel(upper: &str) -> String {
    let Some(rest) = upper.strip_prefix("UF_CRM_") else { return upper.to_string() };
    let parts: Vec<&str> = rest.split('_').collect();
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    let letters = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphabetic());
    // An object number followed by numeric blocks: `UF_CRM_10_5186744711`.
    if parts.len() >= 2 && parts.iter().all(|p| digits(p)) {
        return format!("ufCrm{}_{}", parts[0], parts[1..].join("_"));
    }
    let (number, words) = match parts.split_first() {
        Some((n, w)) if digits(n) && !w.is_empty() => (*n, w),
        _ => ("", &parts[..]),
    };
    if words.iter().all(|w| letters(w)) {
        let mut out = format!("ufCrm{number}");
        for w in words {
            let lower = w.to_ascii_lowercase();
            out.push_str(&lower[..1].to_ascii_uppercase());
            out.push_str(&lower[1..]);
        }
        return out;
    }
    format!("ufCrm_{rest}")
}

/// How a step's requests must spell the field `name`: custom fields as `UF_CRM_…` when the
/// step sends `useOriginalUfNames = Y`, in camelCase otherwise; other names as written.
pub fn spelling(name: &str, original_uf_names: bool) -> String {
    match upper(name) {
        Some(u) if original_uf_names => u,
        Some(u) => camel(&u),
        None => name.to_string(),
    }
}

/// A name the portal can never accept, or two spellings of one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameProblem {
    pub span: Range<usize>,
    pub message: String,
}

/// The offline name checks of a CRM step's `[fields]` (`(name, span, creates)` as written):
/// a custom field name longer than the portal allows, one with characters a `FIELD_NAME` cannot
/// hold (when the step creates it), and one field written twice in two spellings.
pub fn check(fields: &[(&str, Range<usize>, bool)]) -> Vec<NameProblem> {
    let mut out = Vec::new();
    let mut seen: Vec<(String, &str)> = Vec::new();
    for (name, span, creates) in fields {
        let Some(up) = upper(name) else { continue };
        let len = up.chars().count();
        if len > MAX_FIELD_NAME {
            out.push(NameProblem {
                span: span.clone(),
                message: format!(
                    "field `{name}`: the portal's custom field names are at most {MAX_FIELD_NAME} characters, \
                     `UF_CRM_` included; `{up}` has {len}: shorten it"
                ),
            });
        } else if *creates && !up.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_') {
            out.push(NameProblem {
                span: span.clone(),
                message: format!(
                    "field `{name}`: a custom field name may hold only A-Z, 0-9 and `_` (`{up}`)"
                ),
            });
        }
        match seen.iter().find(|(u, _)| *u == up) {
            Some((_, first)) => out.push(NameProblem {
                span: span.clone(),
                message: format!(
                    "field `{name}` is the custom field `{first}` again (both are `{up}` in the portal): keep one"
                ),
            }),
            None => seen.push((up, name)),
        }
    }
    out
}

/// Every name problem of a CRM step's mapping: its `[fields]` ([`check`]) and the titles of
/// its smart process and workspace ([`check_title`]).
pub fn check_spec(spec: &MappingSpec) -> Vec<NameProblem> {
    let written: Vec<(&str, Range<usize>, bool)> = spec
        .fields
        .iter()
        .map(|(n, f)| {
            let creates = matches!(f, FieldSpec::Rule(r) if r.create.is_some());
            (n.get_ref().as_str(), n.span(), creates)
        })
        .collect();
    let mut problems = check(&written);
    if let Some(t) = &spec.target.smart_process {
        problems.extend(check_title("smart process", t.get_ref().trim(), t.span()));
    }
    if let Some(w) = spec.target.provision.as_ref().and_then(|p| p.get_ref().workspace.as_ref()) {
        problems.extend(check_title("digital workspace", w.get_ref().trim(), w.span()));
    }
    problems
}

/// The longest smart-process or workspace title this tool sends.
///
/// [inference] The pages of `crm.type.add` and `crm.automatedsolution.add` give no limit; the
/// core stores both titles in 255-character columns, so a longer one can never be created
/// (nor found: the portal cannot hold it).
pub const MAX_TITLE: usize = 255;

/// A title longer than [`MAX_TITLE`] (`what`: "smart process", "digital workspace").
pub fn check_title(what: &str, title: &str, span: Range<usize>) -> Option<NameProblem> {
    let len = title.chars().count();
    (len > MAX_TITLE).then(|| NameProblem {
        span,
        message: format!(
            "the {what} title has {len} characters; the portal holds at most {MAX_TITLE}: shorten it"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_field_names_convert_as_the_crm_universal_page_shows() {
        // The page's table, and its examples.
        for (up, cc) in [
            ("UF_CRM_3_DIGIT", "ufCrm3Digit"),
            ("UF_CRM_3_1747309727", "ufCrm3_1747309727"),
            ("UF_CRM_3_DIGIT10", "ufCrm_3_DIGIT10"),
            ("UF_CRM_3_DIGIT_10", "ufCrm_3_DIGIT_10"),
            ("UF_CRM_1747309879", "ufCrm_1747309879"),
            ("UF_CRM_10_5186744711", "ufCrm10_5186744711"),
            ("UF_CRM_44_1721812760630", "ufCrm44_1721812760630"),
            ("UF_CRM_MY_FIELD", "ufCrmMyField"),
            ("UF_CRM_TASK", "ufCrmTask"),
            ("UF_CRM_7_NEW_REST_LIST_2026", "ufCrm_7_NEW_REST_LIST_2026"),
        ] {
            assert_eq!(camel(up), cc, "{up}");
            assert_eq!(upper(cc).as_deref(), Some(up), "{cc}");
            assert_eq!(upper(up).as_deref(), Some(up));
        }
        assert_eq!(upper("title"), None);
        assert_eq!(upper("uf_crm_tier").as_deref(), Some("UF_CRM_TIER"));
    }

    // Bug: `UF_CRM_*` without use_original_uf_names was sent as written and dropped by the
    // portal; `ufCrm_FOO` was never found under the portal's `ufCrmFoo`.
    #[test]
    fn a_custom_field_is_spelled_as_the_requests_use_original_uf_names_needs() {
        assert_eq!(spelling("UF_CRM_1700000004", false), "ufCrm_1700000004");
        assert_eq!(spelling("ufCrm_FOO_BAR", false), "ufCrmFooBar");
        assert_eq!(spelling("ufCrmFooBar", true), "UF_CRM_FOO_BAR");
        assert_eq!(spelling("title", true), "title");
    }

    #[test]
    fn names_the_portal_cannot_hold_and_one_field_twice_are_problems() {
        let long = format!("UF_CRM_{}", "A".repeat(44));
        let got = check(&[(long.as_str(), 0..1, false), ("UF_CRM_X", 2..3, false), ("ufCrmX", 4..5, false)]);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].message.contains("at most 50 characters"), "{got:?}");
        assert_eq!(got[1].span, 4..5);
        assert!(check(&[("UF_CRM_Ü", 0..1, true)])[0].message.contains("A-Z"));
        assert!(check(&[(&format!("UF_CRM_{}", "A".repeat(43)), 0..1, true)]).is_empty());
        assert!(check_title("smart process", &"x".repeat(256), 0..1).is_some());
        assert!(check_title("smart process", &"x".repeat(255), 0..1).is_none());
    }
}
