//! The `tag_list` target's check (input form: see `checks`).

use super::*;

/// Tag listing through the real client: the tags returned are exactly
/// those of the pages served, each once, no page is asked for twice, and any failure
/// is typed; it ends, whatever the answers.
pub fn tag_list(data: &[u8]) {
    let answers: Vec<Canned> = text(data).split("\n===\n").map(Canned::read).collect();
    let client = offline_client(answers);
    let outcome = client.list_tags();
    let asked = client.transport().asked.borrow();
    let is_token_request = |uri: &str, body: &str| {
        let scope = "scope=repository%3Ateam%2Frepo";
        uri.contains(scope) || body.contains(scope)
    };
    let pages: Vec<&Asked> = asked
        .iter()
        .filter(|a| a.status == Some(200) && !is_token_request(&a.uri, &a.body))
        .collect();
    for (i, page) in pages.iter().enumerate() {
        assert!(
            pages[..i].iter().all(|p| p.uri != page.uri),
            "page {} asked twice",
            page.uri
        );
    }
    match outcome {
        Ok(tags) => {
            // The pages as `Value` reads them (it may refuse text in fields
            // the client skips: then there is nothing to compare).
            let served: Option<Vec<String>> = pages.iter().try_fold(Vec::new(), |mut all, p| {
                let v: serde_json::Value = serde_json::from_slice(&p.answer).ok()?;
                if let serde_json::Value::Array(tags) = &v["tags"] {
                    all.extend(tags.iter().map(|t| t.as_str().unwrap().to_string()));
                }
                Some(all)
            });
            if let Some(served) = served {
                // Each tag once, where it first came.
                let mut seen = std::collections::HashSet::new();
                let served: Vec<String> = served
                    .into_iter()
                    .filter(|t| seen.insert(t.clone()))
                    .collect();
                assert_eq!(tags, served);
            }
        }
        Err(error) => {
            assert_tame(&error);
        }
    }
}
