//! The [`export!`](crate::export!) macro and the dispatch code it expands to.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::__private::bindings::reprise::durable::types::Failure as WireFailure;
use crate::{ActivityContext, Context, Failure};

/// Exports named orchestrators, activities and entity types from this component.
///
/// ```no_run
/// # use reprise_sdk::{ActivityContext, Context, EntityContext, Failure};
/// # fn process_order(_: &Context, _: String) -> Result<(), Failure> { Ok(()) }
/// # fn transfer_funds(_: &Context, _: u64) -> Result<(), Failure> { Ok(()) }
/// # fn validate_order(_: &ActivityContext, _: String) -> Result<bool, Failure> { Ok(true) }
/// # fn charge(_: &ActivityContext, _: u64) -> Result<(), Failure> { Ok(()) }
/// #[derive(Default, serde::Serialize, serde::Deserialize)]
/// struct Counter { value: i64 }
///
/// impl Counter {
///     fn add(&mut self, _ctx: &EntityContext, amount: i64) -> Result<i64, Failure> {
///         self.value += amount;
///         Ok(self.value)
///     }
///     fn get(&self, _ctx: &EntityContext, _: ()) -> Result<i64, Failure> {
///         Ok(self.value)
///     }
/// }
///
/// reprise_sdk::export! {
///     orchestrators: [process_order, transfer_funds as "TransferFunds"],
///     activities: [validate_order, charge],
///     entities: [Counter { add, get as "Get" }],
///     validators: [positive_amount as "add"],
/// }
/// # fn positive_amount(_: &reprise_sdk::UpdateCheck, amount: i64) -> Result<(), Failure> {
/// #     if amount > 0 { Ok(()) } else { Err(Failure::new("NotPositive", "add a positive amount")) }
/// # }
/// # fn main() {}
/// ```
///
/// Each entry is the name of a function in scope, optionally followed by `as "ExportedName"`; by
/// default a function is exported under its own name. Any list may be omitted or empty, but
/// a component exports the three interfaces either way. Use the macro once per component.
///
/// - An orchestrator is a `fn(&Context, I) -> Result<O, Failure>`.
/// - An activity is a `fn(&ActivityContext, I) -> Result<O, Failure>`.
/// - An entity type is a type in scope, `T: Default + Serialize + DeserializeOwned` (its value is
///   the entity's state; `Default` is the state of a new entity), followed by its operations:
///   methods `fn(&mut self, &EntityContext, I) -> Result<O, Failure>` (they may change the state)
///   or `fn(&self, &EntityContext, I) -> Result<O, Failure>` (they only read it). Every entity
///   type also has a built-in `delete` operation, unless it exports its own.
///
/// - A validator is a `fn(&UpdateCheck, I) -> Result<(), Failure>`, listed as `function as
///   "update name"`: the host asks it about each update of that name before it records the
///   update, and a failure refuses the update (its caller gets the failure; the instance's
///   history never shows it). It runs in a fresh instance of the component, not in the
///   orchestrator's; [`UpdateCheck`](crate::UpdateCheck) gives the orchestrator's name and its
///   custom status. Updates without a validator are accepted.
///
/// where `I: serde::de::DeserializeOwned` and `O: serde::Serialize`. The macro implements the
/// component's `orchestrators` and `activities` interfaces: `names` returns the exported names,
/// and `run(name, input)` deserializes the JSON input, calls the function and serializes its
/// output. An input that does not deserialize into `I` fails with
/// [`INVALID_INPUT`](Failure::INVALID_INPUT), an output that does not serialize with
/// [`INVALID_OUTPUT`](Failure::INVALID_OUTPUT), and a name that is not exported with
/// [`UNKNOWN_FUNCTION`](Failure::UNKNOWN_FUNCTION). Two functions exported under the same name in
/// one list are a compile-time error:
///
/// ```compile_fail,E0080
/// # use reprise_sdk::{ActivityContext, Failure};
/// # fn charge(_: &ActivityContext, _: u64) -> Result<(), Failure> { Ok(()) }
/// # fn refund(_: &ActivityContext, _: u64) -> Result<(), Failure> { Ok(()) }
/// reprise_sdk::export! {
///     activities: [charge, refund as "charge"],
/// }
/// # fn main() {}
/// ```
///
/// and so is a section other than `orchestrators` and `activities`:
///
/// ```compile_fail
/// # use reprise_sdk::{ActivityContext, Failure};
/// # fn charge(_: &ActivityContext, _: u64) -> Result<(), Failure> { Ok(()) }
/// reprise_sdk::export! {
///     activitys: [charge],
/// }
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! export {
    ($($section:ident : [$($entries:tt)*]),* $(,)?) => {
        $crate::__export_sections! { [] [] [] [] $($section [$($entries)*])* }
    };
}

