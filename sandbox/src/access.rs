//! Who may call what: the extranet user's webhook and the scopes of each credential.
//!
//! Owns [`AccessConfig`] (which extra credential exists, which scopes each credential has) and
//! the check that runs before a method's own work ([`check`]): an extranet caller on a CRM
//! controller, a method outside the credential's scopes, `userfieldconfig.*` on a module the
//! credential has no scope for. It does not decide per-method rights (`denied_methods` and
//! `methods::rights` do) or plan limits (`plan`).
//!
//! The rules, and where each comes from:
//! - **Extranet users** (`allowed_only_intranet_user`, HTTP 403, "Action allowed only for
//!   intranet users"): the tables of crm.item.add, crm.item.update, crm.item.list,
//!   crm.item.fields, crm.type.add, crm.type.update and crm.type.list; the text is the seed
//!   pages' (`shared/seeds/crm.item.add.txt`, `crm.type.update.txt`; some b24restdocs pages word
//!   it otherwise, the replay names them). The portal's CRM controllers (`crm.item.*`,
//!   `crm.type.*`, `crm.category.*`, `crm.automatedsolution.*`) share one pre-filter, so all
//!   four families answer it; the pages are silent on the other methods, where an extranet user
//!   has no CRM rights at all: they answer the method's access-denied error (as a credential
//!   without rights does), except `profile`, `user.current`, `server.time` and `batch` itself.
//! - **Scopes** (a webhook's or an application's, `None` = every scope): a method outside them
//!   answers the system error of `_includes/system-errors.md`, HTTP 403 `insufficient_scope`
//!   "The request requires higher privileges than provided by the webhook token" (an OAuth
//!   token gets "... by the access token", the OAuth 2.0 text the portal's token server uses:
//!   the page gives only the webhook's). The scope of a method is its family's: `crm.*` ->
//!   `crm`, `user.*` -> `user` (`user.current` also with `user_basic`), `userfieldconfig.*` ->
//!   `userfieldconfig`, `department.*` -> `department`; `batch`, `server.time`, `profile` and
//!   `app.info` need none.
//! - **`userfieldconfig.*` and the module's scope**: the tables of userfieldconfig.get, .list
//!   and .update: "The application does not have the required scope for the module from
//!   `moduleId`" answers HTTP 400, empty code, "The current method required more scopes.
//!   (crm)".

use std::collections::BTreeSet;

use crate::WebhookConfig;
use crate::methods::{MethodError, param, rights};

/// The credentials beyond the administrator's webhook and application, and every credential's
/// scopes. Default: no extranet webhook, every scope for both credentials.
#[derive(Debug, Clone, Default)]
pub struct AccessConfig {
    /// A webhook of an extranet user (`/rest/<user_id>/<code>/`): CRM controllers refuse it
    /// with `allowed_only_intranet_user`, other CRM and user methods with their access-denied
    /// error. See [`crate::SandboxConfig::with_extranet_webhook`].
    pub extranet_webhook: Option<WebhookConfig>,
    /// The administrator's webhook's scopes (`None`: every scope).
    pub webhook_scopes: Option<BTreeSet<String>>,
    /// The OAuth application's scopes (`None`: every scope).
    pub oauth_scopes: Option<BTreeSet<String>>,
}

/// How a request authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Via {
    /// The administrator's inbound webhook.
    Webhook,
    /// The extranet user's webhook.
    Extranet,
    /// The OAuth application's access token.
    App,
}

/// The caller, as a method sees it before its own work.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Access<'a> {
    pub via: Via,
    pub scopes: Option<&'a BTreeSet<String>>,
}

impl<'a> Access<'a> {
    /// The caller authenticated `via`, with the scopes `config` gives that credential.
    pub fn of(via: Via, config: &'a AccessConfig) -> Self {
        let scopes = match via {
            Via::Webhook => config.webhook_scopes.as_ref(),
            Via::App => config.oauth_scopes.as_ref(),
            Via::Extranet => None,
        };
        Access { via, scopes }
    }

    fn has(&self, scope: &str) -> bool {
        self.scopes.is_none_or(|s| s.contains(scope))
    }
}

/// The scope `method` belongs to (`None`: needs none).
fn scope_of(method: &str) -> Option<&'static str> {
    match method {
        "batch" | "server.time" | "profile" | "app.info" => None,
        _ if method.starts_with("crm.") => Some("crm"),
        _ if method.starts_with("user.") => Some("user"),
        _ if method.starts_with("userfieldconfig.") => Some("userfieldconfig"),
        _ if method.starts_with("department.") => Some("department"),
        _ => None,
    }
}

/// The CRM controllers with the intranet-user pre-filter.
fn is_crm_controller(method: &str) -> bool {
    ["crm.item.", "crm.type.", "crm.category.", "crm.automatedsolution."]
        .iter()
        .any(|p| method.starts_with(p))
}

/// Refuses the call before the method's work, or lets it through (see the module doc).
pub(crate) fn check(method: &str, access: Access<'_>, params: &serde_json::Value) -> Result<(), MethodError> {
    if access.via == Via::Extranet {
        if is_crm_controller(method) {
            return Err(MethodError::new(
                403,
                "allowed_only_intranet_user",
                "Action allowed only for intranet users",
            ));
        }
        if !matches!(method, "profile" | "user.current" | "server.time" | "batch") {
            return Err(rights::access_denied(method));
        }
        return Ok(());
    }
    if let Some(scope) = scope_of(method) {
        let basic = method == "user.current" && access.has("user_basic");
        if !access.has(scope) && !basic {
            let token = if access.via == Via::App { "access token" } else { "webhook token" };
            return Err(MethodError::new(
                403,
                "insufficient_scope",
                format!("The request requires higher privileges than provided by the {token}"),
            ));
        }
    }
    if method.starts_with("userfieldconfig.")
        && let Some(module) = param(params, "moduleId").and_then(|v| v.as_str())
        && module_has_scope(module)
        && !access.has(module)
    {
        return Err(MethodError::bad("", format!("The current method required more scopes. ({module})")));
    }
    Ok(())
}

/// Modules whose user fields `userfieldconfig.*` manages under the module's own scope (the
/// pages name `crm`; an unknown module is the method's own error, "No settings for
/// UserFieldAccess", answered by the method).
fn module_has_scope(module: &str) -> bool {
    matches!(module, "crm" | "rpa")
}
