//! `list` asks for one kind's range of tags where the registry keeps them
//! in lexical order, and reads the whole list where it does not (issue
//! 22: a listing of states must not page through every packfile's tag).

use super::tests::{asked, store_with};
use crate::error::StoreError;
use crate::resource::{Mac, Resource};
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
    // A repository nothing was pushed to: 404 to the range (which might
    // be zot refusing the `last`), then 404 to the whole list.
    let missing = || Answer::new(404, br#"{"errors":[{"code":"NAME_UNKNOWN"}]}"#);
    let s = store_with(
        &[],
        vec![
            missing().to(&format!("{LIST}?n=1000&last=state")),
            missing().to(&format!("{LIST}?n=1000")),
        ],
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
            let mut answer = Answer::new(200, &page(&tags)).to(LIST).spare().after(delay);
            if p + 1 < count {
                answer = answer.header(
                    "link",
                    &format!(
                        "</v2/team/repo/tags/list?n=1000&page={}>; rel=\"next\"",
                        p + 1
                    ),
                );
            }
            answer
        })
        .collect()
}

#[test]
fn a_listing_making_progress_outlasts_the_deadline_and_a_trickle_of_pages_does_not() {
    let secs = std::time::Duration::from_secs;
    // 30 pages of 999 tags, 5 s each, under a 60 s deadline: each 10,000
    // tags read buy one more deadline (a million tags on v3 take far
    // longer than any one operation should).
    let s = store_with(&[("deadline", "60")], slow_pages(30, 999, secs(5)));
    assert!(s.list(Resource::Packfile).unwrap().is_empty());
    assert_eq!(asked(&s).len(), 30);
    // Pages of a few tags buy little: an endless chain of them (a hostile
    // registry) ends within a deadline or two.
    for size in [1, 20] {
        let s = store_with(&[("deadline", "60")], slow_pages(1000, size, secs(10)));
        match s.list(Resource::Packfile) {
            Err(StoreError::Transport(m)) => assert!(m.contains("deadline"), "{m}"),
            other => panic!("{other:?}"),
        }
        let took = s.repo.client.transport().now();
        assert!(took <= secs(80), "pages of {size}: {took:?}");
    }
}

