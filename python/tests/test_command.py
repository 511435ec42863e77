"""The `pseudolink` command that the Python package installs: the same
entry point as the Rust binary, so the same output, files and exit codes;
and, in CI, a wheel that works with no Rust toolchain on PATH.
PSEUDOLINK_REQUIRE_WHEEL=1 (CI sets it) makes the wheel checks fail
instead of skipping when the package was built from source here."""

import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import pytest

from test_pseudolink import EXAMPLE_KEY, ROOT, binary

import pseudolink

WHEEL = os.environ.get("PSEUDOLINK_REQUIRE_WHEEL") == "1"


def py_cli(*args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pseudolink", *args], capture_output=True, text=True, **kw)


def both(tmp_path, *args):
    """Runs the binary and the Python command in two folders; returns
    both results and the folders."""
    out = []
    for name, cmd in (("bin", [binary()]), ("py", [sys.executable, "-m", "pseudolink"])):
        d = tmp_path / name
        d.mkdir()
        r = subprocess.run([*cmd, *args], capture_output=True, text=True, cwd=d)
        out.append((r, d))
    return out


@pytest.mark.parametrize(
    "args",
    [
        ["key-id", "--key", str(EXAMPLE_KEY)],
        ["tokenise", "--key", str(EXAMPLE_KEY), str(ROOT / "examples" / "referrals.csv"),
         "--output", "t.csv", "--rejects", "r.csv"],
        ["validate", str(ROOT / "examples" / "referrals.csv"), "--rejects", "r.csv"],
        ["relink", "--key", str(EXAMPLE_KEY), "--cohort", str(ROOT / "examples" / "referrals.csv"),
         "--usage", str(ROOT / "examples" / "usage.csv"), "--output", "report.csv"],
        ["tokenise", "--key", "missing.key", "x.csv"],
        ["tokenise", "--no-such-flag"],
    ],
    ids=["key-id", "tokenise", "validate", "relink", "missing-key", "bad-flag"],
)
def test_the_python_command_is_the_binary(tmp_path, args):
    (b, bd), (p, pd_) = both(tmp_path, *args)
    assert p.returncode == b.returncode, (p.stderr, b.stderr)
    assert p.stdout == b.stdout
    # Only the program's name may differ (clap's usage lines).
    assert p.stderr.replace("__main__.py", "pseudolink") == b.stderr
    files = sorted(f.name for f in bd.iterdir())
    assert files == sorted(f.name for f in pd_.iterdir())
    for f in files:
        if not f.endswith(".json"):  # manifests hold the time they were made
            assert (bd / f).read_bytes() == (pd_ / f).read_bytes(), f


def test_the_python_command_exits_130_on_ctrl_c(tmp_path):
    """Ctrl-C reaches the Rust handler, not a Python traceback."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "pseudolink", "tokenise", "--key", str(EXAMPLE_KEY), "-"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    proc.stdin.write("nhs_number\n")
    proc.stdin.flush()
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Traceback" not in err


def test_the_installed_command_is_on_path():
    exe = shutil.which("pseudolink", path=os.path.dirname(sys.executable))
    if exe is None:
        pytest.skip("the package was not installed with its scripts")
    r = subprocess.run([exe, "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("pseudolink ")


def test_the_wheel_needs_no_rust():
    if not WHEEL:
        pytest.skip("set PSEUDOLINK_REQUIRE_WHEEL=1 to check the installed wheel")
    assert shutil.which("cargo") is None and shutil.which("rustc") is None, "Rust is on PATH"
    module = pathlib.Path(pseudolink._pseudolink.__file__)
    assert ".abi3." in module.name, module.name  # one wheel for every Python >= 3.9
    assert ROOT / "python" not in module.parents, "the package was imported from the source tree"
