"""SipHash-2-4, the MAC of authenticated frames: the reference against the algorithm's published test vectors,
and the compiled C (the device's runtime_c/offload/agilenn_siphash.c, in the server's native library) against
the reference on random keys and messages of every length around the 8-byte word boundaries. The device
build of the same C is checked on the host under ASan/UBSan and on emulated Cortex-M cores in
test_protocol_c.py, with these vectors too."""

from __future__ import annotations

import numpy as np
import pytest

from agilenn_codegen.offload.native import native_siphash24
from agilenn_codegen.offload.siphash import siphash24, siphash24_reference, tag_bytes

# The published SipHash-2-4 test vectors (Aumasson and Bernstein's reference implementation, vectors.h): key
# 00 01 .. 0f, message i = the bytes 00 01 .. (i-1), i = 0..63; each tag as the little-endian u64.
VECTOR_KEY = bytes(range(16))
PUBLISHED_VECTORS = (
    0x726FDB47DD0E0E31, 0x74F839C593DC67FD, 0x0D6C8009D9A94F5A, 0x85676696D7FB7E2D,
    0xCF2794E0277187B7, 0x18765564CD99A68D, 0xCBC9466E58FEE3CE, 0xAB0200F58B01D137,
    0x93F5F5799A932462, 0x9E0082DF0BA9E4B0, 0x7A5DBBC594DDB9F3, 0xF4B32F46226BADA7,
    0x751E8FBC860EE5FB, 0x14EA5627C0843D90, 0xF723CA908E7AF2EE, 0xA129CA6149BE45E5,
    0x3F2ACC7F57C29BDB, 0x699AE9F52CBE4794, 0x4BC1B3F0968DD39C, 0xBB6DC91DA77961BD,
    0xBED65CF21AA2EE98, 0xD0F2CBB02E3B67C7, 0x93536795E3A33E88, 0xA80C038CCD5CCEC8,
    0xB8AD50C6F649AF94, 0xBCE192DE8A85B8EA, 0x17D835B85BBB15F3, 0x2F2E6163076BCFAD,
    0xDE4DAAACA71DC9A5, 0xA6A2506687956571, 0xAD87A3535C49EF28, 0x32D892FAD841C342,
    0x7127512F72F27CCE, 0xA7F32346F95978E3, 0x12E0B01ABB051238, 0x15E034D40FA197AE,
    0x314DFFBE0815A3B4, 0x027990F029623981, 0xCADCD4E59EF40C4D, 0x9ABFD8766A33735C,
    0x0E3EA96B5304A7D0, 0xAD0C42D6FC585992, 0x187306C89BC215A9, 0xD4A60ABCF3792B95,
    0xF935451DE4F21DF2, 0xA9538F0419755787, 0xDB9ACDDFF56CA510, 0xD06C98CD5C0975EB,
    0xE612A3CB9ECBA951, 0xC766E62CFCADAF96, 0xEE64435A9752FE72, 0xA192D576B245165A,
    0x0A8787BF8ECB74B2, 0x81B3E73D20B49B6F, 0x7FA8220BA3B2ECEA, 0x245731C13CA42499,
    0xB78DBFAF3A8D83BD, 0xEA1AD565322A1A0B, 0x60E61C23A3795013, 0x6606D7E446282B93,
    0x6CA4ECB15C5F91E1, 0x9F626DA15C9625F3, 0xE51B38608EF25F57, 0x958A324CEB064572,
)  # fmt: skip


@pytest.mark.parametrize("length", range(len(PUBLISHED_VECTORS)))
def test_reference_gives_the_published_vectors(length: int):
    assert siphash24_reference(VECTOR_KEY, bytes(range(length))) == PUBLISHED_VECTORS[length]


def test_the_paper_s_worked_example():
    """Appendix A of the SipHash paper: the 15-byte message 00..0e gives a129ca6149be45e5 (bytes e5 45 be ...)."""
    assert tag_bytes(siphash24_reference(VECTOR_KEY, bytes(range(15)))).hex() == "e545be4961ca29a1"


def test_compiled_siphash_gives_the_published_vectors_and_agrees_on_random_input():
    fast = native_siphash24()
    assert fast is not None, "the native library is built at install time; it must be here in CI"
    for length, expected in enumerate(PUBLISHED_VECTORS):
        assert fast(VECTOR_KEY, bytes(range(length))) == expected
    rng = np.random.default_rng(4)
    for length in [*range(0, 70), 255, 256, 257, 1400, 5000]:
        key, message = rng.bytes(16), rng.bytes(length)
        assert fast(key, message) == siphash24_reference(key, message) == siphash24(key, message)


def test_a_key_of_the_wrong_size_is_refused():
    for key in (b"", bytes(15), bytes(17)):
        with pytest.raises(ValueError, match="16 bytes"):
            siphash24_reference(key, b"x")
        with pytest.raises(ValueError, match="16 bytes"):
            siphash24(key, b"x")
