#!/bin/sh
# exports.sh LIB — fails if the shared library LIB exports a dynamic symbol
# whose name does not start with plinth_ (libplinth is built hidden; only
# what plinth.h marks PLINTH_API may leave it). Prints the exported names.
set -eu
lib=$1
names=$(nm -D --defined-only "$lib" | awk '{print $NF}' | sort)
bad=$(printf '%s\n' "$names" | grep -v '^plinth_' || true)
count=$(printf '%s\n' "$names" | grep -c . || true)
if [ -n "$bad" ]; then
    echo "exports.sh: $lib exports names outside plinth_*:" >&2
    printf '  %s\n' $bad >&2
    exit 1
fi
echo "exports.sh: $lib exports $count symbols, all plinth_*"
