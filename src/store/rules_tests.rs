//! The store's rules over a scripted registry: what `create`, `mode` and
//! `delete` ask, in which order, and what they make of the answers.

use super::tests::{asked, store_with};
use super::*;
use crate::config::DEFAULT_MEDIA_TYPE;
use crate::digest::sha256_digest;
use crate::layout::TagRole;
use crate::manifest::{
    config_manifest, marker_manifest, object_manifest, parse_config, BlobRef, EMPTY_CONTENT,
};
use crate::manifest::{Media, Profile};
use crate::scripted::{Answer, Scripted};
use std::rc::Rc;

const M: &str = DEFAULT_MEDIA_TYPE;
const KEY: Mac = Mac([0xab; 32]);
const UNSUPPORTED: &[u8] =
    br#"{"errors":[{"code":"UNSUPPORTED","message":"The operation is unsupported."}]}"#;

fn blob_of(bytes: &[u8]) -> BlobRef {
    BlobRef {
        digest: sha256_digest(bytes),
        size: bytes.len() as u64,
    }
}

fn ok(status: u16) -> Answer {
    Answer::new(status, b"")
}

/// The configuration `create` writes for `config` with the scripted
/// transport (whose random numbers are all 0).
fn written_config(config: &[u8]) -> Vec<u8> {
    let creator = "0".repeat(32);
    config_manifest(
        &Media::artifact(M),
        None,
        &blob_of(config),
        Deletion::Registry,
        Some(&creator),
    )
}

/// The answers to `create` up to its read-back, on a registry with DELETE.
fn create_answers() -> Vec<Answer> {
    vec![
        ok(404).to("HEAD /v2/team/repo/manifests/config"), // HEAD config: no repository yet
        ok(201).to("POST /v2/team/repo/blobs/uploads/"),   // POST mount of the empty blob: there
        Answer::new(202, b"")
            .to("POST /v2/team/repo/blobs/uploads/")
            .header("location", "/v2/team/repo/blobs/uploads/s"),
        ok(201).to("PUT /v2/team/repo/blobs/uploads/s"), // PUT of the configuration blob
        ok(201).to("PUT /v2/team/repo/manifests/config.probe"), // PUT config.probe
        ok(202).to("DELETE /v2/team/repo/manifests/sha256:*"), // DELETE of the probe: the registry honours DELETE
        ok(404).to("HEAD /v2/team/repo/manifests/config.probe"), // and the probe's tag is really gone
        ok(404).to("HEAD /v2/team/repo/manifests/config"), // HEAD config, right before writing
        ok(201).to("PUT /v2/team/repo/manifests/config"),  // PUT config
    ]
}

#[test]
fn create_writes_the_configuration_then_reads_it_back_after_settling() {
    let mut answers = create_answers();
    answers
        .push(Answer::new(200, &written_config(b"cfg")).to("GET /v2/team/repo/manifests/config"));
    let s = store_with(&[], answers);
    s.create(b"cfg").unwrap();
    let probe = sha256_digest(&probe_manifest(&Media::artifact(M), None));
    let empty = sha256_digest(EMPTY_CONTENT);
    let cfg = sha256_digest(b"cfg");
    assert_eq!(
        asked(&s),
        [
            "HEAD manifests/config".to_string(),
            format!("POST blobs/uploads/?mount={empty}&from=team/repo"),
            format!("POST blobs/uploads/?mount={cfg}&from=team/repo"),
            format!("PUT blobs/uploads/s?digest={cfg}"),
            "PUT manifests/config.probe".into(),
            format!("DELETE manifests/{probe}"),
            "HEAD manifests/config.probe".into(),
            "HEAD manifests/config".into(),
            "PUT manifests/config".into(),
            "GET manifests/config".into(),
        ]
    );
    let transport = s.repo.client.transport();
    assert_eq!(*transport.slept.borrow(), [CREATE_SETTLE]);
    let written = &transport.asked.borrow()[8].body;
    assert_eq!(
        parse_config(written, "config").unwrap().deletion,
        Deletion::Registry
    );
}

