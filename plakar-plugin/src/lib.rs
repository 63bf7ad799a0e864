//! A Plakar storage plugin for the kloset-oci component.
//!
//! Plakar starts a storage plugin as a child process and speaks gRPC to it
//! (HTTP/2 with prior knowledge, no TLS) over the child's stdin and stdout:
//! service `store.Store` of `proto/store.proto`. This crate is that process:
//! each RPC becomes a call on a [`kloset_host::StoreHandle`], whose pool of
//! component instances serves plakar's concurrent Put and Get streams.
//!
//! Layers, outermost first:
//! - `stdio`: fd 0 and fd 1 as one async connection, and the end-of-input
//!   signal that stops the server;
//! - `service`: the gRPC methods, thin: decode, run the blocking store call
//!   off the async threads, encode;
//! - `put_input` / `get_output`: the bridges between gRPC streams and the
//!   handle's blocking `Read`-based put and get;
//! - `calls`: the calls in flight, which `Close` and the exit let finish,
//!   and the optional trace of every call (`KLOSET_OCI_PLAKAR_TRACE`);
//! - `status`: store errors as gRPC statuses whose message says everything,
//!   since plakar prints the message and drops the code;
//! - `memory`: the allocator's tuning, so the peak is what is held.

pub mod calls;
pub mod get_output;
pub mod memory;
pub mod proto;
pub mod put_input;
pub mod resource;
pub mod service;
pub mod status;
pub mod stdio;

pub use service::StoreService;

/// This crate's version, for the executable: its `main.rs` is also built
/// as a target of the bench (bench/Cargo.toml), where `CARGO_PKG_VERSION`
/// would be the bench's.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The package's files agree with the code: the schema describes exactly
/// the options the component and the host take, and the manifest names the
/// executable this crate builds and the component file the host looks for.
#[cfg(test)]
mod package_tests {
    const SCHEMA: &str = include_str!("../package/options.schema.json");
    const MANIFEST: &str = include_str!("../package/manifest.yaml");

    #[test]
    fn the_schema_describes_every_option_and_no_other() {
        let schema: serde_json::Value = serde_json::from_str(SCHEMA).expect("the schema is JSON");
        let properties = schema["properties"].as_object().expect("properties");
        let mut described: Vec<&str> = properties.keys().map(String::as_str).collect();
        let mut known: Vec<&str> = kloset_oci::config::KNOWN_OPTIONS
            .iter()
            .chain(kloset_host::HOST_KEYS)
            .copied()
            .collect();
        described.sort_unstable();
        known.sort_unstable();
        known.dedup();
        assert_eq!(described, known);
        for (name, property) in properties {
            let text = property["description"].as_str().unwrap_or_default();
            assert!(text.len() > 20, "option {name} is not described");
        }
        assert_eq!(schema["required"], serde_json::json!(["location"]));
        assert_eq!(schema["additionalProperties"], serde_json::json!(false));
    }

    /// Each option's pattern in the schema, held to the option's own parser
    /// (the table's): plakar validates the schema before it starts the
    /// plugin, so a value the schema admits and the parser refuses would
    /// pass plakar and fail `Init`. For the host's options, read exactly,
    /// the two must agree both ways.
    /// Whether an option's parser takes a value.
    type Parser = Box<dyn Fn(&str) -> bool>;

    #[test]
    fn schema_patterns_admit_only_what_the_parsers_take() {
        use kloset_host::{OptionKind, OPTIONS};
        let schema: serde_json::Value = serde_json::from_str(SCHEMA).expect("the schema is JSON");
        for option in OPTIONS {
            let Some(pattern) = schema["properties"][option.name]["pattern"].as_str() else {
                continue;
            };
            let pattern = regex::Regex::new(pattern).expect("the pattern is a regex");
            let (samples, parses): (Vec<String>, Parser) = match option.kind {
                OptionKind::Size { min, max } => {
                    // The same size in range (whole MiB), written every way
                    // a user might.
                    let bytes = min.max(64 << 20).min(max) >> 20 << 20;
                    assert!(bytes >= min, "{}: no whole MiB in range", option.name);
                    let k = bytes >> 10;
                    let m = bytes >> 20;
                    let spellings = [
                        format!("{}", k << 10),
                        format!("{k}K"),
                        format!("{k}KiB"),
                        format!("{k}k"),
                        format!("{k}kib"),
                        format!("{m}M"),
                        format!("{m}MiB"),
                        format!("{m}m"),
                        format!("{m} MiB"),
                        format!(" {m}M"),
                        format!("{m}MB"),
                        format!("{m}Mi"),
                        format!("{}B", k << 10),
                        format!("{m}.0M"),
                        format!("-{m}M"),
                        "M".to_string(),
                        String::new(),
                    ];
                    (spellings.to_vec(), Box::new(|v| option.size(v).is_ok()))
                }
                OptionKind::Number { min, .. } | OptionKind::Seconds { min, .. } => {
                    let n = min.max(1);
                    let spellings = [
                        format!("{n}"),
                        format!(" {n}"),
                        format!("+{n}"),
                        format!("{n}s"),
                        format!("{n}.0"),
                        format!("0x{n}"),
                        String::new(),
                    ];
                    (spellings.to_vec(), Box::new(|v| option.number(v).is_ok()))
                }
                _ => continue,
            };
            for value in &samples {
                let admitted = pattern.is_match(value);
                let parsed = parses(value);
                assert!(
                    !admitted || parsed,
                    "{}: the schema admits {value:?}, the parser refuses it",
                    option.name
                );
                if option.consumer == kloset_host::OptionConsumer::Host {
                    assert_eq!(admitted, parsed, "{}: {value:?}", option.name);
                }
            }
        }
    }

    /// The option names in the first column of the table under `heading`
    /// (every backtick-quoted word of that column), up to the next heading.
    fn options_in_table(doc: &str, heading: &str) -> Vec<String> {
        let section = doc.split(heading).nth(1).expect("the heading is there");
        let section = section.split("\n#").next().unwrap_or_default();
        let mut names = Vec::new();
        for row in section.lines().filter(|l| l.starts_with("| `")) {
            let first_cell = row.split('|').nth(1).unwrap_or_default();
            names.extend(first_cell.split('`').skip(1).step_by(2).map(str::to_string));
        }
        names
    }

    fn known_options() -> Vec<String> {
        let mut known: Vec<String> = kloset_oci::config::KNOWN_OPTIONS
            .iter()
            .chain(kloset_host::HOST_KEYS)
            .map(|k| k.to_string())
            .collect();
        known.sort_unstable();
        known.dedup();
        known
    }

    #[test]
    fn the_readme_and_the_configuration_page_list_every_option_and_no_other() {
        let readme = include_str!("../../README.md");
        let mut at_a_glance = options_in_table(readme, "## Options at a glance");
        at_a_glance.sort_unstable();
        assert_eq!(
            at_a_glance,
            known_options(),
            "README.md, Options at a glance"
        );

        let configuration = include_str!("../../docs/configuration.md");
        let mut documented = options_in_table(configuration, "## Configuration");
        documented.sort_unstable();
        assert_eq!(documented, known_options(), "docs/configuration.md");
    }

    #[test]
    fn the_manifest_names_the_files_the_package_ships() {
        let lines: Vec<&str> = MANIFEST.lines().map(str::trim).collect();
        for wanted in [
            "- type: storage",
            "- oci",
            "executable: kloset-oci-plakar",
            "validator: options.schema.json",
            "- kloset_oci.wasm",
        ] {
            assert!(lines.contains(&wanted), "manifest.yaml lacks `{wanted}`");
        }
    }
}
