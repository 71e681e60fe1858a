//! PostgreSQL for the workers that keep state there (analytics, notification dedup): one way to
//! connect (application name, optionally a schema of the caller's own, created when missing and
//! set as the search path), the crate's migrations (`workers/migrations/`, embedded at compile
//! time), and dropping a schema made for a run.

use sqlx::postgres::{PgConnectOptions, PgPool};
use sqlx::{AssertSqlSafe, Connection, PgConnection};

use crate::error::{Error, Result};

/// Applies `migrations/` (embedded at compile time) to the pool's database and schema.
pub async fn migrate(pool: &PgPool) -> Result<()> {
    sqlx::migrate!("./migrations").run(pool).await?;
    Ok(())
}

/// Connection options for `url` named `application` and, with `schema` (a validated plain
/// identifier), working in that schema, which is created when missing.
pub(crate) async fn connect_options(
    url: &str,
    application: &str,
    schema: Option<&str>,
) -> Result<PgConnectOptions> {
    let options: PgConnectOptions = url.parse()?;
    let options = options.application_name(application);
    let Some(schema) = schema else {
        return Ok(options);
    };
    if !is_plain_identifier(schema) {
        return Err(Error::Config(producers::Error::Config {
            key: "schema".into(),
            problem: "not a plain identifier".into(),
        }));
    }
    let mut conn = PgConnection::connect_with(&options).await?;
    // Checked above to need no quoting, so splicing it in is safe.
    sqlx::query(AssertSqlSafe(format!(
        "CREATE SCHEMA IF NOT EXISTS {schema}"
    )))
    .execute(&mut conn)
    .await?;
    conn.close().await?;
    Ok(options.options([("search_path", schema)]))
}

/// Drops `schema` and everything in it: for benchmarks, tests and the demo that made a schema of
/// their own (the workers' `schema` setting).
pub async fn drop_schema(pool: &PgPool, schema: &str) -> Result<()> {
    if !is_plain_identifier(schema) {
        return Err(Error::Config(producers::Error::Config {
            key: "schema".into(),
            problem: "not a plain identifier".into(),
        }));
    }
    // Checked above to need no quoting, so splicing it in is safe.
    sqlx::query(AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE"
    )))
    .execute(pool)
    .await?;
    Ok(())
}

/// A name that needs no quoting in SQL, so it can be spliced into `CREATE SCHEMA` safely.
pub(crate) fn is_plain_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    s.len() <= 63
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}
