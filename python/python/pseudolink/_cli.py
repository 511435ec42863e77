"""The `pseudolink` command installed with the Python package: the Rust
binary's own entry point, so `pip install pseudolink` gives a provider the
whole tool (keygen, validate, tokenise, relink, ...) with no Rust toolchain.
"""

from __future__ import annotations

import os
import sys

from pseudolink._pseudolink import _cli_main


def main() -> None:
    # The program name as the user typed it, for clap's usage lines.
    argv = [os.path.basename(sys.argv[0]) or "pseudolink", *sys.argv[1:]]
    sys.exit(_cli_main(argv))


if __name__ == "__main__":
    main()
