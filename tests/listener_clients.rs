//! Real clients on every kind of listener, against Myelin and (with `MYELIN_KAFKA_REF=1`)
//! Apache Kafka 4.4 on 127.0.0.47 with the same listeners and certificate:
//!
//! * Go's clients from the module proxy (franz-go 1.22 with kadm, IBM/sarama 1.61 and
//!   segmentio/kafka-go 0.4.51; the suite is `tests/clients/go`): the brief's kafka-go program
//!   on PLAINTEXT, round trips over TLS, SASL PLAIN and SCRAM, SCRAM credentials managed with
//!   kadm, and the refusals (an untrusted broker certificate, wrong passwords, an unknown
//!   user, a deleted credential, the wrong SCRAM mechanism);
//! * librdkafka over SSL and with SCRAM-SHA-256 and -512 over SASL_PLAINTEXT and SASL_SSL,
//!   and refused without the CA or with a wrong password.
//!
//! Each step gives one outcome line, and the two brokers' lines must be the same.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::certs::Ca;
use common::kref::{jars_installed, KafkaRef};
use common::{free_addr, Broker, PLAIN_JAAS, SCRAM_JAAS};
use std::path::Path;
use std::process::Command;

const KAFKA_HOST: &str = "127.0.0.47";

/// Where one broker's listeners are.
struct Listeners {
    plaintext: String,
    sasl_plaintext: String,
    ssl: String,
    sasl_ssl: String,
}

/// Runs the Go suite against one broker; its `outcome` lines, in order (the users it makes,
/// `dave` (SCRAM-SHA-512) and `frank` (SCRAM-SHA-256), stay for the librdkafka steps). Fails the test when
/// any Go test fails.
fn go_suite(broker: &str, l: &Listeners, ca: &Path) -> Vec<String> {
    let suite = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/go");
    let out = Command::new("timeout")
        .args([
            "--kill-after=10",
            "600",
            "go",
            "test",
            "-count=1",
            "-v",
            "./...",
        ])
        .current_dir(&suite)
        .env("GOTOOLCHAIN", "local")
        .env("CLIENTS_PLAINTEXT", &l.plaintext)
        .env("CLIENTS_SASL_PLAINTEXT", &l.sasl_plaintext)
        .env("CLIENTS_SSL", &l.ssl)
        .env("CLIENTS_SASL_SSL", &l.sasl_ssl)
        .env("CLIENTS_CA", ca)
        .output()
        .expect("go is installed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the Go suite failed against {broker}:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for timing in stdout.lines().filter(|l| l.starts_with("--- ")) {
        eprintln!("{broker}: {timing}");
    }
    stdout
        .lines()
        .filter(|l| l.starts_with("outcome "))
        .map(str::to_string)
        .collect()
}

/// librdkafka on each secure listener; one line per step.
fn librdkafka_steps(l: &Listeners, ca: &Path) -> Vec<String> {
    let ca = ca.to_str().unwrap();
    let mut seen = Vec::new();
    let mut step = |name: &str, settings: &[(&str, &str)], topic: &str| {
        let outcome = common::kafka::round_trip(settings, topic);
        seen.push(format!("outcome librdkafka {name}: {outcome}"));
    };
    step(
        "ssl",
        &[
            ("bootstrap.servers", &l.ssl),
            ("security.protocol", "SSL"),
            ("ssl.ca.location", ca),
        ],
        "rdkafka-ssl",
    );
    for (name, addr, protocol, mechanism, user, password) in [
        (
            "scram-sha-256",
            &l.sasl_plaintext,
            "SASL_PLAINTEXT",
            "SCRAM-SHA-256",
            "frank",
            "frank-secret",
        ),
        (
            "scram-sha-512 over tls",
            &l.sasl_ssl,
            "SASL_SSL",
            "SCRAM-SHA-512",
            "dave",
            "dave-secret",
        ),
    ] {
        step(
            name,
            &[
                ("bootstrap.servers", addr),
                ("security.protocol", protocol),
                ("ssl.ca.location", ca),
                ("sasl.mechanism", mechanism),
                ("sasl.username", user),
                ("sasl.password", password),
            ],
            "rdkafka-scram",
        );
    }
    // Refusals: librdkafka keeps retrying, so the outcome is whether metadata ever comes.
    let refused = |settings: &[(&str, &str)]| {
        use rdkafka::producer::{BaseProducer, Producer};
        let mut c = rdkafka::ClientConfig::new();
        for (k, v) in settings {
            c.set(*k, *v);
        }
        let p: BaseProducer = c.create().unwrap();
        match p
            .client()
            .fetch_metadata(None, std::time::Duration::from_secs(5))
        {
            Ok(_) => "connected".to_string(),
            Err(_) => "refused".to_string(),
        }
    };
    seen.push(format!(
        "outcome librdkafka ssl without the ca: {}",
        refused(&[("bootstrap.servers", &l.ssl), ("security.protocol", "SSL")])
    ));
    seen.push(format!(
        "outcome librdkafka scram wrong password: {}",
        refused(&[
            ("bootstrap.servers", &l.sasl_ssl),
            ("security.protocol", "SASL_SSL"),
            ("ssl.ca.location", ca),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("sasl.username", "dave"),
            ("sasl.password", "nope"),
        ])
    ));
    seen
}

