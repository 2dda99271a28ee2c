# SPDX-License-Identifier: MIT
"""A head's screendump against the pixels a guest program printed, one
`PIXEL x y rrggbb` line each (kms-output-vm and kg-frontend both print
them): shared by test-kms-output.py and test-vgpu-frontend.py."""


def pixel(line):
    """(x, y, 0xrrggbb) of a PIXEL line, None for any other line."""
    if not line.startswith('PIXEL '):
        return None
    _, x, y, v = line.split()
    return int(x), int(y), int(v, 16)


def check(vm, pixels, problems, head=0):
    """Appends to problems each point of the head that differs (the first
    five) or lies outside it, and a problem when there was no point to check."""
    w, h, rgb = vm.screendump(head)
    bad = 0
    for x, y, want in pixels:
        if x >= w or y >= h:
            problems.append(f'screendump head {head} {w}x{h} too small for ({x},{y})')
            return
        o = (y * w + x) * 3
        got = (rgb[o] << 16) | (rgb[o + 1] << 8) | rgb[o + 2]
        if got != want:
            bad += 1
            if bad <= 5:
                problems.append(f'screendump head {head} ({x},{y}) is {got:06x}, '
                                f'expected {want:06x}')
    print(f'screendump: head {head} {w}x{h}, {len(pixels)} points, {bad} wrong')
    if not pixels:
        problems.append('no PIXEL lines to check')


def shows(vm, pixels, head):
    """How many of the points the head shows (a head that is off shows none)."""
    w, h, rgb = vm.screendump(head)
    return sum(1 for x, y, want in pixels if x < w and y < h and
               ((rgb[(y * w + x) * 3] << 16) | (rgb[(y * w + x) * 3 + 1] << 8)
                | rgb[(y * w + x) * 3 + 2]) == want)
