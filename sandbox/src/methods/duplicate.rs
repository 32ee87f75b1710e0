//! `crm.duplicate.findbycomm` (§3.7): leads, contacts and companies holding an e-mail or phone.
//!
//! At most 20 values; phones compare as the portal's core normalises them ([`phone_key`]: the
//! extension ignored, as the method's page says, and the prefixes of `NormalizePhone`);
//! e-mails trimmed, case-insensitively, after Unicode NFC. Errors use their text as the code,
//! as the page's error example does (see [`find_by_comm`] for each text).
//! Quirk kept: once one type has 20 or more matches, the remaining types are not returned.
//! The rules here are taken from the portal (its page and core), never from the importer.

use serde_json::{Map, Value, json};
use unicode_normalization::UnicodeNormalization;

use super::{Call, MethodError, MethodResult, Output, as_text, param, php_array};

fn text_error(text: &str) -> MethodError {
    MethodError::bad(text, text)
}

/// A phone number as the portal's duplicate search compares it, both the stored phones and
/// the asked values.
///
/// Where the rule comes from: the method's page (`api-reference/crm/duplicates/
/// crm-duplicate-find-by-comm.md` in bitrix24/b24restdocs) says only that "the search does
/// not consider the phone extension"; the core behind it, the CRM communication duplicate
/// criterion, puts both sides through the main module's `NormalizePhone` (main/tools.php),
/// written down in docs/portal-protocol.md §3.7 **[core]**:
/// - the extension is cut (`ext`, `доб`, `#`, `x`, `,`, `;` and what follows);
/// - formatting is stripped: only the digits are kept (a leading `+` goes with it);
/// - for 10 or more digits, one prefix rule applies, the first that fits: `80`, `81`, `82`
///   stay as they are; a leading `00` is dropped; a leading `011` is dropped; a leading `8`
///   becomes `7`; a single leading `0` is dropped.
///
/// So `8 916 555 07 07`, `+7 (916) 555-07-07` and `79165550707` are one number.
/// `country` (`SandboxConfig::phone_default_country`, off by default) then puts a country
/// code in front of a 10-digit national number, as a portal parsing numbers with a default
/// country does.
fn phone_key(s: &str, country: Option<&str>) -> String {
    let lower = s.to_lowercase();
    let cut =
        ["ext", "доб", "#", ",", ";", "x"].iter().filter_map(|m| lower.find(m)).min().unwrap_or(lower.len());
    let digits: String = lower[..cut].chars().filter(char::is_ascii_digit).collect();
    let number = if digits.len() < 10 || ["80", "81", "82"].iter().any(|p| digits.starts_with(p)) {
        digits
    } else if let Some(rest) = digits.strip_prefix("00") {
        rest.to_string()
    } else if let Some(rest) = digits.strip_prefix("011") {
        rest.to_string()
    } else if let Some(rest) = digits.strip_prefix('8') {
        format!("7{rest}")
    } else if let Some(rest) = digits.strip_prefix('0') {
        rest.to_string()
    } else {
        digits
    };
    match country {
        Some(code) if number.len() == 10 => format!("{code}{number}"),
        _ => number,
    }
}

/// An e-mail as the duplicate search compares it: trimmed, NFC, lower case.
fn email_key(s: &str) -> String {
    s.trim().nfc().collect::<String>().to_lowercase()
}

