//! `list` asks for one kind's range of tags where the registry keeps them
//! in lexical order, and reads the whole list where it does not (issue
//! 22: a listing of states must not page through every packfile's tag).

use super::tests::{asked, store_with};
use crate::resource::{Mac, Resource};
use crate::error::StoreError;
use crate::scripted::Answer;
use crate::transport::Transport;

fn mac(b: u8) -> Mac {
    Mac([b; 32])
}

fn tag(kind: &str, b: u8, suffix: &str) -> String {
    format!("{kind}-{}{suffix}", mac(b).to_hex())
}

fn page(tags: &[String]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "name": "team/repo", "tags": tags })).unwrap()
}

const LIST: &str = "GET /v2/team/repo/tags/list";

/// Every tag of a small repository, in lexical order.
fn every_tag() -> Vec<String> {
    let mut tags = vec!["config".to_string(), tag("lock", 9, "")];
    tags.extend((10..20).map(|b| tag("packfile", b, "")));
    tags.extend([
        tag("state", 1, ""),
        tag("state", 2, ""),
        tag("state", 2, ".d"),
        tag("state", 3, ""),
    ]);
    tags.sort();
    tags
}

fn states() -> Vec<Mac> {
    vec![mac(1), mac(3)]
}

#[test]
fn a_registry_that_keeps_order_is_asked_for_the_kinds_range_only() {
    let in_range: Vec<String> = every_tag()
        .into_iter()
        .filter(|t| t.starts_with("state-"))
        .collect();
    let s = store_with(
        &[],
        vec![Answer::new(200, &page(&in_range)).to(&format!("{LIST}?n=1000&last=state"))],
    );
    assert_eq!(s.list(Resource::State).unwrap(), states());
    assert_eq!(asked(&s).len(), 1, "{:?}", asked(&s));
}

#[test]
fn the_range_is_followed_across_pages_and_left_at_its_first_tag_beyond() {
    // Pages of 2 (GitLab and Docker Hub cut pages shorter than `n`): the
    // locks, then the first packfile, whose `Link` is not followed.
    let s = store_with(
        &[],
        vec![
            Answer::new(200, &page(&[tag("lock", 1, ""), tag("lock", 2, "")]))
                .to(&format!("{LIST}?n=1000&last=lock"))
                .header(
                    "link",
                    &format!(
                        "</v2/team/repo/tags/list?n=2&last={}>; rel=\"next\"",
                        tag("lock", 2, "")
                    ),
                ),
            Answer::new(200, &page(&[tag("lock", 3, ""), tag("packfile", 1, "")]))
                .to(&format!("{LIST}?n=2&last={}", tag("lock", 2, "")))
                .header(
                    "link",
                    &format!(
                        "</v2/team/repo/tags/list?n=2&last={}>; rel=\"next\"",
                        tag("packfile", 1, "")
                    ),
                ),
        ],
    );
    assert_eq!(
        s.list(Resource::Lock).unwrap(),
        vec![mac(1), mac(2), mac(3)]
    );
    assert_eq!(asked(&s).len(), 2);
}

#[test]
fn a_registry_that_ignores_last_and_answers_every_tag_is_read_once() {
    // distribution 2.8: every tag in one answer, whatever `n` and `last`.
    let s = store_with(
        &[],
        vec![
            Answer::new(200, &page(&every_tag())).to(&format!("{LIST}?n=1000&last=state")),
            // Learnt: the next listing asks for the whole list at once.
            Answer::new(200, &page(&every_tag())).to(&format!("{LIST}?n=1000")),
        ],
    );
    assert_eq!(s.list(Resource::State).unwrap(), states());
    assert_eq!(s.list(Resource::Lock).unwrap(), vec![mac(9)]);
    assert_eq!(asked(&s).len(), 2);
}

