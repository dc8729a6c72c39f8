"""Datasets and spike encodings (generator/model/data.py).

Iris and digits come with scikit-learn; MNIST is read from the real shared files (IMCGEN_DATA); Fashion-MNIST and
CIFAR-10 loaders are checked on small files in the standard formats written here.
"""

from __future__ import annotations

import gzip
import io
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from generator.model import data


def _write_idx(path: Path, arr: np.ndarray, gz: bool = True) -> Path:
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    raw = struct.pack(">BBBB", 0, 0, 0x08, arr.ndim) + struct.pack(">" + "I" * arr.ndim, *arr.shape) + arr.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


def _write_mnist_like(folder: Path, n_train: int = 12, n_test: int = 7, gz: bool = True, seed: int = 0):
    rng = np.random.default_rng(seed)
    out = {}
    for stems, n in ((data.IDX_TRAIN, n_train), (data.IDX_TEST, n_test)):
        img = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        lab = rng.integers(0, 10, size=n, dtype=np.uint8)
        suffix = ".gz" if gz else ""
        _write_idx(folder / (stems[0] + suffix), img, gz)
        _write_idx(folder / (stems[1] + suffix), lab, gz)
        out[stems[0]] = (img, lab)
    return out


def _cifar_batch(n: int, rng) -> dict:
    return {b"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8), b"labels": list(rng.integers(0, 10, n)),
            b"batch_label": b"x"}


# ------------------------------------------------------------------------------------------------ iris


def test_iris_paper_encoding_with_bias_spike():
    ds = data.load_iris()
    assert ds.x_train.shape == (100, 5) and ds.x_test.shape == (50, 5)
    assert ds.x_train.dtype == torch.float32 and ds.y_train.dtype == torch.int64
    assert ds.encoding == "iris-bias" and ds.in_shape == (5,) and ds.n_classes == 3
    # bias spike t_4 = 0 on every sample
    assert torch.all(ds.x_train[:, 4] == 0) and torch.all(ds.x_test[:, 4] == 0)
    # min-max with TRAIN statistics: each train feature spans exactly [0, 1]; test clipped into [0, 1]
    assert torch.allclose(ds.x_train[:, :4].min(0).values, torch.zeros(4))
    assert torch.allclose(ds.x_train[:, :4].max(0).values, torch.ones(4))
    assert ds.x_test.min() >= 0 and ds.x_test.max() <= 1
    # stratified: 50 test samples, 16-17 of each class
    counts = torch.bincount(ds.y_test, minlength=3)
    assert counts.sum() == 50 and counts.min() >= 16
    # t = x (no "1 -"): petal length (feature 2) is larger for virginica (2) than setosa (0)
    assert ds.x_train[ds.y_train == 2, 2].mean() > ds.x_train[ds.y_train == 0, 2].mean() + 0.5


def test_iris_split_is_fixed_and_disjoint():
    from sklearn.datasets import load_iris

    a, b = data.load_iris(), data.load_iris()
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    y = load_iris().target
    tr, te = data._stratified_split(y, 50, data.SPLIT_SEED)
    assert len(te) == 50 and len(tr) == 100 and not set(tr) & set(te) and sorted(set(tr) | set(te)) == list(range(150))
    assert torch.equal(a.y_test, torch.from_numpy(y[te]))
    # another seed gives another split (the seed is really used)
    assert not np.array_equal(data._stratified_split(y, 50, 1)[1], te)


def test_encode_iris_clips_out_of_range():
    t = data.encode_iris(np.array([[0.0, 5.0], [20.0, 5.0]]), lo=np.array([1.0, 0.0]), hi=np.array([10.0, 10.0]))
    assert t.shape == (2, 3)
    assert t[0, 0] == 0 and t[1, 0] == 1 and abs(float(t[0, 1]) - 0.5) < 1e-7 and torch.all(t[:, 2] == 0)


# ------------------------------------------------------------------------------------------------ digits


