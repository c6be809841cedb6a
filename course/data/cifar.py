"""CIFAR-10 as torchvision keeps it on disk, read and written without torchvision.

torchvision's ``CIFAR10(root, download=True)`` leaves the dataset in ``root/cifar-10-batches-py``: five
training batches, one test batch and ``batches.meta``, each a pickled dict (``data``: (N, 3072) uint8,
each row a 32x32 image's red, then green, then blue plane; ``labels``: N class indices;
``label_names`` in the meta file). The grading machine fetches it once (``course data fetch``, on a
machine with internet); without it a generated stand-in in the same layout takes its place
(:mod:`course.data.cifar_standin`, marked by a file :data:`STANDIN_MARK`).

The files are the instructor's (downloaded by torchvision or written here), never a student's, so
reading them with ``pickle`` is as safe as torchvision's own reader.
"""

import os
import pickle
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
META = "batches.meta"
STANDIN_MARK = "GENERATED-STAND-IN"  # present only in a generated stand-in's folder
# The notebook's normalisation (CIFAR-10's channel statistics): a model trained by the notebook expects it.
MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


@dataclass(frozen=True)
class CifarSplit:
    """One split: ``images`` (N, 32, 32, 3) uint8 in HWC order, ``labels`` (N,) int64, the class names,
    and whether it is the generated stand-in rather than CIFAR-10 itself."""

    images: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]
    standin: bool

    def normalised(self) -> "torch.Tensor":
        """The images as the notebook's test transform gives them: (N, 3, 32, 32) float32, normalised.
        (torch is imported here: the grading data's layout and version are read by processes that need no
        torch, a grading worker among them.)"""
        import torch

        x = torch.from_numpy(self.images).permute(0, 3, 1, 2).float().div(255.0)  # (N, 3, 32, 32)
        return (x - torch.tensor(MEAN)[:, None, None]) / torch.tensor(STD)[:, None, None]


def folder(root: str) -> str:
    return os.path.join(root, FOLDER)


def is_present(root: str) -> bool:
    """Whether ``root`` holds a complete dataset in torchvision's layout."""
    return all(os.path.isfile(os.path.join(folder(root), name)) for name in (*TRAIN_BATCHES, TEST_BATCH, META))


def _load(path: str) -> dict:
    with open(path, "rb") as f:
        return pickle.load(f, encoding="latin1")  # as torchvision reads them (Python 2 pickles)


def read_split(root: str, train: bool = False) -> CifarSplit:
    """The training (all five batches) or the test split of the dataset in ``root``."""
    batches = [_load(os.path.join(folder(root), name)) for name in (TRAIN_BATCHES if train else (TEST_BATCH,))]
    data = np.concatenate([np.asarray(batch["data"], dtype=np.uint8) for batch in batches])  # (N, 3072)
    labels = np.concatenate([np.asarray(batch["labels"], dtype=np.int64) for batch in batches])  # (N,)
    classes = tuple(str(name) for name in _load(os.path.join(folder(root), META))["label_names"])
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # (N, 32, 32, 3)
    return CifarSplit(np.ascontiguousarray(images), labels, classes,
                      os.path.exists(os.path.join(folder(root), STANDIN_MARK)))


def write(root: str, train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray],
          classes: tuple[str, ...], standin: bool) -> str:
    """Write a dataset in torchvision's layout under ``root``: ``train`` and ``test`` are (images
    (N, 32, 32, 3) uint8, labels (N,)); the training split is cut into five batches. Returns the folder."""
    target = folder(root)
    os.makedirs(target, exist_ok=True)

    def batch(images, labels, title):
        rows = np.ascontiguousarray(images.transpose(0, 3, 1, 2).reshape(len(images), -1))  # (N, 3072)
        return {"batch_label": title, "labels": [int(label) for label in labels], "data": rows,
                "filenames": [f"{title.replace(' ', '_')}_{i:05d}.png" for i in range(len(labels))]}

    images, labels = train
    for index, (part_images, part_labels) in enumerate(zip(np.array_split(images, 5), np.array_split(labels, 5))):
        with open(os.path.join(target, TRAIN_BATCHES[index]), "wb") as f:
            pickle.dump(batch(part_images, part_labels, f"training batch {index + 1} of 5"), f)
    with open(os.path.join(target, TEST_BATCH), "wb") as f:
        pickle.dump(batch(*test, "testing batch 1 of 1"), f)
    with open(os.path.join(target, META), "wb") as f:
        pickle.dump({"num_cases_per_batch": int(np.ceil(len(labels) / 5)), "label_names": list(classes),
                     "num_vis": 3072}, f)
    if standin:
        open(os.path.join(target, STANDIN_MARK), "w").close()
    return target


def fetch(root: str) -> str:
    """Download CIFAR-10 into ``root`` with torchvision's own downloader (needs the internet)."""
    import torchvision

    torchvision.datasets.CIFAR10(root, train=True, download=True)
    torchvision.datasets.CIFAR10(root, train=False, download=True)
    return folder(root)