#[test]
fn a_registry_refusing_a_last_that_is_no_tag_is_listed_whole() {
    // zot answers 404 to a `last` that names no tag (REGISTRY-RULES.md);
    // ECR may answer 400 to a cursor it did not make.
    for status in [404, 400] {
        let s = store_with(
            &[],
            vec![
                Answer::new(status, br#"{"errors":[{"code":"NAME_UNKNOWN"}]}"#)
                    .to(&format!("{LIST}?n=1000&last=state")),
                Answer::new(200, &page(&every_tag())).to(&format!("{LIST}?n=1000")),
                Answer::new(200, &page(&every_tag())).to(&format!("{LIST}?n=1000")),
            ],
        );
        assert_eq!(s.list(Resource::State).unwrap(), states(), "{status}");
        // Learnt: the next listing asks for the whole list at once.
        assert_eq!(s.list(Resource::Lock).unwrap(), vec![mac(9)]);
        assert_eq!(asked(&s).len(), 3);
    }
    // Not a refusal of the cursor: a wrong password fails the listing.
    let s = store_with(
        &[],
        vec![Answer::new(401, br#"{"errors":[{"code":"UNAUTHORIZED"}]}"#)
            .to(&format!("{LIST}?n=1000&last=state"))],
    );
    assert!(matches!(
        s.list(Resource::State),
        Err(StoreError::Unauthorized(_))
    ));
}

#[test]
fn a_next_page_named_by_a_cursor_of_the_registrys_own_starts_over() {
    // Quay ignores `last` and names its next page by `next_page`: a first
    // page that happens to be in order (a repository shared by prefixes)
    // proves nothing of the next one, which may hold more of the range.
    let shared = |p: &str, b| format!("{p}.{}", tag("lock", b, ""));
    let s = store_with(
        &[("repository_prefix", "a")],
        vec![
            Answer::new(200, &page(&[shared("a", 5), shared("b", 1)]))
                .to(&format!("{LIST}?n=1000&last=a.lock"))
                .header(
                    "link",
                    "</v2/team/repo/tags/list?n=50&next_page=opaque>; rel=\"next\"",
                ),
            Answer::new(200, &page(&[shared("a", 5), shared("b", 1)]))
                .to(&format!("{LIST}?n=1000"))
                .header(
                    "link",
                    "</v2/team/repo/tags/list?n=50&next_page=opaque>; rel=\"next\"",
                ),
            Answer::new(200, &page(&[shared("a", 2)])).to(&format!("{LIST}?n=50&next_page=opaque")),
        ],
    );
    let mut locks = s.list(Resource::Lock).unwrap();
    locks.sort();
    assert_eq!(locks, sorted(vec![mac(2), mac(5)]));
    // An empty page with a `Link` proves nothing either.
    let s = store_with(
        &[],
        vec![
            Answer::new(200, &page(&[]))
                .to(&format!("{LIST}?n=1000&last=state"))
                .header(
                    "link",
                    "</v2/team/repo/tags/list?n=1000&token=t>; rel=\"next\"",
                ),
            Answer::new(200, &page(&every_tag())).to(&format!("{LIST}?n=1000")),
        ],
    );
    assert_eq!(s.list(Resource::State).unwrap(), states());
}

fn sorted(mut keys: Vec<Mac>) -> Vec<Mac> {
    keys.sort();
    keys
}

#[test]
fn pages_asked_by_last_that_repeat_it_go_on_while_they_bring_tags_after_it() {
    // A registry that pages by `n` without `Link` and takes `last` as
    // inclusive (its first tag repeats the last one asked for): the
    // listing goes on while pages bring tags after `last`.
    let packfiles: Vec<String> = (10..14).map(|b| tag("packfile", b, "")).collect();
    let mut sorted_tags = packfiles.clone();
    sorted_tags.sort();
    let full = |from: usize| -> Vec<String> {
        // A page of TAG_PAGE_SIZE tags: the real ones from `from`, then
        // filler tags sorting after them (of no kind of ours).
        let mut p: Vec<String> = sorted_tags[from..].to_vec();
        p.extend((0..1000 - p.len()).map(|i| format!("zz-{from}-{i:04}")));
        p
    };
    let first = full(0);
    let last_of_first = first.last().unwrap().clone();
    let s = store_with(
        &[],
        vec![
            // The range request: not in order (the filler sorts after the
            // packfiles, then the registry restarts), so: the whole list.
            Answer::new(
                200,
                &page(&[tag("packfile", 11, ""), tag("packfile", 10, "")]),
            )
            .to(&format!("{LIST}?n=1000&last=packfile"))
            .header(
                "link",
                "</v2/team/repo/tags/list?n=1000&last=x>; rel=\"next\"",
            ),
            Answer::new(200, &page(&first)).to(&format!("{LIST}?n=1000")),
            // Inclusive: starts with the tag asked after, then new ones.
            Answer::new(200, &page(&[last_of_first.clone(), "zzz-more".into()]))
                .to(&format!("{LIST}?n=1000&last={last_of_first}")),
        ],
    );
    let mut listed = s.list(Resource::Packfile).unwrap();
    listed.sort();
    assert_eq!(listed, sorted((10..14).map(mac).collect()));
}

#[test]
fn a_page_answered_again_under_new_links_is_refused() {
    let answers = (0..5)
        .map(|n| {
            Answer::new(200, &page(&every_tag()))
                .to(LIST)
                .spare()
                .header(
                    "link",
                    &format!("</v2/team/repo/tags/list?page={n}>; rel=\"next\""),
                )
        })
        .collect();
    let s = store_with(&[], answers);
    s.repo.learn_tags_unordered();
    match s.list(Resource::State) {
        Err(StoreError::Protocol(message)) => {
            assert!(message.contains("same page"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_tag_longer_than_any_tag_is_refused_before_it_is_held() {
    let endless = format!(r#"{{"tags":["state-{}"]}}"#, "a".repeat(200_000));
    let s = store_with(
        &[],
        vec![Answer::new(200, endless.as_bytes()).to(&format!("{LIST}?n=1000&last=state"))],
    );
    match s.list(Resource::State) {
        Err(StoreError::Integrity(m)) => assert!(m.contains("without a quote"), "{m}"),
        other => panic!("{other:?}"),
    }
}
