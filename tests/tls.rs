//! TLS listeners with Kafka 4.4's Java client (its console producer and consumer, and
//! kafka-acls), certificates made by the test, ACLs on:
//!
//! * SSL with `ssl.client.auth=required`: a client with a certificate from the trusted CA
//!   round-trips records as the principal its certificate names (`User:CN=alice`, which the
//!   ACLs allow); one whose certificate names another principal is refused by the ACLs; one
//!   without a certificate, or with one from another CA, fails its handshake;
//! * SASL_SSL with PLAIN: authentication runs inside TLS;
//! * the keystore file replaced by an expired certificate is reloaded, and new clients
//!   refuse the broker; put back, it is reloaded again and clients connect (Myelin only:
//!   Kafka reloads keystores only when told to through a dynamic config).
//!
//! With `MYELIN_KAFKA_REF=1` the same steps, but the reload, run against Kafka 4.4 (on
//! 127.0.0.50) with the same certificates, and every step must give the same outcome.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::certs::Ca;
use common::kref::{jars_installed, tool, KafkaRef};
use common::{free_addr, Broker, PLAIN_JAAS};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

const KAFKA_HOST: &str = "127.0.0.50";
/// The names the broker's certificate is valid for.
const SERVER_NAMES: &[&str] = &["localhost", "127.0.0.1", KAFKA_HOST];
const AUTHORIZER: &str = "org.apache.kafka.metadata.authorizer.StandardAuthorizer";

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// A client properties file; `keystore` for a client certificate, `sasl` for PLAIN.
fn client(dir: &Path, name: &str, protocol: &str, keystore: Option<&Path>, ca: &Path) -> String {
    let mut text = format!(
        "security.protocol={protocol}\nssl.truststore.type=PEM\nssl.truststore.location={}\n",
        ca.display()
    );
    if let Some(k) = keystore {
        text += &format!(
            "ssl.keystore.type=PEM\nssl.keystore.location={}\n",
            k.display()
        );
    }
    if protocol == "SASL_SSL" {
        text += "sasl.mechanism=PLAIN\nsasl.jaas.config=org.apache.kafka.common.security.plain.\
                 PlainLoginModule required username=\"alice\" password=\"alice-secret\";\n";
    }
    write(dir, &format!("{name}.properties"), &text)
        .to_string_lossy()
        .into_owned()
}

