//! The example guest components, built from `guests/` for wasm32-wasip2 by this package's build
//! script, and the `foreach_guest!` list of every guest. It only names components; it never
//! builds or loads one.
//!
//! The Rust guests are the core of the suite: the build fails without them, so their constants
//! (`ORDER_PROCESSING`, `VERSIONED_V1`, `NOT_A_DURABLE_COMPONENT`...) are plain `&str` paths, and
//! `ALL` pairs every crate name with its path. A guest in another language (`PY_TRANSFER_FUNDS`,
//! `JS_FAN_OUT`, `C_HELLO`...) needs a toolchain the machine may lack, so its constant is a
//! [`Guest`]: [`Guest::path`] gives its component, or panics with why it could not be built (the
//! missing tool, how to install it, the error), which fails only the tests that use it.

/// A guest component that may not have been built: its toolchain may be missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Guest {
    name: &'static str,
    language: &'static str,
    component: Result<&'static str, Missing>,
}

/// Why a guest has no component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Missing {
    reason: &'static str,
    error: &'static str,
}

impl Guest {
    /// The guest `name`, written in `language`, whose component is the file `path`.
    pub const fn built(name: &'static str, language: &'static str, path: &'static str) -> Self {
        Guest { name, language, component: Ok(path) }
    }

    /// The guest `name`, written in `language`, which could not be built: `reason` says what is
    /// missing and what to do, `error` is the error underneath.
    pub const fn missing(
        name: &'static str,
        language: &'static str,
        reason: &'static str,
        error: &'static str,
    ) -> Self {
        Guest { name, language, component: Err(Missing { reason, error }) }
    }

    /// The guest's name: its directory in `guests/`.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The language it is written in.
    pub fn language(&self) -> &'static str {
        self.language
    }

    /// The absolute path of the guest's component.
    ///
    /// # Panics
    ///
    /// If it could not be built, with why: a test that needs the guest fails with that message.
    #[track_caller]
    pub fn path(&self) -> &'static str {
        match self.component {
            Ok(path) => path,
            Err(_) => panic!("{}", self.unavailable().unwrap_or_default()),
        }
    }

    /// Why the guest could not be built, as [`Guest::path`] would panic with it; `None` if it was.
    pub fn unavailable(&self) -> Option<String> {
        let Missing { reason, error } = self.component.err()?;
        Some(format!(
            "the {} guest `{}` was not built, so this cannot run: {reason}\n\n\
             the error was: {error}\n\n\
             Once that is fixed, build again: every build tries the guests that were skipped.",
            self.language, self.name
        ))
    }
}

include!(concat!(env!("OUT_DIR"), "/guests.rs"));

#[cfg(test)]
mod tests {
    use super::Guest;

    const SKIPPED: Guest = Guest::missing(
        "py-example",
        "Python",
        "the Python guests need Python 3.10 or later, and `/nonexistent/python3` could not be run: install Python",
        "`/nonexistent/python3` could not be run: No such file or directory (os error 2)",
    );

    #[test]
    fn a_built_guest_gives_its_path() {
        let guest = Guest::built("py-example", "Python", "/target/guests/polyglot/py_example.wasm");
        assert_eq!(guest.path(), "/target/guests/polyglot/py_example.wasm");
        assert_eq!(guest.unavailable(), None);
    }

    #[test]
    fn a_missing_guest_panics_with_the_tool_and_the_error() {
        let panic = std::panic::catch_unwind(|| SKIPPED.path()).expect_err("a missing guest has no path");
        let message = panic.downcast_ref::<String>().expect("a formatted message");
        assert!(message.starts_with("the Python guest `py-example` was not built"), "{message}");
        assert!(
            message.contains("need Python 3.10 or later, and `/nonexistent/python3` could not be run"),
            "{message}"
        );
        assert!(message.contains("No such file or directory"), "{message}");
        assert_eq!(SKIPPED.unavailable().as_deref(), Some(message.as_str()));
    }

    /// The generated list names every guest, in every language, once.
    #[test]
    fn foreach_guest_names_every_guest() {
        let mut names: Vec<&str> = Vec::new();
        macro_rules! push {
            ($guest:ident) => {
                names.push(stringify!($guest));
            };
        }
        foreach_guest!(push);
        for (name, _) in super::ALL {
            assert!(names.contains(&name.replace('-', "_").as_str()), "foreach_guest! lacks the Rust guest {name}");
        }
        for guest in super::POLYGLOT {
            let name = guest.name().replace('-', "_");
            assert!(names.contains(&name.as_str()), "foreach_guest! lacks the {} guest {name}", guest.language());
        }
        assert_eq!(names.len(), super::ALL.len() + super::POLYGLOT.len(), "{names:?}");
    }
}