/// Collects the sections of [`export!`] into three lists: `(function as "name")` groups for
/// orchestrators and activities, `(Type as "Name" { operations })` groups for entities.
#[doc(hidden)]
#[macro_export]
macro_rules! __export_sections {
    ([$($o:tt)*] [$($a:tt)*] [$($e:tt)*] [$($v:tt)*]
        orchestrators [$($f:ident $(as $n:literal)?),* $(,)?] $($rest:tt)*) => {
        $crate::__export_sections! { [$($o)* $(($f $(as $n)?))*] [$($a)*] [$($e)*] [$($v)*] $($rest)* }
    };
    ([$($o:tt)*] [$($a:tt)*] [$($e:tt)*] [$($v:tt)*]
        activities [$($f:ident $(as $n:literal)?),* $(,)?] $($rest:tt)*) => {
        $crate::__export_sections! { [$($o)*] [$($a)* $(($f $(as $n)?))*] [$($e)*] [$($v)*] $($rest)* }
    };
    ([$($o:tt)*] [$($a:tt)*] [$($e:tt)*] [$($v:tt)*]
        entities [$($t:ident $(as $n:literal)? { $($ops:tt)* }),* $(,)?] $($rest:tt)*) => {
        $crate::__export_sections! { [$($o)*] [$($a)*] [$($e)* $(($t $(as $n)? { $($ops)* }))*] [$($v)*] $($rest)* }
    };
    ([$($o:tt)*] [$($a:tt)*] [$($e:tt)*] [$($v:tt)*]
        validators [$($f:ident as $n:literal),* $(,)?] $($rest:tt)*) => {
        $crate::__export_sections! { [$($o)*] [$($a)*] [$($e)*] [$($v)* $(($f as $n))*] $($rest)* }
    };
    ([$($o:tt)*] [$($a:tt)*] [$($e:tt)*] [$($v:tt)*] orchestrators [$($x:tt)*] $($rest:tt)*) => {
        ::core::compile_error!(
            "reprise_sdk::export!: expected `orchestrators: [function, function as \"Name\", ...]`"
        );
    };
    ([$($o:tt)*] [$($a:tt)*] [$($e:tt)*] [$($v:tt)*] activities [$($x:tt)*] $($rest:tt)*) => {
        ::core::compile_error!(
            "reprise_sdk::export!: expected `activities: [function, function as \"Name\", ...]`"
        );
    };
    ([$($o:tt)*] [$($a:tt)*] [$($e:tt)*] [$($v:tt)*] entities [$($x:tt)*] $($rest:tt)*) => {
        ::core::compile_error!(
            "reprise_sdk::export!: expected `entities: [Type { operation, operation as \"name\", ... }, ...]`"
        );
    };
    ([$($o:tt)*] [$($a:tt)*] [$($e:tt)*] [$($v:tt)*] validators [$($x:tt)*] $($rest:tt)*) => {
        ::core::compile_error!(
            "reprise_sdk::export!: expected `validators: [function as \"update name\", ...]`"
        );
    };
    ([$($o:tt)*] [$($a:tt)*] [$($e:tt)*] [$($v:tt)*] $other:ident [$($x:tt)*] $($rest:tt)*) => {
        ::core::compile_error!(::core::concat!(
            "reprise_sdk::export!: unknown section `",
            ::core::stringify!($other),
            "`: expected `orchestrators`, `activities`, `entities` or `validators`"
        ));
    };
    ([$(($of:ident $(as $on:literal)?))*] [$(($af:ident $(as $an:literal)?))*]
        [$(($et:ident $(as $en:literal)? { $($eops:tt)* }))*] [$(($vf:ident as $vn:literal))*]) => {
        // The bindings' export macro expands to `unsafe extern "C"` functions.
        #[allow(unsafe_code)]
        const _: () = {
            const ORCHESTRATORS: &[$crate::__private::Entry] = &[$(
                $crate::__private::Entry {
                    name: $crate::__export_name!($of $(as $on)?),
                    run: |input: &str| {
                        $crate::__private::run_orchestrator(
                            $crate::__export_name!($of $(as $on)?),
                            $of,
                            input,
                        )
                    },
                },
            )*];
            const ACTIVITIES: &[$crate::__private::Entry] = &[$(
                $crate::__private::Entry {
                    name: $crate::__export_name!($af $(as $an)?),
                    run: |input: &str| {
                        $crate::__private::run_activity(
                            $crate::__export_name!($af $(as $an)?),
                            $af,
                            input,
                        )
                    },
                },
            )*];
            const _: () = $crate::__private::assert_unique_names(ORCHESTRATORS);
            const _: () = $crate::__private::assert_unique_names(ACTIVITIES);
            const ENTITIES: &[$crate::__private::EntityEntry] = &[$(
                $crate::__export_entity!($et $(as $en)? { $($eops)* }),
            )*];
            const _: () = $crate::__private::assert_unique_operations(ENTITIES);
            const VALIDATORS: &[$crate::__private::ValidatorEntry] = &[$(
                $crate::__private::ValidatorEntry {
                    name: $vn,
                    run: |check: &$crate::UpdateCheck, input: &str| {
                        $crate::__private::run_validator($vn, $vf, check, input)
                    },
                },
            )*];
            const _: () = $crate::__private::assert_unique_validators(VALIDATORS);

            struct __RepriseExports;

            impl $crate::__private::OrchestratorsGuest for __RepriseExports {
                fn names() -> ::std::vec::Vec<::std::string::String> {
                    $crate::__private::names(ORCHESTRATORS)
                }

                fn run(
                    name: ::std::string::String,
                    input: ::std::string::String,
                ) -> ::core::result::Result<::std::string::String, $crate::__private::WireFailure> {
                    $crate::__private::dispatch(
                        $crate::__private::Kind::Orchestrator,
                        ORCHESTRATORS,
                        &name,
                        &input,
                    )
                }
            }

            impl $crate::__private::ActivitiesGuest for __RepriseExports {
                fn names() -> ::std::vec::Vec<::std::string::String> {
                    $crate::__private::names(ACTIVITIES)
                }

                fn run(
                    name: ::std::string::String,
                    input: ::std::string::String,
                ) -> ::core::result::Result<::std::string::String, $crate::__private::WireFailure> {
                    $crate::__private::dispatch(
                        $crate::__private::Kind::Activity,
                        ACTIVITIES,
                        &name,
                        &input,
                    )
                }
            }

            impl $crate::__private::EntitiesGuest for __RepriseExports {
                fn names() -> ::std::vec::Vec<::std::string::String> {
                    $crate::__private::entity_names(ENTITIES)
                }

                fn run(
                    name: ::std::string::String,
                    operation: ::std::string::String,
                    input: ::std::string::String,
                    state: ::core::option::Option<::std::string::String>,
                ) -> ::core::result::Result<$crate::__private::WireOperationResult, $crate::__private::WireFailure> {
                    $crate::__private::dispatch_entity(ENTITIES, &name, &operation, &input, state.as_deref())
                }
            }

            impl $crate::__private::UpdateValidatorsGuest for __RepriseExports {
                fn validate(
                    orchestrator: ::std::string::String,
                    update: ::std::string::String,
                    input: ::std::string::String,
                    custom_status: ::core::option::Option<::std::string::String>,
                ) -> ::core::result::Result<(), $crate::__private::WireFailure> {
                    $crate::__private::dispatch_validator(VALIDATORS, orchestrator, &update, &input, custom_status)
                        .map_err(::core::convert::Into::into)
                }
            }

            $crate::__private::bindings::export!(
                __RepriseExports with_types_in $crate::__private::bindings
            );

            // What `reprise_sdk::component!()` gives the test harness (off wasm only).
            #[cfg(not(target_arch = "wasm32"))]
            impl __RepriseComponent {
                /// Everything this component exports.
                pub fn exports() -> $crate::testing::Component {
                    $crate::testing::Component::new(ORCHESTRATORS, ACTIVITIES, ENTITIES)
                }
            }
        };

        /// The exports of this component, for `reprise_sdk::component!()`.
        #[cfg(not(target_arch = "wasm32"))]
        #[doc(hidden)]
        #[allow(dead_code)]
        pub struct __RepriseComponent;
    };
}

