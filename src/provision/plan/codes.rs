//! The codes provision invents or derives: a custom field's `FIELD_NAME` as the portal spells
//! it, the stable `XML_ID` of a new list item, and the `STATUS_ID` of a new stage or status.
//!
//! Owns: those rules (stable across runs: the same label gives the same code). Pure; must not
//! read anything but the schema it is given.

use std::collections::BTreeSet;

use sha2::{Digest, Sha256};

use crate::bitrix::entity as bitrix;
use crate::schema::{PortalSchema, Status, normalize};

/// The `FIELD_NAME` of a custom field as a mapping names it, by the portal's rule
/// ([`crate::mapping::names::upper`]): `UF_CRM_SEGMENT` as is, `ufCrm7Segment` ->
/// `UF_CRM_7_SEGMENT`, `ufCrm_1700000004` -> `UF_CRM_1700000004`.
pub fn upper_field_name(name: &str) -> String {
    crate::mapping::names::upper(name).unwrap_or_else(|| name.to_ascii_uppercase())
}

/// The `XML_ID` provision gives a new list item: `b24i_` and 16 hex digits of the SHA-256 of
/// the normalized value. The same value always gets the same code, so two runs (or two steps)
/// can never add it twice: the portal refuses a second item with a used `XML_ID`.
pub fn xml_id(value: &str) -> String {
    let digest = Sha256::digest(normalize(value).as_bytes());
    format!("b24i_{}", hex::encode(&digest[..8]))
}

/// The prefix of the codes of a status directory: what its statuses share before `:`
/// (`DT1032_5:`, `C3:`), or what the portal uses for a new pipeline's stages
/// (`DYNAMIC_1032_STAGE_5` -> `DT1032_5:`, `DEAL_STAGE_3` -> `C3:`); none for other directories.
pub(super) fn stage_prefix(schema: &PortalSchema, entity_id: &str) -> String {
    let prefixes: BTreeSet<&str> =
        schema.statuses_of(entity_id).map(|s| s.status_id.split_once(':').map_or("", |(p, _)| p)).collect();
    if prefixes.len() == 1
        && let Some(p) = prefixes.first()
    {
        return if p.is_empty() { String::new() } else { format!("{p}:") };
    }
    bitrix::stage_prefix(entity_id).unwrap_or_default()
}

/// How long the part of a new `STATUS_ID` after `prefix` may be: 20, or less where the portal
/// allows less. The `crm.status.add` page (`api-reference/crm/status/crm-status-add.md`,
/// "Restrictions for STATUS_ID"): lead statuses 21 characters, quote statuses and the general
/// deal pipeline 22, other directories 50, and a deal pipeline of its own (`DEAL_STAGE_3`,
/// whose codes carry `C3:`) 22 with its prefix counted: 19 after `C3:`, 18 after `C12:`.
fn code_limit(prefix: &str) -> usize {
    let deal_pipeline = prefix
        .strip_prefix('C')
        .and_then(|p| p.strip_suffix(':'))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    if deal_pipeline { 20.min(22usize.saturating_sub(prefix.len())) } else { 20 }
}

/// The `STATUS_ID` of a new status named `name`: the prefix, then the name in upper-case
/// `A-Z0-9_` (at most 20 characters, fewer in a deal pipeline's directory: see
/// [`code_limit`]), or `B24I_` and a hash when the name has no such characters or the code is
/// taken.
pub fn status_id(prefix: &str, name: &str, taken: &BTreeSet<String>) -> String {
    let mut code = String::new();
    for c in normalize(name).chars() {
        if c.is_ascii_alphanumeric() {
            code.push(c.to_ascii_uppercase());
        } else if !code.ends_with('_') && !code.is_empty() {
            code.push('_');
        }
    }
    let code: String = code.trim_end_matches('_').chars().take(code_limit(prefix)).collect();
    let code = code.trim_end_matches('_').to_string();
    let hashed = || format!("B24I_{}", &xml_id(name)[5..13].to_ascii_uppercase());
    let first = if code.is_empty() { hashed() } else { code };
    let candidate = format!("{prefix}{first}");
    if !taken.contains(&candidate) {
        return candidate;
    }
    format!("{prefix}{}", hashed())
}

/// The `SORT` of the `n`-th (from 0) new in-progress stage of a directory: right after its last
/// in-progress stage, before its success stage. The `crm.status.add` page
/// (`api-reference/crm/status/crm-status-add.md`) wants in-progress stages, then the success
/// stage, then failures, refuses a stage sorted after the final one, and sorts an unsent `SORT`
/// at 10, which would put the new stage first in its pipeline. `None` (send no `SORT`) when the
/// directory has no success stage (sources, types: no order to keep) or no room is left below
/// it.
pub(super) fn stage_sort<'a>(statuses: impl Iterator<Item = &'a Status>, n: usize) -> Option<i64> {
    let rows: Vec<&Status> = statuses.collect();
    let success = rows.iter().filter(|s| s.semantics.as_deref() == Some("S")).filter_map(|s| s.sort).min()?;
    let last = rows
        .iter()
        .filter(|s| !matches!(s.semantics.as_deref(), Some("S" | "F")))
        .filter_map(|s| s.sort)
        .filter(|sort| *sort < success)
        .max()
        .unwrap_or(0);
    let sort = last + 1 + i64::try_from(n).ok()?;
    (sort < success).then_some(sort)
}
