//! SASL on a SASL_PLAINTEXT listener beside the PLAINTEXT one, with real clients: Kafka 4.4's
//! own tools (the Java client) and librdkafka.
//!
//! * `kafka-configs` sets SCRAM-SHA-256 and SCRAM-SHA-512 credentials over PLAINTEXT
//!   (AlterUserScramCredentials); the console producer authenticates with PLAIN, the console
//!   consumer with each SCRAM mechanism, and they see the same records.
//! * A wrong password, an unknown user and a deleted credential each get Kafka's
//!   SaslAuthenticationException with Kafka's message.
//! * A request before authentication, and an oversized frame before authentication, close
//!   the connection.
//! * librdkafka authenticates with PLAIN and round-trips a record.
//! * With `connections.max.reauth.ms` the session lifetime is announced, an expired session
//!   is closed at its next request, re-authenticating in time extends it, and
//!   re-authenticating as another user fails (KIP-368).
//!
//! With `MYELIN_KAFKA_REF=1` the same scenario runs against Kafka 4.4 (on 127.0.0.45) and
//! every step must give the same outcome.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::kref::{jars_installed, tool, KafkaRef};
use common::{free_addr, Broker, PLAIN_JAAS, SCRAM_JAAS};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

const KAFKA_HOST: &str = "127.0.0.45";
/// The reference Kafka of the OAUTHBEARER test.
const OAUTH_KAFKA_HOST: &str = "127.0.0.52";

/// Where one system under test is reached.
struct Target {
    plaintext: String,
    sasl: String,
}

/// A client properties file for `mechanism` as `user`.
fn client_props(dir: &Path, name: &str, mechanism: &str, user: &str, password: &str) -> String {
    let module = if mechanism == "PLAIN" {
        PLAIN_JAAS
    } else {
        SCRAM_JAAS
    };
    let path = dir.join(format!("{name}.properties"));
    std::fs::write(
        &path,
        format!(
            "security.protocol=SASL_PLAINTEXT\nsasl.mechanism={mechanism}\n\
             sasl.jaas.config={module} required username=\"{user}\" password=\"{password}\";\n"
        ),
    )
    .unwrap();
    path.to_string_lossy().into_owned()
}

/// The SaslAuthenticationException message a tool printed, or what it printed instead.
fn auth_failure(out: &str) -> String {
    const E: &str = "org.apache.kafka.common.errors.SaslAuthenticationException: ";
    out.lines()
        .find_map(|l| l.find(E).map(|i| l[i + E.len()..].trim().to_string()))
        .unwrap_or_else(|| format!("no SaslAuthenticationException in: {out}"))
}

/// Reads `n` records from the start of `topic` with the console consumer; its stdout.
fn consume(target: &Target, topic: &str, props: &str, n: usize) -> (i32, String, String) {
    tool(
        "org.apache.kafka.tools.consumer.ConsoleConsumer",
        &[
            "--bootstrap-server",
            &target.sasl,
            "--topic",
            topic,
            "--from-beginning",
            "--max-messages",
            &n.to_string(),
            "--timeout-ms",
            "20000",
            "--command-config",
            props,
        ],
    )
}

/// Whether the server closes a connection that sends `frame` before authenticating.
fn closes_on(addr: &str, frame: &[u8]) -> bool {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let _ = s.write_all(frame);
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

/// Metadata v1 for all topics, correlation id 7, client id "raw".
fn metadata_request() -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&3i16.to_be_bytes()); // Metadata
    body.extend_from_slice(&1i16.to_be_bytes());
    body.extend_from_slice(&7i32.to_be_bytes());
    body.extend_from_slice(&3i16.to_be_bytes());
    body.extend_from_slice(b"raw");
    body.extend_from_slice(&(-1i32).to_be_bytes()); // all topics
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    frame
}

