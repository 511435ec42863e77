"""`python -m pseudolink`: the same command as the `pseudolink` binary."""

from pseudolink._cli import main

main()
