//! Writing a mapping and checking it offline: every problem of a mapping file at once, each at
//! `path:line:col` with a suggestion (the duplicate-control and schema keys included), the
//! README's examples as real files, and `b24import validate` on the bundled samples.

mod cli_validate;
mod duplicates_mapping;
mod mapping_errors;
mod readme_examples;
mod record_mapping;
mod record_products;
mod schema_mapping_keys;
mod split_lookups;
