//! `GET /v2/<name>/tags/list`, page after page (OCI distribution spec v1.1,
//! "Listing tags"; `Link` pagination as RFC 8288 and distribution write it).
//!
//! Pages are parsed as they stream (`tag_page.rs`) and only the tags a
//! caller keeps are held, so a registry answering a million tags in one
//! response (distribution 2.8 ignores `n`) is read in bounded memory.
//! A listing of one resource asks only for that resource's range of
//! tags where the registry keeps lexical order (see `scan_prefixed`).

use super::exchange::{Operation, Read};
use super::tag_page::{read_page, Page};
use super::RegistryClient;
use crate::error::StoreError;
use crate::link::next_link;
use crate::transport::Transport;
use http::Method;
use std::collections::HashSet;
use std::time::Duration;

/// Tags asked for per page: ECR refuses n > 1000.
pub const TAG_PAGE_SIZE: usize = 1000;
/// Bounds on one listing. A repository of 100 TiB holds 1.6 million
/// 64 MiB packfiles, so a kind's listing keeps up to a few million tags;
/// an endless chain of pages, or one endless page, is a broken or hostile
/// registry, refused with an error rather than followed until memory or
/// patience runs out. Quay pages by 50: 100 TiB is 33,000 pages.
pub const MAX_TAG_PAGES: usize = 200_000;
pub const MAX_TAGS: usize = 8_000_000;
/// The bytes of one page: 8 million tags of about 80 bytes of JSON.
pub const MAX_TAG_PAGE_BYTES: u64 = 1 << 30;
/// Tags read in one listing, kept or not: a registry paging through
/// endless tags of no use is stopped here.
pub const MAX_TAGS_READ: usize = 20_000_000;
/// A listing may take one `deadline`, and one more for every this many
/// tags read: a listing of millions of tags is not cut by `deadline` while
/// pages come at any plausible pace (distribution v3 reads its whole tag
/// directory for each page: 1.4 s a page of 1000 at 1.6 million tags,
/// where this allows 60 s at the default deadline), while a registry
/// that drips a few tags a page ends within a few deadlines.
pub const TAGS_PER_DEADLINE: usize = 10_000;

/// A tag list that makes no sense (unreadable, out of bounds, looping).
pub(super) fn refused(message: String) -> StoreError {
    StoreError::Protocol(message)
}

impl<T: Transport> RegistryClient<T> {
    /// Every tag of the repository, following `Link` pagination. A missing
    /// repository has no tags.
    pub fn list_tags(&self) -> Result<Vec<String>, StoreError> {
        self.scan_tags(|tag| Some(tag.to_string()))
    }

    /// Every tag of the repository through `keep`, which holds on to what
    /// it returns: the listing's memory is what is kept. Keys kept twice
    /// (pages that overlap) are the caller's to settle.
    pub fn scan_tags<K>(
        &self,
        mut keep: impl FnMut(&str) -> Option<K>,
    ) -> Result<Vec<K>, StoreError> {
        let mut kept = Vec::new();
        let mut url = self.url(&format!("tags/list?n={TAG_PAGE_SIZE}"));
        let mut listing = Listing::new(self);
        // The tag a page was asked to follow, when we asked by `last`.
        let mut after: Option<String> = None;
        loop {
            listing.visit(&url)?;
            let page = match listing.page(&url, after.as_deref(), &mut keep)? {
                Answered::Page(page) => page,
                // A repository nothing was pushed to yet is unknown to the
                // registry (404 NAME_UNKNOWN): it holds no tags.
                Answered::Refused(response)
                    if listing.pages == 1 && response.status().as_u16() == 404 =>
                {
                    self.drain(response, "GET tags/list")?;
                    return Ok(Vec::new());
                }
                Answered::Refused(response) => return Err(self.fail(response, "GET tags/list")),
            };
            if after.is_some() && !page.advanced {
                // Asked by `last`, answered with nothing after it: the end
                // (go-containerregistry's registry answers a `last` past
                // the end with every tag again).
                return Ok(kept);
            }
            listing.same_page_again(&page)?;
            self.keep_all(&mut kept, page.kept)?;
            match (page.next, page.last) {
                (Some(link), _) => {
                    url = self.resolve(&link)?;
                    after = None;
                }
                // A full page without `Link`: go-containerregistry's
                // registry stops at `n` and names no next page; the next
                // is asked by `last` (distribution spec).
                (None, Some(last)) if page.count == TAG_PAGE_SIZE => {
                    url = self.tags_after(&last);
                    after = Some(last);
                }
                (None, _) => return Ok(kept),
            }
        }
    }

