//! The notifier's configuration: the `[analyzer.notifier]` section (the analyzer queues by its
//! policy and runs the delivery worker; `geohazard notify` and the all-in-one read the same
//! section), every key overridable as `GEOHAZARD_ANALYZER__NOTIFIER__<KEY>`.

use std::time::Duration;

use geohazard_protocol::warning::WarningLevel;
use serde::{Deserialize, Serialize};

use geohazard_domain::PerLevel;

use crate::policy::{DEFAULT_ACK_DEADLINES, WarningPolicy};
use crate::sms::SmsConfig;

/// The lifecycle's policy (who hears by SMS, acknowledgement deadlines, the sender's name) and
/// delivery (SMS provider, retries, rate limits, the app channel's fallback).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct NotifierConfig {
    pub sms: SmsConfig,
    /// Hazard warnings from this level up go out by SMS; all go to the app.
    pub sms_min_level: WarningLevel,
    /// Seconds a warning of each level may wait for an acknowledgement before it is referred.
    pub ack_deadlines: PerLevel<Option<f64>>,
    /// Attempts per SMS before it is given up.
    pub max_attempts: u32,
    /// First retry delay, doubled per attempt, milliseconds.
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    /// At most this many SMS per person per window.
    pub rate_limit_count: u32,
    pub rate_limit_window_s: u64,
    /// How often the outbox and overdue warnings are checked, milliseconds.
    pub poll_ms: u64,
    /// Time allowed for one provider request, milliseconds.
    pub request_timeout_ms: u64,
    /// Name put in messages, e.g. 【地灾监测】.
    pub sender_name: String,
    /// Seconds an app notification of a hazard may wait for a client of its person to confirm
    /// receiving it before it goes out by SMS instead; absent or negative: never.
    pub app_fallback_s: Option<f64>,
    /// Whether the analyzer (or the all-in-one) runs the delivery worker. Set it to false where
    /// `geohazard notify` runs the worker on its own.
    pub worker: bool,
}

impl Default for NotifierConfig {
    fn default() -> Self {
        NotifierConfig {
            sms: SmsConfig::None,
            sms_min_level: WarningPolicy::default().sms_min_level,
            ack_deadlines: DEFAULT_ACK_DEADLINES,
            max_attempts: 5,
            retry_base_ms: 2_000,
            retry_max_ms: 300_000,
            rate_limit_count: 10,
            rate_limit_window_s: 3600,
            poll_ms: 1_000,
            request_timeout_ms: 10_000,
            sender_name: WarningPolicy::default().sender_name,
            app_fallback_s: Some(300.0),
            worker: true,
        }
    }
}

impl NotifierConfig {
    /// The lifecycle's part of it.
    pub fn policy(&self) -> WarningPolicy {
        WarningPolicy {
            sms_min_level: self.sms_min_level,
            ack_deadlines: self.ack_deadlines,
            sender_name: self.sender_name.clone(),
        }
    }

    /// How long an app notification waits for a client before the SMS fallback, if ever.
    pub fn app_fallback(&self) -> Option<Duration> {
        self.app_fallback_s
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64)
    }
}