/// Everything this crate exports with [`export!`], for [`Harness::component`]: its activities,
/// entity types and orchestrators. Only off wasm (in the crate's tests). `component!()` finds an
/// [`export!`] at the crate's root; `component!(crate::app)` one in the module `crate::app`.
///
/// [`Harness::component`]: crate::testing::Harness::component
///
/// ```
/// mod app {
///     use reprise_sdk::{ActivityContext, Failure};
///     fn greet(_: &ActivityContext, name: String) -> Result<String, Failure> {
///         Ok(format!("Hello, {name}!"))
///     }
///     reprise_sdk::export! { activities: [greet] }
/// }
///
/// let harness = reprise_sdk::testing::Harness::new().component(reprise_sdk::component!(app));
/// ```
#[cfg(not(target_arch = "wasm32"))]
#[macro_export]
// `crate` is meant: the exports are the calling crate's, declared by its `export!`.
#[allow(clippy::crate_in_macro_def)]
macro_rules! component {
    () => {
        crate::__RepriseComponent::exports()
    };
    ($($module:ident)::+) => {
        $($module)::+::__RepriseComponent::exports()
    };
}

/// One entity type of [`export!`]: its table entry, with one entry per operation.
#[doc(hidden)]
#[macro_export]
macro_rules! __export_entity {
    ($t:ident $(as $tn:literal)? { $($op:ident $(as $opn:literal)?),* $(,)? }) => {
        {
            const ENTITY: &str = $crate::__export_name!($t $(as $tn)?);
            $crate::__private::EntityEntry {
                name: ENTITY,
                operations: &[$(
                    $crate::__private::OperationEntry {
                        name: $crate::__export_name!($op $(as $opn)?),
                        run: |state: ::core::option::Option<&str>, input: &str| {
                            $crate::__private::run_operation::<$t, _, _, _, _>(
                                ENTITY,
                                $crate::__export_name!($op $(as $opn)?),
                                <$t>::$op,
                                state,
                                input,
                            )
                        },
                    },
                )*],
            }
        }
    };
    ($($other:tt)*) => {
        ::core::compile_error!(
            "reprise_sdk::export!: expected `entities: [Type { operation, operation as \"name\", ... }, ...]`"
        );
    };
}

