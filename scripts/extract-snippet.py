#!/usr/bin/env python3
"""Prints C++ code blocks of Markdown files, so documentation is compiled as a test.

  extract-snippet.py FILE WHICH [--main NAME]
      One ```cpp block of FILE. WHICH is a 1-based number (the Nth ```cpp block) or a name
      given by a `<!-- snippet: NAME -->` line right before the block (blank lines between
      are allowed). --main NAME renames the block's `int main(` to `auto NAME(`, so a test can
      run the program and check what it prints (a main without a return statement becomes a
      void function, so falling off its end stays well-defined).

  extract-snippet.py --all FILE...
      Every ```cpp block of the FILEs as one translation unit, except blocks marked
      `<!-- snippet: fragment -->` (code that is not meant to compile on its own). A block's
      #include lines come first; the rest of the block is wrapped in `namespace snippet_<name>`
      (its marked name, else <file>_<n>) so blocks may reuse names. A program's `int main(`
      becomes `auto main_program(` (outside the global namespace, main would lose its implicit
      `return 0`).

  extract-snippet.py --check ROOT FILE...
      Fails unless the FILEs (the ones --all compiles) cover every C++ block of the project's
      documentation, so that each block is compiled or explicitly marked as a fragment:
      - ROOT/README.md and every ROOT/docs/*.md with a C++ block must be among the FILEs;
      - a fence that looks like C++ must be spelled ```cpp (or ```c++), or it would escape;
      - a `<!-- snippet: ... -->` marker must stand right before a ```cpp block;
      - a name may mark only one block across the FILEs (it names a namespace in --all).
      Prints what is compiled and what is marked as a fragment.

Markers: `<!-- snippet: NAME -->` names the next block (letters, digits, `.`, `_`, `-`);
`<!-- snippet: fragment -->` marks it as not compilable, so --all leaves it out.

Output carries #line directives: a compiler error points at the Markdown file and line.
Exits non-zero when the requested block does not exist, so a renamed or removed snippet
fails the build instead of silently testing nothing.
"""
import argparse
import glob
import os
import re
import sys

FRAGMENT = 'fragment'
MARKER = re.compile(r'^\s*<!--\s*snippet:\s*([A-Za-z0-9_.-]+)\s*-->\s*$')
# Anything that starts like a marker, to catch misspelled ones in --check.
MARKER_LIKE = re.compile(r'^\s*<!--\s*snippet\b')
FENCE_OPEN = re.compile(r'^\s*```\s*(c\+\+|cpp)\s*$')
FENCE_CLOSE = re.compile(r'^\s*```\s*$')
# Any fence line, with its info string (for --check: other spellings of C++).
FENCE_ANY = re.compile(r'^\s*```+\s*(\S*)(.*)$')
CPP_LIKE = {'c++', 'cpp', 'cc', 'cxx', 'hpp', 'hxx', 'h++', 'h', 'c'}
MAIN = re.compile(r'\bint\s+main\s*\(')


class Block:
    def __init__(self, path, name, first_line, lines):
        self.path = path          # the Markdown file, as given
        self.name = name          # the marked name, or None
        self.first_line = first_line  # 1-based line of the block's first code line
        self.lines = lines

    @property
    def fragment(self):
        return self.name == FRAGMENT


def read_lines(path):
    with open(path, encoding='utf-8') as f:
        return f.read().splitlines()


def blocks(path, problems=None):
    """The ```cpp blocks of a Markdown file, in order. With a list as problems, also records
    what --check refuses (misspelled C++ fences, markers not followed by a ```cpp block)."""
    text = read_lines(path)
    out = []
    name = None
    name_line = 0
    in_other_fence = False  # inside a ```text, ```sh, ... block: nothing in it counts

    def dangling():
        if problems is not None and name is not None:
            problems.append(f'{path}:{name_line}: <!-- snippet: {name} --> is not right before '
                            f'a ```cpp block')

    i = 0
    while i < len(text):
        line = text[i]
        if in_other_fence:
            if FENCE_CLOSE.match(line):
                in_other_fence = False
            i += 1
            continue
        m = MARKER.match(line)
        if m:
            dangling()
            name, name_line = m.group(1), i + 1
        elif FENCE_OPEN.match(line):
            start = i + 1
            j = start
            while j < len(text) and not FENCE_CLOSE.match(text[j]):
                j += 1
            if j == len(text):
                sys.exit(f'{path}:{i + 1}: unterminated ```cpp block')
            out.append(Block(path, name, start + 1, text[start:j]))
            name = None
            i = j
        elif FENCE_ANY.match(line):
            f = FENCE_ANY.match(line)
            info = f.group(1)
            if problems is not None and (info.lower() in CPP_LIKE or
                                         re.match(r'(?i)(c\+\+|cpp)\b', info)):
                problems.append(f'{path}:{i + 1}: C++ fence spelled "{line.strip()}": write '
                                f'```cpp alone on the line, so the block is compiled')
            dangling()
            name = None
            in_other_fence = True
        elif line.strip():
            if problems is not None and MARKER_LIKE.match(line):
                problems.append(f'{path}:{i + 1}: not a snippet marker: write '
                                f'<!-- snippet: NAME --> or <!-- snippet: {FRAGMENT} -->')
            dangling()
            name = None  # a marker names only the block right after it
        i += 1
    dangling()
    return out


