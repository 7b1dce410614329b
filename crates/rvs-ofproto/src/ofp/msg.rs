//! OpenFlow messages other than flow messages.
