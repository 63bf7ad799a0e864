//! The egress through its `send_request` hook, over canned answers: what a
//! hostile registry's answers can and cannot open.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};

use super::*;

/// A canned answer: status and headers.
type Answer = (u16, Vec<(&'static str, String)>);

/// Canned answers by `METHOD URL`, a 404 otherwise; canned addresses by host.
/// Records every request that reached it.
#[derive(Default)]
struct Canned {
    answers: HashMap<String, Answer>,
    addresses: HashMap<String, Vec<IpAddr>>,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Canned {
    fn answer(mut self, key: &str, status: u16, headers: &[(&'static str, &str)]) -> Self {
        let headers = headers.iter().map(|(n, v)| (*n, v.to_string())).collect();
        self.answers.insert(key.to_string(), (status, headers));
        self
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
        let key = format!("{} {}", request.method(), request.uri());
        self.seen.lock().unwrap().push(key.clone());
        let (status, headers) = self.answers.get(&key).cloned().unwrap_or((404, Vec::new()));
        Box::pin(async move {
            let mut response = http::Response::builder().status(status);
            for (name, value) in headers {
                response = response.header(name, value);
            }
            Ok(response.body(empty()).unwrap())
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

/// An egress for the registry at `registry` over `canned`, and what the
/// wire saw.
fn egress(registry: &str, canned: Canned) -> (Egress, Arc<Mutex<Vec<String>>>) {
    let seen = canned.seen.clone();
    let mut allow = AllowList::new();
    allow.allow(&format!("http://{registry}")).unwrap();
    let egress = Egress::over(Box::new(canned), allow, Arc::default());
    (egress, seen)
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
    let canned = Canned::default().answer(
        "GET http://127.0.0.1:5000/v2/",
        401,
        &[(
            "www-authenticate",
            &format!(r#"Bearer realm="{realm}",service="reg""#),
        )],
    );
    let (mut egress, seen) = egress(REGISTRY, canned);
    assert_eq!(
        send(&mut egress, "GET", "http://127.0.0.1:5000/v2/", &[]).unwrap(),
        401
    );
    let token = format!("{realm}?service=reg&scope=repository%3Ar%3Apull");
    assert!(send(
        &mut egress,
        "GET",
        &token,
        &[("authorization", "Basic YTpi")]
    )
    .is_ok());
    let form = [("content-type", "application/x-www-form-urlencoded")];
    assert!(send(&mut egress, "POST", realm, &form).is_ok());

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
        seen.lock().unwrap().clone(),
        vec![
            "GET http://127.0.0.1:5000/v2/".to_string(),
            format!("GET {token}"),
            format!("POST {realm}"),
        ]
    );
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
        let canned = Canned::default().answer(
            "GET http://127.0.0.1:5000/v2/",
            401,
            &[("www-authenticate", &format!(r#"Bearer realm="{realm}""#))],
        );
        let (mut egress, seen) = egress(REGISTRY, canned);
        send(&mut egress, "GET", "http://127.0.0.1:5000/v2/", &[]).unwrap();
        let token = format!("{realm}?scope=s");
        assert!(denied(send(&mut egress, "GET", &token, &[])), "{realm}");
        assert_eq!(seen.lock().unwrap().len(), 1, "{realm}");
    }
}

#[test]
fn a_named_host_that_resolves_to_a_private_address_is_refused() {
    let blob = "http://reg.example/v2/r/blobs/sha256:ab";
    for (ip, reached) in [
        ("93.184.215.14", true),
        ("10.1.2.3", false),
        ("127.0.0.1", false),
    ] {
        let canned = Canned::default()
            .answer(
                &format!("GET {blob}"),
                307,
                &[("location", "https://cdn.example/b?sig=1")],
            )
            .address("cdn.example", ip);
        let (mut egress, seen) = egress("reg.example", canned);
        assert_eq!(send(&mut egress, "GET", blob, &[]).unwrap(), 307);
        let got = send(&mut egress, "GET", "https://cdn.example/b?sig=1", &[]);
        assert_eq!(!denied(got), reached, "{ip}");
        assert_eq!(seen.lock().unwrap().len(), 1 + usize::from(reached), "{ip}");
    }
}

#[test]
fn a_redirect_target_gets_its_get_without_credentials_only() {
    let blob = "http://127.0.0.1:5000/v2/r/blobs/sha256:ab";
    let target = "http://127.0.0.1:6000/b?sig=1";
    let canned = Canned::default().answer(&format!("GET {blob}"), 307, &[("location", target)]);
    let (mut egress, seen) = egress(REGISTRY, canned);
    send(&mut egress, "GET", blob, &[]).unwrap();
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
    assert_eq!(send(&mut egress, "GET", target, &[]).unwrap(), 404);
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[test]
fn credentials_never_leave_for_an_unnamed_host() {
    let (mut egress, seen) = egress(REGISTRY, Canned::default());
    assert!(denied(send(
        &mut egress,
        "GET",
        "http://127.0.0.1:5999/v2/",
        &[("authorization", "Basic YTpi")]
    )));
    assert!(seen.lock().unwrap().is_empty());
    assert_eq!(
        egress.refusals(),
        vec![Refusal::Credentials("127.0.0.1:5999".into())]
    );
}

#[test]
fn every_sent_request_is_counted_and_a_transient_answer_apart() {
    let canned = Canned::default()
        .answer(
            &format!("GET http://{REGISTRY}/v2/r/tags/list?n=1000"),
            503,
            &[],
        )
        .answer(&format!("GET http://{REGISTRY}/v2/"), 200, &[]);
    let counts = Arc::new(RequestCounts::default());
    let mut allow = AllowList::new();
    allow.allow(&format!("http://{REGISTRY}")).unwrap();
    let mut egress = Egress::over(Box::new(canned), allow, counts.clone());
    let tags = format!("http://{REGISTRY}/v2/r/tags/list?n=1000");
    assert_eq!(send(&mut egress, "GET", &tags, &[]).unwrap(), 503);
    assert_eq!(
        send(&mut egress, "GET", &format!("http://{REGISTRY}/v2/"), &[]).unwrap(),
        200
    );
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
}
