//! The location grammar and the options, as `StoreConfig::parse` reads them.

use super::*;

fn cfg(pairs: &[(&str, &str)]) -> Result<StoreConfig, StoreError> {
    let pairs: Vec<_> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    StoreConfig::parse(&pairs)
}

#[test]
fn good_locations() {
    let cases = [
        ("oci://ghcr.io/acme/backups", "ghcr.io", "acme/backups"),
        ("oci://127.0.0.1:5000/demo", "127.0.0.1:5000", "demo"),
        (
            "oci://Registry.Example.COM/a/b/c/",
            "registry.example.com",
            "a/b/c",
        ),
        (
            "oci://[::1]:5000/x.y_z__w-v--u",
            "[::1]:5000",
            "x.y_z__w-v--u",
        ),
        // Found by fuzzing (`location`): IPv6 kept its case and any
        // hex-and-colons junk.
        ("oci://[0:0::ABCD]:5000/x", "[::abcd]:5000", "x"),
    ];
    for (location, registry, repository) in cases {
        let (r, p) = parse_location(location).unwrap_or_else(|e| panic!("{location}: {e}"));
        assert_eq!(
            (r.as_str(), p.as_str()),
            (registry, repository),
            "{location}"
        );
    }
}

#[test]
fn bad_locations_name_the_problem() {
    let cases = [
        ("s3://bucket/x", "must start with oci://"),
        ("oci://host", "names no repository"),
        ("oci://host/", "names no repository"),
        ("oci://host:0/x", "bad port"),
        ("oci://host:99999/x", "bad port"),
        ("oci://host:/x", "bad port"),
        ("oci://ho_st/x", "bad registry host"),
        ("oci:///x", "bad registry host"),
        ("oci://host/Upper", "must be lowercase"),
        ("oci://host/a//b", "must be lowercase"),
        ("oci://host/a-", "must be lowercase"),
        ("oci://host/a...b", "must be lowercase"),
        ("oci://host/x?tag=1", "may not hold a query"),
        ("oci://[::1/x", "unclosed"),
        ("oci://[:C0]/x", "bad IPv6"),
    ];
    for (location, needle) in cases {
        match parse_location(location) {
            Err(StoreError::InvalidConfig(m)) => assert!(m.contains(needle), "{location}: {m}"),
            other => panic!("{location}: expected invalid-config, got {other:?}"),
        }
    }
}

