//! MNIST's four original IDX files, decoded once into tensors. The files come
//! from scripts/setup-trainer (the npm registry, checked against MNIST's MD5s)
//! into one data folder; nothing is downloaded here.

use std::path::{Path, PathBuf};

use tch::{Kind, Tensor};

/// The mean and standard deviation of MNIST's training pixels on [0, 1], as
/// the tutorial normalises them.
pub const MEAN: f64 = 0.1307;
pub const STD: f64 = 0.3081;

pub const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
pub const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
pub const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
pub const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";

/// Where the data folder is unless told otherwise:
/// `$XDG_DATA_HOME/sweepd/mnist`, i.e. `~/.local/share/sweepd/mnist`.
pub fn default_dir() -> Option<PathBuf> {
    directories::BaseDirs::new().map(|dirs| dirs.data_dir().join("sweepd").join("mnist"))
}

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{}: {source} (scripts/setup-trainer fetches MNIST; --data-dir or SWEEPD_MNIST_DIR point elsewhere)", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {problem}", path.display())]
    Format { path: PathBuf, problem: String },
}

/// An IDX file of unsigned bytes: its dimensions and its data.
#[derive(Debug, PartialEq)]
pub struct Idx {
    pub dims: Vec<usize>,
    bytes: Vec<u8>,
}

impl Idx {
    pub fn data(&self) -> &[u8] {
        &self.bytes[4 + 4 * self.dims.len()..]
    }
}

/// Parse an IDX file of unsigned bytes with `rank` dimensions (magic
/// `00 00 08 rank`, the sizes as big-endian u32, then the data).
pub fn parse_idx(bytes: Vec<u8>, rank: usize) -> Result<Idx, String> {
    let header = 4 + 4 * rank;
    if bytes.len() < header {
        return Err(format!(
            "{} bytes: too short for an IDX header",
            bytes.len()
        ));
    }
    if bytes[..3] != [0, 0, 0x08] || bytes[3] as usize != rank {
        return Err(format!(
            "not an IDX file of unsigned bytes with {rank} dimensions (it starts {:02x?})",
            &bytes[..4]
        ));
    }
    let dims: Vec<usize> = bytes[4..header]
        .chunks_exact(4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .collect();
    let size = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| format!("the header's sizes {dims:?} overflow"))?;
    if bytes.len() - header != size {
        return Err(format!(
            "the header says {dims:?} ({size} bytes of data) but {} follow",
            bytes.len() - header
        ));
    }
    Ok(Idx { dims, bytes })
}

