//! The mapping language.
