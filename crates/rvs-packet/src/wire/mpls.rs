//! MPLS label stack entries (RFC 3032).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                Label                  |  TC |S|       TTL     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! RFC 3032: "Bottom of Stack (S): This bit is set to one for the last entry
//! in the label stack (i.e., for the bottom of the stack), and zero for all
//! other label stack entries." The TC field was "Exp" before RFC 5462.
//!
//! The view covers one entry; [`Stack`] walks entries down to the bottom of
//! the stack. [`Packet::new_checked`] validates the length once; after it no
//! getter or setter can panic.

use core::fmt;

use super::{be32, check_len, malformed, Result};

/// Byte ranges of a label stack entry.
pub mod field {
    use core::ops::{Range, RangeFrom};
    /// The entry: label (20 bits), TC (3), S (1), TTL (8).
    pub const ENTRY: Range<usize> = 0..4;
    /// What follows the entry.
    pub const PAYLOAD: RangeFrom<usize> = 4..;
}

/// Length of a label stack entry.
pub const HEADER_LEN: usize = 4;

/// A read/write view of one label stack entry.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buffer` without checking its length; getters may panic.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps `buffer`, checking that it holds one entry.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks the length.
    pub fn check_len(&self) -> Result<()> {
        check_len("mpls", self.buffer.as_ref().len(), HEADER_LEN)
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The whole entry as a word (OVS's `mpls_lse`).
    pub fn lse(&self) -> u32 {
        be32(&self.buffer.as_ref()[field::ENTRY])
    }
    /// Label (20 bits).
    pub fn label(&self) -> u32 {
        self.lse() >> 12
    }
    /// Traffic class (3 bits).
    pub fn tc(&self) -> u8 {
        ((self.lse() >> 9) & 7) as u8
    }
    /// Bottom of stack.
    pub fn bottom(&self) -> bool {
        self.lse() & 0x100 != 0
    }
    /// Time to live.
    pub fn ttl(&self) -> u8 {
        self.lse() as u8
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The bytes after this entry.
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[field::PAYLOAD]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the whole entry.
    pub fn set_lse(&mut self, v: u32) {
        self.buffer.as_mut()[field::ENTRY].copy_from_slice(&v.to_be_bytes());
    }
    /// Sets the label (low 20 bits of `v`).
    pub fn set_label(&mut self, v: u32) {
        let l = (self.lse() & 0xfff) | ((v & 0xf_ffff) << 12);
        self.set_lse(l);
    }
    /// Sets the TTL.
    pub fn set_ttl(&mut self, v: u8) {
        let l = (self.lse() & !0xff) | u32::from(v);
        self.set_lse(l);
    }
    /// The bytes after this entry, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD]
    }
}

/// A parsed label stack entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Label, 0..2^20.
    pub label: u32,
    /// Traffic class, 0..=7.
    pub tc: u8,
    /// Bottom of stack.
    pub bottom: bool,
    /// Time to live.
    pub ttl: u8,
}

impl Repr {
    /// Reads a checked entry. Labels past 20 bits cannot occur on the wire.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(p: &Packet<&T>) -> Result<Repr> {
        p.check_len()?;
        Ok(Repr { label: p.label(), tc: p.tc(), bottom: p.bottom(), ttl: p.ttl() })
    }

    /// The entry as a word.
    pub fn lse(&self) -> u32 {
        ((self.label & 0xf_ffff) << 12)
            | (u32::from(self.tc & 7) << 9)
            | (u32::from(self.bottom) << 8)
            | u32::from(self.ttl)
    }

    /// The entry's length: 4.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the entry.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(&self, p: &mut Packet<&mut T>) {
        p.set_lse(self.lse());
    }
}

impl fmt::Display for Repr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "mpls(label={},tc={},ttl={},bos={})",
            self.label,
            self.tc,
            self.ttl,
            u8::from(self.bottom)
        )
    }
}