/// What one run of the scenario saw, step by step, for comparing two brokers.
fn scenario(target: &Target, dir: &Path) -> Vec<(String, String)> {
    let mut seen = Vec::new();
    let topic = "sasl-payments";
    // SCRAM credentials through kafka-configs on the PLAINTEXT listener: two mechanisms of
    // one user in one request are refused (as Kafka refuses them), one at a time they go.
    let add = |config: &str| {
        tool(
            "org.apache.kafka.tools.ConfigCommand",
            &[
                "--bootstrap-server",
                &target.plaintext,
                "--alter",
                "--add-config",
                config,
                "--entity-type",
                "users",
                "--entity-name",
                "bob",
            ],
        )
    };
    let (code, out, err) = add(
        "SCRAM-SHA-256=[iterations=8192,password=bob-secret],SCRAM-SHA-512=[password=bob-secret]",
    );
    assert_ne!(code, 0, "{out}");
    seen.push((
        "alter two mechanisms at once".into(),
        err.lines()
            .find(|l| l.starts_with("Caused by"))
            .unwrap_or(&err)
            .to_string(),
    ));
    for config in [
        "SCRAM-SHA-256=[iterations=8192,password=bob-secret]",
        "SCRAM-SHA-512=[password=bob-secret]",
    ] {
        let (code, out, err) = add(config);
        assert_eq!(code, 0, "{out}{err}");
        seen.push((format!("alter {config}"), out.trim().to_string()));
    }

    // PLAIN producer.
    let plain = client_props(dir, "plain", "PLAIN", "alice", "alice-secret");
    let mut producer = std::process::Command::new("timeout")
        .arg("120")
        .arg(common::kref::script())
        .arg("java")
        .arg("org.apache.kafka.tools.ConsoleProducer")
        .args(["--bootstrap-server", &target.sasl, "--topic", topic])
        .args(["--command-config", &plain])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    producer
        .stdin
        .take()
        .unwrap()
        .write_all(b"p1\np2\np3\n")
        .unwrap();
    let out = producer.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Each SCRAM mechanism reads them back.
    for mechanism in ["SCRAM-SHA-256", "SCRAM-SHA-512"] {
        let props = client_props(dir, mechanism, mechanism, "bob", "bob-secret");
        let (code, out, err) = consume(target, topic, &props, 3);
        assert_eq!(code, 0, "{mechanism}: {out}{err}");
        seen.push((format!("consume {mechanism}"), out.trim().to_string()));
    }

    // Wrong password, unknown user: Kafka's exception and message.
    let cases = [
        ("plain wrong password", "PLAIN", "alice", "nope"),
        ("plain unknown user", "PLAIN", "mallory", "x"),
        ("scram wrong password", "SCRAM-SHA-256", "bob", "nope"),
        ("scram unknown user", "SCRAM-SHA-512", "mallory", "x"),
    ];
    for (name, mechanism, user, password) in cases {
        let props = client_props(
            dir,
            name.replace(' ', "-").as_str(),
            mechanism,
            user,
            password,
        );
        // The console consumer reports the failure (and exits 0 all the same).
        let (_, out, err) = consume(target, topic, &props, 1);
        assert!(!out.contains("p1"), "{name} was let in: {out}");
        seen.push((name.to_string(), auth_failure(&format!("{out}{err}"))));
    }

    // A deleted credential no longer logs in.
    let (code, out, err) = tool(
        "org.apache.kafka.tools.ConfigCommand",
        &[
            "--bootstrap-server",
            &target.plaintext,
            "--alter",
            "--delete-config",
            "SCRAM-SHA-512",
            "--entity-type",
            "users",
            "--entity-name",
            "bob",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let props = client_props(dir, "deleted", "SCRAM-SHA-512", "bob", "bob-secret");
    let (_, out, err) = consume(target, topic, &props, 1);
    assert!(
        !out.contains("p1"),
        "a deleted credential was let in: {out}"
    );
    seen.push((
        "deleted credential".into(),
        auth_failure(&format!("{out}{err}")),
    ));

    // Before authentication: a Metadata request, or a frame far over the pre-authentication
    // limit, closes the connection.
    seen.push((
        "metadata before authenticating closes".into(),
        closes_on(&target.sasl, &metadata_request()).to_string(),
    ));
    let mut huge = (64i32 << 20).to_be_bytes().to_vec();
    huge.extend_from_slice(&[0, 17, 0, 1, 0, 0, 0, 1]);
    seen.push((
        "oversized frame before authenticating closes".into(),
        closes_on(&target.sasl, &huge).to_string(),
    ));

    // librdkafka with PLAIN.
    seen.push((
        "librdkafka plain".into(),
        common::kafka::round_trip(
            &[
                ("bootstrap.servers", &target.sasl),
                ("security.protocol", "SASL_PLAINTEXT"),
                ("sasl.mechanism", "PLAIN"),
                ("sasl.username", "alice"),
                ("sasl.password", "alice-secret"),
            ],
            "sasl-rdkafka",
        ),
    ));
    seen
}

#[test]
fn sasl_plain_and_scram_with_real_clients() {
    if !jars_installed() {
        assert!(
            std::env::var_os("CI").is_none(),
            "Kafka 4.4's jars are missing (kref.sh install)"
        );
        eprintln!("skipped: Kafka 4.4's jars are not installed (kref.sh install)");
        return;
    }
    let dir = tempfile::tempdir_in(common::test_tmp()).unwrap();
    let sasl = free_addr();
    let props = dir.path().join("server.properties");
    // The PLAINTEXT listener's address comes from the harness's --listen, which wins.
    std::fs::write(
        &props,
        format!(
            "listeners=PLAINTEXT://127.0.0.1:9092,SASL_PLAINTEXT://{sasl}\n\
             sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512\n\
             listener.name.sasl_plaintext.plain.sasl.jaas.config={PLAIN_JAAS} required \
             user_alice=\"alice-secret\";\n"
        ),
    )
    .unwrap();
    let broker = Broker::start(&["--config", props.to_str().unwrap()]);
    let myelin = scenario(
        &Target {
            plaintext: broker.bootstrap(),
            sasl: sasl.to_string(),
        },
        dir.path(),
    );
    let expect = |step: &str| -> String {
        myelin
            .iter()
            .find(|(s, _)| s == step)
            .map(|(_, o)| o.clone())
            .unwrap_or_default()
    };
    assert_eq!(expect("consume SCRAM-SHA-256"), "p1\np2\np3");
    assert_eq!(expect("consume SCRAM-SHA-512"), "p1\np2\np3");
    assert_eq!(
        expect("plain wrong password"),
        "Authentication failed: Invalid username or password"
    );
    assert_eq!(
        expect("scram wrong password"),
        "Authentication failed during authentication due to invalid credentials with SASL \
         mechanism SCRAM-SHA-256"
    );
    assert_eq!(expect("metadata before authenticating closes"), "true");
    assert_eq!(
        expect("oversized frame before authenticating closes"),
        "true"
    );
    assert_eq!(expect("librdkafka plain"), "k=v");

    if std::env::var_os("MYELIN_KAFKA_REF").is_none() {
        return;
    }
    let space = "\\u0020";
    let jaas = |module: &str, opts: &str| format!("{module}{space}required{opts};");
    let plain_jaas = format!(
        "listener.name.sasl_plaintext.plain.sasl.jaas.config={}",
        jaas(PLAIN_JAAS, &format!("{space}user_alice=\"alice-secret\""))
    );
    let scram256 = format!(
        "listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config={}",
        jaas(SCRAM_JAAS, "")
    );
    let scram512 = format!(
        "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config={}",
        jaas(SCRAM_JAAS, "")
    );
    let listeners = format!(
        "listeners=PLAINTEXT://{KAFKA_HOST}:9092,CONTROLLER://{KAFKA_HOST}:9093,SASL_PLAINTEXT://{KAFKA_HOST}:9094"
    );
    let advertised = format!(
        "advertised.listeners=PLAINTEXT://{KAFKA_HOST}:9092,SASL_PLAINTEXT://{KAFKA_HOST}:9094"
    );
    let kafka = KafkaRef::start_with(
        KAFKA_HOST,
        &[
            &listeners,
            &advertised,
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT",
            "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
            &plain_jaas,
            &scram256,
            &scram512,
        ],
    );
    let reference = scenario(
        &Target {
            plaintext: kafka.bootstrap(),
            sasl: format!("{KAFKA_HOST}:9094"),
        },
        dir.path(),
    );
    for ((step, ours), (_, theirs)) in myelin.iter().zip(&reference) {
        assert_eq!(ours, theirs, "step {step:?}: Myelin and Kafka 4.4 differ");
    }
}

/// One request frame with a v1 header (client id "raw").
fn frame(key: i16, version: i16, correlation: i32, body: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&key.to_be_bytes());
    b.extend_from_slice(&version.to_be_bytes());
    b.extend_from_slice(&correlation.to_be_bytes());
    b.extend_from_slice(&3i16.to_be_bytes());
    b.extend_from_slice(b"raw");
    b.extend_from_slice(body);
    let mut f = (b.len() as i32).to_be_bytes().to_vec();
    f.extend_from_slice(&b);
    f
}

/// The body of the next response (after its correlation id), or `None` once closed.
fn response(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).ok()?;
    let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
    s.read_exact(&mut body).ok()?;
    Some(body.split_off(4))
}

