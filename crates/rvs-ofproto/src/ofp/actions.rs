//! Actions and instructions on the wire, standard and Nicira.
