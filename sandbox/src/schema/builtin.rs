//! The built-in default schema: the system fields of lead, deal, contact, company, quote,
//! invoice and smart processes as the `crm.item.add` page's field tables list them, plus the eight
//! default custom fields on each. Owns field lists only: no values, no validation.

use super::{EnumItem, FieldDef, UfMeta, uf_entity_id, uf_prefix};

pub(super) fn common_head() -> Vec<FieldDef> {
    vec![FieldDef::system("id", "integer", "ID").read_only()]
}

fn common_tail() -> Vec<FieldDef> {
    vec![
        FieldDef::system("assignedById", "user", "Responsible person"),
        FieldDef::system("createdBy", "user", "Created by").read_only(),
        FieldDef::system("updatedBy", "user", "Modified by").read_only(),
        FieldDef::system("createdTime", "datetime", "Created on").read_only(),
        FieldDef::system("updatedTime", "datetime", "Modified on").read_only(),
    ]
}

fn person_fields() -> Vec<FieldDef> {
    vec![
        FieldDef::system("honorific", "crm_status", "Salutation").status("HONORIFIC"),
        FieldDef::system("name", "string", "First name"),
        FieldDef::system("secondName", "string", "Second name"),
        FieldDef::system("lastName", "string", "Last name"),
        FieldDef::system("birthdate", "date", "Date of birth"),
        FieldDef::system("post", "string", "Position"),
    ]
}

fn money_fields() -> Vec<FieldDef> {
    vec![
        FieldDef::system("opportunity", "double", "Amount"),
        FieldDef::system("isManualOpportunity", "boolean", "Manual amount"),
        FieldDef::system("currencyId", "crm_currency", "Currency"),
    ]
}

fn source_fields() -> Vec<FieldDef> {
    vec![
        FieldDef::system("sourceId", "crm_status", "Source").status("SOURCE"),
        FieldDef::system("sourceDescription", "text", "Source information"),
    ]
}

fn origin_fields() -> Vec<FieldDef> {
    vec![
        FieldDef::system("originatorId", "string", "External source"),
        FieldDef::system("originId", "string", "Item ID in data source"),
    ]
}

fn utm_fields() -> Vec<FieldDef> {
    vec![
        FieldDef::system("utmSource", "string", "Ad system"),
        FieldDef::system("utmMedium", "string", "Traffic type"),
        FieldDef::system("utmCampaign", "string", "Ad campaign"),
        FieldDef::system("utmContent", "string", "Campaign content"),
        FieldDef::system("utmTerm", "string", "Campaign search term"),
    ]
}

/// The read-only keys of the deal the `crm.item.add` page's answer shows (null unless the
/// sandbox computes them: `stageSemanticId`, `movedBy`, `movedTime`).
fn deal_read_only() -> Vec<FieldDef> {
    [
        ("dateCreateShort", "datetime"),
        ("dateModifyShort", "datetime"),
        ("productId", "integer"),
        ("stageSemanticId", "string"),
        ("isNew", "boolean"),
        ("isReturnCustomer", "boolean"),
        ("isRepeatedApproach", "boolean"),
        ("begindateShort", "datetime"),
        ("closedateShort", "datetime"),
        ("eventDate", "datetime"),
        ("eventDateShort", "datetime"),
        ("eventId", "string"),
        ("eventDescription", "text"),
        ("locationId", "location"),
        ("webformId", "integer"),
        ("searchContent", "text"),
        ("orderStage", "string"),
        ("movedBy", "user"),
        ("movedTime", "datetime"),
        ("lastActivityBy", "user"),
        ("lastActivityTime", "datetime"),
        ("isWork", "boolean"),
        ("isWon", "boolean"),
        ("isLose", "boolean"),
        ("receivedAmount", "double"),
        ("lostAmount", "double"),
        ("hasProducts", "boolean"),
    ]
    .into_iter()
    .map(|(name, ty)| FieldDef::system(name, ty, name).read_only())
    .collect()
}

