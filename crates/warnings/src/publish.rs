//! Publishing warning changes, off the caller's path: the MQTT request channel may be full of
//! acknowledgements under a burst, and the analyzer's engine must never wait on it (the
//! connection task may in turn be waiting for the engine to take a delivery). The analyzer and
//! the command-center each run one publisher.

use geohazard_bus::rumqttc::{AsyncClient, QoS};
use geohazard_protocol::Topic;
use geohazard_protocol::warning::Warning;
use tokio::sync::mpsc;

/// Where warning changes go to be published.
pub type Outbox = mpsc::UnboundedSender<Warning>;

/// The publisher's end of an [`Outbox`].
pub type OutboxReceiver = mpsc::UnboundedReceiver<Warning>;

/// A new outbox and the receiver to hand to [`run_publisher`].
pub fn outbox() -> (Outbox, OutboxReceiver) {
    mpsc::unbounded_channel()
}

/// Publishes warning changes on `gh/v1/warning/{division}/{site}` until the senders are gone.
pub async fn run_publisher(client: AsyncClient, mut rx: OutboxReceiver) {
    while let Some(w) = rx.recv().await {
        let topic = Topic::warning(&w.division, &w.site);
        if let Err(e) = client
            .publish(topic, QoS::AtLeastOnce, false, w.to_json())
            .await
        {
            tracing::warn!(error = %e, warning = w.id, "could not publish a warning");
        }
    }
}
