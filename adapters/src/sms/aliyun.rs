//! Aliyun (Alibaba Cloud) SMS, the `SendSms` RPC API of `dysmsapi.aliyuncs.com`: a signed GET
//! with `Action=SendSms`, `Version=2017-05-25`, `Format=JSON`, `PhoneNumbers`, `SignName`,
//! `TemplateCode`, `TemplateParam` (JSON) and the common POP parameters (see
//! [`signature`](self::signature) for the signing).
//!
//! The answer is `{"Code": "OK", "BizId": ..., "RequestId": ...}` on success. Business errors
//! usually come with HTTP 200 and another `Code`: `isv.MOBILE_NUMBER_ILLEGAL` and friends are
//! permanent; `Throttling*`, `isv.BUSINESS_LIMIT_CONTROL` (per-number frequency limits) and
//! `isp.SYSTEM_ERROR` are retryable.

mod signature;

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use events::Secret;
use futures::future::BoxFuture;
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::macros::format_description;

use crate::error::{Error, Failure, FailureKind, Result};
use crate::http::{self, Refusal, Reply, Verdict};
use crate::resilience::ResilienceConfig;
use crate::sms::{Sms, SmsReceipt, SmsSender};

const PROVIDER: &str = "aliyun";

/// `provider = "aliyun"` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AliyunConfig {
    /// AccessKey ID.
    pub access_key_id: String,
    /// AccessKey secret (signs requests; never sent).
    pub access_key_secret: Secret,
    /// Approved signature name shown to recipients (`SignName`).
    pub sign_name: String,
    /// Template used when a message brings none.
    #[serde(default)]
    pub template_code: Option<String>,
    /// Variable of `template_code` that receives the message body.
    #[serde(default = "default_body_param")]
    pub body_param: String,
    /// `RegionId`.
    #[serde(default = "default_region")]
    pub region_id: String,
    /// API endpoint.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Timeouts, retries, breaker, rate limit.
    #[serde(default)]
    pub resilience: ResilienceConfig,
}

fn default_body_param() -> String {
    "content".into()
}
fn default_region() -> String {
    "cn-hangzhou".into()
}
fn default_base_url() -> String {
    "https://dysmsapi.aliyuncs.com".into()
}

/// The Aliyun adapter. Its `Debug` never shows the secret.
pub struct AliyunSms {
    client: reqwest::Client,
    base: String,
    access_key_id: String,
    secret: Secret,
    sign_name: String,
    template_code: Option<String>,
    body_param: String,
    region_id: String,
}

impl fmt::Debug for AliyunSms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AliyunSms")
            .field("base", &self.base)
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &self.secret)
            .field("sign_name", &self.sign_name)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Answer {
    code: Option<String>,
    message: Option<String>,
    biz_id: Option<String>,
}

/// Permanent or retryable, by Aliyun's `Code`; `None` leaves it to the HTTP status.
fn classify(code: &str) -> Option<(FailureKind, bool)> {
    let retryable = |kind| Some((kind, true));
    let permanent = |kind| Some((kind, false));
    match code {
        c if c.starts_with("Throttling") => retryable(FailureKind::RateLimited),
        "isv.BUSINESS_LIMIT_CONTROL" | "isv.DAY_LIMIT_CONTROL" => {
            retryable(FailureKind::RateLimited)
        }
        "isp.SYSTEM_ERROR" | "InternalError" | "ServiceUnavailable" => {
            retryable(FailureKind::Server)
        }
        "isv.MOBILE_NUMBER_ILLEGAL"
        | "isv.MOBILE_COUNT_OVER_LIMIT"
        | "isv.BLACK_KEY_CONTROL_LIMIT" => permanent(FailureKind::InvalidRecipient),
        "InvalidAccessKeyId.NotFound"
        | "SignatureDoesNotMatch"
        | "isv.ACCOUNT_NOT_EXISTS"
        | "isv.ACCOUNT_ABNORMAL"
        | "isp.RAM_PERMISSION_DENY" => permanent(FailureKind::Unauthorized),
        c if c.starts_with("isv.") => permanent(FailureKind::Rejected),
        _ => None,
    }
}