#[test]
fn a_create_whose_configuration_was_overwritten_fails() {
    // Another create wrote its own configuration after ours: the last
    // writer wins, and only it.
    let mut answers = create_answers();
    let theirs = config_manifest(
        &Media::artifact(M),
        None,
        &blob_of(b"theirs"),
        Deletion::Registry,
        Some("1234"),
    );
    answers.push(Answer::new(200, &theirs).to("GET /v2/team/repo/manifests/config"));
    let s = store_with(&[], answers);
    assert!(matches!(
        s.create(b"cfg"),
        Err(StoreError::AlreadyExists(_))
    ));
    // The one-request window: a configuration appearing between the first
    // look and the write is found by the second look, and nothing is written.
    let mut answers = create_answers();
    answers[7] = Answer::new(200, b"")
        .to("HEAD /v2/team/repo/manifests/config")
        .header("docker-content-digest", &sha256_digest(b"x"));
    answers.truncate(8);
    let s = store_with(&[], answers);
    assert!(matches!(
        s.create(b"cfg"),
        Err(StoreError::AlreadyExists(_))
    ));
    assert!(!asked(&s).contains(&"PUT manifests/config".to_string()));
}

/// `create` against `answers`, its config manifest read back as written
/// with `deletion` and `profile`: what the store learnt.
fn create_learning(
    mut answers: Vec<Answer>,
    deletion: Deletion,
    profile: Profile,
) -> Rc<OciStore<Scripted>> {
    let creator = "0".repeat(32);
    let media = Media { family: M, profile };
    let written = config_manifest(&media, None, &blob_of(b"c"), deletion, Some(&creator));
    answers.push(Answer::new(200, &written).to("GET /v2/team/repo/manifests/config"));
    let s = store_with(&[], answers);
    s.create(b"c").unwrap();
    assert_eq!(s.repo.known_deletion(), Some(deletion));
    assert_eq!(s.repo.media().unwrap().profile, profile);
    s
}

#[test]
fn a_delete_answered_but_not_done_gets_a_tombstone_store() {
    // go-containerregistry's registry answers 202 and keeps the tag.
    let mut answers = create_answers();
    let still = || {
        Answer::new(200, b"")
            .to("HEAD /v2/team/repo/manifests/config.probe")
            .header("docker-content-digest", &sha256_digest(b"probe"))
    };
    // Looked at again after a pause (a registry whose reads lag behind).
    answers.splice(6..7, [still(), still()]);
    let s = create_learning(answers, Deletion::Tombstone, Profile::Artifact);
    assert_eq!(
        *s.repo.client.transport().slept.borrow(),
        [CREATE_SETTLE, CREATE_SETTLE]
    );
    // A registry whose reads only lagged: gone the second time.
    let mut answers = create_answers();
    answers.splice(
        6..7,
        [
            still(),
            ok(404).to("HEAD /v2/team/repo/manifests/config.probe"),
        ],
    );
    create_learning(answers, Deletion::Registry, Profile::Artifact);
}

