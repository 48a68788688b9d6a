"""Dataset loaders on small fixture files made here (no network), and on the shared copies when present."""

import gzip
import hashlib
import pickle
from pathlib import Path

import numpy as np
import pytest

from kellynotes import data

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def write_idx(path: Path, array: np.ndarray, *, level: int = 9) -> str:
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    content = header + array.astype(np.uint8).tobytes()
    with gzip.open(path, "wb", compresslevel=level) as stream:
        stream.write(content)
    return hashlib.sha256(content).hexdigest()


@pytest.fixture
def tiny_mnist(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    files = {}
    for prefix, n in (("train", 6), ("t10k", 3)):
        files[f"{prefix}-images-idx3-ubyte.gz"] = write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz",
                                                            rng.integers(0, 256, (n, 4, 4)))
        files[f"{prefix}-labels-idx1-ubyte.gz"] = write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz",
                                                            rng.integers(0, 10, n))
    monkeypatch.setattr(data, "MNIST_FILES", files)
    monkeypatch.delenv("KELLYNOTES_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path, files


def test_digits_splits():
    train, test, everything = data.digits("train"), data.digits("test"), data.digits("all")
    assert everything.images.shape == (1797, 8, 8, 1) and everything.num_classes == 10
    assert len(train) + len(test) == len(everything)
    assert 0.0 <= everything.images.min() and everything.images.max() == 1.0
    assert train.images.dtype == np.float32 and train.labels.dtype == np.int32


def test_idx_files_load_and_verify(tiny_mnist):
    root, _ = tiny_mnist
    train = data.mnist("train", root=root)
    assert train.images.shape == (6, 4, 4, 1) and train.labels.shape == (6,)
    assert 0.0 <= train.images.min() and train.images.max() <= 1.0
    assert data.load("mnist", "test", root=root).images.shape == (3, 4, 4, 1)


def test_recompressed_file_with_the_same_content_passes(tiny_mnist):
    root, _ = tiny_mnist
    path = root / "t10k-labels-idx1-ubyte.gz"
    content = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(content, compresslevel=1))
    assert data.mnist("test", root=root).labels.shape == (3,)


def test_missing_file_names_the_file_hash_and_remedy(tiny_mnist):
    root, files = tiny_mnist
    (root / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(data.DatasetError) as error:
        data.mnist("test", root=root)
    message = str(error.value)
    assert "t10k-images-idx3-ubyte.gz" in message and files["t10k-images-idx3-ubyte.gz"] in message
    assert "download=True" in message


def test_corrupted_file_is_rejected(tiny_mnist):
    root, files = tiny_mnist
    write_idx(root / "train-labels-idx1-ubyte.gz", np.zeros(6))
    with pytest.raises(data.DatasetError, match="corrupted") as error:
        data.mnist("train", root=root)
    assert files["train-labels-idx1-ubyte.gz"] in str(error.value)


def test_truncated_gzip_is_rejected(tiny_mnist):
    root, _ = tiny_mnist
    path = root / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(data.DatasetError, match="corrupted"):
        data.mnist("train", root=root)


def test_offline_download_fails_fast_with_a_clear_message(tiny_mnist, monkeypatch):
    pooch = pytest.importorskip("pooch")
    root, _ = tiny_mnist

    def no_network(*args, **kwargs):
        raise ConnectionError("network is unreachable")

    monkeypatch.setattr(pooch, "retrieve", no_network)
    with pytest.raises(data.DatasetError, match="could not download .*network is unreachable"):
        data.mnist("train", root=root / "empty", download=True)


def test_cifar_batches(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    hashes = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, (2, 3072), dtype=np.uint8), b"labels": [1, 7]}
        (folder / name).write_bytes(pickle.dumps(batch))
        hashes[name] = hashlib.sha256((folder / name).read_bytes()).hexdigest()
    monkeypatch.setattr(data, "CIFAR10_FILES", hashes)
    monkeypatch.delenv("KELLYNOTES_DATA", raising=False)
    train = data.cifar10("train", root=tmp_path)
    assert train.images.shape == (10, 32, 32, 3) and list(train.labels[:2]) == [1, 7]
    # Channel layout: pixel (0, 0) of image 0 takes bytes 0, 1024, 2048 of its row.
    raw = pickle.loads((folder / "data_batch_1").read_bytes())[b"data"][0]
    np.testing.assert_allclose(train.images[0, 0, 0] * 255, raw[[0, 1024, 2048]], atol=1e-3)


def test_bad_names_and_splits():
    with pytest.raises(ValueError, match="unknown dataset"):
        data.load("imagenet")
    with pytest.raises(ValueError, match="split"):
        data.digits("validation")


@pytest.mark.skipif(not (SHARED / "mnist").exists(), reason="the shared MNIST copy is not beside this checkout")
def test_shared_mnist_copy_matches_its_published_statistics():
    train = data.mnist("train", root=SHARED / "mnist")
    # ../shared/data/README.md: mean 0.1307, std 0.3081, 5923 zeros.
    assert train.images.shape == (60_000, 28, 28, 1)
    assert abs(float(train.images.mean()) - 0.1307) < 1e-4 and abs(float(train.images.std()) - 0.3081) < 1e-4
    assert int(np.sum(train.labels == 0)) == 5923
