//! Export a snapshot as a unified diff that `git apply` accepts.