impl AliyunSms {
    /// A client for `cfg`; `timeout` bounds each request.
    pub fn new(cfg: &AliyunConfig, timeout: Duration) -> Result<Self> {
        for (field, value) in [
            ("access_key_id", cfg.access_key_id.as_str()),
            ("access_key_secret", cfg.access_key_secret.expose()),
            ("sign_name", cfg.sign_name.as_str()),
        ] {
            if value.is_empty() {
                return Err(Error::config(field, "must not be empty"));
            }
        }
        Ok(Self {
            client: http::client(PROVIDER, timeout)?,
            base: http::base_url("base_url", &cfg.base_url)?,
            access_key_id: cfg.access_key_id.clone(),
            secret: cfg.access_key_secret.clone(),
            sign_name: cfg.sign_name.clone(),
            template_code: cfg.template_code.clone(),
            body_param: cfg.body_param.clone(),
            region_id: cfg.region_id.clone(),
        })
    }

    /// The signed query string for one message (public in the crate for tests).
    pub(crate) fn signed_query(&self, sms: &Sms, nonce: &str, timestamp: &str) -> Result<String> {
        let (code, params) = match &sms.template {
            Some(t) => (t.code.clone(), t.params.clone()),
            None => {
                let code = self.template_code.clone().ok_or_else(|| {
                    Error::permanent(
                        PROVIDER,
                        Failure::new(
                            FailureKind::Rejected,
                            "message has no template and no `template_code` is configured",
                        ),
                    )
                })?;
                (
                    code,
                    BTreeMap::from([(self.body_param.clone(), sms.body.clone())]),
                )
            }
        };
        let template_param = serde_json::to_string(&params).map_err(|e| {
            Error::permanent(PROVIDER, Failure::new(FailureKind::Protocol, e.to_string()))
        })?;
        let mut query = vec![
            ("AccessKeyId", self.access_key_id.as_str()),
            ("Action", "SendSms"),
            ("Format", "JSON"),
            ("PhoneNumbers", sms.to.as_str()),
            ("RegionId", self.region_id.as_str()),
            ("SignName", self.sign_name.as_str()),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", nonce),
            ("SignatureVersion", "1.0"),
            ("TemplateCode", code.as_str()),
            ("TemplateParam", template_param.as_str()),
            ("Timestamp", timestamp),
            ("Version", "2017-05-25"),
        ];
        if !sms.reference.is_empty() {
            query.push(("OutId", sms.reference.as_str()));
        }
        let canonical = signature::canonical_query(&query);
        let sig = signature::sign("GET", &canonical, self.secret.expose());
        Ok(format!("{canonical}&Signature={}", signature::encode(&sig)))
    }

    async fn send_once(&self, sms: &Sms) -> Result<SmsReceipt> {
        let timestamp = OffsetDateTime::now_utc()
            .format(format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
            ))
            .map_err(|e| {
                Error::permanent(PROVIDER, Failure::new(FailureKind::Protocol, e.to_string()))
            })?;
        let nonce = uuid::Uuid::new_v4().to_string();
        let query = self.signed_query(sms, &nonce, &timestamp)?;
        let request = self.client.get(format!("{}/?{query}", self.base));
        http::exchange(self, request).await
    }
}

/// What an answer that is not `Code: OK` means: Aliyun's `Code` decides retryable or permanent
/// before the status does, since business errors usually come with HTTP 200.
fn refusal(status: StatusCode, answer: Option<Answer>) -> Refusal {
    let code = answer.as_ref().and_then(|a| a.code.clone());
    let verdict = match code.as_deref().and_then(classify) {
        Some((kind, true)) => Verdict::Retry(kind),
        Some((kind, false)) => Verdict::Permanent(kind),
        // A 200 without a known code is an answer we do not understand.
        None if status.is_success() => Verdict::Permanent(FailureKind::Protocol),
        None => Verdict::ByStatus,
    };
    Refusal {
        code,
        message: answer.and_then(|a| a.message),
        verdict,
        ..Refusal::new(FailureKind::Rejected)
    }
}

