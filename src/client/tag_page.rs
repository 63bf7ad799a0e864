//! One page of a tag list, `{"name": ..., "tags": [...]}`, parsed as its
//! body streams in: each tag goes through the caller's `keep` and is
//! forgotten unless kept, so a page of a million tags (distribution 2.8
//! answers every tag at once, some 80 MB at a million) costs the memory
//! of what is kept, not of the answer. The page also tells whether its
//! tags came in lexical order after the tag they were asked to follow.

use super::tags::{refused, TAG_PAGE_SIZE};
use crate::error::StoreError;
use crate::transport::ResponseBody;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;
use std::io;

/// What one page held.
#[derive(Debug)]
pub(crate) struct Page<K> {
    /// What `keep` returned for the page's tags.
    pub kept: Vec<K>,
    /// Tags on the page, kept or not.
    pub count: usize,
    /// The page's first and last tag (the last: where a next page asked
    /// by `last` starts).
    pub first: Option<String>,
    pub last: Option<String>,
    /// Every tag sorted strictly after the one before it and after the tag
    /// the page was asked to follow (distribution spec: tags "in lexical
    /// order"; byte order, as distribution and zot sort).
    pub lexical: bool,
    /// Some tag sorted after the tag the page was asked to follow (any
    /// tag, when it was asked to follow none).
    pub advanced: bool,
    /// The next page the registry named (`Link`), filled in by the caller.
    pub next: Option<String>,
}

impl<K> Page<K> {
    /// Whether this page, the first asked for, was every tag there is: no
    /// next page, and not a page cut at the size asked (a registry that
    /// answers more than `n` ignores `n`).
    pub fn whole_list(&self) -> bool {
        self.next.is_none() && self.count != TAG_PAGE_SIZE
    }
}

/// Reads one page from `body`, at most `cap` bytes of it.
pub(crate) fn read_page<K>(
    body: &mut impl ResponseBody,
    cap: u64,
    after: Option<&str>,
    keep: &mut impl FnMut(&str) -> Option<K>,
    what: &str,
) -> Result<Page<K>, StoreError> {
    let mut bytes = BodyBytes {
        body,
        chunk: Vec::new(),
        at: 0,
        read: 0,
        cap,
        run: 0,
        failed: None,
    };
    let mut sink = Sink {
        keep,
        after,
        kept: Vec::new(),
        count: 0,
        first: None,
        last: String::new(),
        lexical: true,
        advanced: false,
    };
    let parsed = {
        let mut json = serde_json::Deserializer::from_reader(&mut bytes);
        PageSeed(&mut sink)
            .deserialize(&mut json)
            .and_then(|()| json.end())
    };
    if let Some(failure) = bytes.failed {
        return Err(failure);
    }
    if let Err(e) = parsed {
        return Err(refused(format!(
            "{what}: unreadable tag list: {}",
            crate::registry_error::excerpt(&e.to_string(), 200)
        )));
    }
    let Sink {
        kept,
        count,
        first,
        last,
        lexical,
        advanced,
        ..
    } = sink;
    Ok(Page {
        kept,
        count,
        first,
        last: (count > 0).then_some(last),
        lexical,
        advanced,
        next: None,
    })
}

/// The body as `io::Read`, for serde_json, keeping the first failure in
/// its own words (a cut body is a transport error, asked for again).
struct BodyBytes<'b, B> {
    body: &'b mut B,
    chunk: Vec<u8>,
    at: usize,
    read: u64,
    cap: u64,
    /// Bytes since the last `"`: serde_json holds a whole string in memory
    /// before handing it over, so one endless "tag" is refused here.
    run: usize,
    failed: Option<StoreError>,
}

/// The most bytes a page may hold between two quotes: a tag is at most
/// 128 characters (distribution spec), escaped at most six bytes each.
const MAX_RUN: usize = 64 << 10;

