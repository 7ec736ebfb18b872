//! The blob- and document-store conformance suites against a real
//! S3-compatible server (moto) started on loopback by this test; see
//! `handoff_dev::s3` for how the server is found.
#![cfg(feature = "object-store")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use handoff_dev::s3::MotoServer;
use handoff_store::object_store;
use handoff_store::{BlobStore, Bytes, ObjectStoreBackend};
use object_store::aws::AmazonS3Builder;

fn backend(
    server: &MotoServer,
    bucket: &str,
) -> (ObjectStoreBackend, Arc<object_store::aws::AmazonS3>) {
    ObjectStoreBackend::install_tls_provider();
    let s3 = Arc::new(
        AmazonS3Builder::new()
            .with_endpoint(server.endpoint())
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
    let Some(server) = MotoServer::start() else {
        return;
    };
    server.create_bucket("handoff-test");
    let (store, _) = backend(&server, "handoff-test");
    handoff_store::testing::blob_store_conformance(&store, &store).await;
    handoff_store::testing::document_store_conformance(&store).await;
    // The blob is really on the server, under the documented layout.
    let put = store
        .put(Bytes::from_static(b"on the server"))
        .await
        .unwrap();
    assert!(store.has(&put.digest).await.unwrap());
}
