//! The `--limit` and `--entity-limit` flags of `run` and `serve`: one activity's (or entity
//! name's) flow limits, written
//! `NAME=concurrency:N,rate:N/PERIOD,burst:N,key:/POINTER` (any of the settings, `concurrency` or
//! `rate` among them). It owns the flag's syntax and the words of its refusals; the limits and
//! their checks are `reprise_core::flow`'s. It never reads the deployment file (whose
//! `[activity.NAME]` tables the flags override, name by name).

use reprise_core::flow::{FlowLimit, KeyPointer, Rate};

/// Reads one `--limit` setting into the activity's name and its limits.
pub(crate) fn parse(flag: &str, setting: &str) -> Result<(String, FlowLimit), String> {
    let refuse = |why: String| format!("{flag} {setting}: {why}");
    let (name, settings) = setting
        .split_once('=')
        .filter(|(name, _)| !name.is_empty())
        .ok_or_else(|| refuse("write NAME=concurrency:N,rate:N/s,burst:N,key:/POINTER".to_string()))?;
    let (mut concurrency, mut rate, mut burst, mut key) = (None, None, None, None);
    let mut rest = settings;
    while !rest.is_empty() {
        // A key is a JSON pointer, which may hold commas: it takes the rest of the setting.
        if let Some(pointer) = rest.strip_prefix("key:") {
            key = Some(KeyPointer::new(pointer).map_err(|e| refuse(e.to_string()))?);
            break;
        }
        let (part, after) = rest.split_once(',').unwrap_or((rest, ""));
        rest = after;
        let (what, value) = part
            .split_once(':')
            .ok_or_else(|| refuse(format!("`{part}` is not SETTING:VALUE (concurrency, rate, burst or key)")))?;
        let count =
            |value: &str| value.parse::<u32>().map_err(|_| refuse(format!("{what} `{value}` is not a whole number")));
        match what {
            "concurrency" => concurrency = Some(count(value)?),
            "rate" => rate = Some(value.to_string()),
            "burst" => burst = Some(count(value)?),
            other => {
                return Err(refuse(format!("unknown setting `{other}`: use concurrency, rate, burst or key")));
            }
        }
    }
    let rate = match (rate, burst) {
        (Some(rate), burst) => Some(Rate::parse(&rate, burst).map_err(|e| refuse(e.to_string()))?),
        (None, Some(_)) => return Err(refuse("burst is the size of the rate limit's bucket; give a rate too".into())),
        (None, None) => None,
    };
    let limit = FlowLimit::new(concurrency, rate, key).map_err(|e| refuse(e.to_string()))?;
    Ok((name.to_string(), limit))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_limit_reads_its_settings_in_any_order_and_a_key_takes_the_rest() {
        let (name, limit) = parse("--limit", "charge=rate:20/s,concurrency:3,key:/customer,id").unwrap();
        assert_eq!(name, "charge");
        assert_eq!(limit.concurrency, Some(3));
        let rate = limit.rate.unwrap();
        assert_eq!((rate.starts, rate.per, rate.burst), (20, Duration::from_secs(1), 20));
        assert_eq!(limit.key.unwrap().as_str(), "/customer,id");
        let (_, limit) = parse("--limit", "gpu=concurrency:1").unwrap();
        assert_eq!((limit.concurrency, limit.rate, limit.key), (Some(1), None, None));
        assert_eq!(parse("--limit", "mail=rate:5/30s,burst:1").unwrap().1.rate.unwrap().burst, 1);
    }

    #[test]
    fn refusals_say_what_to_write() {
        let error = |setting: &str| parse("--limit", setting).unwrap_err();
        assert!(error("charge").contains("NAME=concurrency:N"), "{}", error("charge"));
        assert!(error("=concurrency:3").contains("NAME="));
        assert!(error("charge=concurrency:three").contains("not a whole number"));
        assert!(error("charge=speed:3").contains("use concurrency, rate, burst or key"));
        assert!(error("charge=rate:20").contains("\"20/s\""));
        assert!(error("charge=burst:3").contains("give a rate too"));
        assert!(error("charge=key:/id").contains("a key alone limits nothing"));
        assert!(error("charge=concurrency:0").contains("at least 1"));
        assert!(error("charge=concurrency:2,key:id").contains("JSON pointer"));
    }
}
