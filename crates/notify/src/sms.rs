//! SMS providers: a generic HTTP provider (URL, auth header, body template) and Aliyun SMS
//! `SendSms` with its RPC signature (HMAC-SHA1, signature version 1.0).

use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use hmac::{KeyInit, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Serialize};

/// Which provider sends SMS, with its settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(tag = "provider", rename_all = "snake_case")]
pub enum SmsConfig {
    /// SMS are recorded as failed with "no provider"; app notifications still go out.
    #[default]
    None,
    Generic(GenericHttpConfig),
    Aliyun(AliyunConfig),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GenericHttpConfig {
    pub url: String,
    /// e.g. `Authorization`.
    #[serde(default)]
    pub auth_header: Option<String>,
    /// e.g. `Bearer ...`.
    #[serde(default)]
    pub auth_value: Option<String>,
    /// The request body with `{phone}`, `{text}`, `{id}` placeholders; values are inserted
    /// JSON-string-escaped (so a JSON template stays valid).
    #[serde(default = "default_body_template")]
    pub body_template: String,
    #[serde(default = "default_content_type")]
    pub content_type: String,
    /// JSON pointer to the provider's message id in its response, e.g. `/id`.
    #[serde(default)]
    pub message_id_pointer: Option<String>,
}

fn default_body_template() -> String {
    r#"{"to":"{phone}","text":"{text}","ref":"{id}"}"#.into()
}
fn default_content_type() -> String {
    "application/json".into()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AliyunConfig {
    #[serde(default = "default_aliyun_endpoint")]
    pub endpoint: String,
    pub access_key_id: String,
    /// Never shown: a log line or an error prints `***`.
    pub access_key_secret: geohazard_runtime::Secret,
    pub sign_name: String,
    /// A template with `${site}`, `${level}` and `${summary}` variables.
    pub template_code: String,
    #[serde(default = "default_region")]
    pub region_id: String,
}

fn default_aliyun_endpoint() -> String {
    "https://dysmsapi.aliyuncs.com/".into()
}
fn default_region() -> String {
    "cn-hangzhou".into()
}

/// One SMS to send.
#[derive(Debug, Clone)]
pub struct SmsMessage {
    pub notification_id: i64,
    pub phone: String,
    pub text: String,
    pub site: String,
    pub level: String,
    pub summary: String,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{detail}")]
pub struct SendError {
    /// Worth trying again later (timeouts, 5xx, throttling).
    pub retryable: bool,
    pub http_status: Option<u16>,
    pub detail: String,
}

/// What the provider answered: its id for the message (to match delivery receipts) and the
/// HTTP status.
#[derive(Debug, Clone)]
pub struct Sent {
    pub message_id: Option<String>,
    pub http_status: u16,
}

#[async_trait]
pub trait SmsProvider: Send + Sync {
    fn name(&self) -> &str;
    async fn send(&self, msg: &SmsMessage) -> Result<Sent, SendError>;
}

pub fn build_provider(
    config: &SmsConfig,
    timeout: Duration,
) -> anyhow::Result<Option<Box<dyn SmsProvider>>> {
    let client = reqwest::Client::builder().timeout(timeout).build()?;
    Ok(match config {
        SmsConfig::None => None,
        SmsConfig::Generic(c) => Some(Box::new(GenericHttp {
            config: c.clone(),
            client,
        })),
        SmsConfig::Aliyun(c) => Some(Box::new(Aliyun {
            config: c.clone(),
            client,
        })),
    })
}

fn transport_error(e: reqwest::Error) -> SendError {
    SendError {
        retryable: true,
        http_status: e.status().map(|s| s.as_u16()),
        detail: format!("request failed: {e}"),
    }
}

fn status_error(status: u16, body: &str) -> SendError {
    SendError {
        // 429 and 5xx are the provider's trouble, not the message's.
        retryable: status == 429 || status >= 500,
        http_status: Some(status),
        detail: format!(
            "HTTP {status}: {}",
            body.chars().take(300).collect::<String>()
        ),
    }
}

pub struct GenericHttp {
    config: GenericHttpConfig,
    client: reqwest::Client,
}

fn json_escape(s: &str) -> String {
    let quoted = serde_json::to_string(s).expect("a string serializes");
    quoted[1..quoted.len() - 1].to_owned()
}

impl GenericHttp {
    pub fn render(&self, msg: &SmsMessage) -> String {
        self.config
            .body_template
            .replace("{phone}", &json_escape(&msg.phone))
            .replace("{id}", &msg.notification_id.to_string())
            .replace("{text}", &json_escape(&msg.text))
    }
}

#[async_trait]
impl SmsProvider for GenericHttp {
    fn name(&self) -> &str {
        "generic"
    }

    async fn send(&self, msg: &SmsMessage) -> Result<Sent, SendError> {
        let mut req = self
            .client
            .post(&self.config.url)
            .header(reqwest::header::CONTENT_TYPE, &self.config.content_type)
            .body(self.render(msg));
        if let (Some(h), Some(v)) = (&self.config.auth_header, &self.config.auth_value) {
            req = req.header(h.as_str(), v.as_str());
        }
        let resp = req.send().await.map_err(transport_error)?;
        let status = resp.status().as_u16();
        let body = resp.text().await.map_err(transport_error)?;
        if !(200..300).contains(&status) {
            return Err(status_error(status, &body));
        }
        let message_id = self.config.message_id_pointer.as_ref().and_then(|p| {
            serde_json::from_str::<serde_json::Value>(&body)
                .ok()?
                .pointer(p)
                .map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| v.to_string())
                })
        });
        Ok(Sent {
            message_id,
            http_status: status,
        })
    }
}