    /// The tags that begin with `prefix`, through `keep`, asked from just
    /// before the prefix: `last=<prefix without its final '-'>` (the
    /// distribution spec lists tags "in lexical order" and answers `last`
    /// with the tags after it). No tag character sorts below `-`, so
    /// nothing but the prefix's own tags can come between that `last` and
    /// them.
    ///
    /// The range is trusted only as far as the answers prove the order:
    /// every tag must sort after the one before it and after `last`, byte
    /// by byte, and a next page must be named by `last=<the page's last
    /// tag>` (or asked so by us after a full page). Otherwise the whole
    /// list is read, and `Scanned::WholeList` tells the caller:
    /// - the first answer refuses our `last` (zot answers 404 to a `last`
    ///   that is no tag; ECR's cursor is opaque);
    /// - the first answer is the whole list (distribution 2.8 ignores `n`
    ///   and `last`): it is used as it is;
    /// - any page out of order, or naming its next page by a cursor of
    ///   its own (Quay's `next_page`): the listing starts over from the
    ///   first page.
    pub fn scan_prefixed<K>(
        &self,
        prefix: &str,
        mut keep: impl FnMut(&str) -> Option<K>,
    ) -> Result<(Vec<K>, Scanned), StoreError> {
        let before = prefix
            .strip_suffix('-')
            .expect("a kind's tags start with a prefix ending in '-'");
        let mut keep_prefixed = |tag: &str| {
            if tag.starts_with(prefix) {
                keep(tag)
            } else {
                None
            }
        };
        let mut kept = Vec::new();
        let mut url = self.tags_after(before);
        let mut listing = Listing::new(self);
        let mut after = before.to_string();
        loop {
            listing.visit(&url)?;
            let first = listing.pages == 1;
            let page = match listing.page(&url, Some(&after), &mut keep_prefixed)? {
                Answered::Page(page) => page,
                // Our `last` refused (or the repository missing): the
                // whole list says which.
                Answered::Refused(response) if first && refuses_cursor(response.status()) => {
                    self.drain(response, "GET tags/list")?;
                    drop(listing);
                    return Ok((self.scan_tags(keep_prefixed)?, Scanned::WholeList));
                }
                Answered::Refused(response) => return Err(self.fail(response, "GET tags/list")),
            };
            if !page.lexical {
                if first && page.whole_list() {
                    // The registry ignored `last` and answered every tag:
                    // this page is the whole list.
                    return Ok((page.kept, Scanned::WholeList));
                }
                return self.start_over(listing, keep_prefixed);
            }
            // A next page named by a cursor of the registry's own (or
            // after an empty page): the order is not provably ours, even
            // when this page looks sorted.
            let own_cursor = page.next.as_deref().is_some_and(|link| {
                !page
                    .last
                    .as_deref()
                    .is_some_and(|last| names_last(link, last))
            });
            if own_cursor {
                return self.start_over(listing, keep_prefixed);
            }
            let beyond = page
                .last
                .as_deref()
                .is_some_and(|last| !last.starts_with(prefix));
            self.keep_all(&mut kept, page.kept)?;
            if beyond {
                return Ok((kept, Scanned::Range));
            }
            match (page.next, page.last) {
                (Some(link), Some(last)) => {
                    url = self.resolve(&link)?;
                    after = last;
                }
                (None, Some(last)) if page.count == TAG_PAGE_SIZE => {
                    url = self.tags_after(&last);
                    after = last;
                }
                // (`own_cursor` took a `Link` after an empty page.)
                (_, _) => return Ok((kept, Scanned::Range)),
            }
        }
    }

    /// Abandons a range listing for the whole list, from its first page:
    /// pages read so far began at our `last`, in an order the registry
    /// does not keep, so nothing of them can be trusted to be all.
    fn start_over<K>(
        &self,
        listing: Listing<'_, T>,
        keep: impl FnMut(&str) -> Option<K>,
    ) -> Result<(Vec<K>, Scanned), StoreError> {
        drop(listing);
        Ok((self.scan_tags(keep)?, Scanned::WholeList))
    }

    /// The page of tags after `last`, asked by name (distribution spec).
    fn tags_after(&self, last: &str) -> String {
        self.url(&format!(
            "tags/list?n={TAG_PAGE_SIZE}&last={}",
            encode(last)
        ))
    }

    fn keep_all<K>(&self, kept: &mut Vec<K>, page: Vec<K>) -> Result<(), StoreError> {
        if kept.len() + page.len() > MAX_TAGS {
            return Err(refused(format!(
                "tag list holds more than {MAX_TAGS} tags, more than a store of 500 TiB writes"
            )));
        }
        kept.extend(page);
        Ok(())
    }
}

