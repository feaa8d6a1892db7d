//! Notifying people, for any service: who is told of a warning at each referral step and the
//! queue they are told through ([`enqueue_for_step`], [`enqueue_for_level`], in the caller's
//! transaction); the channels ([`Channel`]: SMS through a provider, the app through a person's
//! signed-in clients); the delivery worker ([`Delivery`]: SMS with retries and rate limits, and SMS
//! for app notifications no client confirmed in time); delivery receipts ([`receipts`]).
//!
//! Layer: below the warning lifecycle (`geohazard_warnings` queues through this crate), above
//! `protocol`, `domain` and `runtime`; it depends on no service.

mod about;
pub mod app;
mod config;
mod policy;
mod queue;
pub mod receipts;
mod regional;
mod sms;
mod task;
mod worker;

pub use about::{About, enqueue_about};
pub use config::NotifierConfig;
pub use geohazard_domain::{Channel, NotificationStatus};
pub use policy::{DEFAULT_ACK_DEADLINES, WarningPolicy};
pub use queue::{
    ForecastNews, Queued, Step, enqueue_for_level, enqueue_for_step, enqueue_forecast_update,
};
pub use receipts::record_receipt;
pub use regional::enqueue_regional;
pub use sms::{
    AliyunConfig, GenericHttpConfig, SendError, Sent, SmsConfig, SmsMessage, SmsProvider,
    aliyun_signature, build_provider,
};
pub use task::{QUEUED_CHANNEL, TaskSms, enqueue_task};
pub use worker::{Delivery, pass_backoff};