def line_directive(block, offset):
    return f'#line {block.first_line + offset} "{os.path.normpath(block.path)}"'


def one(path, which, main_name):
    bs = blocks(path)
    if which.isdigit():
        n = int(which)
        if not 1 <= n <= len(bs):
            sys.exit(f'{path}: no ```cpp block number {n} (it has {len(bs)})')
        b = bs[n - 1]
    else:
        named = [b for b in bs if b.name == which]
        if len(named) != 1:
            sys.exit(f'{path}: expected one ```cpp block marked <!-- snippet: {which} -->, '
                     f'found {len(named)}')
        b = named[0]
    code = '\n'.join(b.lines)
    if main_name:
        code, count = MAIN.subn(f'auto {main_name}(', code, count=1)
        if count != 1:
            sys.exit(f'{path}:{b.first_line}: --main given but the block has no `int main(`')
    label = b.name or f'block {which}'
    return (f'// Generated by scripts/extract-snippet.py from {os.path.basename(path)} '
            f'({label}); edit the Markdown, not this file.\n'
            f'{line_directive(b, 0)}\n{code}\n')


def all_blocks(paths):
    parts = ['// Generated by scripts/extract-snippet.py --all; edit the Markdown, not this file.']
    for path in paths:
        stem = re.sub(r'\W', '_', os.path.splitext(os.path.basename(path))[0])
        for n, b in enumerate(blocks(path), 1):
            if b.fragment:
                continue
            ns = 'snippet_' + re.sub(r'\W', '_', b.name or f'{stem}_{n}')
            includes = [(k, l) for k, l in enumerate(b.lines) if l.lstrip().startswith('#include')]
            for k, l in includes:
                parts += [line_directive(b, k), l]
            parts.append(f'namespace {ns} {{')
            body_start = includes[-1][0] + 1 if includes else 0
            parts.append(line_directive(b, body_start))
            for k, l in enumerate(b.lines[body_start:], body_start):
                if l.lstrip().startswith('#include'):
                    sys.exit(f'{path}:{b.first_line + k}: put #include lines at the top of '
                             f'the block')
                parts.append(MAIN.sub('auto main_program(', l))
            parts.append(f'}}  // namespace {ns}')
    return '\n'.join(parts) + '\n'


def check(root, paths):
    problems = []
    given = {os.path.realpath(p) for p in paths}
    docs = [os.path.join(root, 'README.md')] + sorted(glob.glob(os.path.join(root, 'docs', '*.md')))
    for d in docs:
        if not os.path.exists(d) or os.path.realpath(d) in given:
            continue
        if any(FENCE_ANY.match(l) and (FENCE_ANY.match(l).group(1).lower() in CPP_LIKE)
               for l in read_lines(d)):
            problems.append(f'{os.path.relpath(d, root)}: has C++ blocks but is not compiled: add '
                            f'it to doc_markdown in tests/meson.build')
    names = {}
    report = []
    for path in paths:
        bs = blocks(path, problems)
        compiled, fragments = [], []
        for n, b in enumerate(bs, 1):
            where = f'{os.path.relpath(path, root)}:{b.first_line - 1}'
            if b.fragment:
                fragments.append(where)
                continue
            compiled.append(b.name or f'block {n}')
            if b.name:
                if b.name in names:
                    problems.append(f'{where}: <!-- snippet: {b.name} --> also marks the block '
                                    f'at {names[b.name]}')
                names.setdefault(b.name, where)
        if bs:
            line = f'{os.path.relpath(path, root)}: {len(compiled)} compiled'
            if compiled:
                line += f' ({", ".join(compiled)})'
            if fragments:
                line += f'; {len(fragments)} marked {FRAGMENT} (at {", ".join(fragments)})'
            report.append(line)
    print('\n'.join(report))
    if problems:
        print('\n'.join(problems), file=sys.stderr)
        print(f'{len(problems)} problem(s): every ```cpp block of README.md and docs/*.md must be '
              f'compiled (doc_snippets_test) or marked <!-- snippet: {FRAGMENT} -->',
              file=sys.stderr)
        return 1
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--all', action='store_true', help='every ```cpp block of every FILE')
    p.add_argument('--check', metavar='ROOT',
                   help='fail unless the FILEs cover every C++ block of ROOT\'s documentation')
    p.add_argument('--main', metavar='NAME', help='rename int main( to auto NAME(')
    p.add_argument('args', nargs='+', metavar='FILE [WHICH]')
    a = p.parse_args()
    if a.check:
        if a.all or a.main:
            p.error('--check goes alone')
        sys.exit(check(a.check, a.args))
    if a.all:
        if a.main:
            p.error('--main goes with a single block')
        sys.stdout.write(all_blocks(a.args))
    else:
        if len(a.args) != 2:
            p.error('expected FILE WHICH')
        sys.stdout.write(one(a.args[0], a.args[1], a.main))


if __name__ == '__main__':
    main()
