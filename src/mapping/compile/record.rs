//! The whole record's rules of a mapping (issue 20): `preset` of a requisite step, and the
//! fields a requisite, bank detail or address step must not map (the import writes its owner,
//! preset and key itself).
//!
//! Owns those checks. Must not read the portal (a preset's ID is bound online:
//! `pipeline::record`) nor look at the source.

use toml::Spanned;

use super::*;
use crate::mapping::entity::Entity;
use crate::mapping::record::SET_BY_THE_IMPORT;

impl Compiler<'_> {
    /// `preset = "<name>"`: required by a requisite step (crm.requisite.add: `PRESET_ID` is
    /// required), refused elsewhere.
    pub(super) fn preset(&mut self, entity: Entity) -> Option<PresetPlan> {
        let t = &self.file.spec.target;
        match (&t.preset, entity) {
            (Some(p), Entity::Requisite) => {
                let name = p.get_ref().trim().to_string();
                if name.is_empty() {
                    self.err(
                        p.span(),
                        "`preset` is empty: give the requisite preset's name (e.g. \"Organization\")",
                    );
                    return None;
                }
                Some(PresetPlan { name, id: 0 })
            }
            (None, Entity::Requisite) => {
                self.err(
                    t.entity.as_ref().map_or(0..0, Spanned::span),
                    "a requisite step needs its preset: preset = \"Organization\" in [target] (the name of one \
                     of the portal's requisite presets, crm.requisite.preset.list)",
                );
                None
            }
            (Some(p), other) => {
                self.err(
                    p.span(),
                    format!(
                        "`preset` applies to requisite steps (entity = \"requisite\"), not to a {} step",
                        other.name()
                    ),
                );
                None
            }
            (None, _) => None,
        }
    }

    /// A requisite, bank detail or address step maps none of the fields the import sets itself.
    pub(super) fn record_fields(&mut self, entity: Entity) {
        if !entity.is_requisite_kind() {
            return;
        }
        let taken: Vec<(String, std::ops::Range<usize>)> = self
            .file
            .spec
            .fields
            .iter()
            .filter(|(n, _)| SET_BY_THE_IMPORT.contains(&n.get_ref().to_ascii_uppercase().as_str()))
            .map(|(n, _)| (n.get_ref().clone(), n.span()))
            .collect();
        for (name, span) in taken {
            let by = match name.to_ascii_uppercase().as_str() {
                "PRESET_ID" => "from `preset` in [target]",
                "XML_ID" => "from the row key",
                _ => "from `parent` in [target]",
            };
            self.err(
                span,
                format!("field `{name}` of a {} step is set by the import ({by}); remove it", entity.name()),
            );
        }
    }
}
