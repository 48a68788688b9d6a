"""Image datasets with verified files.

Every loader returns an :class:`ImageDataset`: ``images`` as float32 in **[0, 1]** with
shape (N, H, W, C) and integer ``labels`` (N,). (Diffusion pipelines usually rescale to
[-1, 1] with ``2 * images - 1``; that choice belongs to the experiment config.)

* ``digits`` — scikit-learn's 8×8 handwritten digits (1797 images, bundled with the
  package, no files needed); a fixed 80/20 train/test split.
* ``mnist``, ``fashion_mnist`` — the standard IDX ``.gz`` files.
* ``cifar10`` — the standard ``cifar-10-batches-py`` pickles.

Files are looked for, in order, in ``root`` (if given), ``$KELLYNOTES_DATA/<dataset>``,
the dataset's usual system folder (Fashion-MNIST: Debian's ``dataset-fashion-mnist``
package), and the download cache ``~/.cache/kellynotes/<dataset>``. Every file is
checked against a pinned SHA-256 — of the *decompressed* content for ``.gz`` files,
since mirrors recompress them. A missing or corrupted file raises :class:`DatasetError`
naming the file, the expected hash and how to get it. ``download=True`` fetches
missing files with ``pooch`` (where there is internet, e.g. on Colab) and fails fast
with a clear message when there is none.
"""

import gzip
import hashlib
import os
import pickle
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["DatasetError", "ImageDataset", "load", "load_options", "digits", "mnist", "fashion_mnist", "cifar10"]


class DatasetError(RuntimeError):
    """A dataset file is missing, corrupted, or could not be downloaded."""


@dataclass(frozen=True)
class ImageDataset:
    """Images in [0, 1], shape (N, H, W, C), float32; labels (N,), int32."""

    name: str
    split: str
    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def __len__(self) -> int:
        return self.images.shape[0]


# --------------------------------------------------------------------------- #
# Pinned files: name -> sha256 (of decompressed content for .gz)
# --------------------------------------------------------------------------- #

MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte.gz": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte.gz": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte.gz": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"

# Pinned from the decompressed files of Debian's dataset-fashion-mnist (0.0~git20200523.55506a9-1).
FASHION_MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte.gz": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte.gz": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte.gz": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
FASHION_MNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
FASHION_MNIST_SYSTEM = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                         "Ankle boot")

CIFAR10_FILES = {
    "data_batch_1": "54636561a3ce25bd3e19253c6b0d8538147b0ae398331ac4a2d86c6d987368cd",
    "data_batch_2": "766b2cef9fbc745cf056b3152224f7cf77163b330ea9a15f9392beb8b89bc5a8",
    "data_batch_3": "0f00d98ebfb30b3ec0ad19f9756dc2630b89003e10525f5e148445e82aa6a1f9",
    "data_batch_4": "3f7bb240661948b8f4d53e36ec720d8306f5668bd0071dcb4e6c947f78e9682b",
    "data_batch_5": "d91802434d8376bbaeeadf58a737e3a1b12ac839077e931237e0dcd43adcb154",
    "test_batch": "f53d8d457504f7cff4ea9e021afcf0e0ad8e24a91f3fc42091b8adef61157831",
    "batches.meta": "f962466ef690d46b226450fb9aadc74ba4bc64a76aa526b5827fe4bc5c7125cb",
}
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_ARCHIVE_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

DOWNLOAD_TIMEOUT_S = 15


# --------------------------------------------------------------------------- #
# Finding and verifying files
# --------------------------------------------------------------------------- #


def cache_dir(dataset: str) -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "kellynotes" / dataset


def search_dirs(dataset: str, root=None, system: Path | None = None) -> list[Path]:
    dirs = []
    if root is not None:
        dirs.append(Path(root))
    if os.environ.get("KELLYNOTES_DATA"):
        dirs.append(Path(os.environ["KELLYNOTES_DATA"]) / dataset)
    if system is not None:
        dirs.append(system)
    dirs.append(cache_dir(dataset))
    return dirs


