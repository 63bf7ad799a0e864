//! `WWW-Authenticate` challenges (RFC 9110 section 11.6.1): a scheme, then
//! either comma-separated `name=value` parameters (values quoted or not) or a
//! token68. One header may carry several challenges, and a registry may send
//! several headers.

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Lowercased: `bearer`, `basic`, ...
    pub scheme: String,
    /// Parameter names lowercased; values unquoted and unescaped.
    pub params: BTreeMap<String, String>,
}

impl Challenge {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

/// Every challenge of every `WWW-Authenticate` value; malformed parts are
/// skipped rather than failing the whole header.
pub fn parse_challenges<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<Challenge> {
    let mut out = Vec::new();
    for value in values {
        parse_value(value, &mut out);
    }
    out
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

struct Cursor<'a> {
    rest: &'a str,
}

impl<'a> Cursor<'a> {
    fn skip_space(&mut self) {
        self.rest = self.rest.trim_start_matches([' ', '\t']);
    }

    fn skip_commas(&mut self) {
        self.rest = self.rest.trim_start_matches([' ', '\t', ',']);
    }

    fn token(&mut self) -> Option<&'a str> {
        let end = self
            .rest
            .find(|c: char| !is_token_char(c))
            .unwrap_or(self.rest.len());
        (end > 0).then(|| {
            let (t, rest) = self.rest.split_at(end);
            self.rest = rest;
            t
        })
    }

    fn eat(&mut self, c: char) -> bool {
        if self.rest.starts_with(c) {
            self.rest = &self.rest[c.len_utf8()..];
            true
        } else {
            false
        }
    }

    /// An unquoted value. RFC 9110 wants a token, but registries send bare
    /// URLs (`realm=https://...`): take everything up to a comma or a space.
    fn bare_value(&mut self) -> &'a str {
        let end = self.rest.find([',', ' ', '\t']).unwrap_or(self.rest.len());
        let (value, rest) = self.rest.split_at(end);
        self.rest = rest;
        value
    }

    /// A quoted string with backslash escapes; an unterminated one runs to
    /// the end of the value.
    fn quoted(&mut self) -> String {
        let mut out = String::new();
        let mut chars = self.rest.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, escaped)) = chars.next() {
                        out.push(escaped);
                    }
                }
                '"' => {
                    self.rest = &self.rest[i + 1..];
                    return out;
                }
                other => out.push(other),
            }
        }
        self.rest = "";
        out
    }
}

