"""A small synthetic stand-in for CIFAR-10, for grading without the internet.

Ten classes of 32x32 colour images, one procedurally drawn pattern per class (stripes in four
orientations, a checkerboard, a disc, a ring, a square, a plus and a cross), each at a random place,
size, phase and pair of colours, over noise. Colour and brightness carry no class information, so a
network must learn spatial features; a small CNN separates the classes after a few hundred steps.
The classes borrow CIFAR-10's names (alphabetical, like CIFAR-10's own order) so code written for
CIFAR-10 runs unchanged on it.
"""

import os

import numpy as np

from course.data import cifar

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
SIZE = 32
VERSION = 2  # bump when the drawing or the layout changes, so cached folders are rebuilt


def _pattern(kind: int, rng: np.random.Generator) -> np.ndarray:
    """(32, 32) mask in [0, 1] of pattern ``kind`` at a random place, scale and phase."""
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    period = rng.uniform(5.0, 9.0)
    phase = rng.uniform(0, 2 * np.pi)
    cy, cx = rng.uniform(10, 22, size=2)
    radius = rng.uniform(6, 11)
    if kind < 4:  # stripes: horizontal, vertical, and the two diagonals
        direction = [(1, 0), (0, 1), (1, 1), (1, -1)][kind]
        coordinate = (direction[0] * y + direction[1] * x) / np.hypot(*direction)
        return (np.sin(2 * np.pi * coordinate / period + phase) > 0).astype(np.float64)
    if kind == 4:  # checkerboard
        return ((np.floor((y + cy) / (period / 1.5)) + np.floor((x + cx) / (period / 1.5))) % 2).astype(np.float64)
    distance = np.hypot(y - cy, x - cx)
    if kind == 5:  # disc
        return (distance < radius).astype(np.float64)
    if kind == 6:  # ring
        return (np.abs(distance - radius) < 2.0).astype(np.float64)
    if kind == 7:  # square
        return ((np.abs(y - cy) < radius * 0.8) & (np.abs(x - cx) < radius * 0.8)).astype(np.float64)
    arm = rng.uniform(1.5, 2.5)
    if kind == 8:  # plus
        return (((np.abs(y - cy) < arm) | (np.abs(x - cx) < arm)) & (distance < radius * 1.3)).astype(np.float64)
    # cross (x)
    return (((np.abs((y - cy) - (x - cx)) < arm * 1.4) | (np.abs((y - cy) + (x - cx)) < arm * 1.4))
            & (distance < radius * 1.3)).astype(np.float64)


def make_images(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` images with balanced labels.

    Returns:
        ``(images, labels)``: uint8 (count, 32, 32, 3) in HWC order like CIFAR-10's arrays, and
        int64 (count,) class indices.
    """
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % len(CLASSES)
    rng.shuffle(labels)
    images = np.empty((count, SIZE, SIZE, 3), dtype=np.uint8)
    for i, label in enumerate(labels):
        mask = _pattern(int(label), rng)[..., None]  # (32, 32, 1)
        foreground, background = rng.uniform(0, 255, size=(2, 3))
        while np.abs(foreground - background).sum() < 150:  # keep the pattern visible
            foreground, background = rng.uniform(0, 255, size=(2, 3))
        picture = mask * foreground + (1 - mask) * background + rng.normal(0, 20, size=(SIZE, SIZE, 3))
        images[i] = np.clip(picture, 0, 255).astype(np.uint8)
    return images, labels.astype(np.int64)


def write_standin(root: str, train_count: int = 2000, test_count: int = 1000, seed: int = 0) -> str:
    """Write the stand-in under ``root`` in CIFAR-10's on-disk layout (:mod:`course.data.cifar`), unless
    this version is already there. Returns the dataset's folder."""
    stamp = os.path.join(cifar.folder(root), f"VERSION-{VERSION}-{train_count}-{test_count}-{seed}")
    if os.path.exists(stamp):
        return cifar.folder(root)
    target = cifar.write(root, make_images(train_count, seed), make_images(test_count, seed + 1), CLASSES, standin=True)
    open(stamp, "w").close()
    return target
