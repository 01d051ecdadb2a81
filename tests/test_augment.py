"""Batch augmentation: each transform does what it says, per image, within its bounds."""

import torch

from mnistlab.models.best import translate
from mnistlab.training.augment import Augment, augment, shift_images


def blobs(n: int = 256) -> torch.Tensor:
    """n images (N, 1, 28, 28) with one 4×4 white square right of the centre."""
    x = torch.zeros(n, 1, 28, 28)
    x[:, :, 12:16, 16:20] = 1.0
    return x


def test_shift_moves_each_image_by_at_most_the_shift():
    images = torch.zeros(64, 28, 28, dtype=torch.uint8)
    images[:, 12:16, 12:16] = 255
    torch.manual_seed(0)
    moved = shift_images(images, 2)
    assert moved.shape == images.shape and moved.dtype == torch.uint8
    assert (moved.sum((1, 2)) == images.sum((1, 2))).all()  # nothing falls off the edge
    rows = moved.amax(2).float().argmax(1)  # the blob's first row, 12 before the shift
    assert set(rows.tolist()) == {10, 11, 12, 13, 14}  # all offsets occur, none beyond 2


def test_no_augmentation_is_falsy_and_flip_alone_mirrors_about_half():
    assert not Augment() and Augment(erase=0.5) and Augment(flip=True)
    torch.manual_seed(0)
    x = blobs()
    out = augment(x, Augment(flip=True))
    mirrored = (out == x.flip(-1)).flatten(1).all(1)
    unchanged = (out == x).flatten(1).all(1)
    assert (mirrored ^ unchanged).all()  # each image is one or the other, exactly
    assert 0.35 < mirrored.float().mean() < 0.65


def test_rotation_and_scale_keep_the_square_near_its_place_and_vary_per_image():
    torch.manual_seed(0)
    x = blobs()
    out = augment(x, Augment(rotate=15, scale=0.1))
    mass = out.sum((1, 2, 3))
    assert ((mass > 16 * 0.7) & (mass < 16 * 1.35)).all()  # a 10% zoom changes area ≤ ~23%
    ys, xs = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    cx = (out[:, 0] * xs).sum((1, 2)) / mass  # 17.5 before; rotating ±15° about 13.5 moves it
    cy = (out[:, 0] * ys).sum((1, 2)) / mass
    assert ((cx - 17.5).abs() < 1.5).all() and ((cy - 13.5).abs() < 1.5).all()
    assert cy.std() > 0.1  # rotations differ between images


def test_affine_flip_with_shift_mirrors_the_square_to_the_left():
    torch.manual_seed(0)
    out = augment(blobs(), Augment(shift=1, flip=True))
    left = out[:, 0, :, :14].sum((1, 2)) > out[:, 0, :, 14:].sum((1, 2))
    assert 0.35 < left.float().mean() < 0.65  # the square sits right of centre unless mirrored


def test_random_erasing_blanks_one_rectangle_in_about_p_of_the_images():
    torch.manual_seed(0)
    x = torch.ones(2000, 1, 28, 28)
    out = augment(x, Augment(erase=0.5))
    erased = (out == 0).flatten(1).sum(1)
    hit = erased > 0
    assert 0.45 < hit.float().mean() < 0.55
    area = erased[hit].float() / 784
    assert area.min() >= 0.5 / 784 and area.max() <= 0.34  # 2-33% of the area, whole pixels
    rows_hit = (out[hit, 0] == 0).any(2).sum(1)  # a rectangle: its pixels = rows × columns
    cols_hit = (out[hit, 0] == 0).any(1).sum(1)
    assert (rows_hit * cols_hit == erased[hit]).all()


def test_translate_moves_by_whole_pixels_and_fills_with_background():
    x = torch.arange(16.0).view(1, 1, 4, 4) + 1
    down = translate(x, 1, 0)
    assert (down[..., 0, :] == 0).all() and torch.equal(down[..., 1:, :], x[..., :3, :])
    left = translate(x, 0, -2)
    assert (left[..., 2:] == 0).all() and torch.equal(left[..., :2], x[..., 2:])
    assert translate(x, 0, 0) is x