def test_digits_image_encoding():
    from sklearn.datasets import load_digits

    ds = data.load_digits()
    assert ds.x_train.shape == (1347, 1, 8, 8) and ds.x_test.shape == (450, 1, 8, 8)
    assert ds.encoding == "image" and ds.n_classes == 10
    assert ds.x_train.min() >= 0 and ds.x_train.max() <= 1
    # t = 1 - x/16: the set of encoded test images equals 1 - images/16 of the sklearn rows
    sk = load_digits()
    enc = torch.from_numpy(1 - sk.images.astype(np.float32) / 16).reshape(-1, 64)
    mine = ds.x_test.reshape(-1, 64)
    # every test sample appears among the sklearn samples with the same label
    d = torch.cdist(mine[:20], enc)
    j = d.argmin(1)
    assert torch.all(d.min(1).values < 1e-6)
    assert torch.equal(torch.from_numpy(sk.target[j.numpy()]), ds.y_test[:20])
    assert torch.equal(data.load_digits().x_test, ds.x_test)


# ------------------------------------------------------------------------------------------------ MNIST (real files)


def test_mnist_real_shared_files(shared_data):
    folder = shared_data / "mnist"
    assert (folder / data.MNIST_CSV).is_file(), (
        f"the shared MNIST files are expected in {folder} (set IMCGEN_DATA to the shared datasets folder)")
    ds = data.load_mnist(shared_data)
    assert ds.x_train.shape == (5000, 1, 28, 28) and ds.x_test.shape == (10000, 1, 28, 28)
    assert ds.x_train.dtype == torch.float32 and ds.y_test.dtype == torch.int64
    assert torch.equal(torch.bincount(ds.y_train), torch.full((10,), 500))  # 500 per class
    assert int(torch.bincount(ds.y_test)[1]) == 1135  # the standard t10k label count of class 1
    # background pixels (0) do not spike: t = 1; the image encoding is exactly 1 - raw/255
    raw = data.read_idx(folder / "t10k-images-idx3-ubyte.gz")
    assert raw.shape == (10000, 28, 28) and raw.dtype == np.uint8
    assert torch.allclose(ds.x_test[0, 0], torch.from_numpy(1 - raw[0].astype(np.float32) / 255))
    assert float((ds.x_test == 1).float().mean()) > 0.7
    # CSV parser: 784 pixels then label
    img, lab = data.read_mnist_csv(folder / data.MNIST_CSV)
    assert img.shape == (5000, 28, 28) and lab.shape == (5000,) and img.max() == 255


def test_mnist_env_var_and_idx_preferred_over_csv(tmp_path, monkeypatch):
    written = _write_mnist_like(tmp_path / "mnist", gz=False)
    # a CSV with different content that must NOT be used because the train IDX pair exists
    (tmp_path / "mnist" / data.MNIST_CSV).write_bytes(gzip.compress(b"0," * 784 + b"3\n"))
    monkeypatch.setenv("IMCGEN_DATA", str(tmp_path))
    ds = data.load_mnist()
    img, lab = written[data.IDX_TRAIN[0]]
    assert ds.x_train.shape == (12, 1, 28, 28)
    assert torch.equal(ds.y_train, torch.from_numpy(lab.astype(np.int64)))
    assert torch.allclose(ds.x_train[:, 0], torch.from_numpy(1 - img.astype(np.float32) / 255))


def test_mnist_csv_fallback_and_header(tmp_path):
    folder = tmp_path / "mnist"
    _write_mnist_like(folder)
    for stem in data.IDX_TRAIN:
        (folder / (stem + ".gz")).unlink()
    rows = [",".join(["label"] + [f"p{i}" for i in range(784)])]
    rows += [",".join([str(k)] + [str((k * 7 + i) % 256) for i in range(784)]) for k in range(3)]
    (folder / data.MNIST_CSV).write_bytes(gzip.compress(("\n".join(rows) + "\n").encode()))
    ds = data.load_mnist(tmp_path)
    assert ds.y_train.tolist() == [0, 1, 2] and ds.x_train.shape == (3, 1, 28, 28)
    assert abs(float(ds.x_train[1, 0, 0, 1]) - (1 - 8 / 255)) < 1e-6  # pixel 1 of row 1 = 1*7+1


def test_read_idx_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad-idx"
    bad.write_bytes(b"\x12\x34\x56\x78" + b"\x00" * 16)
    with pytest.raises(data.DataError, match="bad-idx"):
        data.read_idx(bad)
    trunc = _write_idx(tmp_path / "trunc-idx", np.zeros((4, 3, 3)), gz=False)
    trunc.write_bytes(trunc.read_bytes()[:-5])
    with pytest.raises(data.DataError, match="trunc-idx.*size mismatch"):
        data.read_idx(trunc)
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("1,2,3\n4,5,6\n")
    with pytest.raises(data.DataError, match="bad.csv.*785 columns"):
        data.read_mnist_csv(bad_csv)


