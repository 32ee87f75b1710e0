//! The REST methods b24import calls, as a closed set: a misspelt method or a test for "is this
//! an update" cannot drift from what the stages send.
//!
//! Owns: [`Method`] and its wire name ([`Method::as_str`], byte for byte what the portal
//! receives), and [`Call`] (a method and its parameters). Must not: build parameters (that is
//! `payload`'s and `provision`'s) or send anything (that is `transport`'s).

use serde::Serialize;
use serde_json::Value;

use super::entity::UfEntity;

/// Every method the product calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    // The envelope.
    /// `batch`: up to 50 commands in one request.
    Batch,

    // Writes of the rows.
    CrmItemAdd,
    CrmItemUpdate,
    /// `crm.item.batchImport`: new items with their original dates and authors, no automation
    /// (`method = "import"`).
    CrmItemBatchImport,
    UserAdd,
    UserUpdate,
    /// Attached records (issue 19): a timeline comment of an item, an activity of an item,
    /// and the completion of an imported e-mail activity.
    CrmTimelineCommentAdd,
    CrmTimelineCommentUpdate,
    CrmActivityAdd,
    CrmActivityUpdate,
    // Issue 21: undo's delete of what a run created.
    CrmItemDelete,
    CrmTimelineCommentDelete,
    CrmActivityDelete,
    CrmRequisiteDelete,
    CrmRequisiteBankdetailDelete,
    /// The whole record (issue 20): requisites, their bank details and addresses.
    CrmRequisiteAdd,
    CrmRequisiteUpdate,
    CrmRequisiteBankdetailAdd,
    CrmRequisiteBankdetailUpdate,
    CrmAddressAdd,
    CrmAddressUpdate,
    /// Product rows (issue 20): all rows of one owner at once.
    CrmItemProductrowSet,

    // Reads of the run (duplicate check, lookups, the users named by e-mail).
    CrmDuplicateFindByComm,
    CrmItemList,
    CrmItemFields,
    UserGet,
    /// The reconciliation of attached records: a parent's comments, activities by origin.
    CrmTimelineCommentList,
    CrmActivityList,
    /// `crm.item.get`: a parent item's phones and e-mails (an activity's communications).
    CrmItemGet,
    /// The whole record (issue 20): requisites and bank details by `XML_ID`, the presets.
    CrmRequisiteList,
    CrmRequisiteBankdetailList,
    CrmRequisitePresetList,
    /// Product rows (issue 20): the catalogue products a row's `productId` names.
    CrmProductList,
    /// `profile`: who the webhook's user is (`ADMIN`), for the import pre-flight.
    Profile,
    /// The workflows a portal starts on every new item (the automation an import avoids).
    BizprocWorkflowTemplateList,

    // Reads of the schema.
    CrmTypeList,
    CrmAutomatedSolutionList,
    CrmStatusList,
    CrmCurrencyList,
    CrmCategoryList,
    /// `crm.<entity>.userfield.list` of a lead, deal, contact or company.
    CrmUserfieldList(UfEntity),
    UserfieldconfigList,
    UserfieldconfigGet,

    // Set-up (`provision`).
    CrmTypeAdd,
    CrmTypeUpdate,
    CrmAutomatedSolutionAdd,
    CrmAutomatedSolutionUpdate,
    CrmStatusAdd,
    CrmCategoryAdd,
    /// `crm.<entity>.userfield.add` of a lead, deal, contact or company.
    CrmUserfieldAdd(UfEntity),
    /// `crm.<entity>.userfield.update` of a lead, deal, contact or company.
    CrmUserfieldUpdate(UfEntity),
    UserfieldconfigAdd,
    UserfieldconfigUpdate,
}

