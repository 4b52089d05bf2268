//! The hot-function list the release build hands the linker: well formed, and applied only
//! where the linker takes it and the names can match.

#[path = "../build/order.rs"]
mod order;

use order::{Build, TARGET, applies, toolchain_line};

const LIST: &str = include_str!("../hot-functions.txt");

fn release_build<'a>(rustc: &'a str) -> Build<'a> {
    Build {
        profile: "release",
        target: TARGET,
        rustc,
        linker: None,
        rustflags: "",
    }
}

/// The toolchain the committed list was made with.
fn list_rustc() -> &'static str {
    LIST.lines()
        .find_map(|l| l.strip_prefix("# rustc "))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the list names its toolchain")
}

#[test]
fn the_list_names_its_toolchain_and_one_symbol_per_line() {
    let rustc = list_rustc();
    assert!(LIST.contains(&toolchain_line(rustc, TARGET)));
    let names: Vec<&str> = LIST.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(names.len() > 500, "{} names", names.len());
    assert!(
        names
            .iter()
            .all(|n| !n.is_empty() && !n.contains(char::is_whitespace)),
        "a line that is not a symbol name"
    );
    let mut unique = names.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "a symbol listed twice");
    // Rust's own symbols and SQLite's both appear: the list covers the whole turn.
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("_ZN") || n.starts_with("_R"))
    );
    assert!(names.iter().any(|n| n.starts_with("sqlite3")));
}

#[test]
fn a_release_build_by_the_lists_toolchain_with_its_own_linker_is_ordered() {
    assert!(applies(&release_build(list_rustc()), LIST));
}

/// Whether the build `change` makes of the release build is left unordered.
fn linked_as_usual(change: impl FnOnce(&mut Build<'static>)) -> bool {
    let mut build = release_build(list_rustc());
    change(&mut build);
    !applies(&build, LIST)
}

#[test]
fn any_other_build_is_linked_as_usual() {
    assert!(linked_as_usual(|b| b.profile = "debug"));
    assert!(linked_as_usual(|b| b.target = "aarch64-unknown-linux-gnu"));
    assert!(linked_as_usual(|b| b.rustc = "1.88.0"));
    assert!(linked_as_usual(|b| b.linker = Some("clang")));
    assert!(linked_as_usual(
        |b| b.rustflags = "-Ctarget-cpu=native\x1f-Clink-arg=-fuse-ld=mold"
    ));
    assert!(linked_as_usual(|b| b.rustflags = "-Clinker-flavor=gnu-cc"));
    // Unrelated flags leave it ordered.
    assert!(!linked_as_usual(|b| b.rustflags = "-Ctarget-cpu=native"));
    // Nor with a list that does not say which toolchain made it.
    let unnamed: String = LIST.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(!applies(&release_build(list_rustc()), &unnamed));
}
