//! UUIDs as OVSDB uses them: row identities and references between rows.
//!
//! A [`Uuid`] is 128 bits printed as `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`
//! (lower-case hex, RFC 4122's layout). [`Uuid::new_v4`] makes random version 4
//! UUIDs from a per-thread xoshiro256** generator seeded once from
//! `/dev/urandom` (or, if that cannot be read, from the time, the process id
//! and the thread), which is enough for identities: OVS itself seeds from
//! urandom and then only needs uniqueness, not secrecy.

use std::cell::RefCell;
use std::fmt;
use std::io::Read;
use std::str::FromStr;

/// A 128-bit UUID.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Uuid(u128);

/// Why a string is not a UUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("\"{0}\" is not a valid UUID (expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)")]
pub struct UuidParseError(pub String);

impl Uuid {
    /// The all-zero UUID, OVSDB's default value for a uuid atom.
    pub const ZERO: Uuid = Uuid(0);

    /// A UUID from its 128-bit value.
    pub const fn from_u128(v: u128) -> Uuid {
        Uuid(v)
    }

    /// The 128-bit value.
    pub const fn as_u128(self) -> u128 {
        self.0
    }

    /// Whether this is the all-zero UUID.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// A fresh random version 4 UUID.
    pub fn new_v4() -> Uuid {
        let hi = next_random();
        let lo = next_random();
        let mut v = (u128::from(hi) << 64) | u128::from(lo);
        // Version 4 in bits 76..80, RFC 4122 variant (10xx) in bits 62..64.
        v = (v & !(0xf << 76)) | (0x4 << 76);
        v = (v & !(0x3 << 62)) | (0x2 << 62);
        Uuid(v)
    }

    /// Parses `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (hex digits of either case).
    pub fn parse(s: &str) -> Result<Uuid, UuidParseError> {
        let err = || UuidParseError(s.to_string());
        let b = s.as_bytes();
        if b.len() != 36 {
            return Err(err());
        }
        let mut v: u128 = 0;
        for (i, &c) in b.iter().enumerate() {
            if matches!(i, 8 | 13 | 18 | 23) {
                if c != b'-' {
                    return Err(err());
                }
                continue;
            }
            let d = (c as char).to_digit(16).ok_or_else(err)?;
            v = (v << 4) | u128::from(d);
        }
        Ok(Uuid(v))
    }

    /// Whether `s` has the syntax of a UUID.
    pub fn is_valid(s: &str) -> bool {
        Uuid::parse(s).is_ok()
    }
}

impl FromStr for Uuid {
    type Err = UuidParseError;
    fn from_str(s: &str) -> Result<Uuid, UuidParseError> {
        Uuid::parse(s)
    }
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        write!(
            f,
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            (v >> 96) as u32,
            (v >> 80) as u16,
            (v >> 64) as u16,
            (v >> 48) as u16,
            v & 0xffff_ffff_ffff
        )
    }
}

impl fmt::Debug for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Uuid({self})")
    }
}

/// xoshiro256** state.
struct Rng([u64; 4]);

impl Rng {
    fn seeded() -> Rng {
        let mut seed = [0u8; 32];
        let from_urandom =
            std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut seed)).is_ok();
        let mut s = [0u64; 4];
        for (i, w) in s.iter_mut().enumerate() {
            let mut b = [0u8; 8];
            b.copy_from_slice(&seed[i * 8..i * 8 + 8]);
            *w = u64::from_le_bytes(b);
        }
        if !from_urandom || s.iter().all(|&w| w == 0) {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            let tid = format!("{:?}", std::thread::current().id());
            let mut x = (nanos as u64)
                ^ ((nanos >> 64) as u64)
                ^ (u64::from(std::process::id()) << 32)
                ^ tid.bytes().fold(0u64, |h, c| h.wrapping_mul(31) ^ u64::from(c));
            for w in &mut s {
                *w ^= splitmix64(&mut x);
            }
        }
        Rng(s)
    }

    fn next(&mut self) -> u64 {
        let s = &mut self.0;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }
}

fn splitmix64(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

thread_local! {
    static RNG: RefCell<Rng> = RefCell::new(Rng::seeded());
}

fn next_random() -> u64 {
    RNG.with(|r| r.borrow_mut().next())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_format() {
        let s = "550e8400-e29b-41d4-a716-446655440000";
        let u = Uuid::parse(s).unwrap();
        assert_eq!(u.to_string(), s);
        assert_eq!(Uuid::parse(&s.to_uppercase()).unwrap(), u);
        assert_eq!(Uuid::ZERO.to_string(), "00000000-0000-0000-0000-000000000000");
    }

    #[test]
    fn rejects_bad_syntax() {
        for s in [
            "",
            "550e8400e29b41d4a716446655440000",
            "550e8400-e29b-41d4-a716-44665544000g",
            "550e8400-e29b-41d4-a716_446655440000",
            "550e8400-e29b-41d4-a716-4466554400000",
        ] {
            let e = Uuid::parse(s).unwrap_err();
            assert!(e.to_string().contains(s), "{e}");
        }
    }

    #[test]
    fn v4_is_random_and_versioned() {
        let a = Uuid::new_v4();
        let b = Uuid::new_v4();
        assert_ne!(a, b);
        let s = a.to_string();
        assert_eq!(&s[14..15], "4");
        assert!(matches!(&s[19..20], "8" | "9" | "a" | "b"), "{s}");
    }
}
