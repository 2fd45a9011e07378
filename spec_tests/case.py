"""One consensus-spec-tests case: its place in the tree and its files."""

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import cramjam
import yaml

try:
    _YAML_LOADER: Any = yaml.CSafeLoader
except AttributeError:  # PyYAML built without libyaml
    _YAML_LOADER = yaml.SafeLoader


@dataclass
class Case:
    """A test case: `tests/<preset>/<fork>/<runner>/<handler>/<suite>/<name>/`.

    `files` maps a file name inside the case directory (for example
    `pre.ssz_snappy` or `meta.yaml`) to its raw bytes; subdirectories use `/`.
    """

    preset: str
    fork: str
    runner: str
    handler: str
    suite: str
    name: str
    files: dict[str, bytes] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return "/".join((self.preset, self.fork, self.runner, self.handler, self.suite, self.name))

    def has(self, name: str) -> bool:
        return name in self.files

    def read(self, name: str) -> bytes:
        try:
            return self.files[name]
        except KeyError:
            raise FileNotFoundError(f"case {self.path} has no file {name}") from None

    def has_ssz(self, name: str) -> bool:
        return f"{name}.ssz_snappy" in self.files

    def ssz(self, name: str) -> bytes:
        """Return the decompressed bytes of `<name>.ssz_snappy`.

        Raises:
            FileNotFoundError: the case has no such file.
            ValueError: the file is not snappy block-compressed data.
        """
        file_name = f"{name}.ssz_snappy"
        try:
            return bytes(cramjam.snappy.decompress_raw(self.read(file_name)))
        except cramjam.DecompressionError as error:
            message = f"case {self.path}: {file_name} is not valid snappy: {error}"
            raise ValueError(message) from None

    def has_yaml(self, name: str) -> bool:
        return f"{name}.yaml" in self.files

    def yaml(self, name: str) -> Any:
        """Return the parsed contents of `<name>.yaml`."""
        return yaml.load(self.read(f"{name}.yaml"), Loader=_YAML_LOADER)

    @cached_property
    def meta(self) -> dict[str, Any]:
        return self.yaml("meta") if self.has_yaml("meta") else {}

    @cached_property
    def spec(self) -> Any:
        """The `ChainSpec` for this case: its preset, with the case's `config.yaml` if present."""
        from caplin.config import ChainSpec

        if self.has_yaml("config"):
            return ChainSpec.from_config(self.yaml("config"), preset=self.preset)
        return ChainSpec.for_preset(self.preset)

    @cached_property
    def fork_enum(self) -> Any:
        from caplin.config.forks import Fork

        return Fork.from_name(self.fork)

    def ssz_files(self, prefix: str) -> list[str]:
        """Names (without extension) of `<prefix>_<i>.ssz_snappy` files, in index order."""
        count = 0
        while f"{prefix}_{count}.ssz_snappy" in self.files:
            count += 1
        return [f"{prefix}_{i}" for i in range(count)]
