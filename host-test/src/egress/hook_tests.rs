//! The egress through its `send_request` hook, over canned answers: what a
//! hostile registry's answers can and cannot open.

use std::collections::HashMap;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use kloset_oci::script::{Answer, Request, Script};

use super::*;

/// A wire answering from a script whose answers name their requests as
/// `METHOD URL`, with canned addresses by host. A request no answer is for
/// is answered 599 and fails the test at [`Script::check`]; every request
/// that reached the wire is in [`Script::requests`].
struct Canned {
    script: Arc<Script>,
    addresses: HashMap<String, Vec<IpAddr>>,
}

impl Canned {
    fn new(answers: impl IntoIterator<Item = Answer>) -> Self {
        Canned {
            script: Arc::new(Script::new(answers)),
            addresses: HashMap::new(),
        }
    }

    fn address(mut self, host: &str, ip: &str) -> Self {
        self.addresses
            .entry(host.to_string())
            .or_default()
            .push(ip.parse().unwrap());
        self
    }
}

impl Wire for Canned {
    fn send(
        &self,
        request: http::Request<WasiBody>,
        _options: Option<RequestOptions>,
    ) -> BoxFuture<'_, Result<http::Response<WasiBody>, Error>> {
        let headers = request
            .headers()
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        let asked = Request {
            method: request.method().to_string(),
            uri: request.uri().to_string(),
            headers,
            // The requests here have none; the hook does not read bodies.
            body: Vec::new(),
        };
        let answer = self
            .script
            .answer(asked)
            .unwrap_or_else(|surprise| Answer::new(599, surprise.as_bytes()));
        assert!(
            !answer.broken && !answer.cut && answer.delay.is_zero(),
            "the canned wire gives a status, headers and a body only"
        );
        Box::pin(async move {
            let mut response = http::Response::builder().status(answer.status);
            for (name, value) in &answer.headers {
                response = response.header(name, value);
            }
            let body = Full::new(Bytes::from(answer.body))
                .map_err(|never| match never {})
                .boxed_unsync();
            Ok(response.body(body).unwrap())
        })
    }

    fn resolve(&self, host: &str, _port: u16) -> BoxFuture<'_, io::Result<Vec<IpAddr>>> {
        let found = self.addresses.get(host).cloned().unwrap_or_default();
        Box::pin(async move { Ok(found) })
    }
}

