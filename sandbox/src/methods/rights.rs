//! Rights: what a method answers when the credential may not call it
//! (`SandboxConfig::denied_methods`). Each family answers the access-denied error its page
//! documents, so a client can tell "missing rights" apart per method.
//!
//! Owns the table of those errors and the list of set-up methods; it decides nothing about who
//! has which right (the configuration does).

use super::MethodError;

/// The set-up methods that need CRM administrator rights (their pages: "who can execute the
/// method: users with administrative access to the CRM section").
pub(crate) const SETUP_METHODS: &[&str] = &[
    "crm.type.add",
    "crm.type.update",
    "crm.automatedsolution.add",
    "crm.automatedsolution.update",
    "crm.lead.userfield.add",
    "crm.deal.userfield.add",
    "crm.contact.userfield.add",
    "crm.company.userfield.add",
    "crm.lead.userfield.update",
    "crm.deal.userfield.update",
    "crm.contact.userfield.update",
    "crm.company.userfield.update",
    "userfieldconfig.add",
    "userfieldconfig.update",
    "crm.status.add",
    "crm.category.add",
];

/// The access-denied answer of `method`, as its page documents it (the pages are in
/// `bitrix24/b24restdocs`; the replay, `tests/http/replay/*.toml`, sends each row):
/// - `crm.{entity}.userfield.*`: HTTP 400, `error` empty, "Access denied." (the seed
///   crm.contact.userfield.update page's example; the other userfield pages drop the period);
/// - `userfieldconfig.add`: HTTP 400, `error` empty, "Access denied" (its table);
/// - `userfieldconfig.list` / `.get`: HTTP 400, `error` empty, "You do not have permission to
///   view user field settings" (their tables);
/// - `userfieldconfig.*` otherwise: HTTP 400, `error` empty, "You cannot change the settings of
///   the user field" (`userfieldconfig.update`'s table);
/// - `crm.status.*`, `crm.currency.*`: HTTP 400, `error` empty, "Access denied." (the tables of
///   `crm-status-add.md`, `crm-status-list.md`, `crm-currency-list.md`: the code is "Empty value");
/// - `crm.automatedsolution.*`: HTTP 400 `ACCESS_DENIED` "Insufficient permissions";
/// - `crm.item.fields`: HTTP 400 `ACCESS_DENIED` "You do not have permission to view this item"
///   (its table);
/// - `crm.type.*`, `crm.item.*`, `crm.category.*`: HTTP 400 `ACCESS_DENIED`
///   "Access denied" (`crm.type.update`'s and `crm.item.add`'s tables);
/// - `user.add`, `user.update`: HTTP 400 `ERROR_CORE` "access_denied" (the seed page's table
///   gives only the message; the code is `api-reference/user/user-add.md`'s);
/// - anything else: HTTP 403 `ACCESS_DENIED` "Access denied" (the system error of §5.3;
///   `crm.duplicate.findbycomm`'s table documents exactly that).
pub(crate) fn access_denied(method: &str) -> MethodError {
    let family = |prefix: &str| method.starts_with(prefix);
    match method {
        _ if method.contains(".userfield.") => MethodError::bad("", "Access denied."),
        "userfieldconfig.add" => MethodError::bad("", "Access denied"),
        "userfieldconfig.list" | "userfieldconfig.get" => {
            MethodError::bad("", "You do not have permission to view user field settings")
        }
        _ if family("userfieldconfig.") => {
            MethodError::bad("", "You cannot change the settings of the user field")
        }
        _ if family("crm.status.") || family("crm.currency.") => MethodError::bad("", "Access denied."),
        _ if family("crm.automatedsolution.") => {
            MethodError::bad("ACCESS_DENIED", "Insufficient permissions")
        }
        "crm.item.fields" => {
            MethodError::bad("ACCESS_DENIED", "You do not have permission to view this item")
        }
        _ if ["crm.type.", "crm.item.", "crm.category."].iter().any(|p| family(p)) => {
            MethodError::bad("ACCESS_DENIED", "Access denied")
        }
        "user.add" | "user.update" => MethodError::bad("ERROR_CORE", "access_denied"),
        // The whole record (issue 20): the requisite, bank detail and address pages' tables,
        // HTTP 400, an empty code, "Access denied."; crm.item.productrow.* are crm.item.*'s.
        _ if family("crm.requisite.") || family("crm.address.") => MethodError::bad("", "Access denied."),
        // Issue 19 (history): the timeline comment pages (add, update, delete: `ACCESS_DENIED`
        // "Insufficient permissions"; get, list: empty code, "Access denied."), the activity
        // pages (their example: empty code, "Access denied.").
        "crm.timeline.comment.get" | "crm.timeline.comment.list" => MethodError::bad("", "Access denied."),
        _ if family("crm.timeline.comment.") => MethodError::bad("ACCESS_DENIED", "Insufficient permissions"),
        _ if family("crm.activity.") => MethodError::bad("", "Access denied."),
        _ => MethodError::new(403, "ACCESS_DENIED", "Access denied"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_family_answers_its_documented_access_denied_error() {
        let e = access_denied("crm.contact.userfield.update");
        assert_eq!((e.status, e.code.as_str(), e.description.as_str()), (400, "", "Access denied."));
        assert_eq!(access_denied("crm.automatedsolution.add").description, "Insufficient permissions");
        assert_eq!(access_denied("crm.type.update").code, "ACCESS_DENIED");
        assert_eq!(access_denied("userfieldconfig.add").description, "Access denied");
        assert_eq!(
            access_denied("userfieldconfig.update").description,
            "You cannot change the settings of the user field"
        );
        let e = access_denied("crm.status.add");
        assert_eq!((e.code.as_str(), e.description.as_str()), ("", "Access denied."));
        assert_eq!(access_denied("user.add").code, "ERROR_CORE");
        assert_eq!(access_denied("crm.currency.list").description, "Access denied.");
        assert_eq!(
            access_denied("crm.item.fields").description,
            "You do not have permission to view this item"
        );
        assert_eq!(
            access_denied("userfieldconfig.get").description,
            "You do not have permission to view user field settings"
        );
        assert_eq!(access_denied("crm.duplicate.findbycomm").status, 403);
        assert!(
            SETUP_METHODS.iter().all(|m| super::super::lookup(m).is_some()),
            "every set-up method exists"
        );
    }
}
