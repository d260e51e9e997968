//! Block-wise transfers (RFC 7959): Block1 reassembles large request payloads,
//! Block2 serves large responses block by block from a cache.
//!
//! coap-lite's `BlockHandler` is not used: it keys transfers by method and
//! path only (two queries of one resource would share a cached response), does
//! not bound the total size of a reassembled payload nor the number of cached
//! responses, and encodes block numbers in 16 bits where RFC 7959 allows 20.
//!
//! A transfer is identified by the peer and the request's options other than
//! the block options ([`fingerprint`]): clients change the token and message
//! ID per block, but repeat every other option.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use coap_lite::Packet;
use urbis_model::{CseError, CseResult};

use crate::cache::Bounded;
use crate::options::coap;

/// The largest block this server sends or asks for: 1024 bytes keeps a block
/// with its header and options inside a 1280-byte IPv6 minimum MTU datagram.
pub const MAX_BLOCK_SIZE: usize = 1024;

/// A Block1 or Block2 option value (RFC 7959 §2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Block {
    pub num: u32,
    pub more: bool,
    /// Block size as a power of two: 16 << szx bytes.
    pub szx: u8,
}

impl Block {
    /// Parse an option value of 0 to 3 bytes. szx 7 is reserved (BERT, TCP
    /// only) and refused.
    pub fn parse(value: &[u8]) -> Option<Block> {
        if value.len() > 3 {
            return None;
        }
        let raw = value.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b));
        let szx = (raw & 0x7) as u8;
        if szx == 7 {
            return None;
        }
        Some(Block {
            num: raw >> 4,
            more: raw & 0x8 != 0,
            szx,
        })
    }

    pub fn encode(self) -> Vec<u8> {
        let raw = (self.num << 4) | (u32::from(self.more) << 3) | u32::from(self.szx);
        let bytes = raw.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        bytes[skip..].to_vec()
    }

    pub fn size(self) -> usize {
        16 << self.szx
    }

    /// The block of `size` bytes (a power of two from 16 to 1024) at `num`.
    pub fn sized(num: u32, more: bool, size: usize) -> Block {
        let size = size.clamp(16, MAX_BLOCK_SIZE);
        let szx = (size.trailing_zeros().saturating_sub(4)) as u8;
        Block { num, more, szx }
    }

    fn offset(self) -> usize {
        (self.num as usize).saturating_mul(self.size())
    }
}

/// The first value of a block option, if present.
pub fn block_option(packet: &Packet, number: u16) -> CseResult<Option<Block>> {
    match crate::options::all(packet, number).first() {
        None => Ok(None),
        Some(value) => Block::parse(value)
            .map(Some)
            .ok_or_else(|| CseError::bad_request(format!("malformed block option {number}"))),
    }
}

/// What identifies one block-wise transfer: method and every option except
/// the block and size options, in order.
pub fn fingerprint(packet: &Packet) -> Vec<u8> {
    let mut key = vec![u8::from(packet.header.code)];
    for (number, values) in packet.options() {
        if matches!(
            *number,
            coap::BLOCK1 | coap::BLOCK2 | coap::SIZE1 | coap::SIZE2
        ) {
            continue;
        }
        for value in values {
            key.extend_from_slice(&number.to_be_bytes());
            key.extend_from_slice(&(value.len() as u32).to_be_bytes());
            key.extend_from_slice(value);
        }
    }
    key
}

type Key = (SocketAddr, Vec<u8>);

/// What to do with one Block1 request.
#[derive(Debug, PartialEq)]
pub enum Block1 {
    /// More blocks to come: answer 2.31 Continue with this Block1 value.
    Continue(Block),
    /// The last block arrived: here is the whole payload.
    Complete(Vec<u8>),
    /// The payload would exceed the limit: 4.13.
    TooLarge,
    /// A block out of order or of the wrong size, or a transfer this server
    /// does not know (expired or never started): 4.08.
    Incomplete,
}

