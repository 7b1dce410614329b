//! Flow keys, masks and matches, and the one-pass extraction that fills a key
//! from a packet.
//!
//! A [`FlowKey`] is a fixed array of `u64` words laid out in packet order
//! (metadata, L2, L3, L4) with typed accessors; a [`Mask`] has the same layout,
//! a set bit meaning "this bit of the key matters". A [`Match`] pairs a key,
//! already masked, with its mask. Hashing and comparing under a mask touch only
//! the words the mask uses ([`WordSet`]), which is what makes a megaflow
//! subtable's lookup cheap.

mod extract;
mod key;

pub use extract::extract;
pub use key::{
    hash_words, Field, FieldSpec, FlowKey, Mask, Match, WordSet, FRAG_ANY, FRAG_LATER, KEY_WORDS,
    TNL_F_CSUM, TNL_F_DONT_FRAGMENT, TNL_F_KEY, TNL_F_OAM, VLAN_CFI,
};
