"""ZipCrypto, the traditional PKWARE ZIP encryption (APPNOTE.TXT 6.1), for pyzipper.

pyzipper reads ZipCrypto but writes only WinZip AES. ``SYMFONIA_MAIL
["ZIP_ENCRYPTION"] = "zipcrypto"`` exists for recipients whose built-in tools
(Windows Explorer, macOS Archive Utility) cannot open AES, so the encrypter is
here: pure Python, ≈ 0.4 s per MB after compression. It is weak (known-plaintext
attack, Biham & Kocher 1994) and kept only for that compatibility.
"""

import functools
import secrets
import zlib


@functools.cache
def _tables():
    crc = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0xEDB88320 if c & 1 else c >> 1
        crc.append(c)
    # The keystream byte depends on the low 16 bits of key 2 only: a table
    # lookup is faster than the multiplication in the loop.
    stream = bytes((((t | 2) * ((t | 2) ^ 1)) >> 8) & 0xFF for t in range(65536))
    return tuple(crc), stream


class Encrypter:
    """The encrypter interface of pyzipper's writer, for ZipCrypto."""

    def __init__(self, pwd, check_byte):
        if not pwd:
            raise RuntimeError("ZipCrypto encryption requires a password")
        self.crc, self.stream = _tables()
        self.keys = (0x12345678, 0x23456789, 0x34567890)
        self.check_byte = check_byte
        self._update_keys(pwd)

    def _update_keys(self, data):
        # APPNOTE 6.1.5: the three keys absorb the password, then each plain byte.
        crc = self.crc
        k0, k1, k2 = self.keys
        for p in data:
            k0 = (k0 >> 8) ^ crc[(k0 ^ p) & 0xFF]
            k1 = ((k1 + (k0 & 0xFF)) * 134775813 + 1) & 0xFFFFFFFF
            k2 = (k2 >> 8) ^ crc[(k2 ^ (k1 >> 24)) & 0xFF]
        self.keys = (k0, k1, k2)

    def update_zipinfo(self, zipinfo):
        pass

    def finalize_zipinfo(self, zipinfo):
        pass

    def encryption_header(self):
        return self.encrypt(secrets.token_bytes(11) + bytes([self.check_byte]))

    def encrypt(self, data):
        crc, stream = self.crc, self.stream
        k0, k1, k2 = self.keys
        out = bytearray(data)
        for i, p in enumerate(data):
            out[i] = p ^ stream[k2 & 0xFFFF]
            k0 = (k0 >> 8) ^ crc[(k0 ^ p) & 0xFF]
            k1 = ((k1 + (k0 & 0xFF)) * 134775813 + 1) & 0xFFFFFFFF
            k2 = (k2 >> 8) ^ crc[(k2 ^ (k1 >> 24)) & 0xFF]
        self.keys = (k0, k1, k2)
        return bytes(out)

    def flush(self):
        return b""


def writer(file, *, compression, check_data):
    """Return a pyzipper writer on *file* that encrypts with ZipCrypto.

    *check_data* is the member about to be written: its CRC's top byte is the
    password check byte of the encryption header (APPNOTE 6.1.6).
    """
    archive = _writer_class()(file, "w", compression=compression)
    archive.check_byte = zlib.crc32(check_data) >> 24
    return archive


@functools.cache
def _writer_class():
    import pyzipper

    class ZipCryptoFile(pyzipper.ZipFile):
        """A pyzipper writer that encrypts with ZipCrypto."""

        check_byte = 0

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.encryption = "zipcrypto"  # makes open("w") ask for an encrypter

        def get_encrypter(self):
            return Encrypter(self.pwd, self.check_byte)

    return ZipCryptoFile