/// The run of bytes without a `"` at the end of `chunk` (continuing
/// `run`), and the longest run in it.
fn runs_without_quote(run: usize, chunk: &[u8]) -> (usize, usize) {
    let (mut now, mut longest) = (run, run);
    for &b in chunk {
        if b == b'"' {
            now = 0;
        } else {
            now += 1;
            longest = longest.max(now);
        }
    }
    (now, longest)
}

impl<B: ResponseBody> io::Read for BodyBytes<'_, B> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.at == self.chunk.len() {
            match self.body.read_chunk(64 * 1024) {
                Ok(Some(chunk)) => {
                    self.read += chunk.len() as u64;
                    if self.read > self.cap {
                        let cap = self.cap;
                        return Err(self.fail(StoreError::Integrity(format!(
                            "GET tags/list: answer larger than {cap} bytes"
                        ))));
                    }
                    let (run, longest) = runs_without_quote(self.run, &chunk);
                    if longest > MAX_RUN {
                        return Err(self.fail(StoreError::Integrity(format!(
                            "GET tags/list: more than {MAX_RUN} bytes without a quote: no tag is that long"
                        ))));
                    }
                    self.run = run;
                    self.chunk = chunk;
                    self.at = 0;
                }
                Ok(None) => return Ok(0),
                Err(e) => return Err(self.fail(e)),
            }
        }
        let n = out.len().min(self.chunk.len() - self.at);
        out[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

impl<B> BodyBytes<'_, B> {
    fn fail(&mut self, error: StoreError) -> io::Error {
        let words = error.to_string();
        self.failed.get_or_insert(error);
        io::Error::other(words)
    }
}

/// Where the page's tags go as they are parsed.
struct Sink<'k, 'a, K, F> {
    keep: &'k mut F,
    after: Option<&'a str>,
    kept: Vec<K>,
    count: usize,
    first: Option<String>,
    last: String,
    lexical: bool,
    advanced: bool,
}

impl<K, F: FnMut(&str) -> Option<K>> Sink<'_, '_, K, F> {
    fn tag(&mut self, tag: &str) {
        let before = if self.count == 0 {
            self.after
        } else {
            Some(self.last.as_str())
        };
        if before.is_some_and(|before| tag <= before) {
            self.lexical = false;
        }
        if self.after.is_none_or(|after| tag > after) {
            self.advanced = true;
        }
        if self.count == 0 {
            self.first = Some(tag.to_string());
        }
        self.count += 1;
        self.last.clear();
        self.last.push_str(tag);
        if let Some(kept) = (self.keep)(tag) {
            self.kept.push(kept);
        }
    }
}

/// The page object: `tags` is read tag by tag, other members skipped.
struct PageSeed<'s, 'k, 'a, K, F>(&'s mut Sink<'k, 'a, K, F>);

impl<'de, K, F: FnMut(&str) -> Option<K>> DeserializeSeed<'de> for PageSeed<'_, '_, '_, K, F> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, K, F: FnMut(&str) -> Option<K>> Visitor<'de> for PageSeed<'_, '_, '_, K, F> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a tag list object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if key == "tags" {
                map.next_value_seed(TagsSeed(&mut *self.0))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// `tags`: an array of strings, or null (an empty repository).
struct TagsSeed<'s, 'k, 'a, K, F>(&'s mut Sink<'k, 'a, K, F>);

impl<'de, K, F: FnMut(&str) -> Option<K>> DeserializeSeed<'de> for TagsSeed<'_, '_, '_, K, F> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de, K, F: FnMut(&str) -> Option<K>> Visitor<'de> for TagsSeed<'_, '_, '_, K, F> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of tags")
    }
    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(TagSeed(&mut *self.0))?.is_some() {}
        Ok(())
    }
}

struct TagSeed<'s, 'k, 'a, K, F>(&'s mut Sink<'k, 'a, K, F>);

