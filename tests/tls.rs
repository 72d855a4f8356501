//! TLS listeners with Kafka 4.4's Java client (its console producer and consumer), certificates
//! made by the test:
//!
//! * SSL with `ssl.client.auth=required`: a client with a certificate from the trusted CA
//!   round-trips records; one without a certificate, or with one from another CA, fails its
//!   handshake;
//! * SASL_SSL with PLAIN: authentication runs inside TLS;
//! * the keystore file replaced by an expired certificate is reloaded, and new clients
//!   refuse the broker; put back, it is reloaded again and clients connect.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::certs::Ca;
use common::kref::{jars_installed, tool};
use common::{free_addr, Broker};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The names the broker's certificate is valid for.
const SERVER_NAMES: &[&str] = &["localhost", "127.0.0.1"];

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
    if err.contains("SslAuthenticationException") {
        return "SslAuthenticationException".into();
    }
    out.trim().to_string()
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
    let ca_pem = write(d, "ca.pem", &ca.cert.pem());
    let good_server = ca.issue("localhost", SERVER_NAMES, false);
    let store = write(d, "server.pem", &good_server);
    let alice = write(d, "alice.pem", &ca.issue("alice", &[], false));
    let stranger = write(
        d,
        "stranger.pem",
        &Ca::new("other-ca").issue("eve", &[], false),
    );
    let (ssl, sasl_ssl) = (free_addr(), free_addr());
    let props = write(
        d,
        "server.properties",
        &format!(
            "listeners=PLAINTEXT://127.0.0.1:9092,SSL://{ssl},SASL_SSL://{sasl_ssl}\n\
             ssl.keystore.type=PEM\nssl.keystore.location={}\n\
             ssl.truststore.type=PEM\nssl.truststore.location={}\n\
             listener.name.ssl.ssl.client.auth=required\n\
             sasl.enabled.mechanisms=PLAIN\n\
             listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.\
             plain.PlainLoginModule required user_alice=\"alice-secret\";\n",
            store.display(),
            ca_pem.display()
        ),
    );
    let _broker = Broker::start(&["--config", props.to_str().unwrap()]);
    let (ssl, sasl_ssl) = (ssl.to_string(), sasl_ssl.to_string());

    // mTLS: the trusted client certificate round-trips.
    let mtls = client(d, "mtls", "SSL", Some(&alice), &ca_pem);
    let (ok, out) = produce(&ssl, "tls-payments", &mtls, "t1\nt2\n");
    assert!(ok, "{out}");
    assert_eq!(consume(&ssl, "tls-payments", &mtls, 2), "t1\nt2");

    // No certificate, or one from another CA: the handshake fails.
    let bare = client(d, "bare", "SSL", None, &ca_pem);
    assert_eq!(
        consume(&ssl, "tls-payments", &bare, 1),
        "SslAuthenticationException"
    );
    let eve = client(d, "eve", "SSL", Some(&stranger), &ca_pem);
    assert_eq!(
        consume(&ssl, "tls-payments", &eve, 1),
        "SslAuthenticationException"
    );

    // SASL inside TLS, no client certificate needed there.
    let sasl = client(d, "sasl", "SASL_SSL", None, &ca_pem);
    assert_eq!(consume(&sasl_ssl, "tls-payments", &sasl, 2), "t1\nt2");

    // An expired server certificate is picked up (the broker checks its files every 5 s),
    // and clients refuse it; the good one put back is picked up too.
    std::fs::write(&store, ca.issue("localhost", SERVER_NAMES, true)).unwrap();
    std::thread::sleep(Duration::from_secs(6));
    let _ = std::net::TcpStream::connect(&sasl_ssl); // an accept triggers the check
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        consume(&sasl_ssl, "tls-payments", &sasl, 1),
        "SslAuthenticationException"
    );
    std::fs::write(&store, good_server).unwrap();
    std::thread::sleep(Duration::from_secs(6));
    let _ = std::net::TcpStream::connect(&sasl_ssl);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(consume(&sasl_ssl, "tls-payments", &sasl, 2), "t1\nt2");
}
