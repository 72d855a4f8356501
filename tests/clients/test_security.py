"""kafka-python over Myelin's SASL and TLS listeners.

scripts/client-tests starts the broker with PLAINTEXT, SASL_PLAINTEXT, SSL and SASL_SSL
listeners and passes them in MYELIN_SASL_BOOTSTRAP, MYELIN_SSL_BOOTSTRAP,
MYELIN_SASL_SSL_BOOTSTRAP, with the CA in MYELIN_SSL_CA. PLAIN users come from the broker's
JAAS line (alice / alice-secret); SCRAM users are created here with
AlterUserScramCredentials on the PLAINTEXT listener.
"""

import os
import uuid

import pytest
from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import (
    KafkaAdminClient,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)
import kafka.errors as Errors

BOOTSTRAP = os.environ.get("MYELIN_BOOTSTRAP", "127.0.0.1:9092")
SASL = os.environ.get("MYELIN_SASL_BOOTSTRAP")
SSL = os.environ.get("MYELIN_SSL_BOOTSTRAP")
SASL_SSL = os.environ.get("MYELIN_SASL_SSL_BOOTSTRAP")
CA = os.environ.get("MYELIN_SSL_CA")

pytestmark = pytest.mark.skipif(
    not (SASL and SSL and SASL_SSL and CA) and not os.environ.get("CI"),
    reason="the broker was not started with security listeners (scripts/client-tests does)",
)


def sasl(mechanism, user, password, protocol="SASL_PLAINTEXT"):
    cfg = dict(
        security_protocol=protocol,
        sasl_mechanism=mechanism,
        sasl_plain_username=user,
        sasl_plain_password=password,
        request_timeout_ms=15000,
    )
    if protocol == "SASL_SSL":
        cfg.update(ssl_cafile=CA, ssl_check_hostname=False)
    return cfg


def round_trip(bootstrap, cfg):
    topic = "sec-" + uuid.uuid4().hex[:8]
    producer = KafkaProducer(bootstrap_servers=bootstrap, **cfg)
    producer.send(topic, key=b"k", value=b"v").get(timeout=20)
    producer.close()
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=15000,
        **cfg,
    )
    got = []
    for m in consumer:
        got.append((m.key, m.value))
        break
    consumer.close()
    return got


@pytest.fixture(scope="module")
def scram_user():
    admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    name = "py-" + uuid.uuid4().hex[:6]
    for mechanism in (ScramMechanism.SCRAM_SHA_256, ScramMechanism.SCRAM_SHA_512):
        result = admin.alter_user_scram_credentials(
            [UserScramCredentialUpsertion(name, mechanism, "py-secret", iterations=8192)]
        )
        assert result == {name: None}
    described = admin.describe_user_scram_credentials([name])
    assert sorted(
        (c["mechanism"], c["iterations"]) for c in described[name]["credential_infos"]
    ) == [(ScramMechanism.SCRAM_SHA_256, 8192), (ScramMechanism.SCRAM_SHA_512, 8192)]
    yield name
    admin.alter_user_scram_credentials(
        [UserScramCredentialDeletion(name, ScramMechanism.SCRAM_SHA_512)]
    )
    admin.close()


def test_plain_round_trips():
    assert round_trip(SASL, sasl("PLAIN", "alice", "alice-secret")) == [(b"k", b"v")]


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_scram_round_trips(scram_user, mechanism):
    assert round_trip(SASL, sasl(mechanism, scram_user, "py-secret")) == [(b"k", b"v")]


@pytest.mark.parametrize(
    "mechanism,user,password",
    [("PLAIN", "alice", "wrong"), ("SCRAM-SHA-256", "nobody", "x")],
)
def test_bad_credentials_are_refused(mechanism, user, password):
    cfg = sasl(mechanism, user, password)
    cfg.update(max_block_ms=5000, request_timeout_ms=5000, bootstrap_timeout_ms=5000)
    with pytest.raises(Errors.KafkaError):
        KafkaProducer(bootstrap_servers=SASL, **cfg).send("sec-refused", b"x").get(timeout=10)


def test_tls_round_trips():
    cfg = dict(security_protocol="SSL", ssl_cafile=CA, ssl_check_hostname=False)
    assert round_trip(SSL, cfg) == [(b"k", b"v")]


def test_scram_over_tls(scram_user):
    cfg = sasl("SCRAM-SHA-256", scram_user, "py-secret", protocol="SASL_SSL")
    assert round_trip(SASL_SSL, cfg) == [(b"k", b"v")]


def test_a_client_that_does_not_trust_the_broker_fails():
    with pytest.raises(Exception):
        KafkaProducer(
            bootstrap_servers=SSL,
            security_protocol="SSL",
            ssl_check_hostname=False,
            request_timeout_ms=5000,
            max_block_ms=5000,
            bootstrap_timeout_ms=5000,
        ).send("sec-untrusted", b"x").get(timeout=10)
