//! Message deduplication (RFC 7252 §4.5): a retransmitted Confirmable request
//! gets the same reply again instead of being processed twice (a retransmitted
//! CREATE must not create a second resource); a repeated Non-confirmable one
//! is ignored.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::cache::Bounded;

/// RFC 7252 §4.8.2 EXCHANGE_LIFETIME with the default parameters: how long a
/// peer may retransmit one message ID.
pub const EXCHANGE_LIFETIME: Duration = Duration::from_secs(247);
/// Remembered exchanges. Replies are at most one block plus options (~1.2 KB),
/// so this bounds the memory at about 10 MB; under heavier load the window
/// shrinks below EXCHANGE_LIFETIME rather than the memory growing.
const CAPACITY: usize = 8192;

#[derive(Clone)]
enum State {
    /// Being processed; no reply yet.
    InProgress,
    /// Answered with these bytes (`None` for a NON request, which is not repeated).
    Replied(Option<Arc<Vec<u8>>>),
}

/// What to do with an incoming request message.
pub enum Seen {
    /// First time: process it.
    New,
    /// A duplicate: send these bytes again (if any) and do nothing else.
    Duplicate(Option<Arc<Vec<u8>>>),
}

pub struct Exchanges {
    seen: Bounded<(SocketAddr, u16), State>,
}

impl Default for Exchanges {
    fn default() -> Self {
        Exchanges {
            seen: Bounded::new(EXCHANGE_LIFETIME, CAPACITY),
        }
    }
}

impl Exchanges {
    /// Record the message and tell whether it is new.
    pub fn begin(&mut self, peer: SocketAddr, mid: u16) -> Seen {
        match self.seen.get(&(peer, mid)) {
            Some(State::InProgress) => Seen::Duplicate(None),
            Some(State::Replied(reply)) => Seen::Duplicate(reply.clone()),
            None => {
                self.seen.insert((peer, mid), State::InProgress);
                Seen::New
            }
        }
    }

    /// Remember the reply that duplicates of this message get (an empty ACK
    /// once a separate response is under way).
    pub fn replied(&mut self, peer: SocketAddr, mid: u16, reply: Option<Arc<Vec<u8>>>) {
        self.seen.insert((peer, mid), State::Replied(reply));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_get_the_same_reply() {
        let peer: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let other: SocketAddr = "127.0.0.1:40001".parse().unwrap();
        let mut exchanges = Exchanges::default();
        assert!(matches!(exchanges.begin(peer, 7), Seen::New));
        assert!(matches!(exchanges.begin(peer, 7), Seen::Duplicate(None)));
        assert!(matches!(exchanges.begin(other, 7), Seen::New));
        exchanges.replied(peer, 7, Some(Arc::new(vec![1, 2])));
        match exchanges.begin(peer, 7) {
            Seen::Duplicate(Some(bytes)) => assert_eq!(*bytes, vec![1, 2]),
            _ => panic!("expected the cached reply"),
        }
    }
}
