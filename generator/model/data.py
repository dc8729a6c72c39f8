"""Datasets and spike-time encoding for the PNN (time-to-first-spike coding, one phase = 1 time unit).

Why this module exists: every dataset must arrive at the model in the same form, spike times in [0, 1]
(float32) and integer class labels (int64), with a fixed, seeded train/test split so that a trained
model's card can be re-checked later (`imcgen evaluate`).

Encodings (PAPER.md 2.5):
- ``"image"``: t = 1 - x with x the pixel intensity scaled to [0, 1] (Eq. 54-55): bright pixels fire early.
- ``"iris-bias"``: the circuit experiment's encoding (Eq. 56): t_i = x_i for the 4 features, each min-max
  scaled to [0, 1] with statistics of the TRAIN split only (test values clipped to [0, 1]), plus a bias
  spike t_4 = 0, giving 5 inputs.

Where the files live (MNIST, Fashion-MNIST, CIFAR-10): ``data_dir`` argument (CLI ``--data-dir``), else the
environment variable ``IMCGEN_DATA``, else the user cache folder ``$XDG_CACHE_HOME/imcgen`` (default
``~/.cache/imcgen``). Only in the cache folder are missing files downloaded (from the usual mirrors, with a
timeout); an explicit folder is never written to. Layout inside the data folder::

    mnist/          train-images-idx3-ubyte[.gz] train-labels-idx1-ubyte[.gz]
                    t10k-images-idx3-ubyte[.gz]  t10k-labels-idx1-ubyte[.gz]
                    (or train-5k.csv.gz instead of the two train files: 784 pixels 0..255 then the label)
    fashion-mnist/  the same four IDX file names
    cifar-10-batches-py/  data_batch_1..5 and test_batch (python pickles), or cifar-10-python.tar.gz
"""

from __future__ import annotations

import gzip
import os
import pickle
import struct
import tarfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from generator.errors import InputError
from generator.model.card import DATASETS as _CARD_DATASETS

#: dataset names accepted by :func:`load_dataset` (CLI ``--dataset``; the card validator's list)
DATASETS = _CARD_DATASETS

#: fixed split seed: the split is part of the dataset definition, not of a training run
SPLIT_SEED = 0
IRIS_N_TEST = 50  # the paper evaluates the circuit on 50 Iris test samples
DIGITS_N_TEST = 450  # 25 % of the 1,797 sklearn digits

DOWNLOAD_TIMEOUT_S = 30.0

#: download mirrors (tried in order); file names are appended
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
FASHION_MIRRORS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)
CIFAR10_MIRRORS = ("https://www.cs.toronto.edu/~kriz/",)

IDX_TRAIN = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
IDX_TEST = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
MNIST_CSV = "train-5k.csv.gz"
CIFAR_TAR = "cifar-10-python.tar.gz"
CIFAR_DIR = "cifar-10-batches-py"
CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST = ("test_batch",)


class DataError(InputError):
    """A dataset that cannot be found or read; the message names the files and where to put them."""


@dataclass
class Dataset:
    """Spike-time encoded train and test splits.

    ``x_*``: float32 spike times in [0, 1], shape [N, *in_shape]; ``y_*``: int64 labels in [0, n_classes).
    ``in_shape`` is (features,) for tabular data and (C, H, W) for images.
    """

    name: str
    encoding: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    in_shape: tuple[int, ...]
    n_classes: int
    source: str = ""  # where the data came from (files or "sklearn")

    @property
    def n_inputs(self) -> int:
        n = 1
        for s in self.in_shape:
            n *= s
        return n


# --------------------------------------------------------------------------------------------- locations


