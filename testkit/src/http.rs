//! Reading what a provider test's local HTTP server (wiremock) received.

use std::collections::HashMap;

use wiremock::MockServer;

/// A form-encoded body as a map.
pub fn form(body: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

/// The request header's value, or "" when absent.
pub fn header(req: &wiremock::Request, name: &str) -> String {
    req.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// How many requests the server received.
pub async fn count(server: &MockServer) -> usize {
    server.received_requests().await.unwrap().len()
}