/// A large response, kept while its client fetches the blocks.
#[derive(Clone)]
pub struct Stored {
    /// The response without payload: code and options to repeat in each block.
    pub head: Packet,
    pub body: Arc<Vec<u8>>,
}

/// Both directions' transfer state, bounded in entries and bytes.
pub struct Transfers {
    uploads: Bounded<Key, Vec<u8>>,
    downloads: Bounded<Key, Stored>,
    max_payload: usize,
}

/// How long a transfer may pause between blocks (RFC 7252 EXCHANGE_LIFETIME
/// would be 247 s; a client that pauses a minute has given up).
const TRANSFER_LIFETIME: Duration = Duration::from_secs(60);
/// Concurrent uploads: each may hold up to `max_payload` bytes.
const MAX_UPLOADS: usize = 32;
/// Cached large responses.
const MAX_DOWNLOADS: usize = 256;

impl Transfers {
    pub fn new(max_payload: usize) -> Transfers {
        Transfers {
            uploads: Bounded::new(TRANSFER_LIFETIME, MAX_UPLOADS),
            downloads: Bounded::new(TRANSFER_LIFETIME, MAX_DOWNLOADS),
            max_payload,
        }
    }

    /// Take one Block1 request. `size1` is the total size the client announced.
    pub fn upload(
        &mut self,
        peer: SocketAddr,
        fingerprint: Vec<u8>,
        block: Block,
        payload: &[u8],
        size1: Option<u32>,
    ) -> Block1 {
        let key = (peer, fingerprint);
        if size1.is_some_and(|total| total as usize > self.max_payload) {
            self.uploads.remove(&key);
            return Block1::TooLarge;
        }
        if block.more && payload.len() != block.size() {
            self.uploads.remove(&key);
            return Block1::Incomplete;
        }
        if block.num == 0 {
            self.uploads.insert(key.clone(), Vec::new());
        }
        let Some(received) = self.uploads.get_mut(&key) else {
            return Block1::Incomplete;
        };
        if block.offset() != received.len() {
            self.uploads.remove(&key);
            return Block1::Incomplete;
        }
        if received.len() + payload.len() > self.max_payload {
            self.uploads.remove(&key);
            return Block1::TooLarge;
        }
        received.extend_from_slice(payload);
        if block.more {
            Block1::Continue(block)
        } else {
            Block1::Complete(self.uploads.remove(&key).unwrap_or_default())
        }
    }

    /// Keep a large response for the blocks after the first.
    pub fn store(&mut self, peer: SocketAddr, fingerprint: Vec<u8>, stored: Stored) {
        // bound the bytes too: a few huge responses must not pin gigabytes
        let budget = self.max_payload.saturating_mul(8).max(MAX_BLOCK_SIZE);
        let key = (peer, fingerprint);
        self.downloads.remove(&key);
        while self.downloads.values().map(|s| s.body.len()).sum::<usize>() + stored.body.len()
            > budget
            && self.downloads.pop_oldest()
        {}
        self.downloads.insert(key, stored);
    }

    /// The cached response of an ongoing Block2 transfer.
    pub fn stored(&self, peer: SocketAddr, fingerprint: Vec<u8>) -> Option<Stored> {
        self.downloads.get(&(peer, fingerprint)).cloned()
    }

    pub fn forget(&mut self, peer: SocketAddr, fingerprint: Vec<u8>) {
        self.downloads.remove(&(peer, fingerprint));
    }
}

