//! Contract types of the assessments routes (filled in by issue 12).
