"""Small media files for tests: their first bytes are what their kind says, the rest noise."""

from pathlib import Path

MP4_HEAD = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
JPEG_HEAD = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"
PDF_HEAD = b"%PDF-1.4\n"
OGG_HEAD = b"OggS\x00\x02"
MP3_HEAD = b"ID3\x04\x00\x00"


def media_file(folder: Path, name: str, head: bytes, *, size: int = 4096) -> Path:
    """`folder/name`: `head`, then bytes up to `size` (a different file for each name)."""
    path = folder / name
    filler = (name.encode() * (size // max(1, len(name)) + 1))[: max(0, size - len(head))]
    path.write_bytes(head + filler)
    return path


def sparse_file(folder: Path, name: str, head: bytes, *, size: int) -> Path:
    """A file of `size` bytes that takes no disk space beyond its head."""
    path = folder / name
    with path.open("wb") as file:
        file.write(head)
        file.truncate(size)
    return path
