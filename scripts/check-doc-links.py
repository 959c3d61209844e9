#!/usr/bin/env python3
"""Every relative link of the Markdown files given resolves: the file or
folder exists, and an anchor names one of the target's headings (GitHub's
slugs). Usage: python3 scripts/check-doc-links.py README.md docs/*.md deploy/README.md"""
import os, re, sys
def slugs(path):
    out, seen = set(), {}
    inblock = False
    for l in open(path):
        if l.startswith('```'):
            inblock = not inblock
        if inblock or not re.match(r'#{1,6} ', l):
            continue
        t = l.lstrip('#').strip().lower()
        t = re.sub(r'[^\w\- ]', '', t).replace(' ', '-')
        n = seen.get(t, 0); seen[t] = n + 1
        out.add(t if n == 0 else f'{t}-{n}')
    return out
bad = 0; count = 0
for f in sys.argv[1:]:
    text = re.sub(r'```.*?```', '', open(f).read(), flags=re.S)
    for target in re.findall(r'\]\(([^)\s]+)\)', text):
        if re.match(r'[a-z]+:', target):
            continue
        count += 1
        path, _, frag = target.partition('#')
        full = os.path.normpath(os.path.join(os.path.dirname(f), path)) if path else f
        if not os.path.exists(full):
            print(f'{f}: {target}: no such file'); bad += 1; continue
        if frag and (not full.endswith('.md') or frag not in slugs(full)):
            print(f'{f}: {target}: no heading #{frag}'); bad += 1
print(f'{count} relative links, {bad} broken', file=sys.stderr)
sys.exit(1 if bad else 0)