/// The exported name of an [`export!`] entry.
#[doc(hidden)]
#[macro_export]
macro_rules! __export_name {
    ($f:ident) => {
        ::core::stringify!($f)
    };
    ($f:ident as $name:literal) => {
        $name
    };
}

/// An exported function, as [`export!`] records it: its name and its JSON-to-JSON entry point.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub struct Entry {
    /// The exported name.
    pub name: &'static str,
    /// Runs the function with a JSON input, returning its JSON output.
    pub run: fn(&str) -> Result<String, Failure>,
}

/// The kind of an exported function.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An orchestrator.
    Orchestrator,
    /// An activity.
    Activity,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Orchestrator => "orchestrator",
            Kind::Activity => "activity",
        }
    }

    fn plural(self) -> &'static str {
        match self {
            Kind::Orchestrator => "orchestrators",
            Kind::Activity => "activities",
        }
    }
}

/// Runs an orchestrator with its JSON input.
#[doc(hidden)]
pub fn run_orchestrator<I, O, F>(name: &str, function: F, input: &str) -> Result<String, Failure>
where
    I: DeserializeOwned,
    O: Serialize,
    F: FnOnce(&Context, I) -> Result<O, Failure>,
{
    let input = decode_input(Kind::Orchestrator, name, input)?;
    let output = function(&Context::new(), input)?;
    encode_output(Kind::Orchestrator, name, &output)
}

