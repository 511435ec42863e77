"""Type hints for the native module (pseudolink._pseudolink)."""

from os import PathLike
from typing import Any, Optional, Sequence, Union, overload

import pandas
import polars
import pyarrow

__version__: str
SPEC_VERSION: str

class InvalidNhsNumber(ValueError):
    """A cell that is not a valid NHS number."""

    reason: str
    """The SPEC's reason code: empty, scientific_notation, invalid_character,
    wrong_length, placeholder, check_digit_10 or check_digit_mismatch."""

class PseudolinkError(OSError):
    """An error from pseudolink, with the command line's message."""

class PseudolinkWarning(UserWarning):
    """A safety warning: a key others can read, exact output, a record-level
    people file, few matches. The same text is in relink's summary."""

def canonicalise(cell: str) -> str:
    """The canonical ten digits; raises InvalidNhsNumber."""

def check(cell: Optional[str]) -> Optional[str]:
    """The reason code for an invalid cell, or None when it is valid."""

class Key:
    """A secret key from a key file. Its bytes never become Python objects."""

    @staticmethod
    def from_file(path: Union[str, PathLike[str]]) -> "Key":
        """Loads a key file and self-tests the token code under it."""
    @staticmethod
    def from_hex(text: str) -> "Key":
        """A key from its hex text (a secrets store's value): at least 32 bytes."""
    @staticmethod
    def from_bytes(data: bytes) -> "Key":
        """A key from its raw bytes: at least 32."""
    @staticmethod
    def generate() -> "Key":
        """A new 32-byte key from the operating system, as keygen makes."""
    def write_file(self, path: Union[str, PathLike[str]], force: bool = False) -> None:
        """Writes the key to a new file with mode 0600, as keygen does."""
    @property
    def warnings(self) -> list[str]:
        """Warnings about the key's file."""
    @property
    def key_id(self) -> str:
        """16 hex characters that identify the key without revealing it."""
    def token(self, cell: str) -> str:
        """The 64-character token of one cell; raises InvalidNhsNumber."""
    # Tokens / reason codes of a whole column, as the same kind of column:
    # nulls where there is no token (no reason).
    @overload
    def tokens(self, column: pandas.Series, threads: int = 0, allow_float: bool = False) -> pandas.Series: ...
    @overload
    def tokens(self, column: polars.Series, threads: int = 0, allow_float: bool = False) -> polars.Series: ...
    @overload
    def tokens(
        self, column: Union[pyarrow.Array, pyarrow.ChunkedArray], threads: int = 0, allow_float: bool = False
    ) -> pyarrow.LargeStringArray: ...
    @overload
    def tokens(
        self, column: Sequence[Union[str, int, None]], threads: int = 0, allow_float: bool = False
    ) -> list[Optional[str]]: ...
    @overload
    def reasons(self, column: pandas.Series, threads: int = 0, allow_float: bool = False) -> pandas.Series: ...
    @overload
    def reasons(self, column: polars.Series, threads: int = 0, allow_float: bool = False) -> polars.Series: ...
    @overload
    def reasons(
        self, column: Union[pyarrow.Array, pyarrow.ChunkedArray], threads: int = 0, allow_float: bool = False
    ) -> pyarrow.LargeStringArray: ...
    @overload
    def reasons(
        self, column: Sequence[Union[str, int, None]], threads: int = 0, allow_float: bool = False
    ) -> list[Optional[str]]: ...

def _column(key: Optional[Key], column: pyarrow.ChunkedArray, threads: int) -> pyarrow.LargeStringArray: ...
def _relink(
    args: list[str],
    key: Optional[Key] = None,
    tables: Optional[dict[str, pyarrow.Table]] = None,
    in_memory: list[str] = ...,
) -> tuple[str, list[str], list[tuple[str, bytes]]]: ...
def _census(column: pyarrow.ChunkedArray) -> tuple[int, int, int]: ...
def _cli_main(argv: list[str]) -> int: ...
