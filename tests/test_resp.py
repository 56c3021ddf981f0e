"""The tracking path's lean Redis connection (lamed.core.connection): the reply parser
against every RESP2 shape split at every byte, and real redis-servers with a
password, a database number, a Unix socket, a dropped connection and a hang."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st

from lamed.cli.embedded import RedisServer
from lamed.core.connection import Connection
from lamed.core.errors import ProtocolError, ReplyError, SettingsError, StoreUnavailable
from lamed.core.events import Event
from lamed.core.protocol import PythonReader, new_reader, pack_all
from lamed.core.redis_url import connection_options
from lamed.core.settings import Settings
from lamed.store.results import open_store
from lamed.web import runtime

# -- the parser -------------------------------------------------------------

simple = st.text(alphabet=st.characters(blacklist_characters="\r\n", codec="utf-8"), max_size=20)
scalars = st.one_of(
    st.none(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.binary(max_size=300),
    simple.map(lambda text: ("simple", text)),
    simple.map(lambda text: ("error", text)),
)
replies = st.recursive(scalars, lambda inner: st.lists(inner, max_size=5), max_leaves=20)


def encode(reply) -> bytes:
    if reply is None:
        return b"$-1\r\n"
    if isinstance(reply, int):
        return b":%d\r\n" % reply
    if isinstance(reply, bytes):
        return b"$%d\r\n%b\r\n" % (len(reply), reply)
    if isinstance(reply, tuple):
        kind, text = reply
        return (b"+" if kind == "simple" else b"-") + text.encode() + b"\r\n"
    return b"*%d\r\n" % len(reply) + b"".join(encode(item) for item in reply)


def expected(reply):
    """What Connection.read gives for ``reply`` inside an array."""
    if isinstance(reply, tuple):
        kind, text = reply
        return text.encode() if kind == "simple" else ("error", text)
    if isinstance(reply, list):
        return [expected(item) for item in reply]
    return reply


def comparable(parsed):
    if isinstance(parsed, ReplyError):
        return ("error", str(parsed))
    if isinstance(parsed, list):
        return [comparable(item) for item in parsed]
    return parsed


PARSERS = {"python": False, "hiredis": True}


def connection_reading(data: bytes, chunk: int, use_hiredis: bool = False) -> tuple:
    """A Connection whose socket delivers ``data`` in pieces of ``chunk`` bytes."""
    ours, theirs = socket.socketpair()
    connection = Connection(connection_options("redis://127.0.0.1", 1.0), use_hiredis)
    ours.settimeout(1.0)
    connection._sock = ours

    def feed() -> None:
        for start in range(0, len(data), chunk):
            theirs.sendall(data[start : start + chunk])
            time.sleep(0)  # let the reader see a partial reply

    writer = threading.Thread(target=feed)
    writer.start()
    return connection, writer, theirs


def test_both_parsers_are_there():
    assert type(new_reader(False)) is PythonReader
    assert type(new_reader(True)).__module__.startswith("hiredis")  # installed with Lamed


@pytest.mark.parametrize("use_hiredis", PARSERS.values(), ids=PARSERS.keys())
@given(sequence=st.lists(replies, min_size=1, max_size=4), chunk=st.integers(min_value=1, max_value=64))
def test_every_reply_shape_parses_whatever_the_split(use_hiredis, sequence, chunk):
    data = b"".join(encode(reply) for reply in sequence)
    connection, writer, theirs = connection_reading(data, chunk, use_hiredis)
    try:
        for reply in sequence:
            if isinstance(reply, tuple) and reply[0] == "error":
                error = connection.read()  # a value: the replies after it are still owed
                assert isinstance(error, ReplyError) and str(error) == reply[1]
            else:
                assert comparable(connection.read()) == expected(reply)
    finally:
        writer.join()
        connection.close()
        theirs.close()


@pytest.mark.parametrize("use_hiredis", PARSERS.values(), ids=PARSERS.keys())
def test_a_closed_connection_mid_reply_is_a_connection_error(use_hiredis):
    connection, writer, theirs = connection_reading(b"$10\r\nhalf", 64, use_hiredis)
    writer.join()
    theirs.close()
    with pytest.raises(ConnectionError):
        connection.read()
    assert connection._sock is None  # closed


@pytest.mark.parametrize("use_hiredis", PARSERS.values(), ids=PARSERS.keys())
def test_garbage_is_a_protocol_error_and_closes(use_hiredis):
    connection, writer, theirs = connection_reading(b"?what\r\n", 64, use_hiredis)
    writer.join()
    with pytest.raises(ProtocolError):
        connection.read()
    assert connection._sock is None  # closed
    theirs.close()


def test_pack_is_resp():
    assert pack_all([(b"SET", b"k", b"v")]) == b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"
    assert pack_all([("SADD", b"k", "\u00e9", 7)]) == b"*4\r\n$4\r\nSADD\r\n$1\r\nk\r\n$2\r\n\xc3\xa9\r\n$1\r\n7\r\n"


@pytest.mark.parametrize("use_hiredis", PARSERS.values(), ids=PARSERS.keys())
@pytest.mark.parametrize("chunk", [1, 7, 4096])
def test_a_transactions_replies_are_read_whatever_the_split(use_hiredis, chunk):
    queued = b"+OK\r\n" + b"+QUEUED\r\n" * 40
    connection, writer, theirs = connection_reading(queued + b"*2\r\n:1\r\n:2\r\n", chunk, use_hiredis)
    try:
        assert [connection.read() for _ in range(41)] == [b"OK"] + [b"QUEUED"] * 40
        assert connection.read() == [1, 2]
    finally:
        writer.join()
        connection.close()
        theirs.close()


@pytest.mark.parametrize("use_hiredis", PARSERS.values(), ids=PARSERS.keys())
def test_an_error_among_a_transactions_replies_is_read_as_a_value_and_the_stream_stays_in_step(use_hiredis):
    replies = b"+OK\r\n+QUEUED\r\n-ERR wrong type\r\n+QUEUED\r\n:5\r\n"
    connection, writer, theirs = connection_reading(replies, 3, use_hiredis)
    try:
        assert [connection.read(), connection.read()] == [b"OK", b"QUEUED"]
        error = connection.read()
        assert isinstance(error, ReplyError) and str(error) == "ERR wrong type"
        assert [connection.read(), connection.read()] == [b"QUEUED", 5]  # the stream stays in step
    finally:
        writer.join()
        connection.close()
        theirs.close()


# -- URLs -------------------------------------------------------------------


@pytest.mark.parametrize(
    "url, where",
    [
        ("redis://127.0.0.1:7000/2", ("127.0.0.1", 7000, None, False, None, None, 2)),
        ("redis://cache.example", ("cache.example", 6379, None, False, None, None, 0)),
        ("redis://:s%40cret@h:1", ("h", 1, None, False, None, "s@cret", 0)),
        ("redis://alice:pw@h:1/0", ("h", 1, None, False, "alice", "pw", 0)),
        ("rediss://h:6380/1", ("h", 6380, None, True, None, None, 1)),
        ("redis://h/?db=5", ("h", 6379, None, False, None, None, 5)),
        ("unix:///run/redis.sock?db=3&password=pw", ("127.0.0.1", 6379, "/run/redis.sock", False, None, "pw", 3)),
    ],
)
def test_urls_read_as_redis_py_reads_them(url, where):
    address = connection_options(url, 0.5)
    found = (address.host, address.port, address.path, address.tls, address.username, address.password, address.db)
    assert found == where
    pool = redis.ConnectionPool.from_url(url).connection_kwargs  # the same reading as redis-py's
    assert pool.get("db", 0) == address.db and pool.get("password") == address.password


@pytest.mark.parametrize(
    "url", ["http://h", "redis://h:notaport", "redis://h/x", "unix://", "rediss://h/?ssl_cert_reqs=maybe"]
)
def test_bad_urls_are_refused(url):
    with pytest.raises(ValueError):
        connection_options(url, 0.5)


def test_a_bad_url_is_a_settings_error_not_a_crash():
    with pytest.raises(SettingsError):
        runtime.build_tracker(Settings(redis_url="redis://h:notaport"))


# -- real servers ------------------------------------------------------------


def test_password_and_database_from_the_url():
    with RedisServer() as server:
        redis.Redis(port=server.port).config_set("requirepass", "s3cret pass")
        url = f"redis://:s3cret%20pass@127.0.0.1:{server.port}/3"
        tracker = runtime.build_tracker(Settings(redis_url=url))
        assert tracker.track(Event("ns", "exp", "a", "participate", "u1")) == "counted"
        observer = redis.Redis(port=server.port, password="s3cret pass", db=3)
        assert observer.dbsize() > 0
        assert redis.Redis(port=server.port, password="s3cret pass", db=0).dbsize() == 0
        wrong = runtime.build_tracker(Settings(redis_url=f"redis://:nope@127.0.0.1:{server.port}/3"))
        with pytest.raises(runtime.StoreUnavailable):
            wrong.track(Event("ns", "exp", "a", "participate", "u2"))


def test_unix_socket(tmp_path):
    path = tmp_path / "redis.sock"
    with RedisServer(extra_args=["--unixsocket", str(path), "--unixsocketperm", "700"]):
        tracker = runtime.build_tracker(Settings(redis_url=f"unix://{path}?db=1"))
        assert tracker.track(Event("ns", "exp", "a", "participate", "u1")) == "counted"
        assert tracker.track(Event("ns", "exp", "a", "participate", "u1")) == "duplicate"


def test_a_connection_the_server_dropped_is_reopened(redis_url):
    tracker = runtime.build_tracker(Settings(redis_url=redis_url))
    assert tracker.track(Event("ns", "exp", "a", "participate", "u1")) == "counted"
    observer = redis.Redis.from_url(redis_url)
    assert observer.client_kill_filter(_type="normal", skipme=True) >= 1
    time.sleep(0.05)
    assert tracker.track(Event("ns", "exp", "a", "participate", "u2")) == "counted"  # not a 503
    assert tracker.track(Event("ns", "exp", "a", "participate", "u1")) == "duplicate"


def test_a_hanging_server_is_a_timeout_within_the_setting(redis_url):
    tracker = runtime.build_tracker(Settings(redis_url=redis_url, redis_timeout_seconds=0.3))
    tracker.track(Event("ns", "exp", "a", "participate", "warm"))
    observer = redis.Redis.from_url(redis_url)
    observer.client_pause(1500)
    started = time.monotonic()
    with pytest.raises(runtime.StoreUnavailable):
        tracker.track(Event("ns", "exp", "a", "participate", "u1"))
    assert time.monotonic() - started < 1.0
    time.sleep(1.6)
    # The timed-out connection was dropped; the event was not stored, and now is, once.
    assert tracker.track(Event("ns", "exp", "a", "participate", "u1")) == "counted"
    assert observer.hgetall(next(observer.scan_iter(match=b"lamed:*:counts:*"))) == {
        b'["%s","participate","a"]' % time.strftime("%Y%m%d", time.gmtime()).encode(): b"2"
    }


def test_big_replies_arrive_whole(redis_url):
    observer = redis.Redis.from_url(redis_url)
    fields = {f"field {n}".encode(): bytes([n % 256]) * 50_000 for n in range(40)}  # 2 MB
    observer.hset(b"big", mapping=fields)
    tracker = runtime.build_tracker(Settings(redis_url=redis_url))
    assert tracker.read_hash(b"big") == fields


def test_the_tracking_protocol_runs_on_the_python_parser(redis_url, monkeypatch):
    """As in a Lambda bundle, which holds no compiled extensions."""
    monkeypatch.setattr("lamed.core.protocol._HiredisReader", None)
    tracker = runtime.build_tracker(Settings(redis_url=redis_url))
    events = [Event("ns", "exp", "a", "participate", f"u{n}") for n in range(50)]
    assert tracker.track_many(events + events[:3]) == ["counted"] * 50 + ["duplicate"] * 3
    assert type(tracker.nodes.checkout(b"x")._reader) is PythonReader


@pytest.mark.parametrize("track_mode", ["watch", "lua"])
@pytest.mark.parametrize("use_hiredis", PARSERS.values(), ids=PARSERS.keys())
def test_a_counter_that_fails_inside_the_transaction_loses_no_event(redis_url, monkeypatch, use_hiredis, track_mode):
    """EXEC and scripts do not roll back: a counts key of the wrong type makes
    HINCRBY fail after SET stored the flag. That event must stay countable
    (a 503 now, counted once the key is fixed); the others are counted once."""
    if not use_hiredis:
        monkeypatch.setattr("lamed.core.protocol._HiredisReader", None)
    tracker = runtime.build_tracker(Settings(redis_url=redis_url, track_mode=track_mode))
    good, broken = Event("ns", "good", "a", "participate", "u1"), Event("ns", "broken", "a", "participate", "u1")
    tracker.track_many([Event("ns", "good", "a", "participate", "w"), Event("ns", "broken", "a", "participate", "w")])
    observer = redis.Redis.from_url(redis_url)
    broken_key = next(key for key in observer.scan_iter(match=b"lamed:*:counts:*") if b'"broken"' in key)
    observer.delete(broken_key)
    observer.set(broken_key, b"not a hash")
    with pytest.raises(runtime.StoreUnavailable):
        tracker.track_many([good, broken])
    with pytest.raises(runtime.StoreUnavailable):  # the client's retry, still broken: still not lost
        tracker.track_many([good, broken])
    observer.delete(broken_key)
    assert tracker.track_many([good, broken]) == ["duplicate", "counted"]
    assert tracker.track_many([good, broken]) == ["duplicate", "duplicate"]
    counts = {key: observer.hgetall(key) for key in observer.scan_iter(match=b"lamed:*:counts:*")}
    assert sorted(sum(int(value) for value in fields.values()) for fields in counts.values()) == [1, 2]


@pytest.mark.parametrize("track_mode", ["watch", "lua"])
def test_a_failing_transaction_among_a_batchs_transactions_loses_no_event(redis_url, track_mode, monkeypatch):
    """A batch of 100 runs as four transactions of 25, one after the other;
    the third one's counter fails. The batch is a 503 and its connection is
    dropped; the retry counts the third and fourth ones' events (the fourth
    never ran), the first two are duplicates."""
    monkeypatch.setattr("lamed.core.counting.TRANSACTION_EVENTS", 25)
    tracker = runtime.build_tracker(Settings(redis_url=redis_url, track_mode=track_mode))
    batch = [Event("ns", "fine", "a", "participate", f"u{n}") for n in range(100)]
    batch[50:75] = [Event("ns", "broken", "a", "participate", f"u{n}") for n in range(25)]
    tracker.track_many([Event("ns", name, "a", "participate", "w") for name in ("fine", "broken")])
    observer = redis.Redis.from_url(redis_url)
    broken_key = next(key for key in observer.scan_iter(match=b"lamed:*:counts:*") if b'"broken"' in key)
    observer.delete(broken_key)
    observer.set(broken_key, b"not a hash")
    with pytest.raises(runtime.StoreUnavailable):
        tracker.track_many(batch)
    observer.delete(broken_key)
    assert tracker.track_many(batch) == ["duplicate"] * 50 + ["counted"] * 50
    counts = {key: observer.hgetall(key) for key in observer.scan_iter(match=b"lamed:*:counts:*")}
    assert sorted(sum(int(value) for value in fields.values()) for fields in counts.values()) == [25, 76]


def _self_signed(directory, host_name: str | None = None) -> tuple:
    """A certificate for 127.0.0.1 (or for ``host_name`` only) and its key,
    made with cryptography (a moto dependency)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    subject = x509.DNSName(host_name) if host_name else x509.IPAddress(ipaddress.ip_address("127.0.0.1"))
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lamed test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([subject]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "redis.crt", directory / "redis.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def test_tls_with_a_verified_certificate_and_without(tmp_path):
    from lamed.cli.embedded import free_port

    cert, key = _self_signed(tmp_path)
    tls_port = free_port()
    tls = ["--tls-port", str(tls_port), "--tls-cert-file", str(cert), "--tls-key-file", str(key)]
    with RedisServer(extra_args=[*tls, "--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no"]):
        verified = f"rediss://127.0.0.1:{tls_port}/0?ssl_ca_certs={cert}"  # the host name too, by default
        tracker = runtime.build_tracker(Settings(redis_url=verified))
        assert tracker.track(Event("ns", "exp", "a", "participate", "u1")) == "counted"
        unverified = runtime.build_tracker(Settings(redis_url=f"rediss://127.0.0.1:{tls_port}/0?ssl_cert_reqs=none"))
        assert unverified.track(Event("ns", "exp", "a", "participate", "u1")) == "duplicate"
        untrusted = runtime.build_tracker(Settings(redis_url=f"rediss://127.0.0.1:{tls_port}/0"))
        with pytest.raises(runtime.StoreUnavailable):  # self-signed, not in the system's trust store
            untrusted.track(Event("ns", "exp", "a", "participate", "u2"))


def _tls_server(tmp_path, host_name: str | None = None) -> tuple:
    from lamed.cli.embedded import free_port

    cert, key = _self_signed(tmp_path, host_name)
    tls_port = free_port()
    tls = ["--tls-port", str(tls_port), "--tls-cert-file", str(cert), "--tls-key-file", str(key)]
    server = RedisServer(extra_args=[*tls, "--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no"])
    return server, f"rediss://127.0.0.1:{tls_port}/0?ssl_ca_certs={cert}"


def _both_paths(url: str) -> list:
    """The track path's lean connection and redis-py's client, from one URL."""
    store = open_store(Settings(redis_url=url))
    return [
        lambda: store.tracker.track(Event("ns", "exp", "a", "participate", "u1")),
        store.namespaces,
    ]


def test_a_certificate_for_another_host_is_refused_by_both_paths_unless_the_url_opts_out(tmp_path):
    server, url = _tls_server(tmp_path, host_name="cache.example")  # trusted CA, another name
    with server:
        for attempt in _both_paths(url):
            with pytest.raises(StoreUnavailable, match="(?i)hostname|match|certificate"):
                attempt()
        for attempt in _both_paths(url + "&ssl_check_hostname=false"):
            attempt()  # the operator's explicit choice: accepted


def test_a_certificate_for_the_right_host_is_accepted_by_both_paths(tmp_path):
    server, url = _tls_server(tmp_path)
    with server:
        for attempt in _both_paths(url):
            attempt()


@pytest.mark.parametrize("use_hiredis", PARSERS.values(), ids=PARSERS.keys())
def test_call_reads_every_reply_before_it_raises_the_first_error(use_hiredis):
    """An error reply in the middle of an exchange (NOSCRIPT before WAIT's
    integer, say) must not leave the later replies on the socket, where the
    next exchange would read them as its own."""
    connection, writer, theirs = connection_reading(b"-NOSCRIPT No matching script\r\n:1\r\n+PONG\r\n", 64, use_hiredis)
    writer.join()
    try:
        with pytest.raises(ReplyError, match="NOSCRIPT") as raised:
            connection.call([(b"EVALSHA", b"x", 0), (b"WAIT", 1, 200)])
        assert raised.value.code == "NOSCRIPT"
        assert connection.read() == b"PONG"  # the next reply is the next exchange's
    finally:
        connection.close()
        theirs.close()
