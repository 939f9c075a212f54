#!/usr/bin/env python3
# Prints the raftpp public headers under DIR, relative to DIR, one per line, sorted.
import os, sys
root = sys.argv[1]
out = []
for d, _, files in os.walk(os.path.join(root, 'raftpp')):
    for f in files:
        if f.endswith('.hpp'):
            out.append(os.path.relpath(os.path.join(d, f), root))
print('\n'.join(sorted(out)))