fn read_idx(path: &Path, rank: usize) -> Result<Idx, DataError> {
    let bytes = std::fs::read(path).map_err(|source| DataError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_idx(bytes, rank).map_err(|problem| DataError::Format {
        path: path.to_owned(),
        problem,
    })
}

/// One split: images as `[n, 784]` bytes, labels as `[n]` int64.
pub struct Split {
    pub images: Tensor,
    pub labels: Tensor,
}

/// MNIST's training and test splits.
pub struct Mnist {
    pub train: Split,
    pub test: Split,
}

impl Mnist {
    pub fn load(dir: &Path) -> Result<Mnist, DataError> {
        Ok(Mnist {
            train: load_split(dir, TRAIN_IMAGES, TRAIN_LABELS)?,
            test: load_split(dir, TEST_IMAGES, TEST_LABELS)?,
        })
    }
}

fn load_split(dir: &Path, images: &str, labels: &str) -> Result<Split, DataError> {
    let (images_path, labels_path) = (dir.join(images), dir.join(labels));
    let images = read_idx(&images_path, 3)?;
    let labels = read_idx(&labels_path, 1)?;
    let format = |path: &Path, problem: String| DataError::Format {
        path: path.to_owned(),
        problem,
    };
    if images.dims[1..] != [28, 28] {
        return Err(format(
            &images_path,
            format!("images of {:?} pixels, not 28x28", &images.dims[1..]),
        ));
    }
    if images.dims[0] == 0 {
        return Err(format(&images_path, "no images".to_owned()));
    }
    if labels.dims[0] != images.dims[0] {
        return Err(format(
            &labels_path,
            format!("{} labels for {} images", labels.dims[0], images.dims[0]),
        ));
    }
    if let Some(bad) = labels.data().iter().find(|&&l| l > 9) {
        return Err(format(&labels_path, format!("a label {bad}, not a digit")));
    }
    let n = images.dims[0] as i64;
    Ok(Split {
        images: Tensor::from_slice(images.data()).view([n, 784]),
        labels: Tensor::from_slice(labels.data()).to_kind(Kind::Int64),
    })
}

/// Pixels as the tutorial feeds them: bytes scaled to [0, 1], then normalised
/// with MNIST's mean and standard deviation; `[n, 784]` float32 (one new
/// tensor, changed in place).
pub fn normalise(images: &Tensor) -> Tensor {
    let mut x = images.to_kind(Kind::Float);
    let _ = x
        .g_div_scalar_(255.0)
        .g_sub_scalar_(MEAN)
        .g_div_scalar_(STD);
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(rank: u8, dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut bytes = vec![0, 0, 8, rank];
        for d in dims {
            bytes.extend(d.to_be_bytes());
        }
        bytes.extend(data);
        bytes
    }

    #[test]
    fn an_idx_file_is_parsed_and_a_broken_one_says_what_is_wrong() {
        let ok = parse_idx(idx(1, &[3], &[7, 0, 9]), 1).unwrap();
        assert_eq!((ok.dims.as_slice(), ok.data()), (&[3][..], &[7, 0, 9][..]));
        let e = parse_idx(idx(1, &[4], &[7, 0, 9]), 1).unwrap_err();
        assert!(
            e.contains("the header says [4] (4 bytes of data) but 3 follow"),
            "{e}"
        );
        let e = parse_idx(idx(3, &[1, 1, 1], &[0]), 1).unwrap_err();
        assert!(e.contains("with 1 dimensions"), "{e}");
        let mut floats = idx(1, &[1], &[0, 0, 0, 0]);
        floats[2] = 0x0d;
        assert!(parse_idx(floats, 1).unwrap_err().contains("unsigned bytes"));
        assert!(parse_idx(vec![0, 0], 1).unwrap_err().contains("too short"));
        let huge = idx(3, &[u32::MAX, u32::MAX, u32::MAX], &[]);
        assert!(parse_idx(huge, 3).unwrap_err().contains("overflow"));
    }

    #[test]
    fn a_missing_folder_names_the_file_and_the_way_to_fix_it() {
        let dir = tempfile::tempdir().unwrap();
        let e = Mnist::load(dir.path()).err().unwrap().to_string();
        assert!(e.contains(TRAIN_IMAGES), "{e}");
        assert!(e.contains("scripts/setup-trainer"), "{e}");
    }

    #[test]
    fn labels_that_do_not_match_the_images_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(TRAIN_IMAGES),
            idx(3, &[2, 28, 28], &[0; 2 * 784]),
        )
        .unwrap();
        std::fs::write(dir.path().join(TRAIN_LABELS), idx(1, &[3], &[1, 2, 3])).unwrap();
        let e = Mnist::load(dir.path()).err().unwrap().to_string();
        assert!(e.contains("3 labels for 2 images"), "{e}");
        std::fs::write(dir.path().join(TRAIN_LABELS), idx(1, &[2], &[1, 12])).unwrap();
        let e = Mnist::load(dir.path()).err().unwrap().to_string();
        assert!(e.contains("a label 12, not a digit"), "{e}");
    }

    #[test]
    fn pixels_are_scaled_and_normalised_as_the_tutorial_does() {
        let x = normalise(&Tensor::from_slice(&[0u8, 255]));
        let v: Vec<f32> = Vec::try_from(x).unwrap();
        assert!((v[0] as f64 - (-MEAN / STD)).abs() < 1e-6);
        assert!((v[1] as f64 - (1.0 - MEAN) / STD).abs() < 1e-6);
    }
}