fn parse_value(value: &str, out: &mut Vec<Challenge>) {
    let mut cur = Cursor { rest: value };
    loop {
        cur.skip_commas();
        let Some(scheme) = cur.token() else {
            // Junk where a scheme should be: skip to the next comma.
            match cur.rest.find(',') {
                Some(i) => {
                    cur.rest = &cur.rest[i + 1..];
                    continue;
                }
                None => return,
            }
        };
        let mut challenge = Challenge {
            scheme: scheme.to_ascii_lowercase(),
            params: BTreeMap::new(),
        };
        cur.skip_space();
        // Parameters until the next scheme (a token not followed by '=').
        loop {
            let checkpoint = cur.rest;
            cur.skip_commas();
            let Some(name) = cur.token() else { break };
            cur.skip_space();
            if !cur.eat('=') {
                // A new challenge's scheme, or a token68 (`Basic dXNlcg==`
                // has its '=' inside the token): rewind for the outer loop.
                cur.rest = checkpoint;
                break;
            }
            // `name=` then '=', a comma or the end: a token68 (`dXNl==`).
            if cur.rest.is_empty() || cur.rest.starts_with(['=', ',']) {
                cur.rest = cur.rest.trim_start_matches('=');
                break;
            }
            cur.skip_space();
            let value = if cur.eat('"') {
                cur.quoted()
            } else {
                cur.bare_value().to_string()
            };
            challenge.params.insert(name.to_ascii_lowercase(), value);
            cur.skip_space();
            if !cur.rest.starts_with(',') {
                break;
            }
        }
        out.push(challenge);
        if cur.rest.is_empty() {
            return;
        }
        // Leftovers of a malformed parameter: skip to the next comma.
        if !cur.rest.starts_with(',') {
            match cur.rest.find(',') {
                Some(i) => cur.rest = &cur.rest[i..],
                None => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Parsed = (String, Vec<(String, String)>);

    fn one(value: &str) -> Vec<Parsed> {
        parse_challenges([value])
            .into_iter()
            .map(|c| (c.scheme, c.params.into_iter().collect()))
            .collect()
    }

    fn ch(scheme: &str, params: &[(&str, &str)]) -> Parsed {
        let mut p: Vec<_> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        p.sort();
        (scheme.to_string(), p)
    }

    #[test]
    fn table() {
        let cases: Vec<(&str, Vec<Parsed>)> = vec![
            (
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull""#,
                vec![ch(
                    "bearer",
                    &[
                        ("realm", "https://auth.docker.io/token"),
                        ("service", "registry.docker.io"),
                        ("scope", "repository:library/alpine:pull"),
                    ],
                )],
            ),
            // Scope values with host:port and several actions; spaces around '='.
            (
                r#"Bearer realm = "http://127.0.0.1:5001/token", service="127.0.0.1:5000", scope="repository:a/b:pull,push""#,
                vec![ch(
                    "bearer",
                    &[
                        ("realm", "http://127.0.0.1:5001/token"),
                        ("service", "127.0.0.1:5000"),
                        ("scope", "repository:a/b:pull,push"),
                    ],
                )],
            ),
            (
                r#"Basic realm="Registry Realm""#,
                vec![ch("basic", &[("realm", "Registry Realm")])],
            ),
            // Two challenges in one header.
            (
                r#"Basic realm="x", Bearer realm="https://t/token",service="s""#,
                vec![
                    ch("basic", &[("realm", "x")]),
                    ch("bearer", &[("realm", "https://t/token"), ("service", "s")]),
                ],
            ),
            // Unquoted values, scheme case.
            (
                r#"BEARER realm=https://t/token,service=reg"#,
                vec![ch(
                    "bearer",
                    &[("realm", "https://t/token"), ("service", "reg")],
                )],
            ),
            // Escapes inside quotes, commas inside quotes.
            (
                r#"Bearer realm="https://t/a\"b",error="x,y""#,
                vec![ch(
                    "bearer",
                    &[("realm", "https://t/a\"b"), ("error", "x,y")],
                )],
            ),
            // Missing close quote: the value runs to the end.
            (
                r#"Bearer realm="https://t/token"#,
                vec![ch("bearer", &[("realm", "https://t/token")])],
            ),
            // A bare scheme, and a token68.
            ("Negotiate", vec![ch("negotiate", &[])]),
            (
                "Basic dXNlcjpwYXNz==, Bearer realm=\"r\"",
                vec![ch("basic", &[]), ch("bearer", &[("realm", "r")])],
            ),
            ("", vec![]),
            (",,, ", vec![]),
        ];
        for (value, want) in cases {
            assert_eq!(one(value), want, "{value}");
        }
    }

    #[test]
    fn several_headers() {
        let got = parse_challenges([r#"Basic realm="a""#, r#"Bearer realm="b""#]);
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].param("realm"), Some("b"));
    }

    #[test]
    fn junk_does_not_panic() {
        for junk in [
            "=",
            "\"",
            "Bearer ,",
            "Bearer realm=",
            "Bearer realm=\"",
            "@@@ , Basic realm=\"ok\"",
            "Bearer a=b c=d",
            "Ünïcode realm=\"x\"",
        ] {
            let _ = parse_challenges([junk]);
        }
        let got = parse_challenges(["@@@ , Basic realm=\"ok\""]);
        assert_eq!(got.last().unwrap().param("realm"), Some("ok"));
    }
}
