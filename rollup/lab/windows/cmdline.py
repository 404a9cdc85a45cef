"""How a Windows program splits its command line (``CommandLineToArgvW``'s rules)."""

from __future__ import annotations


def split(text: str) -> list[str]:
    """Arguments as the C runtime reads them: quotes group, ``\\"`` is a quote, ``""`` inside quotes too."""
    args: list[str] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t":
            i += 1
        if i >= n:
            break
        current: list[str] = []
        quoted = False
        while i < n and (quoted or text[i] not in " \t"):
            if text[i] == "\\":
                j = i
                while j < n and text[j] == "\\":
                    j += 1
                count = j - i
                if j < n and text[j] == '"':
                    current.append("\\" * (count // 2))
                    if count % 2:
                        current.append('"')
                        i = j + 1
                    else:
                        i = j
                    continue
                current.append("\\" * count)
                i = j
                continue
            if text[i] == '"':
                if quoted and i + 1 < n and text[i + 1] == '"':
                    current.append('"')
                    i += 2
                    continue
                quoted = not quoted
                i += 1
                continue
            current.append(text[i])
            i += 1
        args.append("".join(current))
    return args
