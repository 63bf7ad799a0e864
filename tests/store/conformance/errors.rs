//! Bad input gets a clear error naming the problem, before anything is sent.

use crate::kit::{plugin, Env};
use kloset_host::{ContractError, Error, StoreHandle};

fn config(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub fn bad_configurations_are_refused_up_front(env: &Env) {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("location", "s3://bucket")], "oci://"),
        (&[("location", "oci://host")], "names no repository"),
        (&[("location", "oci://host/UPPER")], "lowercase"),
        (&[("location", "oci://host:70000/x")], "bad port"),
        (
            &[("location", "oci://h/x"), ("use_tls", "perhaps")],
            "use_tls",
        ),
        (
            &[("location", "oci://h/x"), ("colour", "blue")],
            "unknown option 'colour'",
        ),
        (&[("use_tls", "false")], "location"),
    ];
    for (pairs, needle) in cases {
        match StoreHandle::new(plugin(), &config(pairs)) {
            Err(Error::Contract(ContractError::InvalidConfig(m))) => {
                assert!(m.contains(needle), "{pairs:?}: {m}")
            }
            Err(other) => panic!("{pairs:?}: expected invalid-config, got {other}"),
            Ok(_) => panic!("{pairs:?}: accepted"),
        }
    }
    // The registry's own configuration, without the flavour's CA file.
    let mut missing_ca = env.registry.config(&env.repo);
    missing_ca.push(("tls_ca_file".to_string(), "/nonexistent/ca.pem".to_string()));
    match StoreHandle::new(plugin(), &missing_ca) {
        Err(Error::Contract(ContractError::InvalidConfig(m))) => {
            assert!(m.contains("/nonexistent/ca.pem"), "{m}")
        }
        other => panic!(
            "expected invalid-config for a missing CA file, got {:?}",
            other.err()
        ),
    }

    // A registry that is not there: a closed loopback port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let gone = StoreHandle::new(
        plugin(),
        &config(&[
            ("location", &format!("oci://127.0.0.1:{port}/x")),
            ("use_tls", "false"),
        ]),
    )
    .unwrap();
    assert!(
        matches!(
            gone.ping(),
            Err(Error::Contract(ContractError::Transport(_)))
        ),
        "ping of a closed port"
    );
    assert!(
        matches!(
            gone.open(),
            Err(Error::Contract(ContractError::Transport(_)))
        ),
        "open of a closed port"
    );

    // Plain HTTP spoken to by an https client fails as transport, not a hang
    // (use_tls=true: loopback registries are otherwise spoken to in plain
    // HTTP by default).
    let tls = StoreHandle::new(
        plugin(),
        &config(&[
            ("location", &env.registry.location("x")),
            ("use_tls", "true"),
        ]),
    )
    .unwrap();
    assert!(matches!(
        tls.ping(),
        Err(Error::Contract(ContractError::Transport(_)))
    ));
}
