"""A stand-in for the get-pip.py that ansible-test downloads to give its
virtual environments pip (from ci-files.testing.ansible.com, which this
project's machines cannot reach). tests/lab/lab.sh puts it where
ansible-test looks first (~/.ansible/test/cache/get_pip_<version>.py).

ansible-test runs it as get-pip.py is run: with pip's install options and
the packages to install (pip==VERSION, and --no-setuptools or --no-wheel
when those are not wanted). It bootstraps the pip that Python carries
(ensurepip), then installs the asked-for packages from PyPI with it: the
same result, from the package registry only.
"""

import subprocess
import sys


def main(args):
    # get-pip.py's own options: it would otherwise add setuptools and wheel.
    packages = [arg for arg in args if arg not in ("--no-setuptools", "--no-wheel")]
    # In a process of its own: ensurepip sets PIP_CONFIG_FILE=/dev/null in
    # the environment of the process it runs in, which would hide the
    # machine's pip configuration (its index and certificates) from the
    # install below.
    bootstrap = subprocess.call([sys.executable, "-m", "ensurepip", "--upgrade"])
    if bootstrap:
        return bootstrap
    command = [sys.executable, "-m", "pip", "install", "--upgrade", "--force-reinstall", *packages]
    return subprocess.call(command)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
