//! Where a command's JSON text comes from: the argument itself, a file (`@path`, as curl takes
//! it) or standard input (`-`), so that inputs larger than one command-line argument (Linux caps
//! one at 128 KiB) can be given.
//!
//! It owns reading the text; it never checks it as JSON (the host does, with its payload limit).

use anyhow::Context as _;
use std::io::Read as _;
use std::path::PathBuf;
use std::str::FromStr;

/// A JSON argument: `--input '{"a": 1}'`, `--input @input.json` or `--input -`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JsonArg {
    /// The text given on the command line.
    Text(String),
    /// The contents of this file.
    File(PathBuf),
    /// Everything on standard input.
    Stdin,
}

impl FromStr for JsonArg {
    type Err = std::convert::Infallible;

    /// Neither `@...` nor `-` is a JSON document, so no JSON text is ever taken for a file name.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(match text {
            "-" => JsonArg::Stdin,
            _ => match text.strip_prefix('@') {
                Some(path) => JsonArg::File(PathBuf::from(path)),
                None => JsonArg::Text(text.to_string()),
            },
        })
    }
}

impl JsonArg {
    /// The text, read from where the argument says.
    pub(crate) fn read(self) -> anyhow::Result<String> {
        match self {
            JsonArg::Text(text) => Ok(text),
            JsonArg::File(path) => std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read the JSON file {} (given as @{0})", path.display())),
            JsonArg::Stdin => {
                let mut text = String::new();
                std::io::stdin().read_to_string(&mut text).context("cannot read the JSON text from standard input")?;
                Ok(text)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_files_and_stdin_are_told_apart() {
        assert_eq!("{\"a\":1}".parse::<JsonArg>().unwrap(), JsonArg::Text("{\"a\":1}".into()));
        assert_eq!("@in.json".parse::<JsonArg>().unwrap(), JsonArg::File("in.json".into()));
        assert_eq!("-".parse::<JsonArg>().unwrap(), JsonArg::Stdin);
        assert_eq!("-1".parse::<JsonArg>().unwrap(), JsonArg::Text("-1".into()), "a negative number is text");
    }

    #[test]
    fn a_file_is_read_whole_and_a_missing_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.json");
        let big = format!("[{}]", vec!["1"; 100_000].join(","));
        std::fs::write(&path, &big).unwrap();
        assert_eq!(JsonArg::File(path.clone()).read().unwrap(), big);
        let missing = JsonArg::File(dir.path().join("missing.json")).read().unwrap_err();
        assert!(format!("{missing:#}").contains("missing.json"), "{missing:#}");
    }
}