/// Whether a first answer to a range request says the registry will not
/// take our `last` (400, 404: zot's answer to a `last` that is no tag),
/// rather than that we may not list (401, 403) or should wait (429).
fn refuses_cursor(status: http::StatusCode) -> bool {
    status.is_client_error() && !matches!(status.as_u16(), 401 | 403 | 407 | 429)
}

/// Whether `link` asks for the tags after `last` by name, as distribution
/// writes its `Link`s (`?n=..&last=<tag>`), and not by a cursor of the
/// registry's own.
fn names_last(link: &str, last: &str) -> bool {
    let query = link.split_once('?').map_or("", |(_, q)| q);
    form_urlencoded::parse(query.as_bytes()).any(|(k, v)| k == "last" && v == last)
}

/// A page's answer.
enum Answered<K, B> {
    Page(Page<K>),
    /// Any other answer, unread, for the caller to judge: a 404 to the
    /// first request is a repository nothing was pushed to yet (no tags),
    /// or, to a range request, zot refusing a `last` that is no tag.
    Refused(http::Response<B>),
}

/// One listing's pages: the pages asked for, the tags read, and the
/// deadline they run under.
struct Listing<'c, T: Transport> {
    client: &'c RegistryClient<T>,
    visited: HashSet<String>,
    pages: usize,
    read: usize,
    started: Duration,
    /// The first and last tag and the size of the last page, to tell a
    /// registry that answers the same page again under new `Link`s.
    previous: Option<(Option<String>, Option<String>, usize)>,
    /// The deadline pages run under: one `deadline` from the start, and
    /// one more for every [`TAGS_PER_DEADLINE`] tags read.
    window: Option<Operation<'c, T>>,
}

impl<'c, T: Transport> Listing<'c, T> {
    fn new(client: &'c RegistryClient<T>) -> Self {
        let started = client.transport().now();
        Listing {
            client,
            visited: HashSet::new(),
            pages: 0,
            read: 0,
            started,
            previous: None,
            window: Some(client.operation_until(started.saturating_add(client.limit()))),
        }
    }

    fn visit(&mut self, url: &str) -> Result<(), StoreError> {
        if self.pages >= MAX_TAG_PAGES {
            return Err(refused(format!(
                "tag list runs past {MAX_TAG_PAGES} pages: the registry's paging is broken"
            )));
        }
        if !self.visited.insert(url.to_string()) {
            return Err(refused("tag list pagination loops back on itself".into()));
        }
        self.pages += 1;
        Ok(())
    }

    /// A page named by a new `Link` that holds what the one before held:
    /// a registry ignoring its own cursor would be followed for ever.
    fn same_page_again<K>(&mut self, page: &Page<K>) -> Result<(), StoreError> {
        let this = (page.first.clone(), page.last.clone(), page.count);
        if page.count > 0 && self.previous.as_ref() == Some(&this) {
            return Err(refused(
                "tag list pagination answers the same page again under a new link".into(),
            ));
        }
        self.previous = Some(this);
        Ok(())
    }

    fn page<K>(
        &mut self,
        url: &str,
        after: Option<&str>,
        keep: &mut impl FnMut(&str) -> Option<K>,
    ) -> Result<Answered<K, T::Body>, StoreError> {
        let client = self.client;
        let what = "GET tags/list";
        let request = client.request(Method::GET, url).body(Vec::new());
        let answer = client.fetch_with(request, |body| {
            read_page(body, MAX_TAG_PAGE_BYTES, after, &mut *keep, what)
        })?;
        let mut page = match answer {
            Read::Success(parts, mut page) => {
                if parts.status.as_u16() != 200 {
                    return Err(refused(format!(
                        "{what}: status {} to a tag list",
                        parts.status.as_u16()
                    )));
                }
                page.next = next_link(
                    parts
                        .headers
                        .get_all("link")
                        .iter()
                        .filter_map(|v| v.to_str().ok()),
                );
                page
            }
            Read::Other(response) => return Ok(Answered::Refused(response)),
        };
        self.read += page.count;
        if self.read > MAX_TAGS_READ {
            page.kept.clear();
            return Err(refused(format!(
                "tag list runs past {MAX_TAGS_READ} tags: more than a store of 500 TiB holds"
            )));
        }
        // More tags, more time: the old window goes first, since each
        // restores the deadline it found when dropped.
        let deadlines = 1 + (self.read / TAGS_PER_DEADLINE) as u32;
        let until = self
            .started
            .saturating_add(client.limit().saturating_mul(deadlines));
        self.window = None;
        self.window = Some(client.operation_until(until));
        Ok(Answered::Page(page))
    }
}

/// How a prefixed listing went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scanned {
    /// Only the prefix's range was asked for (the registry keeps order).
    Range,
    /// The whole list was read (it does not, or ignores `last`).
    WholeList,
}

fn encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}
