#!/bin/sh
# Print the path of a Python 3.12+ interpreter, or exit 1 with the fix.
# Order: $PYTHON, python3.12 then python3.13 on PATH, pyenv installs (3.12 first), python3.
# 3.12 comes first because the reference spec used by the tests is built for it.
check() {
    "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null
}
for candidate in "$PYTHON" python3.12 python3.13; do
    [ -n "$candidate" ] || continue
    path=$(command -v "$candidate" 2>/dev/null) || continue
    if check "$path"; then echo "$path"; exit 0; fi
done
roots="${PYENV_ROOT:-$HOME/.pyenv}"
for dir in $(ls -d "$roots"/versions/3.1[2-9]* 2>/dev/null | sort -V); do
    if check "$dir/bin/python"; then echo "$dir/bin/python"; exit 0; fi
done
for candidate in python3 python; do
    path=$(command -v "$candidate" 2>/dev/null) || continue
    if check "$path"; then echo "$path"; exit 0; fi
done
echo "error: no Python 3.12 or newer found on PATH or under $roots/versions;" \
     "install one (e.g. 'pyenv install 3.12') or set PYTHON=/path/to/python3.12" >&2
exit 1
