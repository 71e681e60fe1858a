//! What several workers share: group commit of their writes ([`batch`]), the PostgreSQL
//! connection, migrations and schemas ([`postgres`]), and the reason codes of failed provider
//! calls ([`reasons`]).

pub mod batch;
pub mod postgres;
pub mod reasons;