fn produce(bootstrap: &str, topic: &str, props: &str, lines: &str) -> (bool, String) {
    let mut child = std::process::Command::new("timeout")
        .arg("120")
        .arg(common::kref::script())
        .arg("java")
        .arg("org.apache.kafka.tools.ConsoleProducer")
        .args(["--bootstrap-server", bootstrap, "--topic", topic])
        .args(["--command-config", props])
        .args(["--producer-property", "max.block.ms=15000"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(lines.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success() && !text.contains("Exception"), text)
}

fn consume(bootstrap: &str, topic: &str, props: &str, n: usize) -> String {
    let (_, out, err) = tool(
        "org.apache.kafka.tools.consumer.ConsoleConsumer",
        &[
            "--bootstrap-server",
            bootstrap,
            "--topic",
            topic,
            "--from-beginning",
            "--max-messages",
            &n.to_string(),
            "--timeout-ms",
            "15000",
            "--command-config",
            props,
        ],
    );
    for refusal in ["SslAuthenticationException", "TopicAuthorizationException"] {
        if err.contains(refusal) {
            return refusal.into();
        }
    }
    out.trim().to_string()
}

/// Where one broker under test is reached, and the client files the steps use.
struct Target {
    plaintext: String,
    ssl: String,
    sasl_ssl: String,
}

/// The client files: trusted client certificates of alice and bob, one from another CA.
struct Clients {
    alice: PathBuf,
    bob: PathBuf,
    stranger: PathBuf,
    ca: PathBuf,
}

/// The steps both brokers go through, with what each gave.
fn scenario(t: &Target, c: &Clients, d: &Path) -> Vec<(String, String)> {
    let mut seen = Vec::new();
    let (code, out, err) = tool(
        "org.apache.kafka.tools.TopicCommand",
        &[
            "--bootstrap-server",
            &t.plaintext,
            "--create",
            "--topic",
            "tls-payments",
        ],
    );
    seen.push(("create topic".into(), format!("{code} {out}{err}")));
    // The certificate's subject is the principal: alice's, and the SASL user alice, may.
    let (code, _, err) = tool(
        "org.apache.kafka.tools.AclCommand",
        &[
            "--bootstrap-server",
            &t.plaintext,
            "--add",
            "--allow-principal",
            "User:CN=alice",
            "--allow-principal",
            "User:alice",
            "--operation",
            "All",
            "--topic",
            "tls-payments",
            "--group",
            "*",
        ],
    );
    seen.push(("acls".into(), format!("{code} {err}")));
    let mtls = client(d, "mtls", "SSL", Some(&c.alice), &c.ca);
    let (ok, out) = produce(&t.ssl, "tls-payments", &mtls, "t1\nt2\n");
    seen.push(("mtls produce".into(), if ok { "ok".into() } else { out }));
    let bob = client(d, "bob", "SSL", Some(&c.bob), &c.ca);
    let bare = client(d, "bare", "SSL", None, &c.ca);
    let eve = client(d, "eve", "SSL", Some(&c.stranger), &c.ca);
    // SASL inside TLS needs no client certificate.
    let sasl = client(d, "sasl", "SASL_SSL", None, &c.ca);
    // Reads as each client: alice's two records, bob refused by the ACLs, and no
    // certificate or one from another CA failing the handshake.
    for (step, addr, props, n) in [
        ("mtls consume", &t.ssl, &mtls, 2),
        ("mtls without acl", &t.ssl, &bob, 1),
        ("no certificate", &t.ssl, &bare, 1),
        ("untrusted certificate", &t.ssl, &eve, 1),
        ("sasl_ssl consume", &t.sasl_ssl, &sasl, 2),
    ] {
        seen.push((step.into(), consume(addr, "tls-payments", props, n)));
    }
    seen
}

#[test]
fn tls_and_mtls_with_the_java_client() {
    if !jars_installed() {
        assert!(
            std::env::var_os("CI").is_none(),
            "Kafka 4.4's jars are missing (kref.sh install)"
        );
        eprintln!("skipped: Kafka 4.4's jars are not installed (kref.sh install)");
        return;
    }
    let dir = tempfile::tempdir_in(common::test_tmp()).unwrap();
    let d = dir.path();
    let ca = Ca::new("myelin-test-ca");
    let good_server = ca.issue("localhost", SERVER_NAMES, false);
    let store = write(d, "server.pem", &good_server);
    let clients = Clients {
        alice: write(d, "alice.pem", &ca.issue("alice", &[], false)),
        bob: write(d, "bob.pem", &ca.issue("bob", &[], false)),
        stranger: write(
            d,
            "stranger.pem",
            &Ca::new("other-ca").issue("eve", &[], false),
        ),
        ca: write(d, "ca.pem", &ca.cert.pem()),
    };
    let (ssl, sasl_ssl) = (free_addr(), free_addr());
    let props = write(
        d,
        "server.properties",
        &format!(
            "listeners=PLAINTEXT://127.0.0.1:9092,SSL://{ssl},SASL_SSL://{sasl_ssl}\n\
             ssl.keystore.type=PEM\nssl.keystore.location={}\n\
             ssl.truststore.type=PEM\nssl.truststore.location={}\n\
             listener.name.ssl.ssl.client.auth=required\n\
             authorizer.class.name={AUTHORIZER}\nsuper.users=User:ANONYMOUS\n\
             sasl.enabled.mechanisms=PLAIN\n\
             listener.name.sasl_ssl.plain.sasl.jaas.config={PLAIN_JAAS} required \
             user_alice=\"alice-secret\";\n",
            store.display(),
            clients.ca.display()
        ),
    );
    let broker = Broker::start(&["--config", props.to_str().unwrap()]);
    let myelin = scenario(
        &Target {
            plaintext: broker.bootstrap(),
            ssl: ssl.to_string(),
            sasl_ssl: sasl_ssl.to_string(),
        },
        &clients,
        d,
    );
    let step = |name: &str| {
        myelin
            .iter()
            .find(|(s, _)| s == name)
            .map(|(_, o)| o.as_str())
            .unwrap_or_default()
    };
    assert_eq!(step("mtls produce"), "ok", "{myelin:#?}");
    assert_eq!(step("mtls consume"), "t1\nt2");
    assert_eq!(step("mtls without acl"), "TopicAuthorizationException");
    assert_eq!(step("no certificate"), "SslAuthenticationException");
    assert_eq!(step("untrusted certificate"), "SslAuthenticationException");
    assert_eq!(step("sasl_ssl consume"), "t1\nt2");

    // An expired server certificate is picked up (the broker checks its files every 5 s),
    // and clients refuse it; the good one put back is picked up too.
    let sasl_ssl = sasl_ssl.to_string();
    let sasl = client(d, "sasl", "SASL_SSL", None, &clients.ca);
    std::fs::write(&store, ca.issue("localhost", SERVER_NAMES, true)).unwrap();
    std::thread::sleep(Duration::from_secs(6));
    let _ = std::net::TcpStream::connect(&sasl_ssl); // an accept triggers the check
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        consume(&sasl_ssl, "tls-payments", &sasl, 1),
        "SslAuthenticationException"
    );
    std::fs::write(&store, &good_server).unwrap();
    std::thread::sleep(Duration::from_secs(6));
    let _ = std::net::TcpStream::connect(&sasl_ssl);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(consume(&sasl_ssl, "tls-payments", &sasl, 2), "t1\nt2");

    if std::env::var_os("MYELIN_KAFKA_REF").is_none() {
        return;
    }
    let space = "\\u0020";
    let store = store.display();
    let ca_pem = clients.ca.display();
    let kafka_props = [
        format!(
            "listeners=PLAINTEXT://{KAFKA_HOST}:9092,CONTROLLER://{KAFKA_HOST}:9093,\
             SSL://{KAFKA_HOST}:9095,SASL_SSL://{KAFKA_HOST}:9096"
        ),
        format!(
            "advertised.listeners=PLAINTEXT://{KAFKA_HOST}:9092,SSL://{KAFKA_HOST}:9095,\
             SASL_SSL://{KAFKA_HOST}:9096"
        ),
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,\
         SASL_SSL:SASL_SSL"
            .to_string(),
        "ssl.keystore.type=PEM".to_string(),
        format!("ssl.keystore.location={store}"),
        "ssl.truststore.type=PEM".to_string(),
        format!("ssl.truststore.location={ca_pem}"),
        "listener.name.ssl.ssl.client.auth=required".to_string(),
        format!("authorizer.class.name={AUTHORIZER}"),
        "super.users=User:ANONYMOUS".to_string(),
        "sasl.enabled.mechanisms=PLAIN".to_string(),
        format!(
            "listener.name.sasl_ssl.plain.sasl.jaas.config={PLAIN_JAAS}{space}required\
             {space}user_alice=\"alice-secret\";"
        ),
    ];
    let kafka_props = kafka_props.iter().map(String::as_str).collect::<Vec<_>>();
    let kafka = KafkaRef::start_with(KAFKA_HOST, &kafka_props);
    let reference = scenario(
        &Target {
            plaintext: kafka.bootstrap(),
            ssl: format!("{KAFKA_HOST}:9095"),
            sasl_ssl: format!("{KAFKA_HOST}:9096"),
        },
        &clients,
        d,
    );
    for ((step, ours), (_, theirs)) in myelin.iter().zip(&reference) {
        assert_eq!(ours, theirs, "step {step:?}: Myelin and Kafka 4.4 differ");
    }
}