impl<'de, K, F: FnMut(&str) -> Option<K>> DeserializeSeed<'de> for TagSeed<'_, '_, '_, K, F> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de, K, F: FnMut(&str) -> Option<K>> Visitor<'de> for TagSeed<'_, '_, '_, K, F> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a tag")
    }
    fn visit_str<E>(self, tag: &str) -> Result<(), E> {
        self.0.tag(tag);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body handed out in 64 KiB pieces, optionally breaking off.
    struct Body(Vec<u8>, usize, bool);

    impl ResponseBody for Body {
        fn read_chunk(&mut self, max: usize) -> Result<Option<Vec<u8>>, StoreError> {
            if self.1 == self.0.len() {
                return match self.2 {
                    true => Err(StoreError::Transport("connection reset".into())),
                    false => Ok(None),
                };
            }
            let end = (self.1 + max).min(self.0.len());
            let chunk = self.0[self.1..end].to_vec();
            self.1 = end;
            Ok(Some(chunk))
        }
    }

    fn json(tags: &[String]) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({ "name": "r", "tags": tags })).unwrap()
    }

    fn read(body: Vec<u8>, after: Option<&str>) -> Result<Page<String>, StoreError> {
        read_page(
            &mut Body(body, 0, false),
            1 << 30,
            after,
            &mut |t: &str| t.starts_with("state-").then(|| t.to_string()),
            "GET tags/list",
        )
    }

    #[test]
    fn a_page_past_the_old_16_mib_wall_is_read_keeping_only_what_is_kept() {
        // 230,000 packfile tags (about 17 MB of JSON, past the 16 MiB a
        // page could be before) and 2 states: distribution 2.8 answers a
        // repository of 14 TiB this way, in one response.
        let mut tags: Vec<String> = (0..230_000u32)
            .map(|i| format!("packfile-{:064x}", i))
            .collect();
        tags.push(format!("state-{:064x}", 1));
        tags.push(format!("state-{:064x}", 2));
        let body = json(&tags);
        assert!(body.len() > 16 << 20, "{} bytes", body.len());
        let page = read(body, None).unwrap();
        assert_eq!(page.count, 230_002);
        assert_eq!(page.kept, tags[230_000..]);
        assert!(page.lexical);
        assert_eq!(page.last.as_deref(), Some(tags[230_001].as_str()));
    }

    #[test]
    fn order_is_judged_against_the_tag_asked_after_and_within_the_page() {
        let sorted = json(&["state-a".into(), "state-b".into()]);
        assert!(read(sorted.clone(), Some("state")).unwrap().lexical);
        assert!(
            !read(sorted, Some("state-a")).unwrap().lexical,
            "a tag not after `last`"
        );
        let unsorted = json(&["state-b".into(), "state-a".into()]);
        assert!(!read(unsorted, None).unwrap().lexical);
        let repeated = json(&["state-a".into(), "state-a".into()]);
        assert!(!read(repeated, None).unwrap().lexical);
        let empty = read(br#"{"name":"r","tags":null}"#.to_vec(), Some("state")).unwrap();
        assert_eq!((empty.count, empty.last, empty.lexical), (0, None, true));
    }

    #[test]
    fn broken_or_oversized_or_malformed_pages_fail_in_their_own_words() {
        let cut = read_page(
            &mut Body(br#"{"tags":["state-a","sta"#.to_vec(), 0, true),
            1 << 30,
            None,
            &mut |t: &str| Some(t.to_string()),
            "GET tags/list",
        );
        assert!(matches!(cut, Err(StoreError::Transport(_))), "{cut:?}");
        let big = read_page(
            &mut Body(json(&["state-a".repeat(20_000)]), 0, false),
            64 << 10,
            None,
            &mut |t: &str| Some(t.to_string()),
            "GET tags/list",
        );
        match big {
            Err(StoreError::Integrity(m)) => assert!(m.contains("larger than 65536 bytes"), "{m}"),
            other => panic!("{other:?}"),
        }
        for bad in [
            &b"[\"state-a\"]"[..],
            b"{\"tags\":[1]}",
            b"{\"tags\":[\"a\"]} x",
            b"",
        ] {
            match read(bad.to_vec(), None) {
                Err(StoreError::Protocol(message)) => {
                    assert!(message.contains("unreadable tag list"), "{message}")
                }
                other => panic!("{bad:?}: {:?}", other.map(|p| p.count)),
            }
        }
    }
}
