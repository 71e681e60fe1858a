//! PostgreSQL and Redis for tests: where they are (`DATABASE_URL`, `REDIS_URL`, set by
//! `scripts/test.sh`, with the local defaults it uses), and a schema or key prefix of the test's
//! own that is removed when the test ends, passed or failed.

use sqlx::Connection;

/// The test database.
pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/orderbus_test".to_owned())
}

/// The test Redis.
pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// Creates the test database when it is missing (as `scripts/services.sh` does), so the suite
/// also runs where only the server is up.
pub async fn ensure_database(url: &str) {
    let options: sqlx::postgres::PgConnectOptions = url.parse().unwrap();
    if sqlx::PgConnection::connect_with(&options).await.is_ok() {
        return;
    }
    let name = options.get_database().unwrap_or("orderbus_test").to_owned();
    let mut admin = sqlx::PgConnection::connect_with(&options.clone().database("postgres"))
        .await
        .expect("PostgreSQL reachable at DATABASE_URL");
    // Another test binary may win the race; "already exists" is fine.
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut admin)
        .await;
}

/// A schema name of the test's own in the test database, dropped (with everything in it) when
/// this guard goes.
#[derive(Debug)]
pub struct Schema {
    /// The schema's name.
    pub name: String,
    /// The database it lives in.
    pub url: String,
}

impl Schema {
    /// A fresh name in the test database, which is created first if missing.
    pub async fn fresh() -> Schema {
        let url = database_url();
        ensure_database(&url).await;
        Schema {
            name: format!("t_{}", uuid::Uuid::now_v7().simple()),
            url,
        }
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let (name, url) = (self.name.clone(), self.url.clone());
        // Drop runs outside any runtime (or inside a finishing one); use a thread of our own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP SCHEMA IF EXISTS {name} CASCADE"
                )))
                .execute(&mut conn)
                .await
                .unwrap();
            });
        })
        .join();
    }
}

/// A Redis key prefix of the test's own; every key under it is deleted when this guard goes.
#[derive(Debug)]
pub struct Keys {
    /// The prefix, ending in `order:` like the worker's default.
    pub prefix: String,
}

impl Keys {
    /// A fresh prefix.
    pub fn fresh() -> Keys {
        Keys {
            prefix: format!("test:{}:order:", uuid::Uuid::now_v7().simple()),
        }
    }
}

impl Drop for Keys {
    fn drop(&mut self) {
        let pattern = format!("{}*", self.prefix);
        let _ = std::thread::spawn(move || {
            let client = redis::Client::open(redis_url()).unwrap();
            let mut conn = client.get_connection().unwrap();
            let keys: Vec<String> = redis::cmd("KEYS").arg(&pattern).query(&mut conn).unwrap();
            for chunk in keys.chunks(500) {
                let _: () = redis::cmd("DEL").arg(chunk).query(&mut conn).unwrap();
            }
        })
        .join();
    }
}