/// RFC 3986 encoding as Aliyun's POP signature wants it: everything but A-Z a-z 0-9 - _ . ~
/// is %XX with upper-case hex (so space is %20, `*` is %2A, `~` stays).
const POP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

pub fn pop_encode(s: &str) -> String {
    utf8_percent_encode(s, POP).to_string()
}

/// The RPC (POP) signature, version 1.0: parameters sorted by name, each name and value
/// encoded and joined as `k=v&...`; string to sign `METHOD&%2F&` + encode(that); signature
/// base64(HMAC-SHA1(secret + "&", string to sign)).
pub fn aliyun_signature(method: &str, params: &[(String, String)], secret: &str) -> String {
    let mut sorted: Vec<&(String, String)> =
        params.iter().filter(|(k, _)| k != "Signature").collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let canonical = sorted
        .iter()
        .map(|(k, v)| format!("{}={}", pop_encode(k), pop_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let to_sign = format!("{method}&{}&{}", pop_encode("/"), pop_encode(&canonical));
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(format!("{secret}&").as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

pub struct Aliyun {
    config: AliyunConfig,
    client: reqwest::Client,
}

impl Aliyun {
    /// The signed query parameters of a `SendSms` request.
    pub fn signed_params(
        &self,
        msg: &SmsMessage,
        nonce: &str,
        timestamp: &str,
    ) -> Vec<(String, String)> {
        let c = &self.config;
        let template =
            serde_json::json!({"site": msg.site, "level": msg.level, "summary": msg.summary});
        let mut p: Vec<(String, String)> = [
            ("AccessKeyId", c.access_key_id.as_str()),
            ("Action", "SendSms"),
            ("Format", "JSON"),
            ("OutId", &msg.notification_id.to_string()),
            ("PhoneNumbers", &msg.phone),
            ("RegionId", &c.region_id),
            ("SignName", &c.sign_name),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", nonce),
            ("SignatureVersion", "1.0"),
            ("TemplateCode", &c.template_code),
            ("TemplateParam", &template.to_string()),
            ("Timestamp", timestamp),
            ("Version", "2017-05-25"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let sig = aliyun_signature("GET", &p, c.access_key_secret.expose());
        p.push(("Signature".into(), sig));
        p
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AliyunResponse {
    code: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    biz_id: Option<String>,
}

#[async_trait]
impl SmsProvider for Aliyun {
    fn name(&self) -> &str {
        "aliyun"
    }

    async fn send(&self, msg: &SmsMessage) -> Result<Sent, SendError> {
        let nonce = uuid::Uuid::new_v4().to_string();
        let timestamp = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let params = self.signed_params(msg, &nonce, &timestamp);
        let query = params
            .iter()
            .map(|(k, v)| format!("{}={}", pop_encode(k), pop_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let sep = if self.config.endpoint.contains('?') {
            '&'
        } else {
            '?'
        };
        let url = format!("{}{sep}{query}", self.config.endpoint);
        let resp = self.client.get(url).send().await.map_err(transport_error)?;
        let status = resp.status().as_u16();
        let body = resp.text().await.map_err(transport_error)?;
        if !(200..300).contains(&status) {
            return Err(status_error(status, &body));
        }
        let r: AliyunResponse = serde_json::from_str(&body).map_err(|e| SendError {
            retryable: true,
            http_status: Some(status),
            detail: format!("unreadable answer: {e}"),
        })?;
        if r.code != "OK" {
            return Err(SendError {
                // Flow control is temporary; a bad number or template is not.
                retryable: r.code.contains("LIMIT_CONTROL") || r.code.contains("Throttling"),
                http_status: Some(status),
                detail: format!("{}: {}", r.code, r.message),
            });
        }
        Ok(Sent {
            message_id: r.biz_id,
            http_status: status,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_sms_signature_matches_aliyuns_documented_example() {
        // The worked example of Aliyun SMS's signature documentation (secret `testSecret`).
        let params = p(&[
            ("AccessKeyId", "testId"),
            ("Action", "SendSms"),
            ("Format", "XML"),
            ("OutId", "123"),
            ("PhoneNumbers", "15300000001"),
            ("RegionId", "cn-hangzhou"),
            ("SignName", "阿里云短信测试专用"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "45e25e9b-0a6f-4070-8c85-2956eda1b466"),
            ("SignatureVersion", "1.0"),
            ("TemplateCode", "SMS_71390007"),
            ("TemplateParam", r#"{"customer":"test"}"#),
            ("Timestamp", "2017-07-12T02:42:19Z"),
            ("Version", "2017-05-25"),
        ]);
        assert_eq!(
            aliyun_signature("GET", &params, "testSecret"),
            "zJDF+Lrzhj/ThnlvIToysFRq6t4="
        );
    }

    #[test]
    fn the_rpc_signature_matches_the_describe_regions_example() {
        // The example of Aliyun's RPC signature documentation; parameter order does not matter.
        let params = p(&[
            ("Timestamp", "2016-02-23T12:46:24Z"),
            ("Format", "XML"),
            ("AccessKeyId", "testid"),
            ("Action", "DescribeRegions"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
            ("SignatureVersion", "1.0"),
            ("Version", "2014-05-26"),
        ]);
        assert_eq!(
            aliyun_signature("GET", &params, "testsecret"),
            "OLeaidS1JvxuMvnyHOwuJ+uX5qY="
        );
    }

    #[test]
    fn pop_encoding_follows_rfc3986() {
        assert_eq!(pop_encode("a b*~-_."), "a%20b%2A~-_.");
        assert_eq!(pop_encode("/=&+"), "%2F%3D%26%2B");
        assert_eq!(pop_encode("派"), "%E6%B4%BE");
    }

    #[test]
    fn the_generic_template_escapes_values_into_valid_json() {
        let g = GenericHttp {
            config: GenericHttpConfig {
                url: "http://x".into(),
                auth_header: None,
                auth_value: None,
                body_template: default_body_template(),
                content_type: default_content_type(),
                message_id_pointer: None,
            },
            client: reqwest::Client::new(),
        };
        let body = g.render(&SmsMessage {
            notification_id: 7,
            phone: "13800000000".into(),
            text: "红色预警 \"LS-1\"\nnow".into(),
            site: "LS-1".into(),
            level: "red".into(),
            summary: String::new(),
        });
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["text"], "红色预警 \"LS-1\"\nnow");
        assert_eq!(v["ref"], "7");
    }
}