def file_sha256(path: Path) -> str:
    """SHA-256 of the file's content, decompressed first if the name ends in ``.gz``."""
    digest = hashlib.sha256()
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
    except (OSError, EOFError) as error:  # e.g. a truncated or non-gzip file
        raise DatasetError(
            f"{path} could not be read ({error}): the file is corrupted; delete it and fetch it again") from error
    return digest.hexdigest()


def verified_file(dataset: str, name: str, expected: str, dirs: list[Path], how_to_get: str) -> Path:
    """The first copy of ``name`` in ``dirs``; raises DatasetError if none, or if its hash differs."""
    for directory in dirs:
        path = directory / name
        if path.exists():
            actual = file_sha256(path)
            if actual != expected:
                kind = "decompressed content" if name.endswith(".gz") else "file"
                raise DatasetError(
                    f"{dataset}: {path} has sha256 {actual} but the {kind} should have {expected}: the file is "
                    f"corrupted or a different version. Delete it and {how_to_get}."
                )
            return path
    raise DatasetError(
        f"{dataset}: file {name} (sha256 {expected}) not found in any of "
        f"{[str(d) for d in dirs]}. {how_to_get[0].upper() + how_to_get[1:]}."
    )


def _download(url: str, target: Path, known_hash: str | None = None) -> Path:
    try:
        import pooch
    except ImportError as error:  # pragma: no cover - pooch is a dependency
        raise DatasetError("downloading needs the 'pooch' package: pip install pooch") from error
    target.mkdir(parents=True, exist_ok=True)
    try:
        return Path(pooch.retrieve(url, known_hash=known_hash, path=target, fname=url.rsplit("/", 1)[-1],
                                   downloader=pooch.HTTPDownloader(timeout=DOWNLOAD_TIMEOUT_S, progressbar=False)))
    except Exception as error:  # network errors come in many types (requests, urllib3, socket)
        raise DatasetError(
            f"could not download {url} ({type(error).__name__}: {error}). Without internet access, copy the "
            f"files into {target} or set KELLYNOTES_DATA to a folder that has them."
        ) from error


# --------------------------------------------------------------------------- #
# Parsers
# --------------------------------------------------------------------------- #


def read_idx(path: Path) -> np.ndarray:
    """An IDX array (the MNIST format): big-endian magic 0x0000 08 <ndim>, dims, uint8 data."""
    with gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb") as stream:
        data = stream.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise DatasetError(f"{path} is not an unsigned-byte IDX file")
    ndim = data[3]
    dims = np.frombuffer(data, dtype=">u4", count=ndim, offset=4).astype(int)
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise DatasetError(f"{path}: header promises {tuple(dims)} values, file has {body.size}")
    return body.reshape(tuple(dims))


def _idx_dataset(name, split, files, dirs, how_to_get, class_names) -> ImageDataset:
    prefix = {"train": "train", "test": "t10k"}[split]
    images = read_idx(verified_file(name, f"{prefix}-images-idx3-ubyte.gz", files[f"{prefix}-images-idx3-ubyte.gz"],
                                    dirs, how_to_get))
    labels = read_idx(verified_file(name, f"{prefix}-labels-idx1-ubyte.gz", files[f"{prefix}-labels-idx1-ubyte.gz"],
                                    dirs, how_to_get))
    return ImageDataset(name, split, (images[..., None] / 255.0).astype(np.float32), labels.astype(np.int32),
                        class_names)


def _check_split(split: str, allowed=("train", "test")) -> str:
    if split not in allowed:
        raise ValueError(f"split must be one of {allowed}, got {split!r}")
    return split


# --------------------------------------------------------------------------- #
# Loaders
# --------------------------------------------------------------------------- #


def digits(split: str = "train") -> ImageDataset:
    """scikit-learn's 8×8 digits (pixel values 0–16 scaled to [0, 1]); ``split`` is
    ``"train"`` (80 %), ``"test"`` (20 %, a fixed random subset) or ``"all"``."""
    from sklearn.datasets import load_digits

    _check_split(split, ("train", "test", "all"))
    bunch = load_digits()
    images = (bunch.images[..., None] / 16.0).astype(np.float32)
    labels = bunch.target.astype(np.int32)
    if split != "all":
        order = np.random.default_rng(0).permutation(len(labels))
        cut = int(0.8 * len(labels))
        index = np.sort(order[:cut] if split == "train" else order[cut:])
        images, labels = images[index], labels[index]
    return ImageDataset("digits", split, images, labels, tuple(str(d) for d in range(10)))


