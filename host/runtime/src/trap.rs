//! What a guest's trap says to a user: one line in their terms, and the details apart.
//!
//! A wasmtime trap arrives as an error whose text is the trap's name followed by a whole wasm
//! backtrace. A failure's message must be one line that says what happened (`stack overflow`,
//! `out of bounds memory access in parse_order`, a Rust panic's own message): that line is
//! what HTTP callers see. The backtrace, the faulting address and the guest's last stderr lines
//! go to the failure's details, which the CLI shows and HTTP hides unless told to expose them.
//!
//! This module only reads errors; it never decides whether a trap fails an instance.

use wasmtime::{Trap, WasmBacktrace};

/// A trap described for a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TrapReport {
    /// One line: what happened, and where when the backtrace says.
    pub(crate) summary: String,
    /// The backtrace, the fault and the guest's stderr tail, if any of them is known.
    pub(crate) details: Option<String>,
}

/// How far below address 0 (that is, how close to the top of the 4 GiB a 32-bit address wraps
/// to) a fault counts as the guest's data stack running past the bottom of linear memory. A
/// Rust guest's stack grows down from its stack pointer, and a recursion with large frames skips
/// well past the first page below 0 before it touches memory.
const DATA_STACK_WINDOW: u64 = 64 * 1024 * 1024;

impl TrapReport {
    /// Describes `error`, which ended a guest call, given the guest's last stderr lines.
    pub(crate) fn of(error: &wasmtime::Error, stderr_tail: &str) -> TrapReport {
        let backtrace = error.downcast_ref::<WasmBacktrace>();
        let place = backtrace.and_then(innermost_function).map(|name| format!(" in {name}")).unwrap_or_default();
        let fault = fault_address(error);
        // A fault just below address 0 is the data stack's; so is a fault at the bottom of a deep
        // recursion, where the address is not known (a `memory.fill` of a new frame checks its
        // bounds in the host and reports no address).
        let data_stack = fault.map_or_else(|| backtrace.is_some_and(recursing), below_zero);
        let summary = match (error.downcast_ref::<Trap>(), data_stack) {
            (Some(Trap::StackOverflow), _) => format!("stack overflow{place}"),
            (Some(Trap::MemoryOutOfBounds), true) => format!(
                "stack overflow{place}: its data stack ran past the bottom of linear memory (a recursion too deep, or \
                 stack frames too large)"
            ),
            (Some(Trap::UnreachableCodeReached), _) => match panic_message(stderr_tail) {
                Some(panic) => panic,
                None => format!("unreachable executed{place}"),
            },
            (Some(trap), _) => format!("{}{place}", trap_words(*trap)),
            // Not a trap of the wasm code: a host error (a WASI call that failed badly, say),
            // whose own first line is the clearest thing to show.
            (None, _) => first_line(&error.to_string()),
        };
        let mut details = Vec::new();
        if let Some(address) = fault {
            details.push(format!("memory fault at wasm address {address:#x}"));
        }
        if let Some(backtrace) = backtrace {
            details.push(backtrace.to_string());
        }
        if !stderr_tail.is_empty() {
            details.push(format!("guest stderr:\n{stderr_tail}"));
        }
        TrapReport { summary, details: (!details.is_empty()).then(|| details.join("\n")) }
    }
}

/// The trap in a user's words, without wasmtime's "wasm trap:" prefix.
fn trap_words(trap: Trap) -> String {
    match trap {
        Trap::MemoryOutOfBounds => "out of bounds memory access".into(),
        Trap::HeapMisaligned => "misaligned memory access".into(),
        Trap::TableOutOfBounds => "out of bounds table access".into(),
        Trap::IndirectCallToNull => "call of a null function reference".into(),
        Trap::BadSignature => "indirect call with the wrong function signature".into(),
        Trap::IntegerOverflow => "integer overflow".into(),
        Trap::IntegerDivisionByZero => "integer division by zero".into(),
        Trap::BadConversionToInteger => "invalid conversion to integer".into(),
        Trap::NullReference => "null reference".into(),
        other => {
            let text = other.to_string();
            text.strip_prefix("wasm trap: ").unwrap_or(&text).to_string()
        }
    }
}