/// The read-only keys of a smart process's `crm.item.fields` answer
/// (`api-reference/crm/universal/crm-item-fields.md`, the SPA 1268 example: type and
/// `isReadOnly: true` as there). The smart invoice (31) gets them too: the page is silent on it,
/// but the portal builds it on the same dynamic-type item table and factory as a smart process.
/// The sandbox fills them on add (`methods::item`): `movedBy`/`movedTime` whenever a stage is
/// set, `lastActivityBy`/`lastActivityTime` with the creator and creation time.
fn dynamic_read_only() -> Vec<FieldDef> {
    vec![
        FieldDef::system("movedTime", "datetime", "Moved at").read_only(),
        FieldDef::system("movedBy", "user", "Moved by").read_only(),
        FieldDef::system("lastActivityBy", "user", "Last activity in timeline by").read_only(),
        FieldDef::system("lastActivityTime", "datetime", "Last activity").read_only(),
    ]
}

/// `webformId` (lead, quote, invoice, smart process; the deal's is read-only).
fn webform() -> FieldDef {
    FieldDef::system("webformId", "integer", "CRM form")
}

/// `originVersion` (contact, company).
fn origin_version() -> FieldDef {
    FieldDef::system("originVersion", "string", "Original version")
}

/// `locationId` ("System field", quote and invoice).
fn location() -> FieldDef {
    FieldDef::system("locationId", "location", "Location")
}

fn tax_value() -> FieldDef {
    FieldDef::system("taxValue", "double", "Tax amount")
}

fn my_company() -> FieldDef {
    FieldDef::system("mycompanyId", "crm_company", "Your company details")
}

fn fm_field() -> FieldDef {
    FieldDef::system("fm", "crm_multifield", "Communications").multiple()
}

/// The system fields of an entity type (`spa` for smart processes).
pub(super) fn system_fields(entity_type_id: u64, stage_status: &str) -> Vec<FieldDef> {
    let mut f = common_head();
    let title = FieldDef::system("title", "string", "Title");
    let opened = FieldDef::system("opened", "boolean", "Available to everyone");
    let comments = FieldDef::system("comments", "text", "Comment");
    let company = FieldDef::system("companyId", "crm_company", "Company");
    let contact = FieldDef::system("contactId", "crm_contact", "Contact");
    let contacts = FieldDef::system("contactIds", "crm_contact", "Contacts").multiple();
    let lead = FieldDef::system("leadId", "crm_lead", "Lead");
    let observers = FieldDef::system("observers", "user", "Observers").multiple();
    let stage = FieldDef::system("stageId", "crm_status", "Stage").status(stage_status);
    let category = FieldDef::system("categoryId", "crm_category", "Pipeline");
    let begin = FieldDef::system("begindate", "date", "Start date");
    let close = FieldDef::system("closedate", "date", "End date");
    match entity_type_id {
        1 => {
            f.push(title);
            f.extend(person_fields());
            f.push(FieldDef::system("companyTitle", "string", "Company name"));
            f.push(stage);
            f.push(FieldDef::system("statusDescription", "text", "Stage information"));
            f.extend(source_fields());
            f.extend(money_fields());
            f.extend([opened, comments, company, contact, contacts, observers]);
            f.extend(origin_fields());
            f.push(webform());
            f.extend(utm_fields());
            f.push(fm_field());
        }
        2 => {
            f.extend([
                title,
                FieldDef::system("typeId", "crm_status", "Type").status("DEAL_TYPE"),
                category,
                stage,
            ]);
            f.push(FieldDef::system("isRecurring", "boolean", "Recurring deal"));
            f.push(FieldDef::system("probability", "integer", "Probability"));
            f.extend(money_fields());
            f.push(tax_value());
            f.extend([begin, close, FieldDef::system("closed", "boolean", "Closed"), opened, comments]);
            f.extend([company, contact, contacts]);
            f.push(FieldDef::system("quoteId", "crm_quote", "Estimate"));
            f.extend(source_fields());
            f.extend([lead, observers]);
            f.push(FieldDef::system("additionalInfo", "string", "Additional information"));
            f.extend(origin_fields());
            f.extend(utm_fields());
            f.extend(deal_read_only());
        }
        3 => {
            f.extend(person_fields());
            f.push(FieldDef::system("photo", "file", "Photo"));
            f.push(FieldDef::system("typeId", "crm_status", "Contact type").status("CONTACT_TYPE"));
            f.extend(source_fields());
            f.push(company);
            f.push(FieldDef::system("companyIds", "crm_company", "Companies").multiple());
            f.extend([opened, comments, FieldDef::system("export", "boolean", "Included in export")]);
            f.extend([lead, observers]);
            f.extend(origin_fields());
            f.push(origin_version());
            f.extend(utm_fields());
            f.push(fm_field());
        }
        4 => {
            f.push(title);
            f.push(FieldDef::system("typeId", "crm_status", "Company type").status("COMPANY_TYPE"));
            f.push(FieldDef::system("logo", "file", "Logo"));
            f.push(FieldDef::system("bankingDetails", "string", "Banking details"));
            f.push(FieldDef::system("industry", "crm_status", "Industry").status("INDUSTRY"));
            f.push(FieldDef::system("employees", "crm_status", "Employees").status("EMPLOYEES"));
            f.push(FieldDef::system("revenue", "double", "Annual revenue"));
            f.push(FieldDef::system("currencyId", "crm_currency", "Currency"));
            f.push(FieldDef::system("isMyCompany", "boolean", "My company"));
            f.extend([opened, comments, contacts, lead, observers]);
            f.extend(origin_fields());
            f.push(origin_version());
            f.extend(utm_fields());
            f.push(fm_field());
        }
        7 => {
            f.extend([title, stage]);
            f.extend(money_fields());
            f.push(tax_value());
            f.extend([begin, close, FieldDef::system("actualDate", "date", "Valid until")]);
            f.extend([opened, comments, company, contact, contacts, my_company()]);
            f.push(FieldDef::system("dealId", "crm_deal", "Deal"));
            f.push(lead);
            f.push(FieldDef::system("content", "text", "Content"));
            f.push(FieldDef::system("terms", "text", "Terms"));
            f.push(FieldDef::system("storageTypeId", "integer", "Storage type"));
            f.push(FieldDef::system("storageElementIds", "integer", "Files").multiple());
            f.push(webform());
            f.push(location());
            f.extend(utm_fields());
        }
        _ => {
            // Invoice (31) and smart processes share the dynamic-type fields.
            f.extend([title, FieldDef::system("xmlId", "string", "External ID"), category, stage]);
            if entity_type_id != 31 {
                f.push(FieldDef::system("previousStageId", "crm_status", "Previous stage").read_only());
            }
            f.extend(money_fields());
            f.push(tax_value());
            f.push(my_company());
            f.extend([begin, close, opened, company, contact]);
            f.push(contacts);
            if entity_type_id != 31 {
                // A smart process's `contacts` (see `DESCRIBED_ONLY`); not the invoice's: the
                // crm.item.fields page shows it for a smart process only, and the crm.item.add
                // page's invoice table has `contactIds` alone.
                f.push(FieldDef::system(super::DESCRIBED_ONLY[0], "crm_contact", "CONTACTS").multiple());
            }
            f.extend(source_fields());
            if entity_type_id == 31 {
                f.push(FieldDef::system("accountNumber", "string", "Invoice number"));
                f.push(comments);
                f.push(location());
            }
            f.extend([observers, webform()]);
            f.extend(dynamic_read_only());
        }
    }
    f.extend(common_tail());
    f
}

