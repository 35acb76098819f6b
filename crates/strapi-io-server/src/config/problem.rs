//! [`Problem`] (one thing wrong with a config, with its path) and [`ConfigError`] (all of
//! them, one `path: message` line each).

use std::fmt;

use strapi_io::core::settings::SettingsProblem;

/// One thing wrong with the config: where (a dotted key path, an environment variable or a
/// file name; empty when the problem has no place) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    /// `server.webhookCoalesceMs`, `STRAPI_IO_PORT`, `strapi-io.toml`, …
    pub(crate) path: String,
    /// What is wrong there.
    pub(crate) message: String,
}

impl Problem {
    /// A problem at `path`.
    pub(crate) fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            path: path.into(),
            message: message.into(),
        }
    }

    /// A `path: message` line from elsewhere (populate's checks, schema errors) split at its
    /// first `: ` (no path when it has none); it renders back to the same line.
    pub(crate) fn from_line(line: impl Into<String>) -> Self {
        let line = line.into();
        match line.split_once(": ") {
            Some((path, message)) if !path.is_empty() && !path.contains(char::is_whitespace) => {
                Problem::new(path, message)
            }
            _ => Problem::new("", line),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl From<SettingsProblem> for Problem {
    fn from(p: SettingsProblem) -> Self {
        Problem::new(p.path, p.message)
    }
}

/// A problem compares equal to its rendered line.
impl PartialEq<&str> for Problem {
    fn eq(&self, other: &&str) -> bool {
        if self.path.is_empty() {
            self.message == *other
        } else {
            other
                .strip_prefix(self.path.as_str())
                .and_then(|rest| rest.strip_prefix(": "))
                == Some(self.message.as_str())
        }
    }
}

/// A config that cannot be used: every problem, each with its path.
#[derive(Debug, thiserror::Error)]
#[error("{}", render(.problems))]
pub(crate) struct ConfigError {
    /// Each problem; rendered one `path: message` line each.
    pub(crate) problems: Vec<Problem>,
}

fn render(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

impl ConfigError {
    /// One problem.
    pub(crate) fn one(problem: Problem) -> Self {
        ConfigError {
            problems: vec![problem],
        }
    }

    /// `Ok` when there is no problem.
    pub(crate) fn check(problems: Vec<Problem>) -> Result<(), ConfigError> {
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError { problems })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_render_as_path_and_message_lines() {
        let err = ConfigError {
            problems: vec![
                Problem::new("server.port", "expected a number"),
                Problem::new("", "no place"),
            ],
        };
        assert_eq!(err.to_string(), "server.port: expected a number\nno place");
        for line in [
            "strapi.url: `ftp://x`: only http:// URLs are supported",
            "contentTypes[0].populate: `nope` is not an attribute",
            "a sentence: with a colon",
            "no colon at all",
        ] {
            assert_eq!(Problem::from_line(line).to_string(), line);
        }
        assert_eq!(Problem::from_line("strapi.url: x").path, "strapi.url");
        assert_eq!(Problem::from_line("a sentence: x").path, "");
        assert_eq!(Problem::new("a.b", "c"), "a.b: c");
        assert_eq!(Problem::new("", "a.b: c"), "a.b: c");
        assert_ne!(Problem::new("a.b", "c"), "a.b:c");
        assert_ne!(Problem::new("a.b", "c"), "a.bc");
    }
}