/// How many frames of one function in a row make a backtrace a runaway recursion (wasmtime keeps
/// the innermost 20 frames).
const RECURSION_FRAMES: usize = 8;

/// Whether the innermost frames of the backtrace are one function calling itself, many times in
/// a row (the innermost frame itself may be a helper it called, such as `memset`).
fn recursing(backtrace: &WasmBacktrace) -> bool {
    let indices: Vec<u32> = backtrace.frames().iter().take(RECURSION_FRAMES + 1).map(|f| f.func_index()).collect();
    indices.windows(RECURSION_FRAMES).any(|run| run.iter().all(|index| *index == run[0]))
}

/// The innermost wasm function of the backtrace, by its demangled name without hash (or its
/// index, for a component built without names).
fn innermost_function(backtrace: &WasmBacktrace) -> Option<String> {
    let frame = backtrace.frames().first()?;
    match frame.symbols().first().and_then(|symbol| symbol.name()).or_else(|| frame.func_name()) {
        Some(name) => Some(format!("{:#}", rustc_demangle::demangle(name))),
        None => Some(format!("wasm function {}", frame.func_index())),
    }
}

/// The wasm address of a memory fault, which wasmtime attaches to the trap as a context line
/// ("memory fault at wasm address 0x... in linear memory of size 0x..."): its type is not public,
/// so it is read back from that line.
fn fault_address(error: &wasmtime::Error) -> Option<u64> {
    error.chain().find_map(|cause| {
        let text = cause.to_string();
        let rest = text.strip_prefix("memory fault at wasm address 0x")?;
        let hex: String = rest.chars().take_while(char::is_ascii_hexdigit).collect();
        u64::from_str_radix(&hex, 16).ok()
    })
}

/// Whether a 32-bit memory's faulting address is a stack pointer that went below 0 and wrapped
/// around to the top of the address space.
fn below_zero(address: u64) -> bool {
    const WRAP: u64 = 1 << 32;
    (WRAP - DATA_STACK_WINDOW..WRAP + u64::from(u32::MAX)).contains(&address)
}

/// A Rust panic's message and place, from the guest's stderr: `panicked at src/lib.rs:52:5:
/// the message`. Rust writes `thread '<name>' panicked at <place>:` then the message on the next
/// lines; the first of them is kept.
fn panic_message(stderr_tail: &str) -> Option<String> {
    let mut lines = stderr_tail.lines();
    while let Some(line) = lines.next() {
        if let Some(index) = line.find("panicked at ") {
            let place = line[index + "panicked at ".len()..].trim_end_matches(':');
            let message = lines.next().map(str::trim).filter(|m| !m.is_empty() && !m.starts_with("note:"));
            return Some(match message {
                Some(message) => format!("panicked at {place}: {message}"),
                None => format!("panicked at {place}"),
            });
        }
    }
    None
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rust_panic_is_told_by_its_message_and_place() {
        let stderr = "\nthread '<unnamed>' panicked at src/lib.rs:52:5:\nthe guest panics on purpose\nnote: run with \
                      `RUST_BACKTRACE=1` environment variable to display a backtrace";
        assert_eq!(panic_message(stderr).unwrap(), "panicked at src/lib.rs:52:5: the guest panics on purpose");
        assert_eq!(panic_message("nothing here"), None);
        assert_eq!(panic_message("thread 'main' panicked at a.rs:1:1:\nnote: x").unwrap(), "panicked at a.rs:1:1");
    }

    #[test]
    fn addresses_just_below_zero_are_the_data_stack() {
        assert!(below_zero(0xffff_fff0));
        assert!(below_zero(0x1_0000_0010), "a negative stack pointer plus a positive offset");
        assert!(!below_zero(0x10_0000));
        assert!(!below_zero(0x8000_0000));
    }

    #[test]
    fn a_trap_without_a_backtrace_is_one_line() {
        let error = wasmtime::Error::new(Trap::IntegerDivisionByZero);
        let report = TrapReport::of(&error, "");
        assert_eq!(report, TrapReport { summary: "integer division by zero".into(), details: None });
        let host = wasmtime::Error::msg("first line\nsecond line");
        assert_eq!(TrapReport::of(&host, "").summary, "first line");
    }
}
