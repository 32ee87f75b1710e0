//! The embedded Bitrix24 REST emulator (see issue 3). Placeholder.
