//! What the portal already holds beyond the CRM, for the set-up and user methods: today the
//! workgroups an extranet user can be invited to (`user.add`'s `SONET_GROUP_ID`).
//!
//! Owns only this configuration ([`SetupConfig`], the field `SandboxConfig::setup`); the
//! methods that read it are in `methods::user`. It must not hold CRM data (that is `state`'s)
//! and must not relax a rule by default: an empty portal has no workgroups, so by default
//! every extranet invitation names a group that does not exist and is refused
//! (`ERROR_NO_GROUP`), as on a fresh portal.

use std::collections::BTreeSet;

/// The portal's workgroups, as `user.add` checks them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SetupConfig {
    /// IDs of the workgroups open to extranet users (socialnetwork groups of the extranet
    /// site). `user.add` with `EXTRANET = Y` must name at least one of them in
    /// `SONET_GROUP_ID`, else it answers `ERROR_NO_GROUP` (the `user.add` page's table: "Group
    /// specified incorrectly"). Empty by default: a fresh portal has none.
    pub extranet_groups: BTreeSet<u64>,
}

impl SetupConfig {
    /// The same, with workgroups `ids` open to extranet users.
    pub fn with_extranet_groups(mut self, ids: impl IntoIterator<Item = u64>) -> Self {
        self.extranet_groups.extend(ids);
        self
    }
}
