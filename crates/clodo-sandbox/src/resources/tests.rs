//! Unit tests of the resource name rules.

use super::*;

#[test]
fn names() {
    assert!(valid_bucket_name("my-bucket"));
    assert!(!valid_bucket_name("ab"));
    assert!(!valid_bucket_name("-ab"));
    assert!(!valid_bucket_name("My_bucket"));
    assert!(valid_resource_name("app-db"));
    assert!(!valid_resource_name("App DB"));
}