fn empty() -> WasiBody {
    Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// An egress for the registry at `registry` over `canned`, and its script.
fn egress(registry: &str, canned: Canned) -> (Egress, Arc<Script>) {
    let script = canned.script.clone();
    let mut allow = AllowList::new();
    allow.allow(&format!("http://{registry}")).unwrap();
    let egress = Egress::over(Box::new(canned), allow, Arc::default());
    (egress, script)
}

/// What reached the wire, as `METHOD URL`.
fn reached(script: &Script) -> Vec<String> {
    let requests = script.requests();
    requests
        .iter()
        .map(|r| format!("{} {}", r.method, r.uri))
        .collect()
}

/// Sends `METHOD URL` with `headers` through the hook; the status, or the
/// error.
fn send(
    egress: &mut Egress,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
) -> Result<u16, Error> {
    let mut request = http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(empty()).unwrap();
    let fut = egress.send_request(request, None, Box::new(async { Ok(()) }));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime
        .block_on(Box::into_pin(fut))
        .map(|(response, _)| response.status().as_u16())
}

fn denied(result: Result<u16, Error>) -> bool {
    matches!(result, Err(Error::HttpRequestDenied))
}

const REGISTRY: &str = "127.0.0.1:5000";

#[test]
fn a_realm_on_the_registrys_host_gets_token_requests_and_nothing_else() {
    let realm = "http://127.0.0.1:5001/token";
    let token = format!("{realm}?service=reg&scope=repository%3Ar%3Apull");
    let canned = Canned::new([
        Answer::new(401, b"")
            .to("GET http://127.0.0.1:5000/v2/")
            .header(
                "www-authenticate",
                &format!(r#"Bearer realm="{realm}",service="reg""#),
            ),
        Answer::new(200, br#"{"token":"t"}"#)
            .to(&format!("GET {token}"))
            .with_request_header("authorization", "Basic YTpi"),
        Answer::new(200, br#"{"access_token":"t"}"#)
            .to(&format!("POST {realm}"))
            .with_request_header("content-type", "application/x-www-form-urlencoded"),
    ]);
    let (mut egress, script) = egress(REGISTRY, canned);
    assert_eq!(
        send(&mut egress, "GET", "http://127.0.0.1:5000/v2/", &[]).unwrap(),
        401
    );
    let basic = [("authorization", "Basic YTpi")];
    assert_eq!(send(&mut egress, "GET", &token, &basic).unwrap(), 200);
    let form = [("content-type", "application/x-www-form-urlencoded")];
    assert_eq!(send(&mut egress, "POST", realm, &form).unwrap(), 200);

    // What a hostile registry would have the component do there next.
    let bearer = [("authorization", "Bearer t")];
    let uploads = "http://127.0.0.1:5001/v2/r/blobs/uploads/";
    assert!(denied(send(&mut egress, "POST", uploads, &bearer)));
    assert!(denied(send(&mut egress, "PATCH", uploads, &[])));
    assert!(denied(send(
        &mut egress,
        "GET",
        "http://127.0.0.1:5001/v2/r/manifests/x",
        &[]
    )));
    assert!(denied(send(&mut egress, "DELETE", &token, &[])));
    assert_eq!(
        reached(&script),
        vec![
            "GET http://127.0.0.1:5000/v2/".to_string(),
            format!("GET {token}"),
            format!("POST {realm}"),
        ]
    );
    script.check();
    assert!(matches!(egress.refusals()[0], Refusal::NotATokenRequest(_)));
}

#[test]
fn a_realm_on_another_private_host_is_never_reached() {
    for realm in [
        "http://127.0.0.2:5001/token",
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.7/token",
        "http://localhost:5001/token",
    ] {
        let canned = Canned::new([Answer::new(401, b"")
            .to("GET http://127.0.0.1:5000/v2/")
            .header("www-authenticate", &format!(r#"Bearer realm="{realm}""#))]);
        let (mut egress, script) = egress(REGISTRY, canned);
        assert_eq!(
            send(&mut egress, "GET", "http://127.0.0.1:5000/v2/", &[]).unwrap(),
            401
        );
        let token = format!("{realm}?scope=s");
        assert!(denied(send(&mut egress, "GET", &token, &[])), "{realm}");
        assert_eq!(
            reached(&script),
            ["GET http://127.0.0.1:5000/v2/"],
            "{realm}"
        );
        script.check();
    }
}

#[test]
fn a_named_host_that_resolves_to_a_private_address_is_refused() {
    let blob = "http://reg.example/v2/r/blobs/sha256:ab";
    let target = "https://cdn.example/b?sig=1";
    for (ip, reached_cdn) in [
        ("93.184.215.14", true),
        ("10.1.2.3", false),
        ("127.0.0.1", false),
    ] {
        let mut answers = vec![Answer::new(307, b"")
            .to(&format!("GET {blob}"))
            .header("location", target)];
        if reached_cdn {
            answers.push(
                Answer::new(200, b"blob")
                    .to(&format!("GET {target}"))
                    .without_request_header("authorization"),
            );
        }
        let canned = Canned::new(answers).address("cdn.example", ip);
        let (mut egress, script) = egress("reg.example", canned);
        assert_eq!(send(&mut egress, "GET", blob, &[]).unwrap(), 307);
        let got = send(&mut egress, "GET", target, &[]);
        if reached_cdn {
            assert_eq!(got.unwrap(), 200, "{ip}");
        } else {
            assert!(denied(got), "{ip}");
        }
        assert_eq!(reached(&script).len(), 1 + usize::from(reached_cdn), "{ip}");
        script.check();
    }
}

#[test]
fn a_redirect_target_gets_its_get_without_credentials_only() {
    let blob = "http://127.0.0.1:5000/v2/r/blobs/sha256:ab";
    let target = "http://127.0.0.1:6000/b?sig=1";
    let canned = Canned::new([
        Answer::new(307, b"")
            .to(&format!("GET {blob}"))
            .header("location", target),
        Answer::new(200, b"blob")
            .to(&format!("GET {target}"))
            .without_request_header("authorization"),
    ]);
    let (mut egress, script) = egress(REGISTRY, canned);
    assert_eq!(send(&mut egress, "GET", blob, &[]).unwrap(), 307);
    assert!(denied(send(
        &mut egress,
        "GET",
        target,
        &[("authorization", "Bearer t")]
    )));
    assert!(denied(send(&mut egress, "PUT", target, &[])));
    assert!(denied(send(
        &mut egress,
        "GET",
        "http://127.0.0.1:6000/other",
        &[]
    )));
    assert_eq!(send(&mut egress, "GET", target, &[]).unwrap(), 200);
    assert_eq!(
        reached(&script),
        [format!("GET {blob}"), format!("GET {target}")]
    );
    script.check();
}

#[test]
fn credentials_never_leave_for_an_unnamed_host() {
    let (mut egress, script) = egress(REGISTRY, Canned::new([]));
    assert!(denied(send(
        &mut egress,
        "GET",
        "http://127.0.0.1:5999/v2/",
        &[("authorization", "Basic YTpi")]
    )));
    assert!(reached(&script).is_empty());
    script.check();
    assert_eq!(
        egress.refusals(),
        vec![Refusal::Credentials("127.0.0.1:5999".into())]
    );
}

#[test]
fn every_sent_request_is_counted_and_a_transient_answer_apart() {
    let tags = format!("http://{REGISTRY}/v2/r/tags/list?n=1000");
    let base = format!("http://{REGISTRY}/v2/");
    let canned = Canned::new([
        Answer::new(503, b"").to(&format!("GET {tags}")),
        Answer::new(200, b"").to(&format!("GET {base}")),
    ]);
    let script = canned.script.clone();
    let counts = Arc::new(RequestCounts::default());
    let mut allow = AllowList::new();
    allow.allow(&format!("http://{REGISTRY}")).unwrap();
    let mut egress = Egress::over(Box::new(canned), allow, counts.clone());
    assert_eq!(send(&mut egress, "GET", &tags, &[]).unwrap(), 503);
    assert_eq!(send(&mut egress, "GET", &base, &[]).unwrap(), 200);
    // Refused before it is sent: not counted at all.
    assert!(denied(send(
        &mut egress,
        "GET",
        "http://127.0.0.2:5000/v2/",
        &[]
    )));
    assert_eq!(counts.sent(), 2);
    assert_eq!(counts.unanswered_or_transient(), 1);
    assert_eq!(counts.recent(), ["GET /v2/r/tags/list 503", "GET /v2/ 200"]);
    script.check();
}