#[test]
fn a_registry_whose_tags_are_not_in_lexical_order_is_listed_whole_from_the_start() {
    // ECR: pages in an order of its own, an opaque cursor. The answer to
    // the range was its first page (an unknown `last` is no cursor): not
    // in order, so the listing starts over and reads every page.
    let mut unordered = every_tag();
    unordered.reverse();
    let (first, second) = unordered.split_at(8);
    let next = "</v2/team/repo/tags/list?n=1000&last=b3BhcXVl>; rel=\"next\"";
    let s = store_with(
        &[],
        vec![
            Answer::new(200, &page(first))
                .to(&format!("{LIST}?n=1000&last=state"))
                .header("link", next),
            Answer::new(200, &page(first))
                .to(&format!("{LIST}?n=1000"))
                .header("link", next),
            Answer::new(200, &page(second)).to(&format!("{LIST}?n=1000&last=b3BhcXVl")),
        ],
    );
    let mut listed = s.list(Resource::State).unwrap();
    listed.sort();
    assert_eq!(listed, states());
    assert_eq!(asked(&s).len(), 3);
}

#[test]
fn a_page_out_of_order_after_good_ones_starts_the_listing_over() {
    // Two pages that looked ordered, then one that is not: what the first
    // two held cannot be trusted to be all of the range.
    let next = |last: &str| format!("</v2/team/repo/tags/list?n=1&last={last}>; rel=\"next\"");
    let s = store_with(
        &[],
        vec![
            Answer::new(200, &page(&[tag("state", 3, "")]))
                .to(&format!("{LIST}?n=1000&last=state"))
                .header("link", &next(&tag("state", 3, ""))),
            Answer::new(200, &page(&[tag("state", 1, "")]))
                .to(&format!("{LIST}?n=1&last={}", tag("state", 3, ""))),
            Answer::new(200, &page(&every_tag())).to(&format!("{LIST}?n=1000")),
        ],
    );
    assert_eq!(s.list(Resource::State).unwrap(), states());
}

#[test]
fn a_prefixed_store_asks_for_its_own_range() {
    let s = store_with(
        &[("repository_prefix", "host1")],
        vec![Answer::new(
            200,
            &page(&[
                format!("host1.{}", tag("state", 1, "")),
                "host2.config".into(),
            ]),
        )
        .to(&format!("{LIST}?n=1000&last=host1.state"))],
    );
    assert_eq!(s.list(Resource::State).unwrap(), vec![mac(1)]);
}

#[test]
fn an_empty_or_missing_repository_lists_nothing() {
    let s = store_with(
        &[],
        vec![Answer::new(404, br#"{"errors":[{"code":"NAME_UNKNOWN"}]}"#)
            .to(&format!("{LIST}?n=1000&last=state"))],
    );
    assert!(s.list(Resource::State).unwrap().is_empty());
    let s = store_with(
        &[],
        vec![Answer::new(200, &page(&[])).to(&format!("{LIST}?n=1000&last=packfile"))],
    );
    assert!(s.list(Resource::Packfile).unwrap().is_empty());
}

/// Pages `count` of `size` tags each in the `packfile` range, each taking
/// `delay`, each naming the next.
fn slow_pages(count: usize, size: usize, delay: std::time::Duration) -> Vec<Answer> {
    (0..count)
        .map(|p| {
            let tags: Vec<String> = (0..size)
                .map(|i| tag("packfile", 0, &format!(".x{p:05}{i:05}")))
                .collect();
            let mut answer = Answer::new(200, &page(&tags))
                .to(LIST)
                .spare()
                .after(delay);
            if p + 1 < count {
                answer = answer.header(
                    "link",
                    &format!("</v2/team/repo/tags/list?n=1000&page={}>; rel=\"next\"", p + 1),
                );
            }
            answer
        })
        .collect()
}

#[test]
fn a_listing_making_progress_outlasts_the_deadline_and_a_trickle_of_pages_does_not() {
    let secs = std::time::Duration::from_secs;
    // 30 pages of 20 tags, 10 s each, under a 60 s deadline: every page
    // of progress starts the deadline afresh (a million tags on v3 take
    // far longer than any one operation should).
    let s = store_with(&[("deadline", "60")], slow_pages(30, 20, secs(10)));
    assert!(s.list(Resource::Packfile).unwrap().is_empty());
    assert_eq!(asked(&s).len(), 30);
    // Pages of one tag are no progress: an endless chain of them (a
    // hostile registry) ends by the deadline.
    let s = store_with(&[("deadline", "60")], slow_pages(1000, 1, secs(10)));
    match s.list(Resource::Packfile) {
        Err(StoreError::Transport(m)) => assert!(m.contains("deadline"), "{m}"),
        other => panic!("{other:?}"),
    }
    let took = s.repo.client.transport().now();
    assert!(took <= secs(80), "{took:?}");
}