def mnist(split: str = "train", *, root=None, download: bool = False) -> ImageDataset:
    """MNIST (LeCun et al., 1998): 60k train / 10k test, 28×28×1."""
    _check_split(split)
    dirs = search_dirs("mnist", root)
    if download:
        for name in MNIST_FILES:
            if not any((d / name).exists() for d in dirs):
                _download(MNIST_URL + name, cache_dir("mnist"))
    how = ("get the file with kellynotes.data.mnist(download=True) where there is internet, "
           "or copy it into one of those folders")
    return _idx_dataset("mnist", split, MNIST_FILES, dirs, how, tuple(str(d) for d in range(10)))


def fashion_mnist(split: str = "train", *, root=None, download: bool = False) -> ImageDataset:
    """Fashion-MNIST (Xiao et al., 2017): 60k train / 10k test, 28×28×1, ten clothing classes."""
    _check_split(split)
    dirs = search_dirs("fashion_mnist", root, FASHION_MNIST_SYSTEM)
    if download:
        for name in FASHION_MNIST_FILES:
            if not any((d / name).exists() for d in dirs):
                _download(FASHION_MNIST_URL + name, cache_dir("fashion_mnist"))
    how = ("install Debian's dataset-fashion-mnist package, use kellynotes.data.fashion_mnist(download=True) "
           "where there is internet, or copy it into one of those folders")
    return _idx_dataset("fashion_mnist", split, FASHION_MNIST_FILES, dirs, how, FASHION_MNIST_CLASSES)


def cifar10(split: str = "train", *, root=None, download: bool = False) -> ImageDataset:
    """CIFAR-10 (Krizhevsky, 2009): 50k train / 10k test, 32×32×3. ``root`` is the
    ``cifar-10-batches-py`` folder (or a folder containing it)."""
    _check_split(split)
    base = search_dirs("cifar10", root)
    dirs = [d for folder in base for d in (folder, folder / "cifar-10-batches-py")]
    if download and not any((d / "test_batch").exists() for d in dirs):
        archive = _download(CIFAR10_URL, cache_dir("cifar10"), known_hash=f"md5:{CIFAR10_ARCHIVE_MD5}")
        with tarfile.open(archive) as tar:
            tar.extractall(cache_dir("cifar10"), filter="data")
    how = ("get it with kellynotes.data.cifar10(download=True) where there is internet, "
           "or copy it into one of those folders")
    names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    images, labels = [], []
    for name in names:
        path = verified_file("cifar10", name, CIFAR10_FILES[name], dirs, how)
        with open(path, "rb") as stream:
            batch = pickle.load(stream, encoding="bytes")
        images.append(np.asarray(batch[b"data"], np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        labels.append(np.asarray(batch[b"labels"], np.int32))
    images = (np.concatenate(images) / 255.0).astype(np.float32)
    return ImageDataset("cifar10", split, images, np.concatenate(labels), CIFAR10_CLASSES)


LOADERS = {"digits": digits, "mnist": mnist, "fashion_mnist": fashion_mnist, "cifar10": cifar10}


def load(name: str, split: str = "train", **options) -> ImageDataset:
    """Load a dataset by name: ``digits``, ``mnist``, ``fashion_mnist`` or ``cifar10``."""
    if name not in LOADERS:
        raise ValueError(f"unknown dataset {name!r}; choose from {sorted(LOADERS)}")
    return LOADERS[name](split, **options)


def load_options(name: str, root=None, download: bool = False) -> dict:
    """The keyword arguments of :func:`load` for ``name``: ``root`` and ``download`` (``digits``,
    which ships with scikit-learn, takes none)."""
    if name == "digits":
        return {}
    return dict(root=root, download=download)
