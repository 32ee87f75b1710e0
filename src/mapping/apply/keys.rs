//! Row keys: composite keys joined so that no two tuples of cells collide ([`join_key`]), the
//! form journals of earlier versions hold ([`unescaped_key`]), and duplicate keys within one
//! file found with flat memory ([`KeyTracker`]).
//!
//! Owns: the key text rules. Must not read cells or fields (that is the rest of `apply`).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

/// The form an earlier version (before escaping) gave the composite key `key` built by
/// [`join_key`]: the plain `|` join of its parts. `None` when the two forms are the same (no
/// escape in `key`). Only meaningful for keys of two or more columns: a journal written before
/// escaping holds such a row under this form, and the run must find it there instead of
/// creating the row again.
pub fn unescaped_key(key: &str) -> Option<String> {
    if !key.contains('\\') {
        return None;
    }
    let mut out = String::with_capacity(key.len());
    let mut chars = key.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    Some(out)
}

/// Joins the cells of a composite key into one text that no other tuple of cells can give.
///
/// Parts are joined with `|`; when there are several parts, a `\` inside a part is written
/// `\\` and a `|` is written `\|`, so `("a|b", "c")` (`a\|b|c`) and `("a", "b|c")` (`a|b\|c`)
/// stay apart. A key whose parts hold no `|` and no `\` is exactly the plain join, and a
/// single-column key is never escaped: keys that journals of earlier versions hold stay the
/// same, so those journals resume.
pub fn join_key(parts: &[&str]) -> String {
    if let [one] = parts {
        return (*one).to_string();
    }
    let mut out = String::with_capacity(parts.iter().map(|p| p.len() + 1).sum());
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push('|');
        }
        if part.contains(['|', '\\']) {
            for c in part.chars() {
                if matches!(c, '|' | '\\') {
                    out.push('\\');
                }
                out.push(c);
            }
        } else {
            out.push_str(part);
        }
    }
    out
}

/// Finds duplicate keys within one file with flat memory: 12 bytes per row (a 64-bit hash of
/// the key, split in two `u32` so the entry packs without padding, and the first row's line),
/// so 2,000,000 rows take about 80 MiB at the peak of a table resize.
#[derive(Debug, Default)]
pub struct KeyTracker {
    seen: HashMap<[u32; 2], u32, std::hash::BuildHasherDefault<IdentityHasher>>,
}

impl KeyTracker {
    /// Records `key` at `line`; returns the earlier line if the key was seen before.
    pub fn check(&mut self, key: &str, line: u64) -> Option<u64> {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        let hash = h.finish();
        let packed = [(hash >> 32) as u32, hash as u32];
        match self.seen.entry(packed) {
            std::collections::hash_map::Entry::Occupied(e) => Some(u64::from(*e.get())),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(u32::try_from(line).unwrap_or(u32::MAX));
                None
            }
        }
    }
}

/// The keys are already hashes; hashing them again would be wasted work.
#[derive(Debug, Default)]
pub struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = (self.0 << 32) | u64::from(n);
    }
}
