//! Contract types of the audit routes (filled in by issue 12).
