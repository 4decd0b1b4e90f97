//! Helpers every test binary may use: reading JSON answers (the strings of one field across a
//! list, the element with a given field, a field's text; each panics with the value when its
//! shape is not as expected) and the output of a finished process.
#![allow(dead_code)]

use serde_json::Value;

/// A throwaway directory `clodo-<tag>-<uuid>` under the system temp dir holding `files`
/// (`(relative path, text)`), removed on drop.
pub struct FilesDir(pub std::path::PathBuf);

impl Drop for FilesDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn files_dir(tag: &str, files: &[(&str, &str)]) -> FilesDir {
    let root = std::env::temp_dir().join(format!("clodo-{tag}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&root).unwrap();
    for (name, text) in files {
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    FilesDir(root)
}

/// Copies the directory `from` to `to`, leaving out what a local run leaves behind
/// (`.wrangler/` state, `node_modules/`).
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            if entry.file_name() != ".wrangler" && entry.file_name() != "node_modules" {
                copy_dir(&entry.path(), &target);
            }
        } else {
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

/// The stdout and stderr of a process that must have succeeded, joined by `separator`.
pub fn succeeded(what: &str, out: &std::process::Output, separator: &str) -> String {
    let text = format!(
        "{}{separator}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{what} failed:\n{text}");
    text
}

/// The text of a JSON string (panics with the value when it is not one).
pub fn str_of(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

/// The elements of a JSON array (panics with the value when it is not one).
pub fn items(v: &Value) -> &Vec<Value> {
    v.as_array().unwrap_or_else(|| panic!("not an array: {v}"))
}

/// The `key` string of every element of `list` (each must have one).
pub fn strings<'a>(list: &'a Value, key: &str) -> Vec<&'a str> {
    items(list).iter().map(|x| str_of(&x[key])).collect()
}

/// The `key` strings of the elements of `list` that have one.
pub fn strings_present<'a>(list: &'a Value, key: &str) -> Vec<&'a str> {
    items(list).iter().filter_map(|x| x[key].as_str()).collect()
}

/// The first element of `list` whose `key` is `value`.
pub fn find_by<'a>(list: &'a Value, key: &str, value: &str) -> &'a Value {
    items(list)
        .iter()
        .find(|x| x[key] == value)
        .unwrap_or_else(|| panic!("no {key} = {value} in {list}"))
}

/// The elements of `list` whose `key` is `value`.
pub fn filter_by<'a>(list: &'a Value, key: &str, value: &str) -> Vec<&'a Value> {
    items(list).iter().filter(|x| x[key] == value).collect()
}