/// The bytes of block `block` of `body`, and the Block2 value to send with
/// them; `None` when the block starts past the end.
pub fn slice(body: &[u8], block: Block) -> Option<(&[u8], Block)> {
    let start = block.offset();
    if start >= body.len() && !(start == 0 && body.is_empty()) {
        return None;
    }
    let end = (start + block.size()).min(body.len());
    Some((
        &body[start..end],
        Block {
            more: end < body.len(),
            ..block
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> SocketAddr {
        "127.0.0.1:5683".parse().unwrap()
    }

    #[test]
    fn block_values_round_trip() {
        for block in [
            Block {
                num: 0,
                more: false,
                szx: 0,
            },
            Block {
                num: 1,
                more: true,
                szx: 6,
            },
            Block {
                num: 4095,
                more: true,
                szx: 2,
            },
            Block {
                num: (1 << 20) - 1,
                more: false,
                szx: 6,
            },
        ] {
            assert_eq!(Block::parse(&block.encode()), Some(block));
        }
        assert_eq!(
            Block::parse(&[]),
            Some(Block {
                num: 0,
                more: false,
                szx: 0
            })
        );
        assert_eq!(Block::parse(&[0x07]), None, "szx 7 is reserved");
        assert_eq!(Block::parse(&[1, 2, 3, 4]), None);
        assert_eq!(
            Block::sized(2, true, 1024),
            Block {
                num: 2,
                more: true,
                szx: 6
            }
        );
        assert_eq!(Block::sized(0, false, 64).size(), 64);
    }

    #[test]
    fn uploads_reassemble_in_order() {
        let mut transfers = Transfers::new(100);
        let fp = b"k".to_vec();
        let block = |num, more| Block { num, more, szx: 0 };
        assert_eq!(
            transfers.upload(peer(), fp.clone(), block(0, true), &[1; 16], None),
            Block1::Continue(block(0, true))
        );
        assert_eq!(
            transfers.upload(peer(), fp.clone(), block(1, true), &[2; 16], None),
            Block1::Continue(block(1, true))
        );
        match transfers.upload(peer(), fp.clone(), block(2, false), &[3; 5], None) {
            Block1::Complete(body) => assert_eq!(body.len(), 37),
            other => panic!("{other:?}"),
        }
        // a later block of a transfer that is over
        assert_eq!(
            transfers.upload(peer(), fp, block(3, false), &[3; 5], None),
            Block1::Incomplete
        );
    }

    #[test]
    fn uploads_are_bounded() {
        let mut transfers = Transfers::new(40);
        let fp = b"k".to_vec();
        let block = |num| Block {
            num,
            more: true,
            szx: 0,
        };
        assert_eq!(
            transfers.upload(peer(), fp.clone(), block(0), &[0; 16], Some(1000)),
            Block1::TooLarge
        );
        transfers.upload(peer(), fp.clone(), block(0), &[0; 16], None);
        transfers.upload(peer(), fp.clone(), block(1), &[0; 16], None);
        assert_eq!(
            transfers.upload(peer(), fp.clone(), block(2), &[0; 16], None),
            Block1::TooLarge
        );
        // out of order
        transfers.upload(peer(), fp.clone(), block(0), &[0; 16], None);
        assert_eq!(
            transfers.upload(peer(), fp, block(2), &[0; 16], None),
            Block1::Incomplete
        );
    }

    #[test]
    fn slices() {
        let body: Vec<u8> = (0..40).collect();
        let (first, b) = slice(
            &body,
            Block {
                num: 0,
                more: false,
                szx: 0,
            },
        )
        .unwrap();
        assert_eq!(first.len(), 16);
        assert!(b.more);
        let (last, b) = slice(
            &body,
            Block {
                num: 2,
                more: false,
                szx: 0,
            },
        )
        .unwrap();
        assert_eq!(last, &body[32..]);
        assert!(!b.more);
        assert!(slice(
            &body,
            Block {
                num: 3,
                more: false,
                szx: 0
            }
        )
        .is_none());
    }

    #[test]
    fn fingerprints_ignore_block_options_only() {
        let mut a = Packet::new();
        a.add_option(coap_lite::CoapOption::UriPath, b"cse-in".to_vec());
        let mut b = a.clone();
        b.add_option(
            coap_lite::CoapOption::Block2,
            Block::sized(1, false, 1024).encode(),
        );
        b.set_token(vec![1, 2, 3]);
        assert_eq!(fingerprint(&a), fingerprint(&b));
        b.add_option(coap_lite::CoapOption::UriQuery, b"rcn=4".to_vec());
        assert_ne!(fingerprint(&a), fingerprint(&b));
    }
}
