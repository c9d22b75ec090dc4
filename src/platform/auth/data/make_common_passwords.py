#!/usr/bin/env python3
"""Rebuilds common_passwords.txt from two Debian packages (see README.md in this folder).

    cd "$(mktemp -d)" && apt-get download python3-zxcvbn john-data
    for deb in *.deb; do dpkg-deb -x "$deb" root; done
    python3 make_common_passwords.py root > common_passwords.txt

Output: one password a line, lower case, printable ASCII, at least 4 characters (shorter entries can
never decide the policy, which needs 10 characters and strips decorations only down to a 4-character
core), in order of frequency: the zxcvbn list first, then John the Ripper's entries it lacks.
"""
import pathlib
import re
import sys

MIN_LENGTH = 4


def zxcvbn_passwords(root):
    # frequency_lists.py is a generated module: one line `    "passwords": "123456,password,...".split(","),`
    # (it is read, not imported, so that no code from the package runs).
    source = (root / "usr/lib/python3/dist-packages/zxcvbn/frequency_lists.py").read_text()
    match = re.search(r'^    "passwords": "([^"]*)"', source, re.MULTILINE)
    if not match:
        raise SystemExit("the passwords list was not found in frequency_lists.py")
    return match.group(1).split(",")


def john_passwords(root):
    lines = (root / "usr/share/john/password.lst").read_text(encoding="latin-1").splitlines()
    return [line for line in lines if not line.startswith("#!comment:")]


def main():
    root = pathlib.Path(sys.argv[1])
    seen = set()
    for word in zxcvbn_passwords(root) + john_passwords(root):
        word = word.strip().lower()
        printable_ascii = all(0x21 <= ord(c) <= 0x7E for c in word)
        if len(word) < MIN_LENGTH or not printable_ascii or word in seen:
            continue
        seen.add(word)
        print(word)


if __name__ == "__main__":
    main()
