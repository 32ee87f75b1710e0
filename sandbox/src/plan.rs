//! The portal's plan restrictions: how many smart processes, digital workplaces and users the
//! licence allows, and whether smart processes are available at all.
//!
//! Owns [`PlanLimits`] and the errors the pages give when a limit is reached. The limits are
//! part of the portal's state, not of its start-up configuration alone: a test changes them
//! with `POST /_sandbox/plan` (a plan downgraded while data exists, as happens to real portals),
//! and `GET /_sandbox/plan` reads them. `/_sandbox/reset` keeps them. It does not decide rights
//! (`access`, `methods::rights`) or the request limits (`limits`).
//!
//! The rules, and the page of each:
//! - `crm.type.add` when the smart processes in the portal reach `max_smart_processes`, or when
//!   smart processes are not available: HTTP 400 `CREATE_DYNAMIC_TYPE_RESTRICTED` "Maximum
//!   number of SPAs exceeded" (`api-reference/crm/universal/user-defined-object-types/crm-type-add.md`).
//! - `crm.type.update` when smart processes are not available: HTTP 400
//!   `UPDATE_DYNAMIC_TYPE_RESTRICTED` "You cannot change the SPA settings due to your plan's
//!   restrictions" (the seed crm.type.update page: "SPAs are not available on your plan").
//! - `crm.item.add` / `crm.item.update` of a smart process's item when smart processes are not
//!   available: HTTP 400 `CREATE_DYNAMIC_ITEM_RESTRICTED` "You cannot create a new item due to
//!   your plan restrictions" (the seed crm.item.add page) / `UPDATE_DYNAMIC_ITEM_RESTRICTED`
//!   "You cannot change the item due to your plan restrictions" (crm.item.update's page). The
//!   pages are silent on which items: the built-in types (lead, deal, contact, company, quote,
//!   invoice) stay writable, as they do on every plan.
//! - `crm.automatedsolution.add` when the workplaces reach `max_automated_solutions`: HTTP 400
//!   `LIMIT_EXCEEDED` "The number of available digital workspaces has been exceeded" (its page).
//! - `user.add` of an intranet user when the intranet users reach `max_users`: HTTP 400
//!   `ERROR_ARGUMENT` "user_count_exceeded" (`api-reference/user/user-add.md`: "User limit
//!   exceeded"). The page is silent on who counts; a licence counts intranet users: the
//!   administrator the webhook acts as and every user with a department, not extranet users.

use serde::{Deserialize, Serialize};

use crate::methods::MethodError;

/// The plan's limits. Default: none (every plan allows every smart process and item).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlanLimits {
    /// Whether the plan has smart processes at all (`false`: the Free plan's case).
    pub smart_processes: bool,
    /// At most this many smart processes (`None`: no limit).
    pub max_smart_processes: Option<usize>,
    /// At most this many digital workplaces (`crm.automatedsolution.*`; `None`: no limit).
    pub max_automated_solutions: Option<usize>,
    /// At most this many intranet users, the administrator included (`None`: no limit).
    pub max_users: Option<usize>,
}

impl Default for PlanLimits {
    fn default() -> Self {
        PlanLimits {
            smart_processes: true,
            max_smart_processes: None,
            max_automated_solutions: None,
            max_users: None,
        }
    }
}

/// Whether `entity_type_id` is a smart process's (not a built-in CRM type).
fn is_smart_process(entity_type_id: u64) -> bool {
    !matches!(entity_type_id, 1..=7 | 31)
}

impl PlanLimits {
    /// `crm.type.add` with `existing` smart processes in the portal.
    pub(crate) fn check_type_add(&self, existing: usize) -> Result<(), MethodError> {
        if !self.smart_processes || self.max_smart_processes.is_some_and(|max| existing >= max) {
            return Err(MethodError::bad(
                "CREATE_DYNAMIC_TYPE_RESTRICTED",
                "Maximum number of SPAs exceeded",
            ));
        }
        Ok(())
    }

    /// `crm.type.update`.
    pub(crate) fn check_type_update(&self) -> Result<(), MethodError> {
        if !self.smart_processes {
            return Err(MethodError::bad(
                "UPDATE_DYNAMIC_TYPE_RESTRICTED",
                "You cannot change the SPA settings due to your plan's restrictions",
            ));
        }
        Ok(())
    }

    /// `crm.item.add` (`update = false`) or `crm.item.update` of an item of `entity_type_id`.
    pub(crate) fn check_item(&self, entity_type_id: u64, update: bool) -> Result<(), MethodError> {
        if self.smart_processes || !is_smart_process(entity_type_id) {
            return Ok(());
        }
        Err(if update {
            MethodError::bad(
                "UPDATE_DYNAMIC_ITEM_RESTRICTED",
                "You cannot change the item due to your plan restrictions",
            )
        } else {
            MethodError::bad(
                "CREATE_DYNAMIC_ITEM_RESTRICTED",
                "You cannot create a new item due to your plan restrictions",
            )
        })
    }

    /// `crm.automatedsolution.add` with `existing` workplaces.
    pub(crate) fn check_solution_add(&self, existing: usize) -> Result<(), MethodError> {
        if self.max_automated_solutions.is_some_and(|max| existing >= max) {
            return Err(MethodError::bad(
                "LIMIT_EXCEEDED",
                "The number of available digital workspaces has been exceeded",
            ));
        }
        Ok(())
    }

    /// `user.add` with `existing` active users, the administrator included.
    pub(crate) fn check_user_add(&self, existing: usize) -> Result<(), MethodError> {
        if self.max_users.is_some_and(|max| existing >= max) {
            return Err(MethodError::bad("ERROR_ARGUMENT", "user_count_exceeded").with_argument(""));
        }
        Ok(())
    }
}
