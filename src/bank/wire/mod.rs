//! Wire types of KB's APIs as serde structs, one file per subject: `adaa` (accounts, balances,
//! statements, event subscriptions), `transactions` (ADAA's transaction list), `oauth` (the
//! token endpoint), `registration` (Client Registration's software statement) and `errors`
//! (error bodies), with `lenient` for how values are read. Everything is re-exported here
//! (`bank::wire::Transaction`).
//!
//! Unknown fields are ignored; everything KB's specs, fixtures or examples show as optional is
//! an `Option`. Enumerations KB may extend keep unknown values in an `Unknown` variant instead of
//! failing the whole response. Money is exact (see [`crate::bank::money`]).

#[macro_use]
mod lenient;
mod adaa;
mod errors;
mod oauth;
mod registration;
mod transactions;

pub use adaa::*;
pub use errors::*;
pub(crate) use lenient::string_or_list;
pub use oauth::*;
pub use registration::*;
pub use transactions::*;
