# SPDX-License-Identifier: MIT
"""A head's screendump against the pixels a guest program printed, one
`PIXEL x y rrggbb` line each (kms-output-vm and kg-frontend both print
them): shared by test-kms-output.py and test-vgpu-frontend.py. And which
of kg-frontend's frames a head shows (grid, frame_shown): shared by the
tests that kill kmsgate-vgpu under a head, test-vgpu-kms-restart.py and
tests/vm/broker/test-two-heads-kill9.py."""


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


# kg-frontend's pattern (tests/frontend/fake-guest.c, kg_fg_pattern) is
# (x * 0x010203) ^ (y * 0x030107) ^ (frame * 0x1f3d5b), 24 bits. The frame's
# factor is odd, so a pixel's frame (mod 2^24) is its own bits times the
# factor's inverse; any value gives some frame, a plausible one (a range of
# a few thousand) by chance with probability range / 2^24.
FRAME_FACTOR_INVERSE = pow(0x1f3d5b, -1, 1 << 24)


def grid(w, h, n=8):
    """n x n points, each in the middle of its cell of a w x h frame."""
    return [(w * (2 * i + 1) // (2 * n), h * (2 * j + 1) // (2 * n))
            for j in range(n) for i in range(n)]


def frame_shown(w, h, rgb, points, frames, need=60):
    """(the newest frame of the range frames the points show, None unless at
    least need of them show a frame of it) and how many points are black.
    kg-frontend draws whole buffers once, then an eighth of the height per
    frame, so a head shows bands of several frames: the newest is what the
    head shows. A point outside the screendump shows nothing."""
    seen, black = [], 0
    for x, y in points:
        if x >= w or y >= h:
            continue
        o = (y * w + x) * 3
        v = (rgb[o] << 16) | (rgb[o + 1] << 8) | rgb[o + 2]
        black += v == 0
        f = ((((x * 0x010203) ^ (y * 0x030107) ^ v) & 0xffffff) * FRAME_FACTOR_INVERSE) \
            & 0xffffff
        if f in frames:
            seen.append(f)
    return (max(seen) if len(seen) >= need else None), black
