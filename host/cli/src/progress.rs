//! How long CLI work shows that it moves: a bar redrawn in place when standard error is a
//! terminal (indicatif), plain lines a few seconds apart when it is not (a log file, CI), so that
//! a redirected run stays readable and a watched one does not scroll.
//!
//! It owns the drawing only; the commands say what is counted. It never writes to standard
//! output, which carries the commands' results.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

/// The least time between two plain lines.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

/// Progress of one piece of work: `done` of `total` things (or of an unknown number).
pub(crate) struct Progress {
    how: How,
    /// What is done to each thing, in the past tense ("replayed", "purged").
    verb: &'static str,
    done: u64,
    total: Option<u64>,
}

enum How {
    Bar(ProgressBar),
    /// When the last line was printed, and whether any was.
    Lines {
        last: Instant,
        printed: bool,
    },
    Quiet,
}

impl Progress {
    /// Progress shown on standard error if `wanted` (commands whose output is JSON for a program
    /// pass `false`): a bar on a terminal, lines otherwise.
    pub(crate) fn new(verb: &'static str, total: Option<u64>, wanted: bool) -> Progress {
        let how = if !wanted {
            How::Quiet
        } else if std::io::stderr().is_terminal() {
            How::Bar(bar(verb, total))
        } else {
            How::Lines { last: Instant::now(), printed: false }
        };
        Progress { how, verb, done: 0, total }
    }

    /// Counts `n` more things done.
    pub(crate) fn advance(&mut self, n: u64) {
        self.done += n;
        match &mut self.how {
            How::Bar(bar) => bar.inc(n),
            How::Lines { last, printed } if last.elapsed() >= PLAIN_EVERY => {
                eprintln!("{}", line(self.verb, self.done, self.total));
                (*last, *printed) = (Instant::now(), true);
            }
            How::Lines { .. } | How::Quiet => {}
        }
    }

    /// Clears the bar (the command prints its own summary); a plain run that printed lines
    /// ends with the final count.
    pub(crate) fn finish(self) {
        match self.how {
            How::Bar(bar) => bar.finish_and_clear(),
            How::Lines { printed: true, .. } => eprintln!("{}", line(self.verb, self.done, self.total)),
            How::Lines { printed: false, .. } | How::Quiet => {}
        }
    }
}

/// A one-line account of work whose size is not known ahead (`reprise run` waiting for its
/// instance): a spinner and a note on a terminal; otherwise the note as a line when it changed,
/// a few seconds apart at most.
pub(crate) struct Ticker {
    how: How,
    note: String,
}

impl Ticker {
    /// A ticker on standard error.
    pub(crate) fn new() -> Ticker {
        let how = if std::io::stderr().is_terminal() {
            How::Bar(spinner())
        } else {
            How::Lines { last: Instant::now(), printed: false }
        };
        Ticker { how, note: String::new() }
    }

    /// Shows `note` as the current state.
    pub(crate) fn note(&mut self, note: String) {
        if note == self.note {
            return;
        }
        match &mut self.how {
            How::Bar(bar) => bar.set_message(note.clone()),
            How::Lines { last, printed } if last.elapsed() >= PLAIN_EVERY || !*printed => {
                eprintln!("  {note}");
                (*last, *printed) = (Instant::now(), true);
            }
            How::Lines { .. } | How::Quiet => return,
        }
        self.note = note;
    }

    /// Prints a line that stays (above the spinner on a terminal).
    pub(crate) fn say(&self, line: &str) {
        match &self.how {
            How::Bar(bar) => bar.println(line),
            How::Lines { .. } | How::Quiet => eprintln!("{line}"),
        }
    }

    /// Clears the spinner.
    pub(crate) fn finish(self) {
        if let How::Bar(bar) = self.how {
            bar.finish_and_clear();
        }
    }
}

/// `replayed 250/1000`, or `purged 250` when the total is unknown.
fn line(verb: &str, done: u64, total: Option<u64>) -> String {
    match total {
        Some(total) => format!("{verb} {done}/{total}"),
        None => format!("{verb} {done}"),
    }
}

/// The bar's look: a bar when the total is known, a spinner and the count otherwise.
fn template(verb: &str, total_known: bool) -> String {
    if total_known {
        format!("{{bar:30}} {verb} {{pos}}/{{len}} ({{per_sec}}, {{eta}} left) {{msg}}")
    } else {
        format!("{{spinner}} {verb} {{pos}} {{msg}}")
    }
}

/// A spinner and a message.
fn spinner() -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(SPINNER) {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// The look of [`spinner`].
const SPINNER: &str = "{spinner} {elapsed} {msg}";

/// A bar for `total` things, or a spinner when the total is unknown.
fn bar(verb: &str, total: Option<u64>) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
    // The templates are ours; the tests check that they parse.
    if let Ok(style) = ProgressStyle::with_template(&template(verb, total.is_some())) {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_templates_parse() {
        for total_known in [true, false] {
            let template = template("replayed", total_known);
            assert!(ProgressStyle::with_template(&template).is_ok(), "{template}");
        }
        assert!(ProgressStyle::with_template(SPINNER).is_ok());
    }

    #[test]
    fn a_plain_line_says_what_is_done_of_how_many() {
        assert_eq!(line("purged", 3, None), "purged 3");
        assert_eq!(line("replayed", 4, Some(10)), "replayed 4/10");
    }
}