/// SaslHandshake v1 and SaslAuthenticate v1 with PLAIN: (error code, session lifetime).
fn plain_login(s: &mut TcpStream, user: &str, password: &str) -> Option<(i16, i64)> {
    let mechanism = b"PLAIN";
    let mut body = (mechanism.len() as i16).to_be_bytes().to_vec();
    body.extend_from_slice(mechanism);
    s.write_all(&frame(17, 1, 1, &body)).ok()?;
    let r = response(s)?;
    assert_eq!(i16::from_be_bytes([r[0], r[1]]), 0, "handshake refused");
    let token = format!("\0{user}\0{password}");
    let mut body = (token.len() as i32).to_be_bytes().to_vec();
    body.extend_from_slice(token.as_bytes());
    s.write_all(&frame(36, 1, 2, &body)).ok()?;
    let r = response(s)?;
    let code = i16::from_be_bytes([r[0], r[1]]);
    let msg_len = i16::from_be_bytes([r[2], r[3]]).max(0) as usize;
    let at = 4 + msg_len;
    let bytes_len = i32::from_be_bytes(r[at..at + 4].try_into().unwrap()).max(0) as usize;
    let at = at + 4 + bytes_len;
    let lifetime = i64::from_be_bytes(r[at..at + 8].try_into().unwrap());
    Some((code, lifetime))
}

