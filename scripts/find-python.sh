#!/usr/bin/env bash
# Prints the path of a Python 3.10 interpreter, or explains in one sentence how to get one.
set -u
candidates=(python3.10)
if command -v pyenv >/dev/null 2>&1; then
  for d in "$(pyenv root)"/versions/3.10*/bin/python3.10; do candidates+=("$d"); done
fi
candidates+=(/usr/bin/python3.10 /usr/local/bin/python3.10 /opt/homebrew/bin/python3.10)
for c in "${candidates[@]}"; do
  if "$c" -c 'import sys, venv; assert sys.version_info[:2] == (3, 10)' >/dev/null 2>&1; then
    command -v "$c" 2>/dev/null || echo "$c"
    exit 0
  fi
done
echo "Python 3.10 is needed (Rasa 3.6 runs on 3.8-3.10 only): install it, e.g. 'sudo apt-get install python3.10 python3.10-venv', 'pyenv install 3.10' or 'brew install python@3.10', then run make again." >&2
exit 1