/// The default custom fields (same pattern on every entity).
pub(super) fn default_custom_fields(
    entity_type_id: u64,
    spa_type_id: Option<u64>,
    next_uf_id: &mut u64,
) -> Vec<FieldDef> {
    let prefix = uf_prefix(entity_type_id, spa_type_id);
    let entity_id = uf_entity_id(entity_type_id, spa_type_id);
    let specs: [(&str, &str, bool, &str); 8] = [
        ("1700000001", "string", true, "Tags"),
        ("1700000002", "file", false, "Attachment"),
        ("1700000003", "money", false, "Budget"),
        ("1700000004", "enumeration", false, "Tier"),
        ("1700000005", "date", false, "Signed on"),
        ("1700000006", "boolean", false, "Newsletter"),
        ("1700000007", "double", false, "Score"),
        ("1700000008", "url", true, "Links"),
    ];
    specs
        .iter()
        .map(|(code, ty, multiple, label)| {
            *next_uf_id += 1;
            let uf = UfMeta::new(*next_uf_id, entity_id.clone(), (*label).to_string());
            let mut f = FieldDef::custom(&format!("{prefix}{code}"), ty, *multiple, uf);
            if *ty == "enumeration" {
                f.items = [(41, "Gold"), (43, "Silver"), (45, "Bronze")]
                    .iter()
                    .enumerate()
                    .map(|(i, (id, v))| EnumItem {
                        id: *id,
                        value: (*v).to_string(),
                        def: false,
                        sort: 10 * (i as i64 + 1),
                        xml_id: v.to_ascii_uppercase(),
                    })
                    .collect();
            }
            f
        })
        .collect()
}
