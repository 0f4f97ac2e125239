//! The guard that every guest of `guests/` is run by a test, in the manner of wasmtime's
//! test-programs: the build script generates `foreach_guest!`, which names every guest (Rust or
//! not, built or not), and this module expands `assert_guest_covered!` for each, which needs an
//! entry for the guest in the table below. It owns that table and nothing else; it runs no
//! guest.
//!
//! Adding a guest without an entry fails the test build, naming it: ``unresolved import
//! `self::covered::my_guest` ``. Give it a line under `tested` with the test modules that run it
//! (each must exist, and `every_tested_guest_is_used_by_the_modules_listed` checks that each
//! mentions the guest's constant, `guests::MY_GUEST`). A guest that exists for another reason
//! than a test of `tests/all` (a bench's subject, an example for the README) goes under
//! `elsewhere`, with what it is for: that is the documented way to list it as covered.

/// The table: `guest: module, module;` for the guests run by tests, `guest: "what uses it";`
/// for the others. It makes one module per guest in `covered` (a guest listed twice does not
/// compile), and the lists `TESTED` and `ELSEWHERE` the tests below check.
macro_rules! guest_coverage {
    (
        tested: { $($guest:ident: $($module:ident),+;)* }
        elsewhere: { $($other:ident: $why:literal;)* }
    ) => {
        /// One module per guest of the table, for `assert_guest_covered!` to find by name.
        mod covered {
            $(pub(super) mod $guest {
                $(#[allow(unused_imports, reason = "only checks that the test module exists")]
                use crate::$module as _;)+
            })*
            $(pub(super) mod $other {})*
        }

        /// The guests run by the tests of `tests/all`, each with the modules that run it.
        const TESTED: &[(&str, &[&str])] = &[$((stringify!($guest), &[$(stringify!($module)),+])),*];

        /// The guests that exist for another reason than a test, each with what uses it.
        const ELSEWHERE: &[(&str, &str)] = &[$((stringify!($other), $why)),*];
    };
}

guest_coverage! {
    tested: {
        callback_with_timeout: scheduling, crash, http;
        capabilities: sandbox, bad_input;
        chain: scheduling, crash;
        c_hello: polyglot;
        determinism: determinism, polyglot;
        entities: entities, crash, http;
        fan_out: examples;
        flow_control: flow_control;
        hostile: payloads;
        js_fan_out: polyglot;
        js_http: outgoing;
        http_calls: outgoing;
        job_service: outgoing;
        misbehaving: bad_input, traps, payloads, cli;
        not_a_durable_component: bad_input;
        onboarding_v1: upgrade;
        onboarding_v2: upgrade;
        onboarding_v3: upgrade;
        order_processing: examples, bad_input, crash;
        py_mixed_languages: polyglot;
        py_transfer_funds: polyglot;
        py_http: outgoing;
        repairable: rewind;
        retry_pattern: scheduling, crash, http;
        sub_orchestrations: sub_orchestrations, polyglot;
        timeouts_and_polling: scheduling, crash;
        torture: torture;
        transfer_funds: examples, bad_input, crash;
        updates: updates, cli, http;
        versioned_v1: versioning, deploy, upgrade;
        versioned_v2: versioning, deploy;
        versioned_v3: deploy;
    }
    elsewhere: {}
}

/// Fails the test build, naming the guest, if the table has no entry for it.
macro_rules! assert_guest_covered {
    ($guest:ident) => {
        #[allow(unused_imports, reason = "only checks that the table lists the guest")]
        use self::covered::$guest as _;
    };
}

reprise_tests::foreach_guest!(assert_guest_covered);

/// Every guest `foreach_guest!` names.
fn all_guests() -> Vec<&'static str> {
    let mut names = Vec::new();
    macro_rules! push {
        ($guest:ident) => {
            names.push(stringify!($guest));
        };
    }
    reprise_tests::foreach_guest!(push);
    names
}

/// The source of the test module `module`: `tests/all/<module>.rs`, or every file under
/// `tests/all/<module>/`.
fn module_source(module: &str) -> String {
    let all = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("all");
    let file = all.join(format!("{module}.rs"));
    if file.is_file() {
        return std::fs::read_to_string(&file).unwrap_or_else(|err| panic!("cannot read {}: {err}", file.display()));
    }
    let mut source = String::new();
    let mut dirs = vec![all.join(module)];
    while let Some(dir) = dirs.pop() {
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|err| panic!("cannot list {}: {err}", dir.display()));
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                source += &std::fs::read_to_string(&path).expect("a readable source file");
            }
        }
    }
    source
}

/// Whether `text` holds `word` as a whole identifier (`CHAIN` is not in `PY_CHAIN`).
fn mentions(text: &str, word: &str) -> bool {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(word).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
    })
}

#[test]
fn every_tested_guest_is_used_by_the_modules_listed() {
    for (guest, modules) in TESTED {
        let constant = guest.to_uppercase();
        for module in *modules {
            assert!(
                mentions(&module_source(module), &constant),
                "the guest coverage table says that `{module}` tests the guest `{guest}`, but tests/all/{module} \
                 never mentions guests::{constant}: fix the entry of `{guest}` in tests/all/coverage.rs"
            );
        }
    }
}

#[test]
fn every_entry_of_the_table_is_a_guest() {
    let guests = all_guests();
    for guest in TESTED.iter().map(|(guest, _)| guest).chain(ELSEWHERE.iter().map(|(guest, _)| guest)) {
        assert!(
            guests.contains(guest),
            "tests/all/coverage.rs lists `{guest}`, which is no guest of guests/ any more: remove its entry"
        );
    }
    for (guest, why) in ELSEWHERE {
        assert!(
            !why.trim().is_empty(),
            "tests/all/coverage.rs lists `{guest}` as used elsewhere without saying by what"
        );
    }
}

#[test]
fn the_helpers_find_whole_identifiers() {
    assert!(mentions("[guests::CHAIN]", "CHAIN"));
    assert!(mentions("use reprise_tests::guests::{CHAIN, ENTITIES};", "CHAIN"));
    assert!(!mentions("guests::PY_CHAIN", "CHAIN"));
    assert!(!mentions("guests::CHAINS", "CHAIN"));
    assert_eq!(all_guests().len(), TESTED.len() + ELSEWHERE.len(), "every guest has exactly one entry");
}
