//! A bounds-checked big-endian reader over a message body.

use super::error::{OfpErr, OfpError};

/// Reads big-endian numbers and byte strings; every read past the end is
/// an `OFPBRC_BAD_LEN` error naming what was being read.
#[derive(Clone, Copy, Debug)]
pub struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `b`.
    pub fn new(b: &'a [u8]) -> Self {
        Reader { b }
    }

    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.b.len()
    }

    /// True when nothing is left.
    pub fn is_empty(&self) -> bool {
        self.b.is_empty()
    }

    /// Everything left, consumed.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.b)
    }

    /// What is left, not consumed.
    pub fn peek_rest(&self) -> &'a [u8] {
        self.b
    }

    /// The next `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], OfpError> {
        if n > self.b.len() {
            return Err(OfpErr::BadRequestBadLen
                .with(format!("message ends {} bytes short", n - self.b.len())));
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Ok(h)
    }

    /// Skips `n` bytes (padding).
    pub fn skip(&mut self, n: usize) -> Result<(), OfpError> {
        self.bytes(n).map(|_| ())
    }

    /// A byte.
    pub fn u8(&mut self) -> Result<u8, OfpError> {
        Ok(self.bytes(1)?[0])
    }

    /// A big-endian u16.
    pub fn u16(&mut self) -> Result<u16, OfpError> {
        let b = self.bytes(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    /// A big-endian u32.
    pub fn u32(&mut self) -> Result<u32, OfpError> {
        let b = self.bytes(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A big-endian u64.
    pub fn u64(&mut self) -> Result<u64, OfpError> {
        let b = self.bytes(8)?;
        let mut a = [0; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    /// `N` bytes as an array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], OfpError> {
        let mut a = [0; N];
        a.copy_from_slice(self.bytes(N)?);
        Ok(a)
    }

    /// A fixed-size NUL-padded string field.
    pub fn string(&mut self, n: usize) -> Result<String, OfpError> {
        let b = self.bytes(n)?;
        let end = b.iter().position(|&c| c == 0).unwrap_or(n);
        Ok(String::from_utf8_lossy(&b[..end]).into_owned())
    }
}

/// Appends `s` as a NUL-padded field of `n` bytes (cut to `n - 1`).
pub fn put_string(out: &mut Vec<u8>, s: &str, n: usize) {
    let b = s.as_bytes();
    let k = b.len().min(n.saturating_sub(1));
    out.extend_from_slice(&b[..k]);
    out.resize(out.len() + (n - k), 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_bounds() {
        let mut r = Reader::new(&[0, 1, 0, 0, 0, 2, 9]);
        assert_eq!(r.u16().unwrap(), 1);
        assert_eq!(r.u32().unwrap(), 2);
        assert_eq!(r.remaining(), 1);
        let e = r.u16().unwrap_err();
        assert_eq!(e.code, OfpErr::BadRequestBadLen);
        assert!(e.detail.contains("1 bytes short"), "{e}");
        let mut v = Vec::new();
        put_string(&mut v, "br0", 6);
        assert_eq!(v, b"br0\0\0\0");
        assert_eq!(Reader::new(&v).string(6).unwrap(), "br0");
    }
}
