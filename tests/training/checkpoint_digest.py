#!/usr/bin/env python3
"""checkpoint_digest.py MANIFEST [EXTRA_TO_LEAVE_OUT...]: one line naming every
table file and extra of a checkpoint with its xxh3 checksum, so that two
checkpoints holding the same bits print the same line."""
import json
import sys

manifest = json.load(open(sys.argv[1]))
left_out = set(sys.argv[2:])
print(sorted((f['path'], f['xxh3']) for t in manifest['tables'] for f in t['files']),
      sorted((e['name'], e['xxh3']) for e in manifest['extras'] if e['name'] not in left_out))
