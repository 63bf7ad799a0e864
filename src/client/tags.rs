//! `GET /v2/<name>/tags/list`, page after page (OCI distribution spec v1.1,
//! "Listing tags"; `Link` pagination as RFC 8288 and distribution write it).

use super::exchange::Fetched;
use super::RegistryClient;
use crate::error::StoreError;
use crate::link::next_link;
use crate::transport::Transport;
use http::Method;
use serde::Deserialize;

const MAX_TAG_PAGE: usize = 16 << 20;
/// Tags asked for per page: ECR refuses n > 1000.
pub const TAG_PAGE_SIZE: usize = 1000;
/// A listing follows at most this many `Link` pages and keeps at most this
/// many tags: a store of ten thousand objects has some tens of thousands
/// of tags, in tens of pages; an endless chain of pages is a broken or
/// hostile registry, refused with an error rather than followed until
/// memory or patience runs out.
pub const MAX_TAG_PAGES: usize = 5_000;
pub const MAX_TAGS: usize = 500_000;

#[derive(Deserialize)]
struct TagPage {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

fn refused(message: String) -> StoreError {
    StoreError::Registry {
        status: 200,
        code: String::new(),
        message,
    }
}

impl<T: Transport> RegistryClient<T> {
    /// Every tag of the repository, following `Link` pagination. A missing
    /// repository has no tags.
    pub fn list_tags(&self) -> Result<Vec<String>, StoreError> {
        let mut tags = Vec::new();
        let mut url = self.url(&format!("tags/list?n={TAG_PAGE_SIZE}"));
        let mut visited = std::collections::HashSet::new();
        let mut seen = std::collections::HashSet::new();
        loop {
            if visited.len() >= MAX_TAG_PAGES {
                return Err(refused(format!(
                    "tag list runs past {MAX_TAG_PAGES} pages: the registry's paging is broken"
                )));
            }
            if !visited.insert(url.clone()) {
                return Err(refused("tag list pagination loops back on itself".into()));
            }
            let what = "GET tags/list";
            let fetched = self.fetch(
                self.request(Method::GET, &url).body(Vec::new()),
                MAX_TAG_PAGE,
                what,
            )?;
            let (parts, body) = match fetched {
                Fetched::Whole(parts, body) if parts.status.as_u16() == 200 => (parts, body),
                Fetched::Whole(parts, _) => {
                    return Err(refused(format!(
                        "{what}: status {} to a tag list",
                        parts.status.as_u16()
                    )))
                }
                // A repository nothing was pushed to yet is unknown to the
                // registry (404 NAME_UNKNOWN): it holds no tags.
                Fetched::Other(response)
                    if response.status().as_u16() == 404 && tags.is_empty() =>
                {
                    self.drain(response, what)?;
                    return Ok(Vec::new());
                }
                Fetched::Other(response) => return Err(self.fail(response, what)),
            };
            let next = next_link(
                parts
                    .headers
                    .get_all("link")
                    .iter()
                    .filter_map(|v| v.to_str().ok()),
            );
            let page: TagPage = crate::json::from_object(&body).map_err(|e| {
                refused(format!(
                    "unreadable tag list: {}",
                    crate::registry_error::excerpt(&e.to_string(), 200)
                ))
            })?;
            let page = page.tags.unwrap_or_default();
            let full = page.len() == TAG_PAGE_SIZE;
            let last = page.last().cloned();
            let before = tags.len();
            tags.extend(page.into_iter().filter(|t| seen.insert(t.clone())));
            let moved = tags.len() > before;
            if tags.len() > MAX_TAGS {
                return Err(refused(format!(
                    "tag list holds more than {MAX_TAGS} tags, more than a store writes"
                )));
            }
            match (next, last) {
                (Some(link), _) => url = self.resolve(&link)?,
                // A full page and no `Link`: go-containerregistry's registry
                // stops at `n` and names no next page, so the next one is
                // asked with `last` (distribution spec, "Listing tags"). A
                // page that brings nothing new ends the listing: that
                // registry answers a `last` past the end with every tag
                // again, and one ignoring `last` would too.
                (None, Some(last)) if full && moved => {
                    let last: String = form_urlencoded::byte_serialize(last.as_bytes()).collect();
                    url = self.url(&format!("tags/list?n={TAG_PAGE_SIZE}&last={last}"));
                }
                (None, _) => return Ok(tags),
            }
        }
    }
}