/// `crm.duplicate.findbycomm`.
///
/// Its errors as the page (`api-reference/crm/duplicates/crm-duplicate-find-by-comm.md`)
/// documents them: HTTP 400; `error` is the table's text, so a missing `type` answers
/// `Communication type is not defined` with the example's description `Parameter 'type' is
/// required.`, a type other than `EMAIL` / `PHONE` `Communication type '{type}' is not supported
/// in current context`, no values `Communication values is not defined` (the page's grammar).
/// Where the page gives no description (the last two), the text is the description too.
pub(crate) fn find_by_comm(c: &mut Call) -> MethodResult {
    let kind = param(c.params, "type").and_then(as_text).unwrap_or_default().trim().to_ascii_uppercase();
    if kind.is_empty() {
        return Err(MethodError::bad("Communication type is not defined", "Parameter 'type' is required."));
    }
    if kind != "EMAIL" && kind != "PHONE" {
        return Err(text_error(&format!("Communication type '{kind}' is not supported in current context")));
    }
    let values: Vec<String> = match param(c.params, "values") {
        Some(v) => php_array(v).map_or_else(
            || as_text(v).into_iter().collect(),
            |a| a.into_iter().filter_map(as_text).collect(),
        ),
        None => Vec::new(),
    };
    if values.is_empty() {
        return Err(text_error("Communication values is not defined"));
    }
    if values.len() > 20 {
        return Err(text_error("Too many communication values. The maximum is 20."));
    }
    let entity_types: Vec<(&str, u64)> = match param(c.params, "entity_type").and_then(as_text) {
        None => vec![("LEAD", 1), ("CONTACT", 3), ("COMPANY", 4)],
        Some(t) => match t.to_ascii_uppercase().as_str() {
            "LEAD" => vec![("LEAD", 1)],
            "CONTACT" => vec![("CONTACT", 3)],
            "COMPANY" => vec![("COMPANY", 4)],
            _ => return Err(text_error("Entity type is not supported.")),
        },
    };
    let country = c.phone_country;
    let key = |s: &str| if kind == "PHONE" { phone_key(s, country) } else { email_key(s) };
    // A set: one call scans every item of a type once, whatever the number of values.
    let wanted: std::collections::HashSet<String> =
        values.iter().map(|v| key(v)).filter(|k| !k.is_empty()).collect();
    let mut out = Map::new();
    for (name, etid) in entity_types {
        let Some(items) = c.state.items.get(&etid) else { continue };
        let mut ids: Vec<u64> = items
            .values()
            .filter(|item| {
                item.fields.get("fm").and_then(Value::as_array).is_some_and(|fm| {
                    fm.iter().any(|e| {
                        e["typeId"].as_str() == Some(kind.as_str())
                            && e["value"].as_str().is_some_and(|v| wanted.contains(&key(v)))
                    })
                })
            })
            .map(|item| item.id)
            .collect();
        ids.sort_unstable();
        let stop = ids.len() >= 20;
        if !ids.is_empty() {
            out.insert(name.to_string(), json!(ids));
        }
        if stop {
            break;
        }
    }
    // An empty PHP array encodes as a list.
    Ok(Output::new(if out.is_empty() { json!([]) } else { Value::Object(out) }))
}

#[cfg(test)]
mod tests {
    use super::{email_key, phone_key};

    use rstest::rstest;

    #[rstest]
    #[case("+1 (555) 010-0000 ext. 12", "15550100000")]
    #[case("+1 555 010 0000", "15550100000")]
    #[case("8 916 555 07 07", "79165550707")]
    #[case("+7 (916) 555-07-07", "79165550707")]
    #[case("79165550707", "79165550707")]
    #[case("+7 916 555 07 07 доб. 5", "79165550707")]
    #[case("00 44 20 7946 0000", "442079460000")]
    #[case("011 44 20 7946 0000", "442079460000")]
    #[case("0 20 7946 0000", "2079460000")]
    #[case("8 800 555 35 35", "78005553535")]
    #[case("8 10 49 30 1234567", "81049301234567")]
    #[case("8 916 555", "8916555")]
    #[case("0012", "0012")]
    fn phones_are_normalised_as_the_portal_core_does(#[case] phone: &str, #[case] key: &str) {
        assert_eq!(phone_key(phone, None), key);
    }

    #[test]
    fn a_default_country_completes_a_national_number_only() {
        assert_eq!(phone_key("916 555 07 07", Some("7")), "79165550707");
        assert_eq!(phone_key("8 916 555 07 07", Some("7")), "79165550707");
        assert_eq!(phone_key("916 555 07", Some("7")), "91655507");
    }

    #[test]
    fn emails_compare_trimmed_case_insensitively_and_after_nfc() {
        assert_eq!(email_key(" Ann@X.ru "), "ann@x.ru");
        assert_eq!(email_key("Cafe\u{301}@x.ru"), email_key("Caf\u{e9}@X.RU"));
    }
}
