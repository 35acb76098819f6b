//! Who the clients are: the audiences of the demo config (Public, the `reader` and `editor`
//! users by JWT, the `dashboard` and `comments-only` API tokens, and the `bench-extra-<n>`
//! read-only tokens of generated configs), their handshake `auth`, the `--mix` that assigns
//! an audience to each client index, and which audiences the demo routes each scenario's
//! event to. This is the only place that knows the demo's users, tokens and permissions.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::scenario::Scenario;

/// The name of the `n`-th extra read-only API token of a generated config.
pub fn extra_token_name(n: u16) -> String {
    format!("bench-extra-{n}")
}

/// The plain token of the `n`-th extra read-only API token of a generated config.
pub fn extra_token_plain(n: u16) -> String {
    format!("demo-token-bench-extra-{n}")
}

/// One audience of the demo config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Audience {
    /// No credentials: role Public.
    Public,
    /// JWT of user 2 (`reader`, role Authenticated).
    Reader,
    /// JWT of user 1 (`editor`, role Editor).
    Editor,
    /// API token `dashboard` (read-only).
    Dashboard,
    /// API token `comments-only` (custom: find on comments).
    Comments,
    /// API token `bench-extra-<n>` (read-only), from `strapi-io-bench config --extra-tokens`.
    Extra(u16),
}

impl Audience {
    /// Parses an audience name of `--mix`.
    pub fn parse(s: &str) -> anyhow::Result<Audience> {
        Ok(match s {
            "public" => Audience::Public,
            "reader" | "authenticated" => Audience::Reader,
            "editor" => Audience::Editor,
            "dashboard" => Audience::Dashboard,
            "comments" | "comments-only" => Audience::Comments,
            other => match other.strip_prefix("extra-").map(str::parse::<u16>) {
                Some(Ok(n)) if n >= 1 => Audience::Extra(n),
                _ => bail!(
                    "unknown audience `{other}` (public, reader, editor, dashboard, comments, extra-<n>)"
                ),
            },
        })
    }

    /// Whether the demo config routes the scenario's event to this whole audience.
    /// `article:update` goes to everyone but the `comments-only` token; `comment:update` to
    /// everyone but Public (routed `comment:create` only), whose sockets get it through their
    /// entity subscriptions.
    pub fn routed(self, scenario: Scenario) -> bool {
        match scenario {
            Scenario::Entity => self != Audience::Public,
            _ => self != Audience::Comments,
        }
    }

    /// The handshake `auth` object; `None` for Public.
    pub fn auth(self, creds: &Credentials) -> anyhow::Result<Option<Value>> {
        Ok(match self {
            Audience::Public => None,
            Audience::Reader => {
                Some(json!({"strategy": "jwt", "token": jwt(2, &creds.jwt_secret)?}))
            }
            Audience::Editor => {
                Some(json!({"strategy": "jwt", "token": jwt(1, &creds.jwt_secret)?}))
            }
            Audience::Dashboard => {
                Some(json!({"strategy": "api-token", "token": creds.dashboard_token}))
            }
            Audience::Comments => {
                Some(json!({"strategy": "api-token", "token": creds.comments_token}))
            }
            Audience::Extra(n) => {
                Some(json!({"strategy": "api-token", "token": extra_token_plain(n)}))
            }
        })
    }
}

impl fmt::Display for Audience {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Audience::Public => f.write_str("public"),
            Audience::Reader => f.write_str("reader"),
            Audience::Editor => f.write_str("editor"),
            Audience::Dashboard => f.write_str("dashboard"),
            Audience::Comments => f.write_str("comments"),
            Audience::Extra(n) => write!(f, "extra-{n}"),
        }
    }
}

/// Secrets the audiences authenticate with (the demo's by default).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Credentials {
    /// HS256 secret of the users-permissions JWTs.
    pub jwt_secret: String,
    /// Plain API token of `dashboard`.
    pub dashboard_token: String,
    /// Plain API token of `comments-only`.
    pub comments_token: String,
}

impl Default for Credentials {
    fn default() -> Self {
        Credentials {
            jwt_secret: "demo-jwt-secret".to_string(),
            dashboard_token: "demo-token-dashboard".to_string(),
            comments_token: "demo-token-comments-only".to_string(),
        }
    }
}

/// A users-permissions JWT (`{id, iat, exp}`, HS256) valid for a day.
pub fn jwt(user_id: u64, secret: &str) -> anyhow::Result<String> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let claims = json!({"id": user_id, "iat": now, "exp": now + 86_400});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .map_err(|e| anyhow!("cannot sign a JWT: {e}"))
}

/// The audience mix: weights per audience, expanded into a repeating pattern so that client
/// `i` has audience `pattern[i % len]` whichever process holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Mix {
    entries: Vec<(Audience, u32)>,
    pattern: Vec<Audience>,
}