def default_cache_dir() -> Path:
    """User cache folder for downloads: ``$XDG_CACHE_HOME/imcgen`` or ``~/.cache/imcgen``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "imcgen"


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> tuple[Path, bool]:
    """Return (folder, may_download): ``data_dir``, else ``$IMCGEN_DATA``, else the cache folder.

    Only the cache folder may receive downloads; a folder the user named is read-only to us.
    """
    if data_dir is not None and str(data_dir) != "":
        return Path(data_dir).expanduser(), False
    env = os.environ.get("IMCGEN_DATA", "")
    if env:
        return Path(env).expanduser(), False
    return default_cache_dir(), True


def _find(folder: Path, stem: str) -> Path | None:
    """``folder/stem`` or ``folder/stem.gz``, whichever exists."""
    for name in (stem, stem + ".gz"):
        p = folder / name
        if p.is_file():
            return p
    return None


def _download(urls: list[str], dest: Path) -> None:
    """Fetch the first URL that works into ``dest`` (atomic rename); raise DataError listing every failure."""
    errors = []
    dest.parent.mkdir(parents=True, exist_ok=True)
    for url in urls:
        tmp = dest.with_name(dest.name + ".part")
        try:
            with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as resp, open(tmp, "wb") as fh:
                while chunk := resp.read(1 << 20):
                    fh.write(chunk)
            os.replace(tmp, dest)
            return
        except (urllib.error.URLError, OSError, ValueError) as exc:
            errors.append(f"{url}: {exc}")
            if tmp.exists():
                tmp.unlink()
    raise DataError("download failed:\n  " + "\n  ".join(errors))


def _missing_error(dataset: str, folder: Path, names: list[str], note: str = "", cause: str = "") -> DataError:
    lines = [
        f"{dataset}: missing file(s) {', '.join(names)} in {folder}.",
        f"Put the standard files there (e.g. `mkdir -p {folder}` and copy them in), or point to the folder that "
        f"holds the '{folder.name}/' subfolder with --data-dir DIR or the environment variable IMCGEN_DATA.",
    ]
    if note:
        lines.append(note)
    if cause:
        lines.append(cause)
    return DataError("\n".join(lines))


# --------------------------------------------------------------------------------------------- file formats


def _open_maybe_gz(path: Path) -> bytes:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DataError(f"{path}: corrupt gzip file ({exc}); delete it and fetch it again") from None
    return raw


_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (MNIST format: magic 0x0000TTDD, big-endian dims, then the data), raw or gzipped."""
    path = Path(path)
    data = _open_maybe_gz(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise DataError(f"{path}: not an IDX file (bad magic {data[:4].hex()}); expected the standard MNIST format")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path}: truncated IDX header")
    dims = struct.unpack(">" + "I" * ndim, data[4:header])
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    count = int(np.prod(dims)) if dims else 1
    if len(data) - header != count * dtype.itemsize:
        raise DataError(f"{path}: IDX size mismatch: header says {dims} ({count * dtype.itemsize} bytes), file has "
                        f"{len(data) - header} data bytes (truncated download?)")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def read_mnist_csv(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read an MNIST CSV (785 columns: 784 pixels 0..255 then the label; optional header row).

    A header naming a ``label`` column selects that column instead (the Kaggle label-first layout).
    Returns (images uint8 [N, 28, 28], labels int64 [N]).
    """
    path = Path(path)
    text = _open_maybe_gz(path).decode("ascii", errors="replace")
    lines = text.splitlines()
    label_col = 784
    if lines and any(c.isalpha() for c in lines[0]):
        header = [h.strip().lower() for h in lines[0].split(",")]
        if "label" in header:
            label_col = header.index("label")
        lines = lines[1:]
    lines = [ln for ln in lines if ln.strip()]
    try:
        arr = np.array([ln.split(",") for ln in lines], dtype=np.int64)
    except ValueError as exc:
        raise DataError(f"{path}: not a numeric MNIST CSV ({exc})") from None
    if arr.ndim != 2 or arr.shape[1] != 785:
        raise DataError(f"{path}: expected 785 columns (784 pixels + label), got shape {arr.shape}")
    labels = arr[:, label_col]
    pixels = np.delete(arr, label_col, axis=1)
    if pixels.min() < 0 or pixels.max() > 255 or labels.min() < 0 or labels.max() > 9:
        raise DataError(f"{path}: pixel values must be 0..255 and labels 0..9")
    return pixels.astype(np.uint8).reshape(-1, 28, 28), labels.astype(np.int64)


def read_cifar_batch(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 python pickle batch -> (images uint8 [N, 3, 32, 32], labels int64 [N])."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            d = pickle.load(fh, encoding="bytes")
    except (pickle.UnpicklingError, EOFError, OSError) as exc:
        raise DataError(f"{path}: not a CIFAR-10 python batch ({exc})") from None
    d = {k.decode() if isinstance(k, bytes) else k: v for k, v in d.items()}
    if "data" not in d or "labels" not in d:
        raise DataError(f"{path}: CIFAR-10 batch lacks 'data'/'labels' (keys: {sorted(d)})")
    data = np.asarray(d["data"], dtype=np.uint8)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DataError(f"{path}: CIFAR-10 'data' must be N x 3072, got {data.shape}")
    return data.reshape(-1, 3, 32, 32), np.asarray(d["labels"], dtype=np.int64)


# --------------------------------------------------------------------------------------------- encodings


def encode_image(pixels: np.ndarray, max_value: float = 255.0) -> torch.Tensor:
    """t = 1 - x with x = pixels / max_value in [0, 1] (PAPER.md Eq. 54); float32."""
    x = torch.from_numpy(np.ascontiguousarray(pixels, dtype=np.float32)) / float(max_value)
    return (1.0 - x).clamp_(0.0, 1.0)


def encode_iris(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> torch.Tensor:
    """t_i = (x_i - lo_i)/(hi_i - lo_i) clipped to [0, 1] (Eq. 56, no '1 -'), plus a bias spike t_4 = 0."""
    scaled = np.clip((x - lo) / np.where(hi > lo, hi - lo, 1.0), 0.0, 1.0)
    bias = np.zeros((x.shape[0], 1))
    return torch.from_numpy(np.concatenate([scaled, bias], axis=1).astype(np.float32))


def _stratified_split(y: np.ndarray, n_test: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    tr, te = train_test_split(idx, test_size=n_test, stratify=y, random_state=seed, shuffle=True)
    return np.sort(tr), np.sort(te)


# --------------------------------------------------------------------------------------------- datasets


def load_iris(seed: int = SPLIT_SEED, n_test: int = IRIS_N_TEST) -> Dataset:
    """Iris (sklearn, 150 x 4, 3 classes), stratified 100/50 split, paper encoding with bias spike (5 inputs)."""
    from sklearn.datasets import load_iris as _sk_iris

    d = _sk_iris()
    x, y = np.asarray(d.data, dtype=np.float64), np.asarray(d.target, dtype=np.int64)
    tr, te = _stratified_split(y, n_test, seed)
    lo, hi = x[tr].min(axis=0), x[tr].max(axis=0)
    return Dataset(
        name="iris", encoding="iris-bias",
        x_train=encode_iris(x[tr], lo, hi), y_train=torch.from_numpy(y[tr]),
        x_test=encode_iris(x[te], lo, hi), y_test=torch.from_numpy(y[te]),
        in_shape=(5,), n_classes=3, source="sklearn.datasets.load_iris",
    )


def load_digits(seed: int = SPLIT_SEED, n_test: int = DIGITS_N_TEST) -> Dataset:
    """sklearn digits (1,797 8x8 images, 0..16), t = 1 - x/16, stratified split (450 test)."""
    from sklearn.datasets import load_digits as _sk_digits

    d = _sk_digits()
    x = np.asarray(d.images, dtype=np.float32).reshape(-1, 1, 8, 8)
    y = np.asarray(d.target, dtype=np.int64)
    tr, te = _stratified_split(y, n_test, seed)
    t = encode_image(x, max_value=16.0)
    return Dataset(
        name="digits", encoding="image",
        x_train=t[torch.from_numpy(tr)], y_train=torch.from_numpy(y[tr]),
        x_test=t[torch.from_numpy(te)], y_test=torch.from_numpy(y[te]),
        in_shape=(1, 8, 8), n_classes=10, source="sklearn.datasets.load_digits",
    )


def _idx_pair(name: str, folder: Path, stems: tuple[str, str], mirrors, may_download: bool,
              required: bool = True) -> tuple[np.ndarray, np.ndarray, list[Path]] | None:
    """Images and labels of one IDX split; downloads into the cache folder when allowed."""
    paths = [_find(folder, s) for s in stems]
    if any(p is None for p in paths) and may_download and required:
        try:
            for s, p in zip(stems, paths):
                if p is None:
                    _download([m + s + ".gz" for m in mirrors], folder / (s + ".gz"))
        except DataError as exc:
            raise _missing_error(name, folder, [s + "[.gz]" for s, p in zip(stems, paths) if p is None],
                                 cause=str(exc)) from None
        paths = [_find(folder, s) for s in stems]
    if any(p is None for p in paths):
        if not required:
            return None
        raise _missing_error(name, folder, [s + "[.gz]" for s, p in zip(stems, paths) if p is None])
    images, labels = read_idx(paths[0]), read_idx(paths[1])
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise DataError(f"{name}: {paths[0]} {images.shape} and {paths[1]} {labels.shape} do not match "
                        "(expected N x 28 x 28 images and N labels)")
    return images, labels.astype(np.int64), paths


def _image_dataset(name: str, tr_img, tr_lab, te_img, te_lab, in_shape, source: str) -> Dataset:
    return Dataset(
        name=name, encoding="image",
        x_train=encode_image(tr_img.reshape(-1, *in_shape)), y_train=torch.from_numpy(tr_lab),
        x_test=encode_image(te_img.reshape(-1, *in_shape)), y_test=torch.from_numpy(te_lab),
        in_shape=tuple(in_shape), n_classes=10, source=source,
    )


def load_mnist(data_dir: str | os.PathLike | None = None) -> Dataset:
    """MNIST from ``<data>/mnist``: train = the train IDX pair, else ``train-5k.csv.gz``; test = t10k IDX."""
    root, may_download = resolve_data_dir(data_dir)
    folder = root / "mnist"
    test = _idx_pair("mnist", folder, IDX_TEST, MNIST_MIRRORS, may_download)
    csv = folder / MNIST_CSV
    train = _idx_pair("mnist", folder, IDX_TRAIN, MNIST_MIRRORS, may_download and not csv.is_file(),
                      required=not csv.is_file())
    if train is not None:
        tr_img, tr_lab, tr_paths = train
    else:
        tr_img, tr_lab = read_mnist_csv(csv)
        tr_paths = [csv]
    te_img, te_lab, te_paths = test
    src = ", ".join(str(p) for p in tr_paths + te_paths)
    return _image_dataset("mnist", tr_img, tr_lab, te_img, te_lab, (1, 28, 28), src)


def load_fashion_mnist(data_dir: str | os.PathLike | None = None) -> Dataset:
    """Fashion-MNIST from ``<data>/fashion-mnist`` (the four standard IDX files, raw or .gz)."""
    root, may_download = resolve_data_dir(data_dir)
    folder = root / "fashion-mnist"
    tr_img, tr_lab, tr_paths = _idx_pair("fashion-mnist", folder, IDX_TRAIN, FASHION_MIRRORS, may_download)
    te_img, te_lab, te_paths = _idx_pair("fashion-mnist", folder, IDX_TEST, FASHION_MIRRORS, may_download)
    src = ", ".join(str(p) for p in tr_paths + te_paths)
    return _image_dataset("fashion-mnist", tr_img, tr_lab, te_img, te_lab, (1, 28, 28), src)


def load_cifar10(data_dir: str | os.PathLike | None = None) -> Dataset:
    """CIFAR-10 from ``<data>/cifar-10-batches-py`` (python pickles), extracted from ``cifar-10-python.tar.gz``
    in ``<data>`` when only the archive is there."""
    root, may_download = resolve_data_dir(data_dir)
    folder = root / CIFAR_DIR
    names = CIFAR_TRAIN + CIFAR_TEST
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        tar = root / CIFAR_TAR
        if not tar.is_file() and may_download:
            try:
                _download([m + CIFAR_TAR for m in CIFAR10_MIRRORS], tar)
            except DataError as exc:
                raise _missing_error("cifar10", folder, missing, cause=str(exc)) from None
        if tar.is_file():
            _extract_cifar(tar, root)
            missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise _missing_error("cifar10", folder, missing,
                             note=f"(or place {CIFAR_TAR} in {root} and it will be extracted)")
    tr = [read_cifar_batch(folder / n) for n in CIFAR_TRAIN]
    te_img, te_lab = read_cifar_batch(folder / CIFAR_TEST[0])
    tr_img = np.concatenate([a for a, _ in tr])
    tr_lab = np.concatenate([b for _, b in tr])
    return _image_dataset("cifar10", tr_img, tr_lab, te_img, te_lab, (3, 32, 32), str(folder))


def _extract_cifar(tar: Path, root: Path) -> None:
    """Extract only the expected batch files (no path traversal from a foreign archive)."""
    wanted = {f"{CIFAR_DIR}/{n}" for n in CIFAR_TRAIN + CIFAR_TEST + ("batches.meta",)}
    try:
        with tarfile.open(tar, "r:gz") as tf:
            for member in tf.getmembers():
                if member.name in wanted and member.isfile():
                    data = tf.extractfile(member).read()
                    out = root / member.name
                    out.parent.mkdir(parents=True, exist_ok=True)
                    tmp = out.with_name(out.name + ".part")
                    tmp.write_bytes(data)
                    os.replace(tmp, out)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"{tar}: cannot extract ({exc}); delete it and fetch it again") from None


def load_dataset(name: str, data_dir: str | os.PathLike | None = None) -> Dataset:
    """Load one of :data:`DATASETS` by name (``data_dir`` is ignored for the sklearn-bundled ones)."""
    if not isinstance(name, str):
        raise DataError(f"dataset must be a string naming a dataset ({', '.join(DATASETS)}), got {name!r}")
    key = name.strip().lower().replace("_", "-")
    if key == "iris":
        return load_iris()
    if key == "digits":
        return load_digits()
    if key == "mnist":
        return load_mnist(data_dir)
    if key in ("fashion-mnist", "fashionmnist", "fmnist"):
        return load_fashion_mnist(data_dir)
    if key in ("cifar10", "cifar-10"):
        return load_cifar10(data_dir)
    raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")


__all__ = [
    "DATASETS", "DataError", "Dataset", "default_cache_dir", "resolve_data_dir", "read_idx", "read_mnist_csv",
    "read_cifar_batch", "encode_image", "encode_iris", "load_iris", "load_digits", "load_mnist",
    "load_fashion_mnist", "load_cifar10", "load_dataset",
]