impl http::Api for AliyunSms {
    const PROVIDER: &'static str = PROVIDER;
    type Output = SmsReceipt;

    fn accepted(&self, reply: &Reply<'_>) -> Result<SmsReceipt, Refusal> {
        let answer = reply.json::<Answer>().ok();
        match answer {
            Some(Answer {
                code: Some(code),
                biz_id,
                ..
            }) if code == "OK" => Ok(SmsReceipt {
                provider: PROVIDER,
                id: biz_id.unwrap_or_default(),
            }),
            other => Err(refusal(reply.status, other)),
        }
    }

    fn refused(&self, reply: &Reply<'_>) -> Refusal {
        refusal(reply.status, reply.json().ok())
    }
}

impl SmsSender for AliyunSms {
    fn provider(&self) -> &'static str {
        PROVIDER
    }

    fn send<'a>(&'a self, sms: &'a Sms) -> BoxFuture<'a, Result<SmsReceipt>> {
        Box::pin(self.send_once(sms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_split_into_retryable_and_permanent() {
        assert_eq!(
            classify("isv.MOBILE_NUMBER_ILLEGAL"),
            Some((FailureKind::InvalidRecipient, false))
        );
        assert_eq!(
            classify("isv.BUSINESS_LIMIT_CONTROL"),
            Some((FailureKind::RateLimited, true))
        );
        assert_eq!(
            classify("Throttling.User"),
            Some((FailureKind::RateLimited, true))
        );
        assert_eq!(
            classify("isv.TEMPLATE_MISSING_PARAMETERS"),
            Some((FailureKind::Rejected, false))
        );
        assert_eq!(classify("Something.New"), None);
    }

    #[test]
    fn the_code_decides_before_the_status() {
        let answer = |code: &str| {
            Some(Answer {
                code: Some(code.into()),
                message: None,
                biz_id: None,
            })
        };
        let verdict = |status, answer| refusal(status, answer).verdict;
        assert_eq!(
            verdict(StatusCode::OK, answer("isv.BUSINESS_LIMIT_CONTROL")),
            Verdict::Retry(FailureKind::RateLimited)
        );
        assert_eq!(
            verdict(
                StatusCode::SERVICE_UNAVAILABLE,
                answer("isv.INVALID_PARAMETERS")
            ),
            Verdict::Permanent(FailureKind::Rejected)
        );
        // A 200 that is neither `OK` nor a known code is not understood; without a code, the
        // status decides.
        assert_eq!(
            verdict(StatusCode::OK, answer("Something.New")),
            Verdict::Permanent(FailureKind::Protocol)
        );
        assert_eq!(verdict(StatusCode::BAD_GATEWAY, None), Verdict::ByStatus);
    }

    #[test]
    fn query_is_signed_over_all_parameters() {
        let sms = AliyunSms::new(
            &AliyunConfig {
                access_key_id: "testId".into(),
                access_key_secret: Secret::new("testSecret"),
                sign_name: "Shop".into(),
                template_code: Some("SMS_1".into()),
                body_param: "content".into(),
                region_id: "cn-hangzhou".into(),
                base_url: "http://127.0.0.1:1".into(),
                resilience: ResilienceConfig::default(),
            },
            Duration::from_secs(1),
        )
        .expect("client");
        let msg = Sms {
            to: "15300000001".into(),
            body: "hi there".into(),
            template: None,
            reference: "evt-1".into(),
        };
        let q = sms
            .signed_query(&msg, "nonce-1", "2024-01-02T03:04:05Z")
            .expect("query");
        let (canonical, sig) = q.split_once("&Signature=").expect("signature last");
        assert!(canonical.contains("&OutId=evt-1&"));
        assert!(canonical.contains("&TemplateParam=%7B%22content%22%3A%22hi%20there%22%7D&"));
        assert!(!q.contains("testSecret"));
        // Stable: the same inputs sign the same way; any other input changes the signature.
        let again = signature::encode(&signature::sign("GET", canonical, "testSecret"));
        assert_eq!(sig, again);
        let other = signature::encode(&signature::sign("GET", canonical, "otherSecret"));
        assert_ne!(sig, other);
    }
}
