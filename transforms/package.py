"""The members of a zip package (.xlsx, .xlsm, .ods) as the survey reads them: each unpacked to
exactly the size and CRC it declares, or the file is refused before calamine sees it."""

from __future__ import annotations

import struct
import zipfile
import zlib

from .markup import REL_RE, tag_attrs
from .survey import ZIP_MAGIC

# members python-calamine never reads (tests/test_reading.py: corrupt one and calamine reads the file
# as before): in an .xlsx whose package names xl/workbook.xml as its document, and in an .ods
OOXML_UNREAD = ("[Content_Types].xml", "docProps/", "xl/theme/")
ODS_UNREAD = ("styles.xml", "meta.xml")


class BadMember(Exception):
    """A member that does not unpack to exactly the size and CRC it declares."""


class Members:
    """A package's members as the survey reads them, like `ZipFile.read`: each unpacked once and
    checked (`_unpacked`). Those calamine reads are unpacked up front (`members_unpacked`); one it
    never reads only when the survey asks for it."""

    def __init__(self, data: bytes, infos: list[zipfile.ZipInfo]) -> None:
        self._data = data
        self._infos = {info.filename: info for info in infos}  # a repeated name: the last, as zipfile
        self._bodies: dict[str, bytes] = {}
        # calamine finds a member by its name folded to lower case, backslashes as slashes
        self._folded = {name.replace("\\", "/").lower(): name for name in self._infos}

    def _name(self, name: str) -> str:
        """The member calamine would open when asked for `name`."""
        return self._folded.get(name.lower(), name)

    def __contains__(self, name: str) -> bool:
        return self._name(name) in self._infos

    def read(self, name: str) -> bytes:
        name = self._name(name)
        body = self._bodies.get(name)
        if body is None:
            body = _unpacked(self._data, self._infos[name])
            if body is None:
                raise BadMember(name)
            self._bodies[name] = body
        return body


def members_unpacked(data: bytes, infos: list[zipfile.ZipInfo]) -> Members | None:
    """The members, or None unless each that calamine may read unpacks to exactly the size and CRC it
    declares. (zipfile's testzip stops at the declared size; calamine's zip reader does not, so a
    member that unpacks to more is a bomb.) The total was checked against the cap from the declared
    sizes. A member calamine never reads (`_unread`: the theme is 40% of a return's XML) is left
    packed: whatever it holds, it changes no figure, so it costs no submitter a rejection. The survey
    still unpacks and checks one it reads after all (a sheet a workbook puts under xl/theme/)."""
    members = Members(data, infos)
    unread = _unread(members)
    for info in infos:
        if unread and info.filename.startswith(unread):
            continue
        body = _unpacked(data, info)
        if body is None:
            return None
        members._bodies[info.filename] = body  # a repeated name: each checked, the last one kept
    return members


def _unread(members: Members) -> tuple[str, ...]:
    """The names calamine never reads in this package, by its kind; none where its layout is not the
    one Excel, WPS, LibreOffice and openpyxl write (calamine finds the workbook through _rels/.rels)."""
    if "_rels/.rels" in members:
        documents = [
            a.get(b"Target", b"").decode("utf-8", "replace").lstrip("/")
            for a in map(tag_attrs, REL_RE.findall(members.read("_rels/.rels")))
            if a.get(b"Type", b"").endswith(b"/officeDocument")
        ]
        return OOXML_UNREAD if documents and set(documents) == {"xl/workbook.xml"} else ()
    return ODS_UNREAD if "content.xml" in members else ()


def _unpacked(data: bytes, info: zipfile.ZipInfo) -> bytes | None:
    """One member's bytes, or None unless it comes to exactly the size and CRC it declares."""
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        return None  # Excel, WPS and LibreOffice write nothing else
    at = info.header_offset
    if data[at : at + 4] != ZIP_MAGIC or at + 30 > len(data):
        return None
    name_length, extra_length = struct.unpack_from("<HH", data, at + 26)
    start = at + 30 + name_length + extra_length
    packed = data[start : start + info.compress_size]
    if info.compress_type == zipfile.ZIP_STORED:
        body = packed
    else:
        inflate = zlib.decompressobj(-15)
        try:
            body = inflate.decompress(packed, info.file_size + 1)
        except zlib.error:
            return None
        if inflate.unconsumed_tail:
            return None
    if len(body) != info.file_size or zlib.crc32(body) != info.CRC:
        return None
    return body


def manifest(zf: Members) -> str:
    try:
        return zf.read("META-INF/manifest.xml")[:1_000_000].decode("utf-8", "replace")
    except KeyError:
        return ""
