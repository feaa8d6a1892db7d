//! Remote consultation rooms (远程会商): province, city, county and the site in one room.
//!
//! A room is opened for an incident (by its id only) or on its own, in the opener's division,
//! with divisions and people invited. Who may enter is [`rooms::visible`]: the room's division is
//! in the officer's scope (a county sees its own rooms, a city and the province those below
//! them), or the officer's division or the officer is invited. A room is open or closed
//! ([`decide`], applied by [`rooms::close`] in one transaction). What happens in a room — chat,
//! map annotations (GeoJSON), postings of evidence, decisions, people coming and going — is one
//! ordered log ([`events`]), replayed to whoever joins late.

pub mod decide;
pub mod events;
pub mod rooms;

pub use decide::{Change, Decision, RoomState, decide};
pub use events::{ClientMessage, EventKind, MessageError, RoomEvent};
pub use rooms::{NewRoom, Room};
