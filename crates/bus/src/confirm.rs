//! Pairing what we sent with the broker's acknowledgement of it.
//!
//! rumqttc tells which packet id a request was given only when the event loop writes it
//! (`Outgoing::Publish(pkid)`, `Outgoing::Subscribe(pkid)`), and the acknowledgement names only
//! that id (`Incoming::PubAck`, `Incoming::SubAck`). Requests leave in the order they were
//! queued, so a tracker queues a token per request, pairs the oldest with the id when the
//! request leaves, and hands it back when the acknowledgement arrives.
//!
//! Two cases need care:
//! - after a reconnect rumqttc resends unacknowledged publishes with their old ids; the id is
//!   already paired, so the resend must not take the next request's token;
//! - a publish whose id is still in flight is held back (`Outgoing::AwaitAck(pkid)`) and written,
//!   with an `Outgoing::Publish` of the same id, once the older one is acknowledged. Its token is
//!   set aside at the `AwaitAck` (rumqttc reads no further requests while one is held) and takes
//!   the id when the older request's acknowledgement has been handed out, whichever of the two
//!   events rumqttc reports first.

use std::collections::{HashMap, VecDeque};

/// Tokens for requests in flight: queued in request order, then keyed by packet id.
#[derive(Debug)]
pub struct AckTracker<T> {
    queued: VecDeque<T>,
    sent: HashMap<u16, T>,
    held: Option<(u16, T)>,
}

impl<T> Default for AckTracker<T> {
    fn default() -> Self {
        AckTracker {
            queued: VecDeque::new(),
            sent: HashMap::new(),
            held: None,
        }
    }
}

impl<T> AckTracker<T> {
    /// A request was handed to the client; `token` comes back when the broker confirms it.
    pub fn queued(&mut self, token: T) {
        self.queued.push_back(token);
    }

    /// The event loop wrote a request with `pkid`. Id 0 is a QoS 0 publish: nothing will confirm
    /// it, so its token is returned at once (the write is all there is).
    pub fn sent(&mut self, pkid: u16) -> Option<T> {
        if pkid == 0 {
            return self.queued.pop_front();
        }
        let held_here = matches!(self.held, Some((id, _)) if id == pkid);
        if !held_here
            && !self.sent.contains_key(&pkid)
            && let Some(token) = self.queued.pop_front()
        {
            self.sent.insert(pkid, token);
        }
        None
    }

    /// The event loop held the next request back because `pkid` is still in flight.
    pub fn held(&mut self, pkid: u16) {
        if let Some(token) = self.queued.pop_front() {
            self.held = Some((pkid, token));
        }
    }

    /// The broker acknowledged `pkid`: the token of the request it confirms.
    pub fn acked(&mut self, pkid: u16) -> Option<T> {
        let token = self.sent.remove(&pkid);
        if token.is_some()
            && let Some((id, _)) = self.held
            && id == pkid
        {
            let (_, next) = self.held.take().expect("just matched");
            self.sent.insert(pkid, next);
        }
        token
    }

    /// Requests written but not yet acknowledged.
    pub fn in_flight(&self) -> usize {
        self.sent.len()
    }

    /// Forgets the written and held requests (a connection ended and they will not be resent);
    /// returns their tokens.
    pub fn forget_sent(&mut self) -> Vec<T> {
        let held = self.held.take().map(|(_, t)| t);
        self.sent.drain().map(|(_, t)| t).chain(held).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acknowledgements_return_the_token_of_the_request_they_confirm() {
        let mut t = AckTracker::default();
        t.queued("a");
        t.queued("b");
        t.sent(1);
        t.sent(2);
        assert_eq!(t.acked(2), Some("b"));
        assert_eq!(t.acked(1), Some("a"));
        assert_eq!(t.acked(1), None);
    }

    #[test]
    fn a_resend_after_reconnect_does_not_take_the_next_requests_token() {
        let mut t = AckTracker::default();
        t.queued("a");
        t.sent(7);
        t.queued("b");
        t.sent(7); // the resend of "a"
        t.sent(8);
        assert_eq!(t.acked(7), Some("a"));
        assert_eq!(t.acked(8), Some("b"));
    }

    #[test]
    fn a_publish_held_for_a_colliding_id_is_confirmed_by_the_second_ack_of_that_id() {
        for write_before_ack in [false, true] {
            let mut t = AckTracker::default();
            t.queued("old");
            t.sent(3);
            t.queued("held");
            t.held(3);
            t.queued("next"); // queued while held; rumqttc reads it only after the held one
            if write_before_ack {
                t.sent(3);
                assert_eq!(t.acked(3), Some("old"));
            } else {
                assert_eq!(t.acked(3), Some("old"));
                t.sent(3);
            }
            t.sent(4);
            assert_eq!(t.acked(3), Some("held"));
            assert_eq!(t.acked(4), Some("next"));
        }
    }

    #[test]
    fn qos0_publishes_return_their_token_when_written() {
        let mut t = AckTracker::default();
        t.queued("frame");
        t.queued("reading");
        assert_eq!(t.sent(0), Some("frame"));
        t.sent(4);
        assert_eq!(t.in_flight(), 1);
        assert_eq!(t.forget_sent(), vec!["reading"]);
    }
}