#[test]
fn a_manifest_still_tagged_is_untagged_then_deleted() {
    // Artifact Registry refuses a DELETE by digest while a tag references
    // the manifest (GOOGLE_MANIFEST_DANGLING_TAG): the tag goes first.
    let dangling = br#"{"errors":[{"code":"GOOGLE_MANIFEST_DANGLING_TAG","message":"Manifest is still referenced by tag: config.probe"}]}"#;
    let mut answers = create_answers();
    answers.splice(
        5..6,
        [
            Answer::new(400, dangling).to("DELETE /v2/team/repo/manifests/sha256:*"),
            ok(202).to("DELETE /v2/team/repo/manifests/config.probe"),
            ok(202).to("DELETE /v2/team/repo/manifests/sha256:*"),
        ],
    );
    let s = create_learning(answers, Deletion::UntagFirst, Profile::Artifact);
    // A delete on an instance that does not know it yet untags first
    // anyway (as it does wherever tags can be deleted): the refusal never
    // comes.
    let manifest = object_manifest(
        &Media::artifact(M),
        Resource::Lock,
        &KEY,
        None,
        &blob_of(b"lock"),
    );
    let s2 = store_with(
        &[],
        vec![
            Answer::new(200, &manifest).to("GET /v2/team/repo/manifests/lock-*"),
            ok(202).to("DELETE /v2/team/repo/manifests/lock-*"),
            ok(202).to("DELETE /v2/team/repo/manifests/sha256:*"),
        ],
    );
    s2.delete(Resource::Lock, &KEY).unwrap();
    // One whose tag deletes were refused meets the dangling tag, and from
    // then on untags first again (Artifact Registry refusing DELETE by tag
    // for a while: a registry's answers may change).
    let s3 = store_with(
        &[],
        vec![
            Answer::new(200, &manifest).to("GET /v2/team/repo/manifests/lock-*"),
            Answer::new(400, dangling).to("DELETE /v2/team/repo/manifests/sha256:*"),
            ok(202).to("DELETE /v2/team/repo/manifests/lock-*"),
            ok(202).to("DELETE /v2/team/repo/manifests/sha256:*"),
        ],
    );
    s3.repo.learn_tag_deletes_refused();
    s3.delete(Resource::Lock, &KEY).unwrap();
    assert_eq!(s3.repo.known_deletion(), Some(Deletion::UntagFirst));
    let s2 = {
        let again = store_with(
            &[],
            vec![
                Answer::new(200, &manifest).to("GET /v2/team/repo/manifests/lock-*"),
                ok(202).to("DELETE /v2/team/repo/manifests/lock-*"),
                ok(202).to("DELETE /v2/team/repo/manifests/sha256:*"),
            ],
        );
        again.repo.learn_deletion(Deletion::UntagFirst);
        again
    };
    s2.delete(Resource::Lock, &KEY).unwrap();
    assert_eq!(asked(&s2).len(), 3, "no refused request once known");
    drop(s);
    // A registry that refuses the untagging too deletes nothing the store
    // can use: deletions become tombstones, as when DELETE is refused.
    let creator = "0".repeat(32);
    let config = config_manifest(
        &Media::artifact(M),
        None,
        &blob_of(b"c"),
        Deletion::Registry,
        Some(&creator),
    );
    let s3 = store_with(
        &[],
        vec![
            Answer::new(200, &manifest).to("GET /v2/team/repo/manifests/lock-*"),
            Answer::new(405, UNSUPPORTED).to("DELETE /v2/team/repo/manifests/lock-*"),
            Answer::new(400, dangling).to("DELETE /v2/team/repo/manifests/sha256:*"),
            Answer::new(405, UNSUPPORTED).to("DELETE /v2/team/repo/manifests/lock-*"),
            Answer::new(200, &config).to("GET /v2/team/repo/manifests/config"),
            ok(201).to("PUT /v2/team/repo/manifests/config"),
            ok(201).to("PUT /v2/team/repo/manifests/lock-*"),
            ok(201).to("PUT /v2/team/repo/manifests/lock-*"),
        ],
    );
    s3.delete(Resource::Lock, &KEY).unwrap();
    assert_eq!(s3.repo.known_deletion(), Some(Deletion::Tombstone));
}

#[test]
fn a_registry_allow_listing_media_types_gets_an_image_store() {
    // GitLab: "400 Bad Request ... unknown media type" for our artifact
    // type; the image profile's types are on every allow-list.
    let gitlab = br#"{"errors":[{"code":"MANIFEST_INVALID","message":"manifest invalid","detail":"unknown media type: application/vnd.plakar.kloset.v1.probe (artifactType)"}]}"#;
    let mut answers = create_answers();
    answers.splice(
        4..5,
        [
            Answer::new(400, gitlab).to("PUT /v2/team/repo/manifests/config.probe"),
            ok(201).to("POST /v2/team/repo/blobs/uploads/"), // the image config: there
            ok(201).to("PUT /v2/team/repo/manifests/config.probe"),
        ],
    );
    let s = create_learning(answers, Deletion::Registry, Profile::Image);
    let asked = s.repo.client.transport().asked.borrow();
    let image_config = sha256_digest(crate::manifest::IMAGE_CONFIG_CONTENT);
    assert!(asked[5].uri.contains(&format!("mount={image_config}")));
    let probe: serde_json::Value = serde_json::from_slice(&asked[6].body).unwrap();
    assert!(probe.get("artifactType").is_none(), "{probe}");
    assert_eq!(
        probe["config"]["mediaType"],
        crate::manifest::IMAGE_CONFIG_MEDIA_TYPE
    );
    assert_eq!(
        probe["layers"][0]["mediaType"],
        crate::manifest::IMAGE_LAYER_MEDIA_TYPE
    );
    let config: serde_json::Value = serde_json::from_slice(&asked[10].body).unwrap();
    assert_eq!(config["annotations"]["io.plakar.kloset.media"], "image");
    assert_eq!(config["config"]["digest"], image_config);
}

