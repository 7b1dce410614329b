//! NXM and OXM matches: field headers and TLV lists.
