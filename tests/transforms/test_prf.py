import os

from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.cmac import CMAC
from hypothesis import given, settings
from hypothesis import strategies as st

from privml.transforms.prf import cmac_digests, digest_integers, hex_strings

KEY = bytes(range(32))


def reference(value: str, key: bytes = KEY) -> bytes:
    mac = CMAC(algorithms.AES(key))
    mac.update(value.encode("utf-8"))
    return mac.finalize()


def test_rfc4493_style_vectors_match_cryptography():
    # Lengths around the block size exercise both subkeys and the empty message.
    values = ["", "a", "x" * 15, "x" * 16, "x" * 17, "x" * 32, "x" * 33, "é" * 9, "a\x00", "\x00", "\x00a\x00\x00"]
    digests = cmac_digests(values, KEY)
    assert [row.tobytes() for row in digests] == [reference(v) for v in values]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=80), min_size=1, max_size=40))
def test_vectorized_equals_one_at_a_time(values):
    assert [row.tobytes() for row in cmac_digests(values, KEY)] == [reference(v) for v in values]


def test_keys_separate_and_helpers_shape():
    other = cmac_digests(["v"], os.urandom(32))
    assert other.tobytes() != cmac_digests(["v"], KEY).tobytes()
    digests = cmac_digests(["a", "b"], KEY)
    expected = ["t_" + reference(v).hex()[:10] for v in ("a", "b")]
    assert hex_strings(digests, 10, "t_").to_pylist() == expected
    assert digest_integers(digests)[0] == int.from_bytes(reference("a")[:8], "big")


def test_hex_strings_of_every_length():
    digests = cmac_digests(["x", "y"], KEY)
    for length in range(1, 33):
        assert hex_strings(digests, length, "p").to_pylist() == ["p" + reference(v).hex()[:length] for v in "xy"]
