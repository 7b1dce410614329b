//! Temporary linear classifier (stand-in until the cls branch merges).
#![allow(missing_docs)]
use crate::flow::{Flow, OfMatch, Wildcards};

pub struct Classifier<T> {
    rules: Vec<(OfMatch, u16, T)>,
}
impl<T> Default for Classifier<T> {
    fn default() -> Self {
        Classifier { rules: Vec::new() }
    }
}
impl<T> Classifier<T> {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn len(&self) -> usize {
        self.rules.len()
    }
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
    pub fn insert(&mut self, m: OfMatch, priority: u16, value: T) -> Option<T> {
        if let Some(r) = self.rules.iter_mut().find(|r| r.0 == m && r.1 == priority) {
            return Some(std::mem::replace(&mut r.2, value));
        }
        self.rules.push((m, priority, value));
        None
    }
    pub fn remove(&mut self, m: &OfMatch, priority: u16) -> Option<T> {
        let i = self.rules.iter().position(|r| r.0 == *m && r.1 == priority)?;
        Some(self.rules.remove(i).2)
    }
    pub fn find_exact(&self, m: &OfMatch, priority: u16) -> Option<&T> {
        self.rules.iter().find(|r| r.0 == *m && r.1 == priority).map(|r| &r.2)
    }
    pub fn find_exact_mut(&mut self, m: &OfMatch, priority: u16) -> Option<&mut T> {
        self.rules.iter_mut().find(|r| r.0 == *m && r.1 == priority).map(|r| &mut r.2)
    }
    pub fn lookup(&self, flow: &Flow, wc: Option<&mut Wildcards>) -> Option<(&OfMatch, u16, &T)> {
        let mut best: Option<&(OfMatch, u16, T)> = None;
        let mut acc = Wildcards::none();
        for r in &self.rules {
            acc.or(&r.0.wc);
            if r.0.matches(flow) && best.is_none_or(|b| r.1 > b.1) {
                best = Some(r);
            }
        }
        if let Some(wc) = wc {
            wc.or(&acc);
        }
        best.map(|r| (&r.0, r.1, &r.2))
    }
    pub fn iter(&self) -> impl Iterator<Item = (&OfMatch, u16, &T)> {
        self.rules.iter().map(|r| (&r.0, r.1, &r.2))
    }
    pub fn retain(
        &mut self,
        mut keep: impl FnMut(&OfMatch, u16, &mut T) -> bool,
    ) -> Vec<(OfMatch, u16, T)> {
        let mut out = Vec::new();
        let mut kept = Vec::new();
        for mut r in self.rules.drain(..) {
            if keep(&r.0, r.1, &mut r.2) {
                kept.push(r);
            } else {
                out.push(r);
            }
        }
        self.rules = kept;
        out
    }
    pub fn overlaps(&self, m: &OfMatch, priority: u16) -> bool {
        self.rules.iter().any(|r| r.1 == priority && r.0.overlaps(m))
    }
    pub fn n_subtables(&self) -> usize {
        0
    }
}