/// Both suites against one broker.
fn scenario(broker: &str, l: &Listeners, ca: &Path) -> Vec<String> {
    let mut seen = go_suite(broker, l, ca);
    seen.extend(librdkafka_steps(l, ca));
    seen
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn go_clients_and_librdkafka_on_every_listener() {
    if Command::new("go").arg("version").output().is_err() {
        assert!(std::env::var_os("CI").is_none(), "Go is not installed");
        eprintln!("skipped: Go is not installed");
        return;
    }
    let dir = tempfile::tempdir_in(common::test_tmp()).unwrap();
    let d = dir.path();
    let ca = Ca::new("myelin-go-clients-ca");
    let ca_pem = write(d, "ca.pem", &ca.cert.pem());
    let store = write(
        d,
        "broker.pem",
        &ca.issue("broker", &["localhost", "127.0.0.1", KAFKA_HOST], false),
    );

    let (sasl, ssl, sasl_ssl) = (free_addr(), free_addr(), free_addr());
    // No initial rebalance delay, as the reference Kafka runs (kref.sh).
    let props = write(
        d,
        "server.properties",
        &format!(
            "listeners=PLAINTEXT://127.0.0.1:9092,SASL_PLAINTEXT://{sasl},SSL://{ssl},\
             SASL_SSL://{sasl_ssl}\n\
             ssl.keystore.type=PEM\nssl.keystore.location={store}\n\
             sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512\n\
             group.initial.rebalance.delay.ms=0\n\
             listener.name.sasl_plaintext.plain.sasl.jaas.config={PLAIN_JAAS} required \
             user_alice=\"alice-secret\";\n\
             listener.name.sasl_ssl.plain.sasl.jaas.config={PLAIN_JAAS} required \
             user_alice=\"alice-secret\";\n"
        ),
    );
    let broker = Broker::start(&["--config", &props]);
    let myelin = scenario(
        "Myelin",
        &Listeners {
            plaintext: broker.bootstrap(),
            sasl_plaintext: sasl.to_string(),
            ssl: ssl.to_string(),
            sasl_ssl: sasl_ssl.to_string(),
        },
        Path::new(&ca_pem),
    );
    for line in &myelin {
        eprintln!("{line}");
    }
    assert!(myelin.len() >= 20, "too few outcomes: {myelin:#?}");

    if std::env::var_os("MYELIN_KAFKA_REF").is_none() {
        return;
    }
    assert!(
        jars_installed(),
        "Kafka 4.4's jars are missing (kref.sh install)"
    );
    let space = "\\u0020";
    let mut kafka_props = vec![
        format!(
            "listeners=PLAINTEXT://{KAFKA_HOST}:9092,CONTROLLER://{KAFKA_HOST}:9093,\
             SASL_PLAINTEXT://{KAFKA_HOST}:9094,SSL://{KAFKA_HOST}:9095,SASL_SSL://{KAFKA_HOST}:9096"
        ),
        format!(
            "advertised.listeners=PLAINTEXT://{KAFKA_HOST}:9092,SASL_PLAINTEXT://{KAFKA_HOST}:9094,\
             SSL://{KAFKA_HOST}:9095,SASL_SSL://{KAFKA_HOST}:9096"
        ),
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,\
         SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL"
            .to_string(),
        "ssl.keystore.type=PEM".to_string(),
        format!("ssl.keystore.location={store}"),
        "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512".to_string(),
    ];
    for listener in ["sasl_plaintext", "sasl_ssl"] {
        kafka_props.push(format!(
            "listener.name.{listener}.plain.sasl.jaas.config={PLAIN_JAAS}{space}required\
             {space}user_alice=\"alice-secret\";"
        ));
        for scram in ["scram-sha-256", "scram-sha-512"] {
            kafka_props.push(format!(
                "listener.name.{listener}.{scram}.sasl.jaas.config={SCRAM_JAAS}{space}required;"
            ));
        }
    }
    let kafka_props = kafka_props.iter().map(String::as_str).collect::<Vec<_>>();
    let kafka = KafkaRef::start_with(KAFKA_HOST, &kafka_props);
    let reference = scenario(
        "Kafka 4.4",
        &Listeners {
            plaintext: kafka.bootstrap(),
            sasl_plaintext: format!("{KAFKA_HOST}:9094"),
            ssl: format!("{KAFKA_HOST}:9095"),
            sasl_ssl: format!("{KAFKA_HOST}:9096"),
        },
        Path::new(&ca_pem),
    );
    assert_eq!(
        myelin, reference,
        "the clients saw Myelin and Kafka 4.4 differ"
    );
}
