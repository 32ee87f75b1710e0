//! `crm.currency.list`: the portal's currencies (a fixed set here, as a fresh portal has them).
//!
//! Owns: [`CURRENCIES`] (the codes the sandbox knows) and the list method's row shape
//! (`CURRENCY`, `FULL_NAME`, `BASE`, `SORT`, `AMOUNT`, `AMOUNT_CNT`). Read-only.

use serde_json::{Value, json};

use super::{Call, MethodResult, Output};

/// (code, full name, base currency) of the sandbox portal's currencies.
pub(crate) const CURRENCIES: &[(&str, &str, bool)] = &[
    ("RUB", "Russian Ruble", true),
    ("USD", "US Dollar", false),
    ("EUR", "Euro", false),
    ("UAH", "Hryvnia", false),
    ("BYN", "Belarusian Ruble", false),
    ("KZT", "Tenge", false),
];

/// `crm.currency.list`: every currency, base first (the portal does not page this list).
pub(crate) fn list(_: &mut Call) -> MethodResult {
    let rows: Vec<Value> = CURRENCIES
        .iter()
        .enumerate()
        .map(|(i, (code, name, base))| {
            json!({
                "CURRENCY": code,
                "FULL_NAME": name,
                "BASE": if *base { "Y" } else { "N" },
                "SORT": ((i + 1) * 100).to_string(),
                "AMOUNT": "1.0000",
                "AMOUNT_CNT": "1",
            })
        })
        .collect();
    let total = rows.len() as u64;
    Ok(Output::list(Value::Array(rows), total, None))
}