impl Mix {
    /// Parses `public=1,reader=1,editor=1,dashboard=1`; a bare name weighs 1, and
    /// `extra-1..12=1` stands for `extra-1=1,…,extra-12=1`.
    pub fn parse(s: &str) -> anyhow::Result<Mix> {
        let mut entries: Vec<(Audience, u32)> = Vec::new();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (name, weight) = match item.split_once('=') {
                Some((n, w)) => (
                    n.trim(),
                    w.trim().parse::<u32>().map_err(|_| {
                        anyhow!("--mix `{item}`: the weight must be a whole number")
                    })?,
                ),
                None => (item, 1),
            };
            if weight > 1000 {
                bail!("--mix `{item}`: weights are at most 1000");
            }
            let audiences = match name.strip_prefix("extra-").and_then(|r| r.split_once("..")) {
                Some((a, b)) => {
                    let (a, b): (u16, u16) = (
                        a.parse()
                            .map_err(|_| anyhow!("--mix `{item}`: bad range"))?,
                        b.parse()
                            .map_err(|_| anyhow!("--mix `{item}`: bad range"))?,
                    );
                    if a == 0 || b < a || b - a > 1000 {
                        bail!("--mix `{item}`: bad range");
                    }
                    (a..=b).map(Audience::Extra).collect()
                }
                None => vec![Audience::parse(name)?],
            };
            for a in audiences {
                if entries.iter().any(|(e, _)| *e == a) {
                    bail!("--mix: `{a}` appears twice");
                }
                if weight > 0 {
                    entries.push((a, weight));
                }
            }
        }
        if entries.is_empty() {
            bail!("--mix: no audience with a weight above 0");
        }
        // Interleave the audiences (round-robin over the remaining weights) so any prefix of
        // the clients is already mixed.
        let mut left: Vec<u32> = entries.iter().map(|(_, w)| *w).collect();
        let mut pattern = Vec::new();
        while left.iter().any(|&w| w > 0) {
            for (i, (a, _)) in entries.iter().enumerate() {
                if left[i] > 0 {
                    left[i] -= 1;
                    pattern.push(*a);
                }
            }
        }
        Ok(Mix { entries, pattern })
    }

    /// The default of a scenario: Public only for `entity`, else the demo's four audiences
    /// that receive `article:update`.
    pub fn default_for(scenario: Scenario) -> Mix {
        let text = match scenario {
            Scenario::Entity => "public=1",
            _ => "public=1,reader=1,editor=1,dashboard=1",
        };
        Mix::parse(text).expect("default mix parses")
    }

    /// The audience of client `index`.
    pub fn audience_of(&self, index: usize) -> Audience {
        self.pattern[index % self.pattern.len()]
    }

    /// The audiences with a weight, in `--mix` order.
    pub fn audiences(&self) -> impl Iterator<Item = Audience> + '_ {
        self.entries.iter().map(|(a, _)| *a)
    }

    /// How many of the clients `0..n` belong to `audience`.
    pub fn count_in(&self, audience: Audience, n: usize) -> usize {
        let len = self.pattern.len();
        let per_cycle = self.pattern.iter().filter(|a| **a == audience).count();
        let rest = self.pattern[..n % len]
            .iter()
            .filter(|a| **a == audience)
            .count();
        (n / len) * per_cycle + rest
    }
}

impl fmt::Display for Mix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (a, w)) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{a}={w}")?;
        }
        Ok(())
    }
}

impl TryFrom<String> for Mix {
    type Error = anyhow::Error;
    fn try_from(s: String) -> anyhow::Result<Mix> {
        Mix::parse(&s)
    }
}

impl From<Mix> for String {
    fn from(m: Mix) -> String {
        m.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix_is_interleaved_and_counted() {
        let m = Mix::parse("public=2,reader=1,editor").unwrap();
        let first: Vec<_> = (0..8).map(|i| m.audience_of(i)).collect();
        use Audience::*;
        assert_eq!(
            first,
            vec![
                Public, Reader, Editor, Public, Public, Reader, Editor, Public
            ]
        );
        assert_eq!(m.count_in(Public, 8), 4);
        assert_eq!(m.count_in(Reader, 8), 2);
        assert_eq!(m.count_in(Editor, 9), 2);
        assert_eq!(m.to_string(), "public=2,reader=1,editor=1");
        let total: usize = m.audiences().map(|a| m.count_in(a, 1001)).sum();
        assert_eq!(total, 1001);
    }

    #[test]
    fn mix_ranges_and_errors() {
        let m = Mix::parse("public=1,extra-1..12=1").unwrap();
        assert_eq!(m.audiences().count(), 13);
        assert_eq!(m.audience_of(12), Audience::Extra(12));
        assert!(Mix::parse("nobody=1").is_err());
        assert!(Mix::parse("public=1,public=2").is_err());
        assert!(Mix::parse("public=0").is_err());
        assert!(Mix::parse("public=x").is_err());
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(serde_json::from_str::<Mix>(&json).unwrap(), m);
    }

    #[test]
    fn routing_of_the_demo() {
        assert!(Audience::Public.routed(Scenario::Fanout));
        assert!(!Audience::Comments.routed(Scenario::Fanout));
        assert!(!Audience::Public.routed(Scenario::Entity));
        assert!(Audience::Comments.routed(Scenario::Entity));
        assert!(Audience::Extra(3).routed(Scenario::Fanout));
    }

    #[test]
    fn auth_objects() {
        let c = Credentials::default();
        assert_eq!(Audience::Public.auth(&c).unwrap(), None);
        let d = Audience::Dashboard.auth(&c).unwrap().unwrap();
        assert_eq!(d["token"], "demo-token-dashboard");
        let r = Audience::Reader.auth(&c).unwrap().unwrap();
        let token = r["token"].as_str().unwrap();
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        v.required_spec_claims.clear();
        let data = jsonwebtoken::decode::<Value>(
            token,
            &jsonwebtoken::DecodingKey::from_secret(b"demo-jwt-secret"),
            &v,
        )
        .unwrap();
        assert_eq!(data.claims["id"], 2);
    }
}
