//! [`Objects`]: the raw object layer under a store's blobs — named,
//! immutable objects in a few [`Area`]s, each named by a [`Digest`].
//!
//! Every backend implements it; the blob operations of layout v2 (packs,
//! indexes, garbage collection) are written once on top of it (the
//! crate's private `packed` module). Hosts never need it; integrity checks and
//! tests use it to look at (and damage) what a store holds.

use std::ops::Range;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;

use crate::{Digest, Result};

/// Where an object lives. The names in parentheses are the layout of every
/// backend below its root or prefix (`<2>/<62>`: the first two hex digits
/// of the name, a directory, then the other 62).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Area {
    /// Loose blobs, one object each (`blobs/sha256/<2>/<62>`).
    Blobs,
    /// Packs of small blobs (`packs/<2>/<62>`).
    Packs,
    /// Indexes of the packs (`index/<64>`).
    Index,
    /// Indexes of packed blobs garbage collection condemned (`trash/index/<64>`).
    Trash,
    /// Loose blobs garbage collection condemned (`trash/blobs/<64>`).
    TrashBlobs,
}

impl Area {
    /// Every area.
    pub const ALL: [Area; 5] = [
        Area::Blobs,
        Area::Packs,
        Area::Index,
        Area::Trash,
        Area::TrashBlobs,
    ];

    /// The path segments of the area's directory.
    pub fn dir(self) -> &'static [&'static str] {
        match self {
            Area::Blobs => &["blobs", "sha256"],
            Area::Packs => &["packs"],
            Area::Index => &["index"],
            Area::Trash => &["trash", "index"],
            Area::TrashBlobs => &["trash", "blobs"],
        }
    }

    /// Whether names are split into a two-digit directory and the rest.
    pub fn sharded(self) -> bool {
        matches!(self, Area::Blobs | Area::Packs)
    }

    /// The path segments of `name` below the area's directory.
    pub fn name_parts(self, name: &Digest) -> Vec<String> {
        let hex = name.hex();
        if self.sharded() {
            let (shard, rest) = hex.split_at(2);
            vec![shard.to_owned(), rest.to_owned()]
        } else {
            vec![hex]
        }
    }

    /// The name an object has, from the path segments below the area's
    /// directory; `None` for anything that is not an object's name
    /// (temporary files, stray files).
    pub fn parse_name(self, parts: &[&str]) -> Option<Digest> {
        let hex = match (self.sharded(), parts) {
            (true, [shard, rest]) => format!("{shard}{rest}"),
            (false, [name]) => (*name).to_owned(),
            _ => return None,
        };
        format!("sha256:{hex}").parse().ok()
    }

    /// What people call an object of the area.
    pub fn noun(self) -> &'static str {
        match self {
            Area::Blobs => "blob",
            Area::Packs => "pack",
            Area::Index => "index",
            Area::Trash => "trashed index",
            Area::TrashBlobs => "trashed blob",
        }
    }
}

/// An object found by [`Objects::list_objects`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listed {
    /// Its name.
    pub name: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// When it was last written, where the backend says.
    pub modified: Option<SystemTime>,
}

/// Named, immutable objects in areas. Reads are not verified here: the
/// layers above check every blob against its digest.
#[async_trait]
pub trait Objects: Send + Sync + std::fmt::Debug {
    /// Writes `data` as `name` in `area` unless an object of that name is
    /// there; `true` when it was written.
    async fn create_object(&self, area: Area, name: &Digest, data: Bytes) -> Result<bool>;

    /// Writes `data` as `name` in `area`, replacing what is there (healing
    /// a corrupted copy).
    async fn replace_object(&self, area: Area, name: &Digest, data: Bytes) -> Result<()>;

    /// The whole object, or `None` when there is none.
    async fn read_object(&self, area: Area, name: &Digest) -> Result<Option<Bytes>>;

    /// The bytes of each range of the object (short where the object ends
    /// early), or `None` when there is no such object. Callers merge
    /// nearby ranges first: each range may be a request of its own.
    async fn read_ranges(
        &self,
        area: Area,
        name: &Digest,
        ranges: &[Range<u64>],
    ) -> Result<Option<Vec<Bytes>>>;

    /// Whether the object exists.
    async fn object_exists(&self, area: Area, name: &Digest) -> Result<bool>;

    /// Every object of `area`, in no particular order.
    async fn list_objects(&self, area: Area) -> Result<Vec<Listed>>;

    /// Removes the object; one that is not there is fine.
    async fn remove_object(&self, area: Area, name: &Digest) -> Result<()>;

    /// Moves the object to another area, keeping its name.
    async fn move_object(&self, from: Area, to: Area, name: &Digest) -> Result<()>;
}

macro_rules! forward_objects {
    ($($ptr:ty),*) => {$(
        #[async_trait]
        impl<T: Objects + ?Sized> Objects for $ptr {
            async fn create_object(&self, area: Area, name: &Digest, data: Bytes) -> Result<bool> {
                (**self).create_object(area, name, data).await
            }
            async fn replace_object(&self, area: Area, name: &Digest, data: Bytes) -> Result<()> {
                (**self).replace_object(area, name, data).await
            }
            async fn read_object(&self, area: Area, name: &Digest) -> Result<Option<Bytes>> {
                (**self).read_object(area, name).await
            }
            async fn read_ranges(&self, area: Area, name: &Digest, ranges: &[Range<u64>]) -> Result<Option<Vec<Bytes>>> {
                (**self).read_ranges(area, name, ranges).await
            }
            async fn object_exists(&self, area: Area, name: &Digest) -> Result<bool> {
                (**self).object_exists(area, name).await
            }
            async fn list_objects(&self, area: Area) -> Result<Vec<Listed>> {
                (**self).list_objects(area).await
            }
            async fn remove_object(&self, area: Area, name: &Digest) -> Result<()> {
                (**self).remove_object(area, name).await
            }
            async fn move_object(&self, from: Area, to: Area, name: &Digest) -> Result<()> {
                (**self).move_object(from, to, name).await
            }
        }
    )*};
}

forward_objects!(&T, Box<T>, std::sync::Arc<T>);