/// Walks a label stack from the top, stopping after the entry with the
/// bottom-of-stack bit. Yields `Err` once if the stack is cut before its
/// bottom or is deeper than [`Stack::MAX_DEPTH`].
#[derive(Debug, Clone)]
pub struct Stack<'a> {
    data: &'a [u8],
    offset: usize,
    done: bool,
}

impl<'a> Stack<'a> {
    /// The deepest stack walked (OVS keeps at most three entries in a flow;
    /// this bound only limits work on crafted packets).
    pub const MAX_DEPTH: usize = 16;

    /// Walks `data` (the payload of an MPLS EtherType).
    pub fn new(data: &'a [u8]) -> Stack<'a> {
        Stack { data, offset: 0, done: false }
    }

    /// Bytes walked so far: once the bottom is reached, the offset of the
    /// payload.
    pub fn offset(&self) -> usize {
        self.offset
    }
}

impl Iterator for Stack<'_> {
    type Item = Result<Repr>;

    fn next(&mut self) -> Option<Result<Repr>> {
        if self.done {
            return None;
        }
        if self.offset == Self::MAX_DEPTH * HEADER_LEN {
            self.done = true;
            return Some(Err(malformed("mpls", "stack depth", Self::MAX_DEPTH as u32)));
        }
        let rest = self.data.get(self.offset..).unwrap_or(&[]);
        let r = Packet::new_checked(rest).and_then(|p| Repr::parse(&p));
        match r {
            Ok(r) => {
                self.offset += HEADER_LEN;
                self.done = r.bottom;
                Some(Ok(r))
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Hand-built (the capture host has no mpls_router module): two entries,
    // label 16 TC 5 TTL 64, then label 1000 bottom-of-stack TTL 63, then an
    // IPv4 header's first byte.
    const STACK: [u8; 9] = [0x00, 0x01, 0x0a, 0x40, 0x00, 0x3e, 0x81, 0x3f, 0x45];

    #[test]
    fn walks_a_two_entry_stack() {
        let mut s = Stack::new(&STACK);
        let top = s.next().unwrap().unwrap();
        assert_eq!(top, Repr { label: 16, tc: 5, bottom: false, ttl: 64 });
        let bos = s.next().unwrap().unwrap();
        assert_eq!(bos, Repr { label: 1000, tc: 0, bottom: true, ttl: 63 });
        assert!(s.next().is_none());
        assert_eq!(s.offset(), 8);
        assert_eq!(bos.to_string(), "mpls(label=1000,tc=0,ttl=63,bos=1)");
    }

    #[test]
    fn emit_round_trips() {
        let mut b = [0u8; 4];
        let r = Repr { label: 0xfffff, tc: 7, bottom: true, ttl: 255 };
        r.emit(&mut Packet::new_unchecked(&mut b[..]));
        assert_eq!(b, [0xff; 4]);
        assert_eq!(Repr::parse(&Packet::new_checked(&b[..]).unwrap()), Ok(r));
        let mut p = Packet::new_unchecked(&mut b[..]);
        p.set_label(3);
        p.set_ttl(1);
        assert_eq!((p.label(), p.tc(), p.bottom(), p.ttl()), (3, 7, true, 1));
    }

    #[test]
    fn truncations_are_errors() {
        for len in 0..8 {
            let all: Vec<_> = Stack::new(&STACK[..len]).collect();
            assert!(all.last().unwrap().is_err(), "{len}");
        }
        for len in 0..HEADER_LEN {
            assert!(Packet::new_checked(&STACK[..len]).is_err());
        }
    }

    #[test]
    fn bottomless_stacks_are_bounded() {
        let deep = [0u8; 4 * 40];
        let all: Vec<_> = Stack::new(&deep).collect();
        assert_eq!(all.len(), Stack::MAX_DEPTH + 1);
        assert!(all.last().unwrap().is_err());
    }
}
