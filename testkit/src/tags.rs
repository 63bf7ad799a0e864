//! A repository's tags read straight from a registry (`GET
//! /v2/<repo>/tags/list`, following `Link`): the independent view the tests
//! compare the store's listing, and every copy, against.

use crate::registry::{Implementation, Registry, RegistryOptions};

impl Registry {
    /// CNCF distribution v3 with `tags.maxtags` `max_tags`: a tag list asked
    /// for more than that pages through `Link`; with or without DELETE.
    pub fn v3(max_tags: u32, deletes: bool) -> Registry {
        Registry::start(RegistryOptions {
            implementation: Implementation::Distribution3,
            max_tags: Some(max_tags),
            delete_enabled: deletes,
            ..Default::default()
        })
    }

    /// Every tag of `repo`, asked for in pages of 1000 (`n`) and following
    /// `Link`, with `headers` on each request (an `authorization`, say);
    /// and how many requests that took.
    /// A full page without `Link` is followed by one asked with `last`
    /// (crane's registry stops at `n` and names no next page), until a page
    /// brings nothing new.
    pub fn tags(&self, repo: &str, headers: &[(&str, &str)]) -> (Vec<String>, usize) {
        let mut next = Some(format!("/v2/{repo}/tags/list?n=1000"));
        let mut tags: Vec<String> = Vec::new();
        let mut requests = 0;
        while let Some(path) = next.take() {
            let response = self.send("GET", &path, headers, &[]);
            requests += 1;
            assert_eq!(response.status, 200, "GET {path}");
            let page = tags_of_page(&response.body);
            let full = page.len() == 1000;
            let last = page.last().cloned();
            let before = tags.len();
            for tag in page {
                if !tags.contains(&tag) {
                    tags.push(tag);
                }
            }
            next = match (response.header("link").map(link_target), last) {
                (Some(link), _) => Some(link),
                (None, Some(last)) if full && tags.len() > before => {
                    Some(format!("/v2/{repo}/tags/list?n=1000&last={last}"))
                }
                _ => None,
            };
        }
        (tags, requests)
    }
}

/// The tags of one `tags/list` page (`"tags": null` on an empty last page
/// reads as none).
pub fn tags_of_page(body: &[u8]) -> Vec<String> {
    let value: serde_json::Value = serde_json::from_slice(body).expect("tag list JSON");
    value["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| t.as_str().expect("a tag is a string").to_string())
        .collect()
}

/// The target of a `Link: <PATH>; rel="next"` header (distribution sends a
/// path, possibly absolute: keep the path and query).
pub fn link_target(link: &str) -> String {
    let start = link.find('<').expect("Link has <") + 1;
    let end = link[start..].find('>').expect("Link has >") + start;
    let target = &link[start..end];
    match target.find("/v2/") {
        Some(at) => target[at..].to_string(),
        None => panic!("Link target {target:?} has no /v2/ path"),
    }
}
