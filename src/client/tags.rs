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
/// A page of at least this many tags is progress: the listing's deadline
/// starts afresh after it, so a listing of millions of tags is never cut
/// by `deadline` while pages come (distribution v3 reads its whole tag
/// directory for each page: 1.4 s a page at 1.6 million tags). The
/// smallest page a registry documents is Quay's 50; a chain of smaller
/// pages stays within one `deadline`.
pub const PROGRESS_PAGE: usize = 20;

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
    /// it returns: the listing's memory is what is kept.
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
            let first = listing.pages == 1;
            let Some(page) = listing.page(&url, after.as_deref(), &mut keep, first)? else {
                return Ok(Vec::new());
            };
            if after.is_some() && !page.lexical {
                // Asked by `last`, answered with tags from before it: the
                // registry ignores `last` (go-containerregistry's answers
                // a `last` past the end with every tag again). What it
                // had is in hand.
                return Ok(kept);
            }
            self.keep_all(&mut kept, page.kept)?;
            match (page.next, page.last) {
                (Some(link), _) => {
                    url = self.resolve(&link)?;
                    after = None;
                }
                (None, Some(last)) if page.count == TAG_PAGE_SIZE => {
                    url = self.url(&format!(
                        "tags/list?n={TAG_PAGE_SIZE}&last={}",
                        encode(&last)
                    ));
                    after = Some(last);
                }
                (None, _) => return Ok(kept),
            }
        }
    }

    /// The tags that begin with `prefix`, through `keep`, asked from just
    /// before the prefix: `last=<prefix without its final character>`
    /// (the distribution spec lists tags "in lexical order" and answers
    /// `last` with the tags after it). `prefix` must end in `-` or `.`,
    /// which no other tag character sorts below, so nothing but the
    /// prefix's own tags can come between that `last` and them.
    ///
    /// The answers are checked as they come: every tag must sort after the
    /// one before it and after `last`. A registry that does not keep that
    /// order (ECR's tags are not lexical and its cursor is opaque; Quay
    /// pages with a token of its own and ignores `last`) fails the check on
    /// its first page: then the whole list is read instead, from that page
    /// when it was the whole list from the start (distribution 2.8 ignores
    /// `n` and `last` and answers every tag at once), or from the first
    /// page. Returns the kept tags and whether the range was enough.
    pub fn scan_prefixed<K>(
        &self,
        prefix: &str,
        mut keep: impl FnMut(&str) -> Option<K>,
    ) -> Result<(Vec<K>, Scanned), StoreError> {
        debug_assert!(prefix.ends_with(['-', '.']));
        let before = &prefix[..prefix.len() - 1];
        let mut keep_prefixed = |tag: &str| {
            if tag.starts_with(prefix) {
                keep(tag)
            } else {
                None
            }
        };
        let mut kept = Vec::new();
        let mut url = self.url(&format!(
            "tags/list?n={TAG_PAGE_SIZE}&last={}",
            encode(before)
        ));
        let mut listing = Listing::new(self);
        let mut after = before.to_string();
        loop {
            listing.visit(&url)?;
            let first = listing.pages == 1;
            let Some(page) = listing.page(&url, Some(&after), &mut keep_prefixed, first)? else {
                return Ok((Vec::new(), Scanned::Range));
            };
            if !page.lexical {
                if first && page.whole_list() {
                    // The registry ignored `last` and answered every tag:
                    // this page is the whole list.
                    return Ok((page.kept, Scanned::WholeList));
                }
                // Pages seen so far began at our `last`, in an order the
                // registry does not keep: nothing of them can be trusted
                // to be all. Start over from the first page.
                drop(page);
                drop(listing);
                return Ok((self.scan_tags(keep_prefixed)?, Scanned::WholeList));
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
                    url = self.url(&format!(
                        "tags/list?n={TAG_PAGE_SIZE}&last={}",
                        encode(&last)
                    ));
                    after = last;
                }
                _ => return Ok((kept, Scanned::Range)),
            }
        }
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

/// One listing's pages: the pages asked for, the tags read, and the
/// deadline they run under.
struct Listing<'c, T: Transport> {
    client: &'c RegistryClient<T>,
    visited: HashSet<String>,
    pages: usize,
    read: usize,
    /// The operation the next page runs in: started afresh after each
    /// page of progress ([`PROGRESS_PAGE`]).
    window: Option<Operation<'c, T>>,
}

impl<'c, T: Transport> Listing<'c, T> {
    fn new(client: &'c RegistryClient<T>) -> Self {
        Listing {
            client,
            visited: HashSet::new(),
            pages: 0,
            read: 0,
            window: Some(client.fresh_operation()),
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

    /// One page. `None`: the repository does not exist yet (404
    /// NAME_UNKNOWN to the first page: nothing was pushed, so no tags).
    fn page<K>(
        &mut self,
        url: &str,
        after: Option<&str>,
        keep: &mut impl FnMut(&str) -> Option<K>,
        first: bool,
    ) -> Result<Option<Page<K>>, StoreError> {
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
            Read::Other(response) if response.status().as_u16() == 404 && first => {
                client.drain(response, what)?;
                return Ok(None);
            }
            Read::Other(response) => return Err(client.fail(response, what)),
        };
        self.read += page.count;
        if self.read > MAX_TAGS_READ {
            page.kept.clear();
            return Err(refused(format!(
                "tag list runs past {MAX_TAGS_READ} tags: more than a store of 500 TiB holds"
            )));
        }
        if page.count >= PROGRESS_PAGE {
            // The old window goes first: each restores the deadline it
            // found when dropped.
            self.window = None;
            self.window = Some(client.fresh_operation());
        }
        Ok(Some(page))
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
