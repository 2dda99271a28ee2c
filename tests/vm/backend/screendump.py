# SPDX-License-Identifier: MIT
"""Head 0's screendump against the pixels a guest program printed, one
`PIXEL x y rrggbb` line each (kms-output-vm and kg-frontend both print
them): shared by test-kms-output.py and test-vgpu-frontend.py."""


def pixel(line):
    """(x, y, 0xrrggbb) of a PIXEL line, None for any other line."""
    if not line.startswith('PIXEL '):
        return None
    _, x, y, v = line.split()
    return int(x), int(y), int(v, 16)


def check(vm, pixels, problems):
    """Appends to problems each point of head 0 that differs (the first five)
    or lies outside it, and a problem when there was no point to check."""
    w, h, rgb = vm.screendump(0)
    bad = 0
    for x, y, want in pixels:
        if x >= w or y >= h:
            problems.append(f'screendump {w}x{h} too small for ({x},{y})')
            return
        o = (y * w + x) * 3
        got = (rgb[o] << 16) | (rgb[o + 1] << 8) | rgb[o + 2]
        if got != want:
            bad += 1
            if bad <= 5:
                problems.append(f'screendump ({x},{y}) is {got:06x}, expected {want:06x}')
    print(f'screendump: head 0 {w}x{h}, {len(pixels)} points, {bad} wrong')
    if not pixels:
        problems.append('no PIXEL lines to check')