#[test]
fn a_registry_refusing_both_profiles_says_both_refusals() {
    let refused =
        br#"{"errors":[{"code":"MANIFEST_INVALID","message":"manifest invalid","detail":"unknown media type: x"}]}"#;
    let mut answers = create_answers();
    answers.truncate(4);
    answers.extend([
        Answer::new(400, refused).to("PUT /v2/team/repo/manifests/config.probe"),
        ok(201).to("POST /v2/team/repo/blobs/uploads/"),
        Answer::new(400, refused).to("PUT /v2/team/repo/manifests/config.probe"),
    ]);
    let s = store_with(&[], answers);
    let shown = s.create(b"c").unwrap_err().to_string();
    assert!(
        shown.contains("as an OCI image") && shown.contains("as an OCI 1.1 artifact"),
        "{shown}"
    );
}

#[test]
fn a_repository_to_make_first_is_named_with_how() {
    // ECR: the repository must exist before any push (regclient#869).
    let ecr = br#"{"errors":[{"code":"NAME_UNKNOWN","message":"The repository with name 'team/repo' does not exist in the registry with id '123456789012'"}]}"#;
    let s = store_with(
        &[],
        vec![
            ok(404).to("HEAD /v2/team/repo/manifests/config"),
            Answer::new(404, ecr).to("POST /v2/team/repo/blobs/uploads/"),
        ],
    );
    let shown = s.create(b"c").unwrap_err().to_string();
    assert!(shown.starts_with("not found: "), "{shown}");
    assert!(
        shown.contains("aws ecr create-repository --repository-name team/repo"),
        "{shown}"
    );
    // Harbor: the first request, a HEAD, gets a bare 401; asked again by
    // GET, the registry says the project is missing.
    let harbor = br#"{"errors":[{"code":"UNAUTHORIZED","message":"project team not found"}]}"#;
    let s = store_with(
        &[],
        vec![
            ok(401).to("HEAD /v2/team/repo/manifests/config"),
            Answer::new(401, harbor).to("GET /v2/team/repo/manifests/config"),
        ],
    );
    let shown = s.create(b"c").unwrap_err().to_string();
    assert!(shown.contains("project team not found"), "{shown}");
    assert!(
        shown.contains("create the project team in Harbor first"),
        "{shown}"
    );
}

#[test]
fn a_registry_refusing_the_probes_delete_gets_a_tombstone_store() {
    let mut answers = create_answers();
    answers[5] = Answer::new(405, UNSUPPORTED).to("DELETE /v2/team/repo/manifests/sha256:*");
    answers.remove(6); // a refused DELETE needs no look at the tag
    let creator = "0".repeat(32);
    let tomb = config_manifest(
        &Media::artifact(M),
        None,
        &blob_of(b"c"),
        Deletion::Tombstone,
        Some(&creator),
    );
    answers.push(Answer::new(200, &tomb).to("GET /v2/team/repo/manifests/config"));
    let s = store_with(&[], answers);
    s.create(b"c").unwrap();
    assert_eq!(s.repo.known_deletion(), Some(Deletion::Tombstone));
}

