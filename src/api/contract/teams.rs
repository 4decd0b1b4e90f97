//! Contract types of the teams routes (filled in by issue 12).