# ------------------------------------------------------------------------------------------------ Fashion / CIFAR


def test_fashion_mnist_from_standard_idx(tmp_path):
    written = _write_mnist_like(tmp_path / "fashion-mnist", n_train=9, n_test=4, seed=3)
    ds = data.load_fashion_mnist(tmp_path)
    assert ds.name == "fashion-mnist" and ds.x_train.shape == (9, 1, 28, 28) and ds.x_test.shape == (4, 1, 28, 28)
    img, lab = written[data.IDX_TEST[0]]
    assert torch.allclose(ds.x_test[:, 0], torch.from_numpy(1 - img.astype(np.float32) / 255))
    assert torch.equal(ds.y_test, torch.from_numpy(lab.astype(np.int64)))
    assert data.load_dataset("fashion-mnist", tmp_path).x_train.shape == (9, 1, 28, 28)


def test_cifar10_from_pickle_batches_and_tarball(tmp_path):
    rng = np.random.default_rng(1)
    batches = {n: _cifar_batch(3, rng) for n in data.CIFAR_TRAIN + data.CIFAR_TEST}
    # 1) extracted folder
    folder = tmp_path / "a" / data.CIFAR_DIR
    folder.mkdir(parents=True)
    for n, b in batches.items():
        (folder / n).write_bytes(pickle.dumps(b))
    ds = data.load_cifar10(tmp_path / "a")
    assert ds.x_train.shape == (15, 3, 32, 32) and ds.x_test.shape == (3, 3, 32, 32) and ds.in_shape == (3, 32, 32)
    first = batches["data_batch_1"][b"data"][0]
    # channel-major rows: the first 1024 bytes are the red plane
    assert torch.allclose(ds.x_train[0, 0].flatten(), torch.from_numpy(1 - first[:1024].astype(np.float32) / 255))
    assert torch.allclose(ds.x_train[0, 2].flatten(), torch.from_numpy(1 - first[2048:].astype(np.float32) / 255))
    assert ds.y_test.tolist() == [int(v) for v in batches["test_batch"][b"labels"]]
    # 2) only the standard tarball
    root = tmp_path / "b"
    root.mkdir()
    with tarfile.open(root / data.CIFAR_TAR, "w:gz") as tf:
        for n, b in batches.items():
            payload = pickle.dumps(b)
            info = tarfile.TarInfo(f"{data.CIFAR_DIR}/{n}")
            info.size = len(payload)
            tf.addfile(info, io.BytesIO(payload))
    ds2 = data.load_cifar10(root)
    assert torch.equal(ds2.x_train, ds.x_train) and torch.equal(ds2.y_test, ds.y_test)


def test_missing_files_give_clear_errors(tmp_path):
    with pytest.raises(data.DataError) as e:
        data.load_fashion_mnist(tmp_path)
    msg = str(e.value)
    assert "train-images-idx3-ubyte" in msg and str(tmp_path / "fashion-mnist") in msg and "--data-dir" in msg
    with pytest.raises(data.DataError, match="t10k-images-idx3-ubyte.*" + str(tmp_path / "mnist")):
        data.load_mnist(tmp_path)
    with pytest.raises(data.DataError, match="(?s)data_batch_1.*cifar-10-python.tar.gz"):
        data.load_cifar10(tmp_path)
    with pytest.raises(data.DataError, match="unknown dataset"):
        data.load_dataset("imagenet")


def test_cache_dir_download_failure_is_clear(tmp_path, monkeypatch):
    monkeypatch.delenv("IMCGEN_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(data, "MNIST_MIRRORS", ("http://127.0.0.1:9/",))  # closed port: fails at once
    folder, may_download = data.resolve_data_dir(None)
    assert folder == tmp_path / "imcgen" and may_download
    with pytest.raises(data.DataError) as e:
        data.load_mnist()
    msg = str(e.value)
    assert "download failed" in msg and "127.0.0.1" in msg and "t10k-images-idx3-ubyte" in msg
    assert not any((tmp_path / "imcgen" / "mnist").glob("*.part"))  # no half-written files left