impl Method {
    /// Every method, for tables and tests.
    pub const ALL: &'static [Method] = &[
        Method::Batch,
        Method::CrmItemAdd,
        Method::CrmItemUpdate,
        Method::CrmItemBatchImport,
        Method::UserAdd,
        Method::UserUpdate,
        Method::CrmItemDelete,
        Method::CrmTimelineCommentDelete,
        Method::CrmActivityDelete,
        Method::CrmRequisiteDelete,
        Method::CrmRequisiteBankdetailDelete,
        Method::CrmDuplicateFindByComm,
        Method::CrmItemList,
        Method::CrmItemFields,
        Method::UserGet,
        Method::Profile,
        Method::BizprocWorkflowTemplateList,
        Method::CrmTimelineCommentAdd,
        Method::CrmTimelineCommentUpdate,
        Method::CrmActivityAdd,
        Method::CrmActivityUpdate,
        Method::CrmTimelineCommentList,
        Method::CrmActivityList,
        Method::CrmItemGet,
        // The whole record (issue 20).
        Method::CrmRequisiteAdd,
        Method::CrmRequisiteUpdate,
        Method::CrmRequisiteBankdetailAdd,
        Method::CrmRequisiteBankdetailUpdate,
        Method::CrmAddressAdd,
        Method::CrmAddressUpdate,
        Method::CrmRequisiteList,
        Method::CrmRequisiteBankdetailList,
        Method::CrmRequisitePresetList,
        // Product rows (issue 20).
        Method::CrmItemProductrowSet,
        Method::CrmProductList,
        Method::CrmTypeList,
        Method::CrmAutomatedSolutionList,
        Method::CrmStatusList,
        Method::CrmCurrencyList,
        Method::CrmCategoryList,
        Method::CrmUserfieldList(UfEntity::Lead),
        Method::CrmUserfieldList(UfEntity::Deal),
        Method::CrmUserfieldList(UfEntity::Contact),
        Method::CrmUserfieldList(UfEntity::Company),
        Method::UserfieldconfigList,
        Method::UserfieldconfigGet,
        Method::CrmTypeAdd,
        Method::CrmTypeUpdate,
        Method::CrmAutomatedSolutionAdd,
        Method::CrmAutomatedSolutionUpdate,
        Method::CrmStatusAdd,
        Method::CrmCategoryAdd,
        Method::CrmUserfieldAdd(UfEntity::Lead),
        Method::CrmUserfieldAdd(UfEntity::Deal),
        Method::CrmUserfieldAdd(UfEntity::Contact),
        Method::CrmUserfieldAdd(UfEntity::Company),
        Method::CrmUserfieldUpdate(UfEntity::Lead),
        Method::CrmUserfieldUpdate(UfEntity::Deal),
        Method::CrmUserfieldUpdate(UfEntity::Contact),
        Method::CrmUserfieldUpdate(UfEntity::Company),
        Method::UserfieldconfigAdd,
        Method::UserfieldconfigUpdate,
    ];

    /// The REST method name (`crm.item.add`), as sent.
    pub fn as_str(self) -> &'static str {
        use UfEntity::{Company, Contact, Deal, Lead};
        match self {
            Method::Batch => "batch",
            Method::CrmItemAdd => "crm.item.add",
            Method::CrmItemUpdate => "crm.item.update",
            Method::CrmItemBatchImport => "crm.item.batchImport",
            Method::UserAdd => "user.add",
            Method::UserUpdate => "user.update",
            Method::CrmItemDelete => "crm.item.delete",
            Method::CrmTimelineCommentDelete => "crm.timeline.comment.delete",
            Method::CrmActivityDelete => "crm.activity.delete",
            Method::CrmRequisiteDelete => "crm.requisite.delete",
            Method::CrmRequisiteBankdetailDelete => "crm.requisite.bankdetail.delete",
            Method::CrmDuplicateFindByComm => "crm.duplicate.findbycomm",
            Method::CrmItemList => "crm.item.list",
            Method::CrmItemFields => "crm.item.fields",
            Method::UserGet => "user.get",
            Method::Profile => "profile",
            Method::BizprocWorkflowTemplateList => "bizproc.workflow.template.list",
            Method::CrmTimelineCommentAdd => "crm.timeline.comment.add",
            Method::CrmTimelineCommentUpdate => "crm.timeline.comment.update",
            Method::CrmActivityAdd => "crm.activity.add",
            Method::CrmActivityUpdate => "crm.activity.update",
            Method::CrmTimelineCommentList => "crm.timeline.comment.list",
            Method::CrmActivityList => "crm.activity.list",
            Method::CrmItemGet => "crm.item.get",
            // The whole record (issue 20).
            Method::CrmRequisiteAdd => "crm.requisite.add",
            Method::CrmRequisiteUpdate => "crm.requisite.update",
            Method::CrmRequisiteBankdetailAdd => "crm.requisite.bankdetail.add",
            Method::CrmRequisiteBankdetailUpdate => "crm.requisite.bankdetail.update",
            Method::CrmAddressAdd => "crm.address.add",
            Method::CrmAddressUpdate => "crm.address.update",
            Method::CrmRequisiteList => "crm.requisite.list",
            Method::CrmRequisiteBankdetailList => "crm.requisite.bankdetail.list",
            Method::CrmRequisitePresetList => "crm.requisite.preset.list",
            // Product rows (issue 20).
            Method::CrmItemProductrowSet => "crm.item.productrow.set",
            Method::CrmProductList => "crm.product.list",
            Method::CrmTypeList => "crm.type.list",
            Method::CrmAutomatedSolutionList => "crm.automatedsolution.list",
            Method::CrmStatusList => "crm.status.list",
            Method::CrmCurrencyList => "crm.currency.list",
            Method::CrmCategoryList => "crm.category.list",
            Method::CrmUserfieldList(Lead) => "crm.lead.userfield.list",
            Method::CrmUserfieldList(Deal) => "crm.deal.userfield.list",
            Method::CrmUserfieldList(Contact) => "crm.contact.userfield.list",
            Method::CrmUserfieldList(Company) => "crm.company.userfield.list",
            Method::UserfieldconfigList => "userfieldconfig.list",
            Method::UserfieldconfigGet => "userfieldconfig.get",
            Method::CrmTypeAdd => "crm.type.add",
            Method::CrmTypeUpdate => "crm.type.update",
            Method::CrmAutomatedSolutionAdd => "crm.automatedsolution.add",
            Method::CrmAutomatedSolutionUpdate => "crm.automatedsolution.update",
            Method::CrmStatusAdd => "crm.status.add",
            Method::CrmCategoryAdd => "crm.category.add",
            Method::CrmUserfieldAdd(Lead) => "crm.lead.userfield.add",
            Method::CrmUserfieldAdd(Deal) => "crm.deal.userfield.add",
            Method::CrmUserfieldAdd(Contact) => "crm.contact.userfield.add",
            Method::CrmUserfieldAdd(Company) => "crm.company.userfield.add",
            Method::CrmUserfieldUpdate(Lead) => "crm.lead.userfield.update",
            Method::CrmUserfieldUpdate(Deal) => "crm.deal.userfield.update",
            Method::CrmUserfieldUpdate(Contact) => "crm.contact.userfield.update",
            Method::CrmUserfieldUpdate(Company) => "crm.company.userfield.update",
            Method::UserfieldconfigAdd => "userfieldconfig.add",
            Method::UserfieldconfigUpdate => "userfieldconfig.update",
        }
    }

    /// The method of this REST name (`None`: one the product does not call), e.g. for the
    /// method a refusal names.
    pub fn from_name(name: &str) -> Option<Method> {
        Method::ALL.iter().copied().find(|m| m.as_str() == name)
    }

    /// Whether the command deletes what a run created (undo): its answer names nothing, the
    /// command does (`id`).
    pub fn is_delete(self) -> bool {
        matches!(
            self,
            Method::CrmItemDelete
                | Method::CrmTimelineCommentDelete
                | Method::CrmActivityDelete
                | Method::CrmRequisiteDelete
                | Method::CrmRequisiteBankdetailDelete
        )
    }

    /// Whether the command changes an existing item rather than creating one.
    pub fn is_update(self) -> bool {
        matches!(
            self,
            Method::CrmItemUpdate
                | Method::UserUpdate
                | Method::CrmActivityUpdate
                | Method::CrmTimelineCommentUpdate
                | Method::CrmRequisiteUpdate
                | Method::CrmRequisiteBankdetailUpdate
                | Method::CrmAddressUpdate
        )
    }

    /// Whether the method changes the portal (a row's write or a set-up write); `batch` is
    /// neither (its commands are).
    pub fn is_write(self) -> bool {
        matches!(
            self,
            Method::CrmItemAdd
                | Method::CrmItemUpdate
                | Method::CrmItemBatchImport
                | Method::UserAdd
                | Method::UserUpdate
                | Method::CrmTimelineCommentAdd
                | Method::CrmTimelineCommentUpdate
                | Method::CrmActivityAdd
                | Method::CrmActivityUpdate
                | Method::CrmItemDelete
                | Method::CrmTimelineCommentDelete
                | Method::CrmActivityDelete
                | Method::CrmRequisiteDelete
                | Method::CrmRequisiteBankdetailDelete
                | Method::CrmRequisiteAdd
                | Method::CrmRequisiteUpdate
                | Method::CrmRequisiteBankdetailAdd
                | Method::CrmRequisiteBankdetailUpdate
                | Method::CrmAddressAdd
                | Method::CrmAddressUpdate
                | Method::CrmItemProductrowSet
                | Method::CrmTypeAdd
                | Method::CrmTypeUpdate
                | Method::CrmAutomatedSolutionAdd
                | Method::CrmAutomatedSolutionUpdate
                | Method::CrmStatusAdd
                | Method::CrmCategoryAdd
                | Method::CrmUserfieldAdd(_)
                | Method::CrmUserfieldUpdate(_)
                | Method::UserfieldconfigAdd
                | Method::UserfieldconfigUpdate
        )
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl AsRef<str> for Method {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

/// Written as its REST name (`validate --emit` shows `"method": "crm.item.add"`).
impl Serialize for Method {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A method equals its REST name (`Method::CrmItemAdd == "crm.item.add"`).
impl PartialEq<str> for Method {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Method {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Method {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

/// One REST call: a method and its parameters (a JSON object).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Call {
    pub method: Method,
    pub params: Value,
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn every_method_has_its_own_name_and_is_found_by_it() {
        let names: BTreeSet<&str> = Method::ALL.iter().map(|m| m.as_str()).collect();
        assert_eq!(names.len(), Method::ALL.len(), "two methods share a name");
        for m in Method::ALL {
            assert_eq!(Method::from_name(m.as_str()), Some(*m));
            assert_eq!(m.to_string(), m.as_str());
        }
        assert_eq!(Method::from_name("crm.contact.delete"), None);
    }

    #[test]
    fn custom_field_methods_name_their_entity() {
        assert_eq!(Method::CrmUserfieldList(UfEntity::Lead).as_str(), "crm.lead.userfield.list");
        assert_eq!(Method::CrmUserfieldAdd(UfEntity::Deal).as_str(), "crm.deal.userfield.add");
        assert_eq!(Method::CrmUserfieldUpdate(UfEntity::Contact).as_str(), "crm.contact.userfield.update");
        for e in UfEntity::ALL {
            assert_eq!(Method::CrmUserfieldAdd(e).as_str(), format!("crm.{}.userfield.add", e.code()));
        }
    }

    #[test]
    fn reads_are_not_writes() {
        for m in [Method::Batch, Method::CrmItemList, Method::UserGet, Method::UserfieldconfigGet] {
            assert!(!m.is_write(), "{m}");
        }
        for m in [
            Method::CrmItemAdd,
            Method::UserUpdate,
            Method::CrmStatusAdd,
            Method::UserfieldconfigUpdate,
            Method::CrmItemDelete,
        ] {
            assert!(m.is_write(), "{m}");
        }
    }

    #[test]
    fn a_method_serialises_as_its_name() {
        assert_eq!(serde_json::to_value(Method::CrmItemAdd).expect("a string"), "crm.item.add");
        assert_eq!(Method::UserAdd, "user.add");
    }
}
