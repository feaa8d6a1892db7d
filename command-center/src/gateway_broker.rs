//! The broker's side of a gateway's key: the Mosquitto password file that the gateways'
//! listener reads (`deploy/mosquitto.conf`), edited when an officer issues, rotates or
//! revokes a key, and the broker told to reload it (SIGHUP) so a new key works at once and a
//! revoked or replaced one is disconnected and refused at once, without a restart. The
//! all-in-one points this at its own broker's files.

use std::path::PathBuf;

pub use geohazard_api::register::BrokerTold;
use serde::{Deserialize, Serialize};

/// The `[command_center.gateway_keys]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct GatewayKeySettings {
    /// The gateways' Mosquitto password file (`password_file` of the gateways' listener), on
    /// this host. Unset: keys are stored but no broker is told (answers say `not_configured`).
    pub mosquitto_passwd: Option<PathBuf>,
    /// The pid file of the Mosquitto that reads it, told to reload.
    pub mosquitto_pid: PathBuf,
}

impl Default for GatewayKeySettings {
    fn default() -> GatewayKeySettings {
        GatewayKeySettings {
            mosquitto_passwd: None,
            mosquitto_pid: PathBuf::from("/run/mosquitto/mosquitto.pid"),
        }
    }
}

/// One edit of the file at a time in this process (mosquitto_passwd rewrites it whole).
static EDITING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Puts `code`'s key in the password file (`Some`), or takes it out (`None`), and tells the
/// broker to reload.
pub async fn put_key(
    settings: &GatewayKeySettings,
    code: &str,
    key: Option<&str>,
) -> anyhow::Result<BrokerTold> {
    let Some(file) = settings.mosquitto_passwd.clone() else {
        return Ok(BrokerTold::NotConfigured);
    };
    let _one_at_a_time = EDITING.lock().await;
    let (pid, code, key) = (
        settings.mosquitto_pid.clone(),
        code.to_owned(),
        key.map(str::to_owned),
    );
    tokio::task::spawn_blocking(move || {
        use geohazard_runtime::mosquitto;
        match key {
            Some(key) => mosquitto::add_to_passwd(&file, &code, &key)?,
            None => mosquitto::remove_from_passwd(&file, &code)?,
        }
        Ok(if mosquitto::reload(&pid)? {
            BrokerTold::Reloaded
        } else {
            BrokerTold::FileOnly
        })
    })
    .await?
}
