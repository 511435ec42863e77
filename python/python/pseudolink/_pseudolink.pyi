"""Type hints for the native module (pseudolink._pseudolink)."""

from os import PathLike
from typing import Any, Optional, Union

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
    def tokens(self, column: Any, threads: int = 0, allow_float: bool = False) -> Any:
        """Tokens of a whole column (pandas/polars Series, pyarrow array), nulls where invalid."""
    def reasons(self, column: Any, threads: int = 0, allow_float: bool = False) -> Any:
        """Reason codes of a whole column, nulls where valid."""

def _column(key: Optional[Key], *args: Any) -> dict: ...
def _relink(args: list[str], key: Optional[Key] = None) -> str: ...
def _cli_main(argv: list[str]) -> int: ...
