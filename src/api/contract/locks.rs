//! Contract types of the locks routes (filled in by issue 12).