/// Runs an activity with its JSON input.
#[doc(hidden)]
pub fn run_activity<I, O, F>(name: &str, function: F, input: &str) -> Result<String, Failure>
where
    I: DeserializeOwned,
    O: Serialize,
    F: FnOnce(&ActivityContext, I) -> Result<O, Failure>,
{
    let input = decode_input(Kind::Activity, name, input)?;
    let output = function(&ActivityContext::new(), input)?;
    encode_output(Kind::Activity, name, &output)
}

fn decode_input<I: DeserializeOwned>(kind: Kind, name: &str, input: &str) -> Result<I, Failure> {
    serde_json::from_str(input).map_err(|err| {
        Failure::new(Failure::INVALID_INPUT, format!("invalid input for {} '{name}': {err}", kind.as_str()))
    })
}

fn encode_output<O: Serialize>(kind: Kind, name: &str, output: &O) -> Result<String, Failure> {
    serde_json::to_string(output).map_err(|err| {
        Failure::new(
            Failure::INVALID_OUTPUT,
            format!("the output of {} '{name}' could not be serialized to JSON: {err}", kind.as_str()),
        )
    })
}

/// The exported names of `table`, in order.
#[doc(hidden)]
pub fn names(table: &[Entry]) -> Vec<String> {
    table.iter().map(|entry| entry.name.to_owned()).collect()
}

/// Runs the function of `table` named `name`.
#[doc(hidden)]
pub fn dispatch(kind: Kind, table: &[Entry], name: &str, input: &str) -> Result<String, WireFailure> {
    let result = match table.iter().find(|entry| entry.name == name) {
        Some(entry) => (entry.run)(input),
        None => Err(unknown_function(kind, table, name)),
    };
    result.map_err(WireFailure::from)
}

fn unknown_function(kind: Kind, table: &[Entry], name: &str) -> Failure {
    let exported = if table.is_empty() {
        "none".to_owned()
    } else {
        table.iter().map(|entry| format!("'{}'", entry.name)).collect::<Vec<_>>().join(", ")
    };
    Failure::new(
        Failure::UNKNOWN_FUNCTION,
        format!("this component exports no {} named '{name}' (its {}: {exported})", kind.as_str(), kind.plural()),
    )
}

/// Runs an entity operation for the `entities` interface.
#[doc(hidden)]
pub fn dispatch_entity(
    table: &[crate::__private::EntityEntry],
    name: &str,
    operation: &str,
    input: &str,
    state: Option<&str>,
) -> Result<crate::__private::WireOperationResult, WireFailure> {
    crate::__private::dispatch_operation(table, name, operation, input, state)
        .map(|(state, output)| crate::__private::WireOperationResult { state, output })
        .map_err(WireFailure::from)
}

/// Fails the build (as a `const` evaluation panic) if two entity types of `table`, or two
/// operations of one type, share a name.
#[doc(hidden)]
pub const fn assert_unique_operations(table: &[crate::__private::EntityEntry]) {
    let mut i = 0;
    while i < table.len() {
        let mut j = i + 1;
        while j < table.len() {
            if str_eq(table[i].name, table[j].name) {
                panic!("reprise_sdk::export!: two entity types are exported under the same name");
            }
            j += 1;
        }
        let ops = table[i].operations;
        let mut a = 0;
        while a < ops.len() {
            let mut b = a + 1;
            while b < ops.len() {
                if str_eq(ops[a].name, ops[b].name) {
                    panic!("reprise_sdk::export!: two operations of one entity type share a name");
                }
                b += 1;
            }
            a += 1;
        }
        i += 1;
    }
}