/// Whether a Metadata request on `s` is answered (rather than the connection closed).
fn answered(s: &mut TcpStream) -> bool {
    s.write_all(&metadata_request()).is_ok() && response(s).is_some()
}

#[test]
fn sessions_expire_unless_the_client_reauthenticates() {
    let dir = tempfile::tempdir_in(common::test_tmp()).unwrap();
    let sasl = free_addr();
    let props = dir.path().join("server.properties");
    std::fs::write(
        &props,
        format!(
            "listeners=PLAINTEXT://127.0.0.1:9092,SASL_PLAINTEXT://{sasl}\n\
             sasl.enabled.mechanisms=PLAIN\nconnections.max.reauth.ms=2000\n\
             listener.name.sasl_plaintext.plain.sasl.jaas.config={PLAIN_JAAS} required \
             user_alice=\"alice-secret\" user_bob=\"bob-secret\";\n"
        ),
    )
    .unwrap();
    let _broker = Broker::start(&["--config", props.to_str().unwrap()]);
    let connect = || {
        let s = TcpStream::connect(sasl).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    };
    // The session lifetime is announced, requests are served, and past it the next request
    // closes the connection.
    let mut s = connect();
    assert_eq!(
        plain_login(&mut s, "alice", "alice-secret"),
        Some((0, 2000))
    );
    assert!(answered(&mut s));
    std::thread::sleep(Duration::from_millis(2300));
    assert!(!answered(&mut s), "an expired session was served");

    // Re-authenticating in time extends the session.
    let mut s = connect();
    assert_eq!(
        plain_login(&mut s, "alice", "alice-secret"),
        Some((0, 2000))
    );
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(
        plain_login(&mut s, "alice", "alice-secret"),
        Some((0, 2000))
    );
    std::thread::sleep(Duration::from_millis(1200));
    assert!(answered(&mut s), "a re-authenticated session was closed");

    // Re-authenticating as someone else fails and closes the connection.
    assert_eq!(
        plain_login(&mut s, "bob", "bob-secret").map(|r| r.0),
        Some(58)
    );
    assert!(!answered(&mut s));
}

