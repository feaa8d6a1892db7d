//! Messages the bridge publishes straight away, beside the disk queue: command acks, status,
//! live-view frames. Cameras and commands hand them to the link; the type lives apart from the
//! link so that those modules need not import it.

use bytes::Bytes;
use geohazard_bus::rumqttc::QoS;
use geohazard_protocol::Topic;

/// A message published without the disk queue: command acks, status, live-view frames.
#[derive(Debug, Clone)]
pub(crate) struct Direct {
    pub topic: String,
    pub payload: Bytes,
    pub qos: QoS,
    pub retain: bool,
}

impl Direct {
    /// A command's acknowledgement on the gateway's `cmd/ack` topic.
    pub fn command_ack(gateway: &str, ack: &geohazard_protocol::CommandAck) -> Direct {
        Direct {
            topic: Topic::command_ack(gateway),
            payload: Bytes::from(ack.to_json()),
            qos: QoS::AtLeastOnce,
            retain: false,
        }
    }
}
