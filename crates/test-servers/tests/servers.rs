//! The servers are real, private and password-protected, and Redis stops and restarts.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Output;
use std::thread;

use keyroute_test_servers::postgres::{self, TestDatabase};
use keyroute_test_servers::redis;

fn sql(database: &TestDatabase, query: &str) -> Output {
    database.psql().args(["-c", query]).output().unwrap()
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "psql failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[test]
fn each_database_is_its_own_on_one_server() {
    let first = postgres::database();
    let second = postgres::database();
    assert_ne!(first.name(), second.name());
    assert_eq!(first.port(), second.port());
    assert_eq!(
        first.url(),
        format!(
            "postgres://keyroute@127.0.0.1:{}/{}",
            first.port(),
            first.name()
        )
    );
    assert!(!first.url().contains(first.password()));

    for database in [&first, &second] {
        assert_eq!(
            stdout(&sql(database, "SELECT current_database()")),
            database.name()
        );
    }
    stdout(&sql(&first, "CREATE TABLE only_here (id int)"));
    assert_eq!(
        stdout(&sql(&second, "SELECT to_regclass('only_here') IS NULL")),
        "t"
    );
}

#[test]
fn postgres_needs_the_password() {
    let database = postgres::database();
    assert_eq!(stdout(&sql(&database, "SELECT 1")), "1");

    let wrong = database
        .psql()
        .env("PGPASSWORD", "wrong")
        .args(["-c", "SELECT 1"])
        .output()
        .unwrap();
    assert!(!wrong.status.success());
    let error = String::from_utf8_lossy(&wrong.stderr);
    assert!(error.contains("password authentication failed"), "{error}");

    let none = database
        .psql()
        .env_remove("PGPASSWORD")
        .env("PGPASSFILE", "/nonexistent")
        .args(["-c", "SELECT 1"])
        .output()
        .unwrap();
    assert!(!none.status.success());
}

#[test]
fn concurrent_tests_share_the_server() {
    let databases: Vec<TestDatabase> = (0..8)
        .map(|_| thread::spawn(postgres::database))
        .collect::<Vec<_>>()
        .into_iter()
        .map(|thread| thread.join().unwrap())
        .collect();
    let mut names: Vec<&str> = databases.iter().map(TestDatabase::name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), databases.len());
    assert!(databases.iter().all(|db| db.port() == databases[0].port()));
}

#[test]
fn the_tls_server_takes_tls_only_with_a_certificate_from_its_ca() {
    let database = postgres::tls_database();
    let ca = database.ca_file().unwrap().to_owned();
    assert!(postgres::database().ca_file().is_none());
    let query = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()";
    assert_eq!(stdout(&sql(&database, query)), "t");

    let with = |tls: &str| {
        let conninfo = format!(
            "host=127.0.0.1 port={} user={} dbname={} {tls}",
            database.port(),
            database.user(),
            database.name()
        );
        // The last -d wins over the one psql() gave.
        let output = database
            .psql()
            .args(["-d", &conninfo, "-c", "SELECT 1"])
            .output()
            .unwrap();
        assert!(!output.status.success(), "{tls} was let in");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let plain = with("sslmode=disable");
    assert!(plain.contains("no encryption"), "{plain}");

    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other-ca.crt");
    std::fs::write(&other, postgres::unrelated_ca_pem()).unwrap();
    let unverified = with(&format!(
        "sslmode=verify-full sslrootcert='{}'",
        other.display()
    ));
    // OpenSSL finds the issuer by name, then fails on its key ("EVP lib"), or finds none.
    assert!(
        unverified.contains("SSL error") || unverified.contains("certificate verify failed"),
        "{unverified}"
    );
    assert!(
        std::fs::read_to_string(ca)
            .unwrap()
            .contains("BEGIN CERTIFICATE")
    );
}

/// Sends RESP commands and reads one simple reply line per command.
fn exchange(addr: SocketAddr, commands: &[&[&str]]) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    for parts in commands {
        let mut request = format!("*{}\r\n", parts.len());
        for part in *parts {
            request.push_str(&format!("${}\r\n{part}\r\n", part.len()));
        }
        stream.write_all(request.as_bytes()).unwrap();
    }
    let mut reply = String::new();
    let mut buffer = [0; 256];
    while reply.matches("\r\n").count() < commands.len() {
        let read = stream.read(&mut buffer).unwrap();
        assert!(read > 0, "connection closed after {reply:?}");
        reply.push_str(std::str::from_utf8(&buffer[..read]).unwrap());
    }
    reply
}

#[test]
fn redis_stops_and_restarts_on_its_port() {
    let mut redis = redis::start();
    assert_eq!(redis.url(), format!("redis://127.0.0.1:{}/", redis.port()));
    assert_eq!(
        exchange(redis.addr(), &[&["SET", "k", "v"], &["PING"]]),
        "+OK\r\n+PONG\r\n"
    );

    redis.stop();
    assert!(!redis.is_running());
    let refused = TcpStream::connect(redis.addr()).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);

    let port = redis.port();
    redis.restart();
    assert_eq!(redis.port(), port);
    assert_eq!(exchange(redis.addr(), &[&["PING"]]), "+PONG\r\n");
    // A new server: nothing was saved.
    assert_eq!(exchange(redis.addr(), &[&["EXISTS", "k"]]), ":0\r\n");
}

#[test]
fn redis_with_a_password_refuses_strangers() {
    let redis = redis::start_with_password("s3cret pass");
    assert_eq!(
        redis.url(),
        format!("redis://:s3cret%20pass@127.0.0.1:{}/", redis.port())
    );
    let refused = exchange(redis.addr(), &[&["PING"]]);
    assert!(refused.starts_with("-NOAUTH"), "{refused}");
    assert_eq!(
        exchange(redis.addr(), &[&["AUTH", "s3cret pass"], &["PING"]]),
        "+OK\r\n+PONG\r\n"
    );
}
