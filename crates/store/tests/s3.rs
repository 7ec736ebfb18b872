//! The blob- and document-store conformance suites against a real
//! S3-compatible server (moto) started on loopback by this test.
//!
//! The server binary is `$HANDOFF_MOTO_SERVER`, else `moto_server` on `PATH`
//! (`.ci/run` installs it from PyPI into a virtual environment). Without it
//! the test prints why it did nothing, unless `HANDOFF_REQUIRE_S3=1` (set by
//! CI), in which case it fails.
#![cfg(feature = "object-store")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use handoff_store::object_store;
use handoff_store::{BlobStore, Bytes, ObjectStoreBackend};
use object_store::aws::AmazonS3Builder;
use object_store::{ObjectStoreExt, PutPayload};

struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto_binary() -> Option<std::path::PathBuf> {
    if let Some(path) = std::env::var_os("HANDOFF_MOTO_SERVER") {
        return Some(path.into());
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("moto_server"))
            .find(|p| p.is_file())
    })
}

fn start() -> Option<Server> {
    let Some(binary) = moto_binary() else {
        assert!(
            std::env::var("HANDOFF_REQUIRE_S3").as_deref() != Ok("1"),
            "HANDOFF_REQUIRE_S3=1 but no moto_server found (set HANDOFF_MOTO_SERVER)"
        );
        eprintln!("skipped: no moto_server found (set HANDOFF_MOTO_SERVER or put it on PATH)");
        return None;
    };
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(binary)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto_server");
    let server = Server { child, port };
    // Bounded wait for the server to accept connections.
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "moto_server did not start within 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(server)
}

/// Creates a bucket with a plain HTTP request (moto does not check auth).
fn create_bucket(port: u16, bucket: &str) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(
        response.starts_with("HTTP/1.1 200"),
        "create bucket: {response}"
    );
}

fn backend(
    server: &Server,
    bucket: &str,
) -> (ObjectStoreBackend, Arc<object_store::aws::AmazonS3>) {
    ObjectStoreBackend::install_tls_provider();
    let s3 = Arc::new(
        AmazonS3Builder::new()
            .with_endpoint(format!("http://127.0.0.1:{}", server.port))
            .with_allow_http(true)
            .with_bucket_name(bucket)
            .with_region("us-east-1")
            .with_access_key_id("test")
            .with_secret_access_key("test")
            .build()
            .unwrap(),
    );
    let name = format!("s3://{bucket}/conformance");
    (ObjectStoreBackend::new(s3.clone(), "conformance", name), s3)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_on_s3_compatible_server() {
    let Some(server) = start() else { return };
    create_bucket(server.port, "handoff-test");
    let (store, s3) = backend(&server, "handoff-test");
    let corrupt = move |digest: &handoff_store::Digest, data: Bytes| {
        let hex = digest.hex();
        let path = object_store::path::Path::from(format!(
            "conformance/blobs/sha256/{}/{}",
            &hex[..2],
            &hex[2..]
        ));
        let s3 = s3.clone();
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(s3.put(&path, PutPayload::from(data)))
                .is_ok()
        })
        .join()
        .unwrap()
    };
    handoff_store::testing::blob_store_conformance(&store, &corrupt).await;
    handoff_store::testing::document_store_conformance(&store).await;
    // The blob is really on the server, under the documented layout.
    let put = store
        .put(Bytes::from_static(b"on the server"))
        .await
        .unwrap();
    assert!(store.has(&put.digest).await.unwrap());
}