/// An ES256 JWT for `sub`, valid for `valid_s` seconds from now (negative: expired).
fn jwt(key: &ring::signature::EcdsaKeyPair, sub: &str, valid_s: i64) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use base64::Engine as _;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let header = B64.encode(r#"{"alg":"ES256","typ":"JWT","kid":"test-key"}"#);
    let claims = B64.encode(format!(
        r#"{{"sub":"{sub}","iat":{now},"exp":{},"aud":"myelin","iss":"https://idp.test","scope":"kafka"}}"#,
        now + valid_s
    ));
    let signed = format!("{header}.{claims}");
    let sig = key
        .sign(&ring::rand::SystemRandom::new(), signed.as_bytes())
        .unwrap();
    format!("{signed}.{}", B64.encode(sig.as_ref()))
}

#[test]
fn oauthbearer_tokens_are_checked_against_a_jwks() {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use base64::Engine as _;
    use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
    if !jars_installed() {
        assert!(
            std::env::var_os("CI").is_none(),
            "Kafka 4.4's jars are missing"
        );
        return;
    }
    let dir = tempfile::tempdir_in(common::test_tmp()).unwrap();
    let d = dir.path();
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let key =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let point = key.public_key().as_ref();
    let jwks = d.join("jwks.json");
    std::fs::write(
        &jwks,
        format!(
            r#"{{"keys":[{{"kty":"EC","crv":"P-256","use":"sig","kid":"test-key","x":"{}","y":"{}"}}]}}"#,
            B64.encode(&point[1..33]),
            B64.encode(&point[33..65])
        ),
    )
    .unwrap();
    let sasl = free_addr();
    let props = d.join("server.properties");
    std::fs::write(
        &props,
        format!(
            "listeners=PLAINTEXT://127.0.0.1:9092,SASL_PLAINTEXT://{sasl}\n\
             sasl.enabled.mechanisms=OAUTHBEARER\n\
             listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config=org.apache.kafka.common.\
             security.oauthbearer.OAuthBearerLoginModule required;\n\
             listener.name.sasl_plaintext.oauthbearer.sasl.server.callback.handler.class=org.\
             apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler\n\
             sasl.oauthbearer.jwks.endpoint.url=file://{}\n\
             sasl.oauthbearer.expected.audience=myelin\n\
             sasl.oauthbearer.expected.issuer=https://idp.test\n",
            jwks.display()
        ),
    )
    .unwrap();
    let broker = Broker::start(&["--config", props.to_str().unwrap()]);
    // The Java client reads its token from a file (Kafka 4's file: token endpoint).
    let client = |name: &str, token: &str| -> String {
        let token_file = d.join(format!("{name}.jwt"));
        std::fs::write(&token_file, token).unwrap();
        let path = d.join(format!("{name}.properties"));
        std::fs::write(
            &path,
            format!(
                "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=OAUTHBEARER\n\
                 sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.\
                 OAuthBearerLoginModule required;\n\
                 sasl.login.callback.handler.class=org.apache.kafka.common.security.\
                 oauthbearer.OAuthBearerLoginCallbackHandler\n\
                 sasl.oauthbearer.token.endpoint.url=file://{}\n",
                token_file.display()
            ),
        )
        .unwrap();
        path.to_string_lossy().into_owned()
    };
    let target = Target {
        plaintext: broker.bootstrap(),
        sasl: sasl.to_string(),
    };
    std::env::set_var(
        "JAVA_TOOL_OPTIONS",
        format!(
            "-Dorg.apache.kafka.sasl.oauthbearer.allowed.urls=file://{0}/good.jwt,file://{0}/forged.jwt",
            d.display()
        ),
    );
    let good = client("good", &jwt(&key, "alice", 600));
    let (code, out, err) = tool(
        "org.apache.kafka.tools.TopicCommand",
        &[
            "--bootstrap-server",
            &target.sasl,
            "--command-config",
            &good,
            "--list",
        ],
    );
    assert_eq!(code, 0, "a valid token was refused: {out}{err}");
    // A token signed by another key fails on the broker.
    let other = EcdsaKeyPair::from_pkcs8(
        &ECDSA_P256_SHA256_FIXED_SIGNING,
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .unwrap()
            .as_ref(),
        &rng,
    )
    .unwrap();
    let forged = client("forged", &jwt(&other, "alice", 600));
    let (_, out, err) = consume(&target, "oauth", &forged, 1);
    let refusal = auth_failure(&format!("{out}{err}"));
    // RFC 7628's error challenge, then the failure with it as the message, as Kafka does.
    assert_eq!(refusal, r#"{"status":"invalid_token"}"#);
    if std::env::var_os("MYELIN_KAFKA_REF").is_some() {
        // Kafka 4.4 with the same settings and JWKS file (its broker, too, may read only
        // the file: URLs it is told to allow) gives the same answers.
        std::env::set_var(
            "JAVA_TOOL_OPTIONS",
            format!(
                "-Dorg.apache.kafka.sasl.oauthbearer.allowed.urls=file://{0}/good.jwt,\
                 file://{0}/forged.jwt,file://{1}",
                d.display(),
                jwks.display()
            ),
        );
        let space = "\\u0020";
        let listeners = format!(
            "listeners=PLAINTEXT://{OAUTH_KAFKA_HOST}:9092,CONTROLLER://{OAUTH_KAFKA_HOST}:9093,\
             SASL_PLAINTEXT://{OAUTH_KAFKA_HOST}:9094"
        );
        let advertised = format!(
            "advertised.listeners=PLAINTEXT://{OAUTH_KAFKA_HOST}:9092,\
             SASL_PLAINTEXT://{OAUTH_KAFKA_HOST}:9094"
        );
        let jaas = format!(
            "listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config=org.apache.kafka.common.\
             security.oauthbearer.OAuthBearerLoginModule{space}required;"
        );
        let jwks_url = format!(
            "sasl.oauthbearer.jwks.endpoint.url=file://{}",
            jwks.display()
        );
        let kafka = KafkaRef::start_with(
            OAUTH_KAFKA_HOST,
            &[
                &listeners,
                &advertised,
                "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,\
                 SASL_PLAINTEXT:SASL_PLAINTEXT",
                "sasl.enabled.mechanisms=OAUTHBEARER",
                &jaas,
                "listener.name.sasl_plaintext.oauthbearer.sasl.server.callback.handler.class=\
                 org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler",
                &jwks_url,
                "sasl.oauthbearer.expected.audience=myelin",
                "sasl.oauthbearer.expected.issuer=https://idp.test",
            ],
        );
        let reference = Target {
            plaintext: kafka.bootstrap(),
            sasl: format!("{OAUTH_KAFKA_HOST}:9094"),
        };
        let (code, out, err) = tool(
            "org.apache.kafka.tools.TopicCommand",
            &[
                "--bootstrap-server",
                &reference.sasl,
                "--command-config",
                &good,
                "--list",
            ],
        );
        assert_eq!(code, 0, "Kafka 4.4 refused the valid token: {out}{err}");
        let (_, out, err) = consume(&reference, "oauth", &forged, 1);
        assert_eq!(
            auth_failure(&format!("{out}{err}")),
            refusal,
            "Myelin and Kafka 4.4 refuse the forged token differently"
        );
    }
    std::env::remove_var("JAVA_TOOL_OPTIONS");
}
