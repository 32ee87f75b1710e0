//! Custom-field and system-field name conversions (`UF_CRM_44_17` <-> `ufCrm44_17`,
//! `assignedById` <-> `ASSIGNED_BY_ID`), by the rule of `api-reference/crm/universal/index.md`.
//! Pure string functions: no schema, no state.

/// A custom field's camelCase name in `crm.item.*`, by the rule of
/// `api-reference/crm/universal/index.md` ("Field Naming Conventions"): *regular* when only
/// digits or only letters follow `UF_CRM_` and the object number (underscores between numeric
/// blocks kept, words capitalised: `UF_CRM_44_1721812760630` -> `ufCrm44_1721812760630`,
/// `UF_CRM_MY_FIELD` -> `ufCrmMyField`), *simplified* otherwise (only the prefix changes:
/// `UF_CRM_3_DIGIT10` -> `ufCrm_3_DIGIT10`, `UF_CRM_1700000001` -> `ufCrm_1700000001`).
/// Other names (`UF_DEPARTMENT`, `ASSIGNED_BY_ID`) are camelCased word by word.
pub fn upper_to_camel(upper: &str) -> String {
    let Some(rest) = upper.strip_prefix("UF_CRM_") else { return pascal(upper, false) };
    let parts: Vec<&str> = rest.split('_').collect();
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    let letters = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphabetic());
    if parts.len() >= 2 && parts.iter().all(|p| digits(p)) {
        return format!("ufCrm{}_{}", parts[0], parts[1..].join("_"));
    }
    let (number, words) = match parts.split_first() {
        Some((n, w)) if digits(n) && !w.is_empty() => (*n, w),
        _ => ("", &parts[..]),
    };
    if words.iter().all(|w| letters(w)) {
        return format!("ufCrm{number}{}", pascal(&words.join("_"), true));
    }
    format!("ufCrm_{rest}")
}

/// `MY_FIELD` -> `MyField` (`upper_first`) or `myField`.
fn pascal(words: &str, upper_first: bool) -> String {
    let mut out = String::new();
    for (i, w) in words.split('_').filter(|w| !w.is_empty()).enumerate() {
        let lower = w.to_ascii_lowercase();
        let mut chars = lower.chars();
        if let Some(first) = chars.next() {
            out.push(if i > 0 || upper_first { first.to_ascii_uppercase() } else { first });
            out.extend(chars);
        }
    }
    out
}

/// The `UPPER_CASE` name of a camelCase one: the inverse of [`upper_to_camel`] for custom
/// fields (`ufCrm_3_DIGIT10` -> `UF_CRM_3_DIGIT10`, `ufCrm44_1721812760630` ->
/// `UF_CRM_44_1721812760630`, `ufCrmMyField` -> `UF_CRM_MY_FIELD`); `assignedById` ->
/// `ASSIGNED_BY_ID`.
pub fn camel_to_upper(camel: &str) -> String {
    if let Some(rest) = camel.strip_prefix("ufCrm_") {
        return format!("UF_CRM_{rest}");
    }
    if let Some(rest) = camel.strip_prefix("ufCrm") {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let (number, words) = rest.split_at(digits);
        let mut out = format!("UF_CRM_{number}");
        if let Some(blocks) = words.strip_prefix('_') {
            return format!("{out}_{blocks}");
        }
        if !number.is_empty() && !words.is_empty() {
            out.push('_');
        }
        out.push_str(&split_words(words));
        return out;
    }
    split_words(camel)
}

/// `assignedById` -> `ASSIGNED_BY_ID`, `parentId1220` -> `PARENT_ID_1220` (a `_` before each
/// capital and between letters and digits).
fn split_words(camel: &str) -> String {
    let mut out = String::new();
    let mut prev: Option<char> = None;
    for c in camel.chars() {
        let boundary = prev.is_some_and(|p| {
            (c.is_ascii_uppercase() && p != '_')
                || (c.is_ascii_digit() && p.is_ascii_alphabetic())
                || (c.is_ascii_alphabetic() && p.is_ascii_digit())
        });
        if boundary {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
        prev = Some(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uf_names_convert_like_the_portal() {
        assert_eq!(upper_to_camel("UF_CRM_1700000001"), "ufCrm_1700000001");
        assert_eq!(upper_to_camel("UF_CRM_44_1721812760630"), "ufCrm44_1721812760630");
        assert_eq!(upper_to_camel("UF_CRM_MY_FIELD"), "ufCrmMyField");
        // The table of api-reference/crm/universal/index.md.
        for (up, cc) in [
            ("UF_CRM_3_DIGIT", "ufCrm3Digit"),
            ("UF_CRM_3_1747309727", "ufCrm3_1747309727"),
            ("UF_CRM_3_DIGIT10", "ufCrm_3_DIGIT10"),
            ("UF_CRM_3_DIGIT_10", "ufCrm_3_DIGIT_10"),
            ("UF_CRM_1747309879", "ufCrm_1747309879"),
        ] {
            assert_eq!(upper_to_camel(up), cc, "{up}");
            assert_eq!(camel_to_upper(cc), up, "{cc}");
        }
        assert_eq!(camel_to_upper("ufCrm_1700000001"), "UF_CRM_1700000001");
        assert_eq!(camel_to_upper("ufCrm44_1721812760630"), "UF_CRM_44_1721812760630");
        assert_eq!(camel_to_upper("assignedById"), "ASSIGNED_BY_ID");
    }
}