/// Fails the build (as a `const` evaluation panic) if two entries of `table` share a name.
#[doc(hidden)]
pub const fn assert_unique_names(table: &[Entry]) {
    let mut i = 0;
    while i < table.len() {
        let mut j = i + 1;
        while j < table.len() {
            if str_eq(table[i].name, table[j].name) {
                panic!("reprise_sdk::export!: two functions of one list are exported under the same name");
            }
            j += 1;
        }
        i += 1;
    }
}

pub(crate) const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Deserialize)]
    struct Order {
        id: String,
        quantity: u32,
    }

    fn double(_: &ActivityContext, order: Order) -> Result<(String, u32), Failure> {
        Ok((order.id, order.quantity * 2))
    }

    fn reject(_: &ActivityContext, reason: String) -> Result<(), Failure> {
        Err(Failure::new("Rejected", reason))
    }

    fn non_string_keys(_: &ActivityContext, (): ()) -> Result<std::collections::BTreeMap<(u8, u8), u8>, Failure> {
        Ok([((1, 2), 3)].into())
    }

    const TABLE: &[Entry] = &[
        Entry { name: "double", run: |input: &str| run_activity("double", double, input) },
        Entry { name: "Reject", run: |input: &str| run_activity("Reject", reject, input) },
        Entry { name: "non_string_keys", run: |input: &str| run_activity("non_string_keys", non_string_keys, input) },
    ];

    fn run(name: &str, input: &str) -> Result<String, Failure> {
        dispatch(Kind::Activity, TABLE, name, input).map_err(Failure::from)
    }

    #[test]
    fn names_keep_the_order_of_the_table() {
        assert_eq!(names(TABLE), ["double", "Reject", "non_string_keys"]);
        assert!(names(&[]).is_empty());
    }

    #[test]
    fn dispatch_runs_the_named_function_on_json() {
        assert_eq!(run("double", r#"{"id":"o-1","quantity":21}"#), Ok(r#"["o-1",42]"#.to_owned()));
    }

    #[test]
    fn a_function_failure_is_returned_as_is() {
        assert_eq!(run("Reject", r#""out of stock""#), Err(Failure::new("Rejected", "out of stock")));
    }

    #[test]
    fn malformed_input_is_invalid_input() {
        for input in ["{", r#"{"id":"o-1"}"#, "42", ""] {
            let failure = run("double", input).unwrap_err();
            assert_eq!(failure.error_type, "InvalidInput", "{input}");
            assert!(failure.message.contains("activity 'double'"), "{failure}");
        }
    }

    #[test]
    fn unserializable_output_is_invalid_output() {
        let failure = run("non_string_keys", "null").unwrap_err();
        assert_eq!(failure.error_type, "InvalidOutput");
        assert!(failure.message.contains("'non_string_keys'"), "{failure}");
    }

    #[test]
    fn an_unknown_name_is_unknown_function() {
        let failure = run("triple", "1").unwrap_err();
        assert_eq!(failure.error_type, "UnknownFunction");
        assert_eq!(
            failure.message,
            "this component exports no activity named 'triple' \
             (its activities: 'double', 'Reject', 'non_string_keys')"
        );
        let failure = dispatch(Kind::Orchestrator, &[], "x", "1").unwrap_err();
        assert!(failure.message.ends_with("(its orchestrators: none)"), "{}", failure.message);
    }

    #[test]
    fn duplicate_names_are_detected() {
        assert!(str_eq("abc", "abc"));
        assert!(!str_eq("abc", "abd"));
        assert!(!str_eq("abc", "ab"));
        let result = std::panic::catch_unwind(|| {
            assert_unique_names(&[TABLE[0], TABLE[1], TABLE[0]]);
        });
        assert!(result.is_err());
        assert_unique_names(TABLE);
    }
}