#[test]
fn user_information_in_the_location_is_refused_unquoted() {
    for location in [
        "oci://user:s3cret-pw@host/x",
        "oci://user:s3cret-pw@host:5000/team/x",
        "s3cret-pw@oci://host/x",
        "https://user:s3cret-pw@host/x",
        "oci://host/x@s3cret-pw",
    ] {
        match cfg(&[("location", location)]) {
            Err(StoreError::InvalidConfig(m)) => {
                assert!(m.contains("user information"), "{m}");
                assert!(!m.contains("s3cret"), "the secret is quoted back: {m}");
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn the_deadline_option() {
    let base = ("location", "oci://h/r");
    assert_eq!(cfg(&[base]).unwrap().deadline, DEFAULT_DEADLINE);
    assert_eq!(
        cfg(&[base, ("retry_budget", "3000")]).unwrap().deadline,
        Duration::from_secs(3000),
        "at least the retry budget by default"
    );
    assert_eq!(
        cfg(&[base, ("deadline", "7")]).unwrap().deadline,
        Duration::from_secs(7)
    );
    for bad in ["0", "86401", "x"] {
        assert!(
            matches!(cfg(&[base, ("deadline", bad)]), Err(StoreError::InvalidConfig(m)) if m.contains("deadline")),
            "{bad}"
        );
    }
}

#[test]
fn options_are_checked() {
    let base = ("location", "oci://h/r");
    let c = cfg(&[base]).unwrap();
    assert!(c.use_tls);
    assert_eq!(c.media_type, DEFAULT_MEDIA_TYPE);
    assert_eq!(c.base_url(), "https://h");
    let c = cfg(&[base, ("use_tls", "false"), ("repository_prefix", "host_1")]).unwrap();
    assert_eq!(c.base_url(), "http://h");
    assert_eq!(c.prefix.as_deref(), Some("host_1"));

    let long_prefix = "x".repeat(41);
    let bad = [
        (vec![("use_tls", "maybe")], "must be true or false"),
        (vec![("bogus", "1")], "unknown option 'bogus'"),
        (
            vec![("use_tls", "true"), ("use_tls", "false")],
            "given twice",
        ),
        (vec![("repository_prefix", "a.b")], "repository_prefix"),
        (
            vec![("repository_prefix", long_prefix.as_str())],
            "repository_prefix",
        ),
        (vec![("media_type", "nonsense")], "type/subtype"),
    ];
    for (extra, needle) in bad {
        let mut pairs = vec![base];
        pairs.extend(extra);
        match cfg(&pairs) {
            Err(StoreError::InvalidConfig(m)) => assert!(m.contains(needle), "{m}"),
            other => panic!("expected invalid-config containing {needle}, got {other:?}"),
        }
    }
    assert!(
        matches!(cfg(&[("use_tls", "true")]), Err(StoreError::InvalidConfig(m)) if m.contains("missing 'location'"))
    );
}

#[test]
fn retry_options() {
    let base = ("location", "oci://h/r");
    let c = cfg(&[base]).unwrap();
    assert_eq!(c.retry, DEFAULT_POLICY);
    let c = cfg(&[base, ("retries", "0"), ("retry_budget", "15")]).unwrap();
    assert_eq!(c.retry.retries, 0);
    assert_eq!(c.retry.budget, std::time::Duration::from_secs(15));
    for (key, bad) in [
        ("retries", "21"),
        ("retries", "-1"),
        ("retries", "many"),
        ("retry_budget", "0"),
        ("retry_budget", "3601"),
    ] {
        match cfg(&[base, (key, bad)]) {
            Err(StoreError::InvalidConfig(m)) => assert!(m.contains(key), "{m}"),
            other => panic!("{key}={bad}: {other:?}"),
        }
    }
}

#[test]
fn timeout_and_upload_options() {
    let base = ("location", "oci://r.example/a");
    let c = cfg(&[base]).unwrap();
    assert_eq!(c.timeout, DEFAULT_TIMEOUT);
    assert_eq!(
        c.upload,
        UploadMode::Chunked {
            chunk_size: DEFAULT_CHUNK_SIZE
        }
    );
    let c = cfg(&[base, ("timeout", "5")]).unwrap();
    assert_eq!(
        c.timeouts(),
        (
            Duration::from_secs(5),
            Duration::from_secs(5),
            Duration::from_secs(5)
        )
    );
    let c = cfg(&[base, ("timeout", "600")]).unwrap();
    assert_eq!(c.timeouts().0, MAX_CONNECT_TIMEOUT);

    let cases: [(&[(&str, &str)], UploadMode); 6] = [
        (&[("upload_mode", "stream")], UploadMode::Stream),
        (&[("upload_mode", "monolithic")], UploadMode::Monolithic),
        (
            &[("upload_mode", "chunked")],
            UploadMode::Chunked {
                chunk_size: DEFAULT_CHUNK_SIZE,
            },
        ),
        (
            &[("chunk_size", "4MiB")],
            UploadMode::Chunked {
                chunk_size: 4 << 20,
            },
        ),
        (
            &[("upload_mode", "chunked"), ("chunk_size", "65536")],
            UploadMode::Chunked { chunk_size: 65536 },
        ),
        (
            &[("chunk_size", "512k")],
            UploadMode::Chunked {
                chunk_size: 512 << 10,
            },
        ),
    ];
    for (options, expected) in cases {
        let mut pairs = vec![base];
        pairs.extend_from_slice(options);
        assert_eq!(cfg(&pairs).unwrap().upload, expected, "{options:?}");
    }

    for (options, needle) in [
        (&[("timeout", "0")][..], "timeout"),
        (&[("timeout", "3601")], "timeout"),
        (&[("upload_mode", "resumable")], "upload_mode"),
        (&[("chunk_size", "1k")], "chunk_size"),
        (&[("chunk_size", "1GiB")], "chunk_size"),
        (&[("chunk_size", "4 parsecs")], "chunk_size"),
        (&[("chunk_size", "99999999999999999999M")], "chunk_size"),
        (
            &[("upload_mode", "stream"), ("chunk_size", "4M")],
            "chunk_size",
        ),
        (
            &[("upload_mode", "monolithic"), ("chunk_size", "4M")],
            "chunk_size",
        ),
    ] {
        let mut pairs = vec![base];
        pairs.extend_from_slice(options);
        match cfg(&pairs) {
            Err(StoreError::InvalidConfig(m)) => assert!(m.contains(needle), "{m}"),
            other => panic!("{options:?}: {other:?}"),
        }
    }
}

#[test]
fn loopback_registries_default_to_plain_http_and_others_to_https() {
    let cases = [
        ("oci://localhost:5000/a", false),
        ("oci://LOCALHOST/a", false),
        ("oci://127.0.0.1:5000/a", false),
        ("oci://127.1.2.3/a", false),
        ("oci://[::1]:5000/a", false),
        ("oci://[0:0::1]/a", false),
        ("oci://ghcr.io/a", true),
        ("oci://10.0.0.1:5000/a", true),
        ("oci://localhost.example.com/a", true),
        ("oci://128.0.0.1/a", true),
        ("oci://[::2]/a", true),
    ];
    for (location, tls) in cases {
        let pairs = vec![("location".to_string(), location.to_string())];
        let config = StoreConfig::parse(&pairs).unwrap();
        assert_eq!(config.use_tls, tls, "{location}");
    }
    // An explicit use_tls always wins.
    let pairs = vec![
        ("location".to_string(), "oci://localhost:5000/a".to_string()),
        ("use_tls".to_string(), "true".to_string()),
    ];
    assert!(StoreConfig::parse(&pairs).unwrap().use_tls);
}

#[test]
fn the_option_table_is_the_one_source() {
    options::documented_defaults_hold();
    // Every component option is accepted, every host option refused.
    assert_eq!(KNOWN_OPTIONS[0], "location");
    assert_eq!(
        KNOWN_OPTIONS.len() + HOST_OPTIONS.len(),
        options::OPTIONS.len()
    );
    for key in HOST_OPTIONS {
        match cfg(&[("location", "oci://r/x"), (key, "1")]) {
            Err(StoreError::InvalidConfig(m)) => assert!(m.contains("unknown option"), "{m}"),
            other => panic!("{key}: {other:?}"),
        }
    }
    // The table's ranges are the ones parse applies.
    assert!(cfg(&[("location", "oci://r/x"), ("retries", "20")]).is_ok());
    assert!(cfg(&[("location", "oci://r/x"), ("retries", "21")]).is_err());
    assert!(cfg(&[("location", "oci://r/x"), ("deadline", "86400")]).is_ok());
    assert!(cfg(&[("location", "oci://r/x"), ("deadline", "86401")]).is_err());
}

#[test]
fn secrets_are_redacted_in_debug() {
    let pairs: Vec<(String, String)> = [
        ("location", "oci://r/x"),
        ("username", "alice"),
        ("password", "hunter2"),
        ("token", "tok-secret"),
        ("passwrod", "typo-secret"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let shown = format!("{:?}", Redacted(&pairs));
    for hidden in ["hunter2", "tok-secret", "typo-secret"] {
        assert!(!shown.contains(hidden), "{shown}");
    }
    assert!(
        shown.contains("alice") && shown.contains("oci://r/x"),
        "{shown}"
    );
    let secret: Vec<_> = options::OPTIONS
        .iter()
        .filter(|o| o.secret)
        .map(|o| o.name)
        .collect();
    assert_eq!(secret, ["password", "token"]);
}

#[test]
fn what_is_quoted_back_is_cleaned_and_cut() {
    let key = format!("bad\u{1b}[31m{}", "k".repeat(5000));
    let pairs = vec![
        ("location".to_string(), "oci://r:5000/team/repo".to_string()),
        (key, "1".to_string()),
    ];
    let shown = StoreConfig::parse(&pairs).unwrap_err().to_string();
    assert!(!shown.chars().any(char::is_control), "{shown:?}");
    assert!(shown.len() < 500, "{} bytes", shown.len());
    let location = format!("oci://r:5000/\u{7}{}", "x".repeat(5000));
    let pairs = vec![("location".to_string(), location)];
    let shown = StoreConfig::parse(&pairs).unwrap_err().to_string();
    assert!(!shown.chars().any(char::is_control), "{shown:?}");
    assert!(shown.len() < 500, "{} bytes", shown.len());
}
