//! OpenFlow 1.0's fixed 40-byte match.