#[test]
fn mode_is_asked_once_and_is_read_only_where_uploads_are_refused() {
    let s = store_with(
        &[],
        vec![
            Answer::new(202, b"")
                .to("POST /v2/team/repo/blobs/uploads/")
                .header("location", "/v2/team/repo/blobs/uploads/m"),
            ok(204).to("DELETE /v2/team/repo/blobs/uploads/m"),
        ],
    );
    assert_eq!(s.mode().unwrap(), MODE_READ_WRITE);
    assert_eq!(s.mode().unwrap(), MODE_READ_WRITE);
    assert_eq!(asked(&s), ["POST blobs/uploads/", "DELETE blobs/uploads/m"]);
    let mirror = store_with(
        &[],
        vec![Answer::new(405, UNSUPPORTED).to("POST /v2/team/repo/blobs/uploads/")],
    );
    assert_eq!(mirror.mode().unwrap(), MODE_READ);
}

#[test]
fn delete_removes_the_digest_of_the_manifest_it_read() {
    let manifest = object_manifest(
        &Media::artifact(M),
        Resource::Lock,
        &KEY,
        None,
        &blob_of(b"lock"),
    );
    let s = store_with(
        &[],
        vec![
            Answer::new(200, &manifest).to("GET /v2/team/repo/manifests/lock-*"),
            ok(202).to("DELETE /v2/team/repo/manifests/lock-*"),
            ok(202).to("DELETE /v2/team/repo/manifests/sha256:*"),
        ],
    );
    s.delete(Resource::Lock, &KEY).unwrap();
    let tag = s.repo.layout.object_tag(Resource::Lock, &KEY);
    // The tag first: the key leaves listings before the registry's slower
    // DELETE by digest (issue 22).
    assert_eq!(
        asked(&s),
        [
            format!("GET manifests/{tag}"),
            format!("DELETE manifests/{tag}"),
            format!("DELETE manifests/{}", sha256_digest(&manifest)),
        ]
    );
    // A registry that deletes no tags (distribution 2.8 reads the tag as a
    // malformed digest) is asked by digest, and not by tag again.
    let s = store_with(
        &[],
        vec![
            Answer::new(200, &manifest).to("GET /v2/team/repo/manifests/lock-*"),
            Answer::new(400, br#"{"errors":[{"code":"DIGEST_INVALID","message":"provided digest did not match uploaded content"}]}"#)
                .to("DELETE /v2/team/repo/manifests/lock-*"),
            ok(202).to("DELETE /v2/team/repo/manifests/sha256:*"),
            Answer::new(200, &manifest).to("GET /v2/team/repo/manifests/lock-*"),
            ok(202).to("DELETE /v2/team/repo/manifests/sha256:*"),
        ],
    );
    s.delete(Resource::Lock, &KEY).unwrap();
    s.delete(Resource::Lock, &KEY).unwrap();
    assert_eq!(asked(&s).len(), 5);
    // Untagged, then the DELETE by digest fails (a 5xx, a protection rule):
    // the tag is put back, so the key stays whole and a retried delete
    // finds it, instead of a manifest nothing lists pinning its blob.
    let s = store_with(
        &[],
        vec![
            Answer::new(200, &manifest).to("GET /v2/team/repo/manifests/lock-*"),
            ok(202).to("DELETE /v2/team/repo/manifests/lock-*"),
            Answer::new(500, b"storage driver error").to("DELETE /v2/team/repo/manifests/sha256:*"),
            ok(201).to("PUT /v2/team/repo/manifests/lock-*"),
        ],
    );
    assert!(s.delete(Resource::Lock, &KEY).is_err());
    let put_back = s.repo.client.transport().asked.borrow();
    assert_eq!(put_back[3].body, manifest, "the very manifest, at its tag");
    drop(put_back);
    // A tag delete that fails as the digest's would (no right) fails the
    // delete, naming it.
    let s = store_with(
        &[],
        vec![
            Answer::new(200, &manifest).to("GET /v2/team/repo/manifests/lock-*"),
            Answer::new(403, br#"{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}"#)
                .to("DELETE /v2/team/repo/manifests/lock-*"),
        ],
    );
    assert!(matches!(
        s.delete(Resource::Lock, &KEY),
        Err(StoreError::Denied(_))
    ));
    // Another key's manifest at the tag is refused, never deleted.
    let other = object_manifest(
        &Media::artifact(M),
        Resource::Lock,
        &Mac([1; 32]),
        None,
        &blob_of(b"x"),
    );
    let s = store_with(
        &[],
        vec![Answer::new(200, &other).to("GET /v2/team/repo/manifests/lock-*")],
    );
    assert!(s.delete(Resource::Lock, &KEY).is_err());
    assert_eq!(asked(&s).len(), 1);
    // A key already gone: nothing to delete.
    let s = store_with(&[], vec![ok(404).to("GET /v2/team/repo/manifests/lock-*")]);
    s.delete(Resource::Lock, &KEY).unwrap();
}

#[test]
fn a_tombstone_delete_marks_the_key_then_covers_its_object_tag() {
    let s = store_with(
        &[],
        vec![
            ok(201).to("PUT /v2/team/repo/manifests/lock-*"),
            ok(201).to("PUT /v2/team/repo/manifests/lock-*"),
        ],
    );
    s.repo.learn(Deletion::Tombstone, Profile::Artifact, None);
    s.delete(Resource::Lock, &KEY).unwrap();
    let layout = &s.repo.layout;
    assert_eq!(
        asked(&s),
        [
            format!(
                "PUT manifests/{}",
                layout.tag(Resource::Lock, &KEY, TagRole::Deleted)
            ),
            format!("PUT manifests/{}", layout.object_tag(Resource::Lock, &KEY)),
        ]
    );
    let tombstone = marker_manifest(&Media::artifact(M), Resource::Lock, &KEY, None, false);
    let bodies = s.repo.client.transport().asked.borrow();
    assert!(bodies.iter().all(|a| a.body == tombstone));
}

#[test]
fn a_registry_that_stops_honouring_delete_is_switched_to_tombstones() {
    let manifest = object_manifest(
        &Media::artifact(M),
        Resource::Lock,
        &KEY,
        None,
        &blob_of(b"lock"),
    );
    let config = config_manifest(
        &Media::artifact(M),
        None,
        &blob_of(b"c"),
        Deletion::Registry,
        None,
    );
    let s = store_with(
        &[],
        vec![
            Answer::new(200, &manifest).to("GET /v2/team/repo/manifests/lock-*"),
            Answer::new(405, UNSUPPORTED).to("DELETE /v2/team/repo/manifests/lock-*"),
            Answer::new(405, UNSUPPORTED).to("DELETE /v2/team/repo/manifests/sha256:*"),
            Answer::new(200, &config).to("GET /v2/team/repo/manifests/config"),
            ok(201).to("PUT /v2/team/repo/manifests/config"), // the configuration, now saying tombstone
            ok(201).to("PUT /v2/team/repo/manifests/lock-*"), // .d
            ok(201).to("PUT /v2/team/repo/manifests/lock-*"), // the object tag
        ],
    );
    s.delete(Resource::Lock, &KEY).unwrap();
    let asked = s.repo.client.transport().asked.borrow();
    assert_eq!(asked.len(), 7);
    assert!(asked[4].uri.ends_with("manifests/config"));
    assert_eq!(
        parse_config(&asked[4].body, "config").unwrap().deletion,
        Deletion::Tombstone
    );
    assert_eq!(s.repo.known_deletion(), Some(Deletion::Tombstone));
}

#[test]
fn a_tombstoned_key_is_not_found() {
    let tombstone = marker_manifest(&Media::artifact(M), Resource::State, &KEY, None, false);
    let s = store_with(
        &[],
        vec![Answer::new(200, &tombstone).to("GET /v2/team/repo/manifests/state-*")],
    );
    assert!(matches!(
        s.get(Resource::State, &KEY, None),
        Err(StoreError::NotFound(_))
    ));
}

#[test]
fn a_closed_store_refuses_every_call() {
    let s = store_with(&[], vec![]);
    s.close();
    assert!(matches!(
        s.list(Resource::Lock),
        Err(StoreError::InvalidArgument(_))
    ));
    assert!(matches!(
        s.delete(Resource::Lock, &KEY),
        Err(StoreError::InvalidArgument(_))
    ));
    assert!(s.put(Resource::Lock, KEY).is_err());
    assert!(asked(&s).is_empty());
}
