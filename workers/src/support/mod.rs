//! What several workers share: group commit of their writes ([`batch`]) and the PostgreSQL
//! connection, migrations and schemas ([`postgres`]).

pub mod batch;
pub mod postgres;
