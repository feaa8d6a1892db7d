//! The consultation rooms' shared parts: the media server, and each room's fan-out of stored
//! events to the sockets in it. An event is sent only after the store has committed it: what a
//! participant sees is what the room's log holds. One command-center process fans out its own
//! sockets' rooms.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use geohazard_consult::RoomEvent;
use tokio::sync::broadcast;

use crate::janus::Janus;

/// Events a slow socket may fall behind by before it is told to resync.
const ROOM_QUEUE: usize = 256;

pub struct Consult {
    pub janus: Janus,
    rooms: Mutex<HashMap<i64, broadcast::Sender<Arc<RoomEvent>>>>,
}

impl Consult {
    pub fn new(janus: Janus) -> Arc<Consult> {
        Arc::new(Consult {
            janus,
            rooms: Mutex::new(HashMap::new()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, broadcast::Sender<Arc<RoomEvent>>>> {
        self.rooms.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Events of `room` stored from now on.
    pub fn subscribe(&self, room: i64) -> broadcast::Receiver<Arc<RoomEvent>> {
        self.lock()
            .entry(room)
            .or_insert_with(|| broadcast::channel(ROOM_QUEUE).0)
            .subscribe()
    }

    /// Passes a stored event to the room's sockets.
    pub fn publish(&self, event: RoomEvent) {
        let mut rooms = self.lock();
        if let Some(tx) = rooms.get(&event.room_id)
            && tx.send(Arc::new(event)).is_err()
        {
            // Nobody is in the room.
            rooms.retain(|_, tx| tx.receiver_count() > 0);
        }
    }
}
